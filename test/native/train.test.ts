// SPDX-License-Identifier: MIT
// Training through the real addon on the CPU: real CIFAR-10 images (the mini archive) and generated data.
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { train, TorchError } from '../../lib/index';
import { loadNative } from '../../lib/native';
import type { TrainEvent } from '../../lib/index';
import { extractMini, tempDir, writeCifar, PLAIN_SGD } from '../fixtures/cifar';

/** The mini archive: 1000 training and 200 test records (20 per class). */
const MINI_TEST_RECORDS = 200;

let mini: string;
const made: string[] = [];

beforeAll(async () => {
  mini = await extractMini();
  made.push(mini);
});

afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

describe('train() on real CIFAR-10 images', () => {
  // The "done when" call, with the event loop watched while it runs.
  test('cifar preset, 1 epoch on 512 images: complete, sane results and ordered events', async () => {
    const events: TrainEvent[] = [];
    const delay = monitorEventLoopDelay({ resolution: 10 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    delay.enable();
    const started = Date.now();
    const result = await train({
      ...PLAIN_SGD, epochs: 1, preset: 'cifar', limitTrain: 512, limitTest: 256, dataDir: mini, download: false, logEvery: 2,
      onProgress: (e) => events.push(e),
    });
    const elapsed = Date.now() - started;
    delay.disable();
    clearInterval(timer);

    // Result
    expect(result.trainSize).toBe(512 - Math.floor(0.1 * 512));
    expect(result.validSize).toBe(Math.floor(0.1 * 512));
    expect(result.testSize).toBe(MINI_TEST_RECORDS); // limitTest 256 is more than the mini archive has
    expect(result.device).toBe('cpu');
    expect(result.libtorchVersion).toMatch(/^\d+\.\d+/);
    expect(result.parameters).toBe(21_290_634);
    expect(result.threads).toBeGreaterThanOrEqual(1);
    expect(result.epochs).toHaveLength(1);
    const [epoch] = result.epochs;
    expect(epoch.epoch).toBe(1);
    expect(Number.isFinite(epoch.trainLoss) && epoch.trainLoss > 0).toBe(true);
    expect(epoch.validAccuracy).toBeGreaterThanOrEqual(0);
    expect(epoch.validAccuracy).toBeLessThanOrEqual(1);
    expect(epoch.seconds).toBeGreaterThan(0);
    expect(epoch.imagesPerSecond).toBeCloseTo(result.trainSize / epoch.seconds, 3);
    expect(result.perClassAccuracy).toHaveLength(10);
    expect(result.confusionMatrix).toHaveLength(10);
    result.confusionMatrix.forEach((row) => expect(row).toHaveLength(10));
    const cells = result.confusionMatrix.flat();
    expect(cells.reduce((a, b) => a + b, 0)).toBe(MINI_TEST_RECORDS);
    const diagonal = result.confusionMatrix.reduce((sum, row, i) => sum + row[i], 0);
    expect(result.testAccuracy).toBeCloseTo(diagonal / MINI_TEST_RECORDS, 10);
    result.perClassAccuracy.forEach((acc, c) => {
      const row = result.confusionMatrix[c];
      const total = row.reduce((a, b) => a + b, 0);
      expect(acc).toBeCloseTo(total ? row[c] / total : 0, 10);
    });

    // Events: trainBegin, epochBegin, batchEnd..., evalBegin(valid), epochEnd, evalBegin(test), trainEnd.
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('trainBegin');
    expect(types[1]).toBe('epochBegin');
    expect(types.slice(-4)).toEqual(['evalBegin', 'epochEnd', 'evalBegin', 'trainEnd']);
    const batches = events.filter((e): e is Extract<TrainEvent, { type: 'batchEnd' }> => e.type === 'batchEnd');
    const steps = Math.ceil(result.trainSize / 64);
    expect(batches.map((b) => b.step)).toEqual(
      Array.from({ length: steps }, (_, i) => i + 1).filter((s) => s % 2 === 0 || s === steps),
    );
    batches.forEach((b) => {
      expect(Number.isFinite(b.loss) && b.loss > 0).toBe(true);
      expect(b.imagesPerSecond).toBeGreaterThan(0);
      expect(b.stepsPerEpoch).toBe(steps);
    });
    const end = events[events.length - 1] as Extract<TrainEvent, { type: 'trainEnd' }>;
    expect(end.testAccuracy).toBe(result.testAccuracy);

    // Training ran off the main thread: timers kept firing and the loop never stalled for long.
    expect(ticks).toBeGreaterThan((elapsed / 20) * 0.5);
    expect(delay.max / 1e6).toBeLessThan(250);
  });

  test("article preset trains end to end at 224 px (the article's shapes)", async () => {
    const result = await train({
      epochs: 1, preset: 'article', batchSize: 4, limitTrain: 8, limitTest: 4, validSplit: 0.25, dataDir: mini,
      download: false,
    });
    expect(result.parameters).toBe(21_298_314);
    expect(result.trainSize).toBe(6);
    expect(result.epochs[0].trainLoss).toBeGreaterThan(0);
    expect(result.confusionMatrix.flat().reduce((a, b) => a + b, 0)).toBe(4);
  });

  test('the loop learns: over-fitting 64 images drives the training loss far down', async () => {
    const result = await train({
      ...PLAIN_SGD, epochs: 14, preset: 'cifar', imageSize: 16, batchSize: 16, lr: 0.01, validSplit: 0, limitTrain: 64,
      limitTest: 64, dataDir: mini, download: false, logEvery: 1000,
    });
    const losses = result.epochs.map((e) => e.trainLoss);
    expect(losses[0]).toBeGreaterThan(1.5);
    expect(Math.min(...losses.slice(-3))).toBeLessThan(losses[0] / 4);
  });
});

describe('stopping and failing', () => {
  test('an AbortSignal stops the run within one step and rejects with AbortError', async () => {
    const controller = new AbortController();
    const seen: TrainEvent[] = [];
    let abortedAt = 0;
    const run = train({
      ...PLAIN_SGD, epochs: 5, preset: 'cifar', batchSize: 16, limitTrain: 512, limitTest: 64, dataDir: mini, download: false,
      logEvery: 1, signal: controller.signal,
      onProgress: (e) => {
        seen.push(e);
        if (e.type === 'batchEnd' && !abortedAt) {
          abortedAt = seen.length;
          controller.abort(new Error('enough'));
        }
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    // The step running when abort arrived may finish; nothing after it.
    expect(seen.slice(abortedAt).filter((e) => e.type === 'batchEnd').length).toBeLessThanOrEqual(1);
    expect(seen.some((e) => e.type === 'epochEnd')).toBe(false);
  });

  test('a damaged batch file becomes a TorchError naming the file, without a C++ backtrace', async () => {
    const dir = writeCifar(tempDir(), { train: 20, test: 10 });
    made.push(dir);
    const file = path.join(dir, 'cifar-10-batches-bin', 'data_batch_2.bin');
    fs.truncateSync(file, 3073 * 2 + 100);
    const error = await train({ epochs: 1, preset: 'cifar', dataDir: dir, download: false }).catch((e) => e);
    expect(error).toBeInstanceOf(TorchError);
    expect(error.code).toBe('ERR_DATA');
    expect(error.message).toContain('data_batch_2.bin');
    expect(error.message).toContain('3073-byte records');
    expect(error.message).not.toMatch(/frame #|Exception raised from/);
  });

  test('a LibTorch error (c10::Error) becomes a TorchError ERR_TORCH, without a C++ backtrace', async () => {
    // At 8 px the cifar preset's last stage is 1x1, so a batch of one leaves BatchNorm a single value per channel.
    const dir = writeCifar(tempDir(), { train: 10, test: 5 });
    made.push(dir);
    const error = await train({
      epochs: 1, preset: 'cifar', imageSize: 8, batchSize: 1, validSplit: 0, dataDir: dir, download: false,
    }).catch((e) => e);
    expect(error).toBeInstanceOf(TorchError);
    expect(error.code).toBe('ERR_TORCH');
    expect(error.message).toMatch(/Expected more than 1 value per channel when training/);
    expect(error.message).not.toMatch(/frame #|Exception raised from/);
  });

  const cudaAvailable = loadNative().info().cudaAvailable;
  (cudaAvailable ? test.skip : test)('device cuda where LibTorch sees no GPU is a clear error', async () => {
    const dir = writeCifar(tempDir(), { train: 10, test: 5 });
    made.push(dir);
    await expect(train({ epochs: 1, preset: 'cifar', device: 'cuda', dataDir: dir, download: false })).rejects.toThrow(
      /device 'cuda' requested but LibTorch .* sees no CUDA device; use device: 'cpu' or 'auto'/,
    );
  });
});
