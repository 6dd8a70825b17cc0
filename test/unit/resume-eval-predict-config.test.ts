// SPDX-License-Identifier: MIT
// Checking the options of a resume, evaluate() and predict(): the same messages and codes as train()'s.
import fs from 'node:fs';
import path from 'node:path';

import { RESUME_FIXED, RESUME_SWITCHABLE, mergeResume, resolveConfig, resolveEvalConfig, resolvePredictConfig } from '../../lib/config';
import { createApi } from '../../lib/api';
import { FakeBinding, checkpointInfo, makeDataDir } from './fake-binding';

const CHECKPOINT = '/runs/a/checkpoints/last.pt';

describe('mergeResume', () => {
  const saved = checkpointInfo(1).options;

  test('options left out take the checkpoint values; the run folder is the one holding checkpoints/', () => {
    const config = mergeResume(resolveConfig({ resume: CHECKPOINT }), saved);
    expect(config).toMatchObject({
      epochs: 2,
      lr: 0.05,
      batchSize: 32,
      seed: 7,
      preset: 'cifar',
      imageSize: 16,
      limitTrain: 256,
      limitTest: undefined,
      logEvery: 5,
      dataDir: '/data/cifar',
      runDir: '/runs/a',
      resume: CHECKPOINT,
    });
  });

  test('epochs, the data folder, the device, threads and the run folder may change', () => {
    const config = mergeResume(
      resolveConfig({ resume: CHECKPOINT, epochs: 9, dataDir: '/d', device: 'cpu', threads: 1, runDir: '/elsewhere' }),
      saved,
    );
    expect(config).toMatchObject({ epochs: 9, dataDir: '/d', device: 'cpu', threads: 1, runDir: '/elsewhere' });
  });

  test('a scheduled run keeps its epochs (its course was laid over them); flipTta may change', () => {
    const scheduled = { ...saved, scheduler: 'cosine' as const };
    expect(() => mergeResume(resolveConfig({ resume: CHECKPOINT, epochs: 9 }), scheduled)).toThrow(
      /^Cannot change epochs when resuming a run with a learning-rate schedule \(scheduler 'cosine'/,
    );
    expect(mergeResume(resolveConfig({ resume: CHECKPOINT, epochs: saved.epochs }), scheduled).epochs).toBe(saved.epochs);
    const config = mergeResume(resolveConfig({ resume: CHECKPOINT, flipTta: true }), { ...saved, nesterov: true, augment: 'flip' });
    expect(config).toMatchObject({ flipTta: true, nesterov: true, augment: 'flip' });
  });

  test.each(RESUME_SWITCHABLE.map((name) => [name]))('%s: the checkpoint\'s unless given, then the given one', (name) => {
    const other: Record<string, unknown> = {
      epochs: 5,
      dataDir: '/other/data',
      limitTest: 40,
      logEvery: 3,
      precision: 'bf16',
      memoryFormat: 'channels-last',
      flipTta: !saved.flipTta,
    };
    const fromCheckpoint = mergeResume(resolveConfig({ resume: CHECKPOINT }), { ...saved, limitTest: 30 });
    const expected = name === 'limitTest' ? 30 : saved[name];
    expect(fromCheckpoint[name]).toEqual(expected);
    expect(other[name]).not.toEqual(expected);
    expect(mergeResume(resolveConfig({ resume: CHECKPOINT, [name]: other[name] }), saved)[name]).toEqual(other[name]);
  });

  test('a checkpoint outside a run folder gives no run folder unless one is named', () => {
    expect(mergeResume(resolveConfig({ resume: '/tmp/last.pt' }), saved).runDir).toBeUndefined();
  });

  test.each(RESUME_FIXED.map((name) => [name]))('%s given with another value is refused, naming it', (name) => {
    const other: Record<string, unknown> = {
      preset: 'article',
      imageSize: 20,
      batchSize: 64,
      lr: 0.1,
      momentum: 0.5,
      weightDecay: 0,
      validSplit: 0.2,
      seed: 8,
      limitTrain: 100,
      decayNormAndBias: false,
      nesterov: true,
      scheduler: 'cosine',
      warmupEpochs: 1,
      labelSmoothing: 0.1,
      augment: 'crop-flip',
      freeze: 'backbone',
      images: '/other/photos',
    };
    const input = { resume: CHECKPOINT, [name]: other[name], ...(name === 'imageSize' ? { preset: 'cifar' } : {}) };
    let caught: unknown;
    try {
      mergeResume(resolveConfig(input), saved);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RangeError);
    expect(caught).toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
      message: expect.stringMatching(new RegExp(`^Cannot change ${name} when resuming: the checkpoint was trained with`)),
    });
  });

  test('cudaGraph is per run: the checkpoint does not hold it, and each resume may choose it', async () => {
    expect(saved).not.toHaveProperty('cudaGraph');
    expect([...RESUME_FIXED, ...RESUME_SWITCHABLE]).not.toContain('cudaGraph');
    expect(mergeResume(resolveConfig({ resume: CHECKPOINT }), saved).cudaGraph).toBe('auto');
    for (const cudaGraph of [true, false, 'auto'] as const) {
      expect(mergeResume(resolveConfig({ resume: CHECKPOINT, cudaGraph }), saved).cudaGraph).toBe(cudaGraph);
    }
    // A checkpoint whose options somehow carried it (a file from another build) still does not decide it.
    const stray = { ...saved, cudaGraph: 'on' } as typeof saved;
    expect(mergeResume(resolveConfig({ resume: CHECKPOINT, cudaGraph: false }), stray).cudaGraph).toBe(false);
    // Through train(): the addon hears the resumed run's own choice.
    const dataDir = makeDataDir();
    try {
      for (const [cudaGraph, native] of [[false, 'off'], [true, 'on'], [undefined, 'auto']] as const) {
        const binding = new FakeBinding();
        await createApi(binding).train({ resume: path.join(dataDir, 'runs', 'a', 'checkpoints', 'last.pt'), dataDir, cudaGraph });
        expect(binding.checkpointsRead).toHaveLength(1);
        expect(binding.started[0]).toMatchObject({ cudaGraph: native, batchSize: 32, preset: 'cifar' });
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('the same value given explicitly is fine', () => {
    expect(mergeResume(resolveConfig({ resume: CHECKPOINT, lr: 0.05, preset: 'cifar', imageSize: 16 }), saved).lr).toBe(
      0.05,
    );
  });
});

describe('resolveEvalConfig', () => {
  test('defaults', () => {
    expect(resolveEvalConfig({ checkpoint: 'best.pt', dataDir: '/d', download: false })).toMatchObject({
      checkpoint: path.resolve('best.pt'),
      dataDir: '/d',
      download: false,
      batchSize: 64,
      device: 'auto',
      threads: 0,
      limitTest: undefined,
    });
  });

  test.each([
    [{}, TypeError, /^Expected path of a checkpoint file for checkpoint but received undefined/],
    [{ checkpoint: 3 }, TypeError, /^Expected non-empty string for checkpoint but received 3/],
    [{ checkpoint: 'a.pt', limitTest: 0 }, RangeError, /for limitTest but received 0/],
    [{ checkpoint: 'a.pt', batchSize: 1.5 }, RangeError, /for batchSize but received 1\.5/],
    [{ checkpoint: 'a.pt', device: 'gpu' }, TypeError, /for device but received 'gpu'/],
    [{ checkpoint: 'a.pt', limitTets: 5 }, TypeError, /^Unknown option 'limitTets'; did you mean 'limitTest'\?/],
    [{ checkpoint: 'a.pt', epochs: 5 }, TypeError, /^Unknown option 'epochs'; the options are checkpoint, dataDir/],
  ])('%j is refused', (input, errorClass, message) => {
    expect(() => resolveEvalConfig(input)).toThrow(errorClass);
    expect(() => resolveEvalConfig(input)).toThrow(message);
  });
});

describe('flipTta of evaluate() and predict()', () => {
  test("left out it is undefined (the checkpoint's); a boolean is kept; anything else is refused", () => {
    const predict = { checkpoint: 'a.pt', images: ['a.png'] };
    expect(resolveEvalConfig({ checkpoint: 'a.pt' }).flipTta).toBeUndefined();
    expect(resolvePredictConfig(predict).flipTta).toBeUndefined();
    for (const value of [true, false]) {
      expect(resolveEvalConfig({ checkpoint: 'a.pt', flipTta: value }).flipTta).toBe(value);
      expect(resolvePredictConfig({ ...predict, flipTta: value }).flipTta).toBe(value);
    }
    expect(() => resolveEvalConfig({ checkpoint: 'a.pt', flipTta: 'yes' })).toThrow(
      /^Expected boolean for flipTta but received 'yes'/,
    );
    expect(() => resolvePredictConfig({ ...predict, flipTta: 1 })).toThrow(TypeError);
  });
});

describe('resolvePredictConfig', () => {
  test('paths become absolute, bytes stay bytes, top defaults to 3', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const config = resolvePredictConfig({ checkpoint: 'best.pt', images: ['cat.png', bytes] });
    expect(config.images).toEqual([path.resolve('cat.png'), bytes]);
    expect(config.top).toBe(3);
  });

  test.each([
    [{ checkpoint: 'a.pt' }, TypeError, /for images but received undefined/],
    [{ checkpoint: 'a.pt', images: [] }, RangeError, /^Expected non-empty array of PNG or JPEG paths/],
    [{ checkpoint: 'a.pt', images: 'cat.png' }, TypeError, /for images but received 'cat.png'/],
    [{ checkpoint: 'a.pt', images: [42] }, TypeError, /for images\[0\] but received 42/],
    [{ checkpoint: 'a.pt', images: ['a.png'], top: 0 }, RangeError, /^Expected integer between 1 and 10 for top/],
    [{ checkpoint: 'a.pt', images: ['a.png'], topk: 2 }, TypeError, /did you mean 'top'\?/],
  ])('%j is refused', (input, errorClass, message) => {
    expect(() => resolvePredictConfig(input)).toThrow(errorClass);
    expect(() => resolvePredictConfig(input)).toThrow(message);
  });
});
