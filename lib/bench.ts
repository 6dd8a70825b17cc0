// SPDX-License-Identifier: MIT
// The benchmark: our training steps and the article's PyTorch program (the yardstick) timed on the same machine
// at the same settings, alternating, so that drift in the machine's speed hits both alike; and, when asked, the
// plain-PyTorch peer (pytorch_peer.py), eager and compiled, once.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { DATA_DIR_ENV, nativeCudaGraph } from './config';
import type { CudaGraph, ResolvedBenchConfig } from './config';
import { BATCHES_FOLDER, BATCH_FILES, RECORD_BYTES, prepareDataset } from './dataset';
import { captureCallerStack } from './errors';
import type { NativeBenchResult, NativeBinding } from './native';
import { runJob } from './job';

const execFileAsync = promisify(execFile);

/** One round: ours, then the yardstick's. */
export interface BenchRound {
  readonly ours: number;
  readonly yardstick: number | null;
}

/**
 * The plain-PyTorch peer's images/s at our settings: eager (`--compile none`) and compiled (`--compile <mode>`).
 * A run that was skipped or failed is null (the report's peerSkipped or peerCompiledSkipped says why).
 */
export interface BenchPeer {
  readonly eager: number | null;
  readonly compiled: number | null;
  /** The torch.compile mode of the compiled run ('none': no compiled run was asked for). */
  readonly mode: string;
  /** The peer's torch.__version__; '' when it did not run. */
  readonly torch: string;
}

/** What the benchmark's records are: CIFAR-10 found in the data folder, or records generated for want of it. */
export type BenchData = 'cifar-10' | 'generated';

/** Where the benchmark's records come from, as runBenchmark's `onData` hears it before the first round. */
export interface BenchDataInfo {
  readonly data: BenchData;
  /** The data folder looked in (for 'generated': the one that holds no CIFAR-10). */
  readonly dataDir: string;
  /** For 'generated': the training records generated. */
  readonly records?: number;
}

/**
 * Training records generated when there is no CIFAR-10: five equal batches of 820, the fewest that cover the 4096
 * records the native benchmark reads (native/core/benchmark.cpp, kBenchRecords).
 */
export const GENERATED_TRAIN_RECORDS = 5 * 820;
/** Records of the generated test_batch.bin (the timed steps never read it; the layout has it). */
export const GENERATED_TEST_RECORDS = 500;
/** The generator's seed: the same bytes on every run and machine. */
export const GENERATED_SEED = 20240519;

/**
 * mulberry32: a small seeded generator of uint32s, enough for pixel noise (and for the tests' seeded damage).
 *
 * @example
 * const next = seededUint32s(7); next(); // the same number on every run and machine
 */
export function seededUint32s(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * Writes `records` seeded records in CIFAR-10's binary layout: each a label byte (0-9) then 3072 pixel bytes,
 * 32x32 red, then green, then blue. Each image is a colour gradient (a base, a slope across, a slope down, per
 * channel) with noise on top: structure like a photo's, not constant and not pure noise.
 */
function generatedRecords(records: number, next: () => number): Uint8Array {
  const out = new Uint8Array(records * RECORD_BYTES);
  for (let r = 0; r < records; r++) {
    const base = r * RECORD_BYTES;
    out[base] = next() % 10;
    for (let c = 0; c < 3; c++) {
      const start = next() % 256;
      const across = ((next() % 17) - 8) / 2;
      const down = ((next() % 17) - 8) / 2;
      let at = base + 1 + c * 1024;
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x += 4) {
          // One draw gives the noise (-16..15) of four pixels.
          const noise = next();
          for (let k = 0; k < 4; k++) {
            const value = start + across * (x + k) + down * y + (((noise >>> (8 * k)) & 31) - 16);
            out[at++] = value < 0 ? 0 : value > 255 ? 255 : value;
          }
        }
      }
    }
  }
  return out;
}

