// SPDX-License-Identifier: MIT
// The benchmark: our training steps and the article's PyTorch program (the yardstick) timed on the same machine
// at the same settings, alternating, so that drift in the machine's speed hits both alike.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';

import type { ResolvedBenchConfig } from './config';
import { prepareDataset } from './dataset';
import { captureCallerStack } from './errors';
import type { NativeBenchResult, NativeBinding } from './native';
import { runJob } from './train';

const execFileAsync = promisify(execFile);

/** One round: ours, then the yardstick's. */
export interface BenchRound {
  readonly ours: number;
  readonly yardstick: number | null;
}

/**
 * What the benchmark reports: medians over the rounds, in images/s, and what ran.
 *
 * @example
 * const report = await runBenchmark(loadNative(), resolveBenchConfig({ preset: 'cifar' }));
 * console.log(report.ratio); // ours / yardstick
 */
export interface BenchReport {
  readonly date: string;
  readonly machine: string;
  readonly device: string;
  readonly libtorchVersion: string;
  /** The yardstick's torch.__version__; null when it did not run. */
  readonly yardstickTorch: string | null;
  readonly preset: string;
  readonly imageSize: number;
  readonly batchSize: number;
  readonly steps: number;
  readonly precision: string;
  /** Whether our steps ran channels-last (memoryFormat 'auto' resolved for the device). */
  readonly channelsLast: boolean;
  readonly threads: number;
  /** The GPU's name (nvidia-smi), or null on the CPU. */
  readonly gpu: string | null;
  /** The yardstick's DataLoader workers. */
  readonly yardstickWorkers: number;
  readonly ours: number;
  readonly yardstick: number | null;
  /** ours / yardstick. */
  readonly ratio: number | null;
  readonly rounds: readonly BenchRound[];
  /** The data path alone (batches/s) and its share of our step time. */
  readonly dataBatchesPerSecond: number;
  readonly dataFraction: number;
  /** Model FLOPs of one training image (3x forward), our achieved TFLOP/s, and the model FLOP utilisation. */
  readonly trainGflopsPerImage: number;
  readonly tflops: number;
  /** The peak it is measured against, in TFLOP/s, and where that came from; null where unknown (the CPU). */
  readonly peakTflops: number | null;
  readonly peakSource: string | null;
  /** tflops / peakTflops; null where no peak is known. */
  readonly mfu: number | null;
  /** Why the yardstick did not run, when it did not. */
  readonly yardstickSkipped?: string;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function runOurs(
  binding: NativeBinding,
  config: ResolvedBenchConfig,
  dataDir: string,
  callerStack: string,
): Promise<NativeBenchResult> {
  const options = {
    preset: config.preset,
    imageSize: config.imageSize,
    batchSize: config.batchSize,
    steps: config.steps,
    warmup: config.warmup,
    device: config.device,
    threads: config.threads,
    precision: config.precision,
    memoryFormat: config.memoryFormat,
    dataDir,
  };
  return runJob<NativeBenchResult>(
    (onEvent, onDone) => binding.startBenchmark(options, onEvent, onDone),
    { signal: undefined, onProgress: undefined },
    callerStack,
  );
}

interface YardstickOutput {
  torch: string;
  images_per_second: number;
  threads: number;
}

async function runYardstick(config: ResolvedBenchConfig, dataDir: string, device: string, threads: number) {
  const args = [
    config.yardstick as string,
    '--data', dataDir,
    '--bench-steps', String(config.steps),
    '--batch-size', String(config.batchSize),
    '--preset', config.preset,
    '--image-size', String(config.imageSize),
    '--device', device,
    '--threads', String(threads),
    '--workers', String(config.yardstickWorkers),
  ];
  const { stdout } = await execFileAsync(config.python, args, { maxBuffer: 16 * 1024 * 1024 });
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as YardstickOutput;
}

/**
 * Dense tensor-core peaks from NVIDIA's datasheets, in TFLOP/s, for the math each precision runs on: 'fp32' and
 * 'tf32' convolutions run on TF32 tensor cores (cuDNN's default), 'bf16' and 'fp16' on 16-bit ones.
 * Matched against nvidia-smi's name, first match wins.
 */
export const GPU_PEAKS: readonly { readonly pattern: RegExp; readonly tf32: number; readonly half: number }[] = [
  { pattern: /H200/, tf32: 494.7, half: 989.4 },
  { pattern: /H100.*(PCIe)/i, tf32: 378, half: 756 },
  { pattern: /H100/, tf32: 494.7, half: 989.4 },
  { pattern: /A100/, tf32: 156, half: 312 },
  { pattern: /L40S/, tf32: 183, half: 362 },
  { pattern: /A10\b/, tf32: 62.5, half: 125 },
  { pattern: /RTX 4090/, tf32: 82.6, half: 165.2 },
];

/** The peak for a GPU name and precision, or undefined for a GPU not in {@link GPU_PEAKS}. */
export function peakFor(gpu: string, precision: string): number | undefined {
  const row = GPU_PEAKS.find((r) => r.pattern.test(gpu));
  if (!row) return undefined;
  return precision === 'bf16' || precision === 'fp16' ? row.half : row.tf32;
}

/** The name of CUDA device `index` as nvidia-smi gives it, or null where nvidia-smi is missing or fails. */
async function gpuName(device: string): Promise<string | null> {
  const index = device.includes(':') ? device.split(':')[1]! : '0';
  try {
    const { stdout } = await execFileAsync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader', '-i', index]);
    return stdout.trim() || null;
  } catch {
    return null;
  }
}

/** Why the yardstick cannot run here, or undefined when it can. */
async function yardstickProblem(config: ResolvedBenchConfig): Promise<string | undefined> {
  if (config.yardstick === false) return 'turned off (--no-yardstick)';
  if (!fs.existsSync(config.yardstick)) return `${config.yardstick} not found (set --yardstick or LIBTORCH_RESNET_YARDSTICK)`;
  try {
    await execFileAsync(config.python, ['-c', 'import torch, torchvision, PIL']);
  } catch {
    return `${config.python} cannot import torch, torchvision and PIL (Debian: apt-get install python3-torch python3-torchvision python3-pil)`;
  }
  return undefined;
}

/**
 * Times ours and the yardstick `rounds` times each, alternating, and reports the medians.
 * `onRound` hears each round as it ends.
 */
export async function runBenchmark(
  binding: NativeBinding,
  config: ResolvedBenchConfig,
  onRound: (round: BenchRound, index: number) => void = () => undefined,
): Promise<BenchReport> {
  const callerStack = captureCallerStack(runBenchmark);
  const dataDir = await prepareDataset(config.dataDir, { download: config.download });
  const skipped = await yardstickProblem(config);
  const rounds: BenchRound[] = [];
  const results: NativeBenchResult[] = [];
  let yardstickTorch: string | null = null;
  for (let i = 0; i < config.rounds; i++) {
    const ours = await runOurs(binding, config, dataDir, callerStack);
    results.push(ours);
    let yardstick: number | null = null;
    if (skipped === undefined) {
      // The same device and thread count as ours actually used.
      const out = await runYardstick(config, dataDir, ours.device, ours.threads);
      yardstick = out.images_per_second;
      yardstickTorch = out.torch;
    }
    const round = { ours: ours.imagesPerSecond, yardstick };
    rounds.push(round);
    onRound(round, i);
  }
  const first = results[0]!;
  const ours = median(rounds.map((r) => r.ours));
  const gpu = first.device.startsWith('cuda') ? await gpuName(first.device) : null;
  const tflops = (first.trainFlopsPerImage * ours) / 1e12;
  const tablePeak = gpu === null ? undefined : peakFor(gpu, config.precision);
  const peakTflops = config.peakTflops ?? tablePeak ?? null;
  const peakSource =
    config.peakTflops !== undefined ? 'given (--peak-tflops)' : tablePeak !== undefined ? `datasheet, ${gpu}` : null;
  const yardstick = skipped === undefined ? median(rounds.map((r) => r.yardstick!)) : null;
  return {
    date: new Date().toISOString().slice(0, 10),
    machine: `${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    device: first.device,
    libtorchVersion: first.libtorchVersion,
    yardstickTorch,
    preset: config.preset,
    imageSize: config.imageSize,
    batchSize: config.batchSize,
    steps: config.steps,
    precision: config.precision,
    channelsLast: first.channelsLast,
    threads: first.threads,
    gpu,
    yardstickWorkers: config.yardstickWorkers,
    ours,
    yardstick,
    ratio: yardstick === null ? null : ours / yardstick,
    rounds,
    dataBatchesPerSecond: median(results.map((r) => r.dataBatchesPerSecond)),
    dataFraction: median(results.map((r) => r.dataFraction)),
    trainGflopsPerImage: first.trainFlopsPerImage / 1e9,
    tflops,
    peakTflops,
    peakSource,
    mfu: peakTflops === null ? null : tflops / peakTflops,
    ...(skipped !== undefined ? { yardstickSkipped: skipped } : {}),
  };
}

/** The command that reproduces a report's row, for BENCHMARKS.md. */
export function reproduceCommand(report: BenchReport): string {
  const device = report.device.startsWith('cuda') ? 'cuda' : 'cpu';
  return (
    `npm run bench -- --device ${device} --preset ${report.preset} --batch-size ${report.batchSize} ` +
    `--precision ${report.precision} --memory-format ${report.channelsLast ? 'channels-last' : 'contiguous'} ` +
    `--steps ${report.steps} --rounds ${report.rounds.length} --threads ${report.threads}` +
    (report.yardstickWorkers > 0 ? ` --yardstick-workers ${report.yardstickWorkers}` : '')
  );
}
