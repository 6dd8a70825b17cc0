// SPDX-License-Identifier: MIT
// Training on a CUDA GPU through the real addon, on the mini data: every precision, channels-last, a stop and
// resume, checkpoints that move to the CPU. Skipped where LibTorch sees no GPU (CI); scripts/gpu-check.sh runs it
// on a GPU machine.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { PNG } from 'pngjs';

import { runBenchmark } from '../../lib/bench';
import { resolveBenchConfig } from '../../lib/config';
import { AbortError, evaluate, predict, train } from '../../lib/index';
import type { Precision, TrainConfig, TrainResult } from '../../lib/index';
import { loadNative } from '../../lib/native';
import { extractMini, tempDir, PLAIN_SGD } from '../fixtures/cifar';
import { PYTHON } from '../fixtures/python';

const cuda = loadNative().info().cudaAvailable;
const describeCuda = cuda ? describe : describe.skip;

let mini: string;
let work: string;
const options = (): TrainConfig => ({
  ...PLAIN_SGD,
  preset: 'cifar',
  epochs: 2,
  batchSize: 64,
  lr: 0.05,
  seed: 7,
  device: 'cuda',
  dataDir: mini,
  download: false,
});

beforeAll(async () => {
  if (!cuda) return;
  mini = await extractMini();
  work = tempDir('ltr-cuda-');
});
afterAll(() => {
  if (!cuda) return;
  fs.rmSync(mini, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

describeCuda('on a CUDA GPU', () => {
  const runs: Partial<Record<Precision, TrainResult>> = {};

  test.each(['fp32', 'tf32', 'bf16', 'fp16'] as const)('%s trains: finite losses that fall, channels-last by default', async (precision) => {
    const result = await train({ ...options(), precision, runDir: path.join(work, precision) });
    runs[precision] = result;
    expect(result.device).toMatch(/^cuda/);
    expect(result).toMatchObject({ precision, memoryFormat: 'channels-last' });
    const [first, second] = result.epochs;
    expect(Number.isFinite(first!.trainLoss) && Number.isFinite(second!.trainLoss)).toBe(true);
    expect(second!.trainLoss).toBeLessThan(first!.trainLoss);
    // The same seed and batches: a lower precision trains the same network, so its first epoch ends near fp32's.
    // (Test accuracy after two epochs on 900 images is near chance for any precision, so it is not compared.)
    if (precision !== 'fp32') {
      const reference = runs.fp32!.epochs[0]!.trainLoss;
      expect(Math.abs(first!.trainLoss - reference) / reference).toBeLessThan(0.15);
    }
  });

  test('a GPU checkpoint evaluates on the CPU to the accuracy the run reported', async () => {
    const run = runs.fp32!;
    const onCpu = await evaluate({ checkpoint: run.checkpoints!.last, device: 'cpu', dataDir: mini, download: false });
    // TF32 convolutions on the GPU against float32 on the CPU: a prediction or two may flip among 200.
    expect(Math.abs(onCpu.testAccuracy - run.testAccuracy)).toBeLessThanOrEqual(2 / 200);
  });

  test('predict gives the same probabilities on the GPU and the CPU', async () => {
    const png = new PNG({ width: 32, height: 32 });
    png.data = Buffer.from(new Uint8Array(32 * 32 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 7) & 0xff)));
    const image = PNG.sync.write(png);
    const checkpoint = runs.bf16!.checkpoints!.last;
    const [gpu, cpu] = await Promise.all([
      predict({ checkpoint, images: [image], device: 'cuda' }),
      predict({ checkpoint, images: [image], device: 'cpu' }),
    ]);
    gpu[0]!.probabilities.forEach((p, i) => expect(Math.abs(p - cpu[0]!.probabilities[i]!)).toBeLessThan(1e-2));
  });

  test('stopped mid-epoch and resumed on the GPU, the run completes', async () => {
    const controller = new AbortController();
    const runDir = path.join(work, 'stopped');
    const stopped = await train({
      ...options(),
      precision: 'bf16',
      runDir,
      logEvery: 1,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.type === 'batchEnd' && e.step === 3) controller.abort();
      },
    }).catch((e) => e);
    expect(stopped).toBeInstanceOf(AbortError);
    const resumed = await train({ resume: stopped.checkpoint });
    // GPU steps are queued ahead of the host: the abort sent at step 3's event may land after step 4 began.
    expect(resumed.resumedFrom!.epoch).toBe(0);
    expect(resumed.resumedFrom!.step).toBeGreaterThanOrEqual(3);
    expect(resumed.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(resumed.precision).toBe('bf16');
  });

  test("the cifar preset's own recipe on the GPU: it learns, and evaluate() repeats its test score", async () => {
    // Crop-flip drawn on the host and copied through pinned memory, onecycle with warm-up, label smoothing, bf16
    // by 'auto', flip TTA: every part of the recipe, at a batch the mini data allows.
    const result = await train({
      preset: 'cifar', epochs: 4, batchSize: 128, lr: 0.1, seed: 7, device: 'cuda', dataDir: mini, download: false,
      runDir: path.join(work, 'recipe'),
    });
    expect(result).toMatchObject({ precision: 'bf16', memoryFormat: 'channels-last' });
    const losses = result.epochs.map((e) => e.trainLoss);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[3]!).toBeLessThan(losses[0]!);
    const scored = await evaluate({ checkpoint: result.checkpoints!.last, dataDir: mini, download: false, batchSize: 128 });
    expect(scored).toMatchObject({ flipTta: true, precision: 'bf16' });
    // The same arithmetic, but cuDNN may pick other algorithms for another job: a prediction or two may flip.
    expect(Math.abs(scored.testAccuracy - result.testAccuracy)).toBeLessThanOrEqual(2 / 200);
  });

  test("the article's network at 224 px trains a few steps in bf16", async () => {
    const result = await train({
      preset: 'article', epochs: 1, batchSize: 32, limitTrain: 256, limitTest: 64, precision: 'bf16',
      device: 'cuda', dataDir: mini, download: false,
    });
    expect(Number.isFinite(result.epochs[0]!.trainLoss)).toBe(true);
  });

  test('CUDA out of memory: an error suggesting a smaller batch, then the process trains again', async () => {
    // The cifar stem keeps full resolution through its first stage: at 512 px a batch of 512 needs hundreds of GB.
    const error = await train({ ...options(), epochs: 1, imageSize: 512, batchSize: 512 }).catch(
      (e: Error & { code?: string }) => e,
    );
    expect(error).toMatchObject({ name: 'TorchError', code: 'ERR_TORCH_OOM' });
    expect((error as Error).message).toMatch(/out of memory: try a smaller batchSize/);
    const after = await train({ ...options(), epochs: 1 });
    expect(Number.isFinite(after.epochs[0]!.trainLoss)).toBe(true);
  });

  test('the benchmark reports the model FLOP utilisation against the GPU peak', async () => {
    const report = await runBenchmark(loadNative(), resolveBenchConfig({
      preset: 'cifar', batchSize: 64, steps: 5, warmup: 2, rounds: 1, device: 'cuda', precision: 'bf16',
      dataDir: mini, download: false, yardstick: false,
    }));
    expect(report.gpu).toEqual(expect.any(String));
    expect(report.channelsLast).toBe(true);
    expect(report.tflops).toBeGreaterThan(0);
    if (report.peakTflops !== null) expect(report.mfu).toBeCloseTo(report.tflops / report.peakTflops, 9);
  });
});