/**
 * Writes generated CIFAR-10 into `dir`/cifar-10-batches-bin/: data_batch_1..5.bin holding `trainRecords` between
 * them (equal batches: it must be a multiple of 5) and test_batch.bin holding `testRecords`, deterministic for a
 * seed. For timing without the data set; never for training (the labels mean nothing).
 *
 * @example
 * await writeGeneratedCifar(fs.mkdtempSync('/tmp/bench-'), { trainRecords: 4100, testRecords: 500, seed: 1 });
 */
export async function writeGeneratedCifar(
  dir: string,
  options: { trainRecords: number; testRecords: number; seed: number },
): Promise<void> {
  const { trainRecords, testRecords, seed } = options;
  if (!Number.isInteger(trainRecords) || trainRecords <= 0 || trainRecords % 5 !== 0) {
    throw new RangeError(`trainRecords must be a positive multiple of 5, not ${trainRecords}`);
  }
  if (!Number.isInteger(testRecords) || testRecords <= 0) {
    throw new RangeError(`testRecords must be a positive integer, not ${testRecords}`);
  }
  const batches = path.join(dir, BATCHES_FOLDER);
  await fs.promises.mkdir(batches, { recursive: true });
  const next = seededUint32s(seed);
  for (const name of BATCH_FILES) {
    const records = name === 'test_batch.bin' ? testRecords : trainRecords / 5;
    await fs.promises.writeFile(path.join(batches, name), generatedRecords(records, next));
  }
}

/**
 * The folder to benchmark on. CIFAR-10 where the data folder has it (or extracts it from an archive there, or
 * downloads it when `download` asks); where it has none and no folder was chosen, records generated into a
 * temporary folder (`remove`: delete it afterwards); where a chosen folder (`dataDir`, $LIBTORCH_RESNET_DATA) has
 * none, an ERR_DATA_NOT_FOUND that says so.
 */
async function benchData(config: ResolvedBenchConfig): Promise<{ dir: string; info: BenchDataInfo; remove?: string }> {
  try {
    const dir = await prepareDataset(config.dataDir, { download: config.download });
    return { dir, info: { data: 'cifar-10', dataDir: dir } };
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_DATA_NOT_FOUND' || config.download !== false) throw error;
    const root = path.resolve(config.dataDir);
    if (config.dataDirGiven) {
      const how = process.env[DATA_DIR_ENV] && config.dataDir === path.resolve(process.env[DATA_DIR_ENV])
        ? `$${DATA_DIR_ENV}`
        : 'dataDir (--data-dir)';
      const e = new Error(
        `no CIFAR-10 to benchmark on in ${root}, the folder chosen by ${how} (looked for ${BATCHES_FOLDER}/, the ` +
          `six .bin files and cifar-10-binary.tar.gz there). Pass --download (download: true) to fetch it there ` +
          `(163 MB), put it there, or choose no data folder to benchmark on generated records instead`,
        { cause: error },
      ) as Error & { code: string; path: string };
      e.code = 'ERR_DATA_NOT_FOUND';
      e.path = root;
      throw e;
    }
    const temp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'libtorch-resnet-bench-data-'));
    try {
      await writeGeneratedCifar(temp, {
        trainRecords: GENERATED_TRAIN_RECORDS,
        testRecords: GENERATED_TEST_RECORDS,
        seed: GENERATED_SEED,
      });
    } catch (writeError) {
      await fs.promises.rm(temp, { recursive: true, force: true });
      throw writeError;
    }
    return { dir: temp, info: { data: 'generated', dataDir: root, records: GENERATED_TRAIN_RECORDS }, remove: temp };
  }
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
  /** 'cifar-10': the data folder's CIFAR-10; 'generated': seeded records in its layout, for want of it. */
  readonly data: BenchData;
  /** For 'generated': how many training records were generated. */
  readonly generatedRecords?: number;
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
  /** The cudaGraph option the benchmark ran with, and whether our timed steps really replayed a CUDA graph. */
  readonly cudaGraphOption: CudaGraph;
  readonly cudaGraph: boolean;
  /** Host wall time spent issuing one of our steps, in ms (median over the rounds). */
  readonly hostMsPerStep: number;
  /** GPU time of one of our steps from CUDA events, in ms; null where not measured (the CPU). */
  readonly gpuMsPerStep: number | null;
  /** The plain-PyTorch peer; null when it was not asked for (--peer). */
  readonly peer: BenchPeer | null;
  /** Why the peer did not run at all, when it was asked for and did not. */
  readonly peerSkipped?: string;
  /** Why the peer's compiled run did not run (or failed) though its eager run did. */
  readonly peerCompiledSkipped?: string;
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
    cudaGraph: nativeCudaGraph(config.cudaGraph),
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