describeCuda('the training step captured in a CUDA graph', () => {
  // 900 training images in batches of 45: 20 steps, all full, so every one of them is replayed after the warm-up.
  const twenty = (): TrainConfig => ({
    ...options(), epochs: 1, batchSize: 45, precision: 'fp32', logEvery: 1, limitTest: 100,
  });

  /** Each parameter's largest absolute difference between two weights files, relative to its largest value. */
  function weightsDifference(a: string, b: string): number {
    const script = [
      'import sys, torch',
      'a, b = torch.load(sys.argv[1]), torch.load(sys.argv[2])',
      'print(max(((a[k].double() - b[k].double()).abs().max() / a[k].double().abs().max().clamp_min(1e-12)).item()',
      '          for k in a if a[k].is_floating_point()))',
    ].join('\n');
    return Number(execFileSync(PYTHON, ['-c', script, a, b], { encoding: 'utf8' }).trim());
  }

  async function losses(config: TrainConfig) {
    const seen: number[] = [];
    const result = await train({ ...config, onProgress: (e) => e.type === 'batchEnd' && seen.push(e.loss) });
    return { result, seen };
  }

  test("'auto' captures, and 20 captured steps end where 20 eager ones do, to within float32 rounding", async () => {
    const eager = await losses({ ...twenty(), cudaGraph: false, runDir: path.join(work, 'graph-eager') });
    const captured = await losses({ ...twenty(), cudaGraph: 'auto', runDir: path.join(work, 'graph-auto') });
    expect(eager.result.cudaGraph).toBe(false);
    expect(captured.result.cudaGraph).toBe(true);
    expect(captured.seen).toHaveLength(20);
    // The fused update rounds in another order than the multi-tensor one, and cuDNN may pick other TF32
    // algorithms: the runs agree closely, not bit for bit.
    captured.seen.forEach((loss, i) => expect(Math.abs(loss - eager.seen[i]!) / eager.seen[i]!).toBeLessThan(2e-3));
    expect(weightsDifference(eager.result.checkpoints!.weights, captured.result.checkpoints!.weights)).toBeLessThan(1e-2);
    // The comparison can fail: a run with another seed is far off.
    const other = await losses({ ...twenty(), seed: 8, cudaGraph: 'auto', runDir: path.join(work, 'graph-other') });
    expect(weightsDifference(eager.result.checkpoints!.weights, other.result.checkpoints!.weights)).toBeGreaterThan(1e-2);
  });

  test.each(['bf16', 'fp16'] as const)('%s: the captured recipe trains, losses finite and falling', async (precision) => {
    const result = await train({
      ...options(), precision, epochs: 2, batchSize: 64, cudaGraph: true, augment: 'crop-flip', labelSmoothing: 0.1,
      nesterov: true, decayNormAndBias: false, scheduler: 'onecycle', warmupEpochs: 0.5, flipTta: true,
      runDir: path.join(work, `graph-${precision}`),
    });
    expect(result.cudaGraph).toBe(true);
    const [first, second] = result.epochs;
    expect(Number.isFinite(first!.trainLoss) && Number.isFinite(second!.trainLoss)).toBe(true);
    expect(second!.trainLoss).toBeLessThan(first!.trainLoss);
    // Its checkpoint scores on the CPU as the run scored it.
    const onCpu = await evaluate({ checkpoint: result.checkpoints!.last, device: 'cpu', dataDir: mini, download: false });
    expect(Math.abs(onCpu.testAccuracy - result.testAccuracy)).toBeLessThanOrEqual(3 / 200);
  });

  test('a captured run stopped mid-epoch resumes to the end', async () => {
    const controller = new AbortController();
    const runDir = path.join(work, 'graph-resume');
    let steps = 0;
    const stopped = await train({
      ...twenty(), epochs: 2, cudaGraph: true, runDir, signal: controller.signal,
      onProgress: (e) => e.type === 'batchEnd' && ++steps === 25 && controller.abort(),
    }).catch((e: Error) => e);
    expect(stopped).toBeInstanceOf(AbortError);
    const resumed = await train({ ...twenty(), epochs: 2, cudaGraph: true, resume: path.join(runDir, 'checkpoints', 'last.pt') });
    expect(resumed.cudaGraph).toBe(true);
    expect(resumed.epochs).toHaveLength(2);
    expect(Number.isFinite(resumed.epochs[1]!.trainLoss)).toBe(true);
  });

  test('the benchmark times a captured step and splits it into host and GPU time', async () => {
    const config = { preset: 'cifar', batchSize: 256, steps: 10, warmup: 2, rounds: 1, device: 'cuda', precision: 'bf16',
      dataDir: mini, download: false, yardstick: false } as const;
    const captured = await runBenchmark(loadNative(), resolveBenchConfig({ ...config, cudaGraph: true }));
    const eager = await runBenchmark(loadNative(), resolveBenchConfig({ ...config, cudaGraph: false }));
    expect(captured.cudaGraph).toBe(true);
    expect(eager.cudaGraph).toBe(false);
    expect(captured.gpuMsPerStep).toBeGreaterThan(0);
    expect(eager.gpuMsPerStep).toBeGreaterThan(0);
    // Replaying a graph is one launch: the host's part of a step shrinks.
    expect(captured.hostMsPerStep!).toBeLessThan(eager.hostMsPerStep!);
  });
});

(cuda ? test.skip : test)('without a GPU these tests skip themselves', () => {
  expect(loadNative().info().cudaDevices).toBe(0);
});