interface PeerOutput {
  torch: string;
  images_per_second: number;
}

/** The last non-empty line of a text, trimmed; '' when there is none. */
function lastLine(text: unknown): string {
  return typeof text === 'string' ? (text.trim().split('\n').map((l) => l.trim()).filter(Boolean).at(-1) ?? '') : '';
}

/** One run of the peer; resolves with its JSON line, or with the reason it gave none. */
async function runPeerOnce(
  config: ResolvedBenchConfig,
  dataDir: string,
  device: string,
  threads: number,
  compile: string,
): Promise<{ out: PeerOutput } | { failed: string }> {
  const args = [
    config.peer as string,
    '--data', dataDir,
    '--preset', config.preset,
    '--image-size', String(config.imageSize),
    '--batch-size', String(config.batchSize),
    '--precision', config.precision,
    '--compile', compile,
    '--bench-steps', String(config.steps),
    '--warmup', String(config.warmup),
    '--device', device,
    '--threads', String(threads),
  ];
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(config.python, args, {
      maxBuffer: 64 * 1024 * 1024,
      timeout: config.peerTimeout * 1000,
    }));
  } catch (error) {
    const e = error as Error & { stderr?: unknown; killed?: boolean; signal?: string | null };
    if (e.killed && config.peerTimeout > 0) return { failed: `stopped after ${config.peerTimeout} s (--peer-timeout)` };
    const line = lastLine(e.stderr) || lastLine(e.message);
    return { failed: line || 'failed without a message' };
  }
  try {
    const out = JSON.parse(lastLine(stdout)) as Partial<PeerOutput>;
    if (typeof out.images_per_second !== 'number') throw new Error('no images_per_second');
    return { out: { torch: String(out.torch ?? ''), images_per_second: out.images_per_second } };
  } catch {
    return { failed: `printed no JSON result line (last line: ${JSON.stringify(lastLine(stdout).slice(0, 200))})` };
  }
}

/** Why the peer cannot run here, or undefined when it can. */
async function peerProblem(config: ResolvedBenchConfig): Promise<string | undefined> {
  if (config.peer === false) return 'not asked for (--peer)';
  if (config.precision !== 'fp32' && config.precision !== 'bf16') {
    return `the peer runs fp32 or bf16 only, not ${config.precision}`;
  }
  if (!fs.existsSync(config.peer)) return `${config.peer} not found (set --peer PATH or LIBTORCH_RESNET_PEER)`;
  try {
    await execFileAsync(config.python, ['-c', 'import numpy, torch, torchvision, PIL']);
  } catch {
    return `${config.python} cannot import numpy, torch, torchvision and PIL (the peer imports article_resnet34.py)`;
  }
  return undefined;
}

/**
 * Times the peer once at ours' settings (the device and threads ours used): eager, then compiled with
 * `config.peerCompile` (not on the CPU, where torch.compile is not what is being measured). A failure is recorded,
 * never thrown: our numbers stand without it.
 */
async function runPeer(
  config: ResolvedBenchConfig,
  dataDir: string,
  device: string,
  threads: number,
): Promise<Pick<BenchReport, 'peer' | 'peerSkipped' | 'peerCompiledSkipped'>> {
  if (config.peer === false) return { peer: null };
  const mode = config.peerCompile;
  const skipped = await peerProblem(config);
  if (skipped !== undefined) return { peer: { eager: null, compiled: null, mode, torch: '' }, peerSkipped: skipped };
  const eager = await runPeerOnce(config, dataDir, device, threads, 'none');
  if ('failed' in eager) {
    return { peer: { eager: null, compiled: null, mode, torch: '' }, peerSkipped: `eager run failed: ${eager.failed}` };
  }
  const peer = { eager: eager.out.images_per_second, compiled: null, mode, torch: eager.out.torch };
  if (mode === 'none') return { peer, peerCompiledSkipped: 'turned off (--peer-compile none)' };
  if (!device.startsWith('cuda')) return { peer, peerCompiledSkipped: 'not run on the CPU: only the eager peer is timed there' };
  const compiled = await runPeerOnce(config, dataDir, device, threads, mode);
  if ('failed' in compiled) return { peer, peerCompiledSkipped: `compiled run failed: ${compiled.failed}` };
  return { peer: { ...peer, compiled: compiled.out.images_per_second } };
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
 * `onData` hears where the records come from, before the first round; `onRound` hears each round as it ends.
 * Without CIFAR-10 in the default data folder it times on generated records (see {@link BenchDataInfo}); it
 * downloads only when `config.download` says so.
 */
export async function runBenchmark(
  binding: NativeBinding,
  config: ResolvedBenchConfig,
  onRound: (round: BenchRound, index: number) => void = () => undefined,
  onData: (info: BenchDataInfo) => void = () => undefined,
): Promise<BenchReport> {
  const callerStack = captureCallerStack(runBenchmark);
  const { dir: dataDir, info, remove } = await benchData(config);
  try {
    onData(info);
    return await timeBenchmark(binding, config, dataDir, info, callerStack, onRound);
  } finally {
    if (remove !== undefined) await fs.promises.rm(remove, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function timeBenchmark(
  binding: NativeBinding,
  config: ResolvedBenchConfig,
  dataDir: string,
  info: BenchDataInfo,
  callerStack: string,
  onRound: (round: BenchRound, index: number) => void,
): Promise<BenchReport> {
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
  // Once, not per round: a compile takes minutes.
  const peer = await runPeer(config, dataDir, first.device, first.threads);
  const gpuSeconds = results.map((r) => r.gpuSecondsPerStep).filter((s) => s > 0);
  return {
    date: new Date().toISOString().slice(0, 10),
    machine: `${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    device: first.device,
    data: info.data,
    ...(info.records !== undefined ? { generatedRecords: info.records } : {}),
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
    cudaGraphOption: config.cudaGraph,
    cudaGraph: first.cudaGraph,
    hostMsPerStep: 1000 * median(results.map((r) => r.hostSecondsPerStep)),
    gpuMsPerStep: gpuSeconds.length > 0 ? 1000 * median(gpuSeconds) : null,
    ...peer,
  };
}

/** The command that reproduces a report's row, for BENCHMARKS.md. */
export function reproduceCommand(report: BenchReport): string {
  const device = report.device.startsWith('cuda') ? 'cuda' : 'cpu';
  return (
    `npm run bench -- --device ${device} --preset ${report.preset} --batch-size ${report.batchSize} ` +
    `--precision ${report.precision} --memory-format ${report.channelsLast ? 'channels-last' : 'contiguous'} ` +
    `--steps ${report.steps} --rounds ${report.rounds.length} --threads ${report.threads}` +
    (report.yardstickWorkers > 0 ? ` --yardstick-workers ${report.yardstickWorkers}` : '') +
    (report.cudaGraphOption === true ? ' --cuda-graph' : report.cudaGraphOption === false ? ' --no-cuda-graph' : '') +
    (report.peer === null
      ? ''
      : ` --peer${report.peer.mode !== 'max-autotune' ? ` --peer-compile ${report.peer.mode}` : ''}`)
  );
}
