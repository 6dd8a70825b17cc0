// SPDX-License-Identifier: MIT
// train() on a fake NativeBinding: events, result, cancellation, native errors, throwing listeners; info().
import fs from 'node:fs';
import path from 'node:path';

import { PNG } from 'pngjs';

import { CIFAR10_CLASSES } from '../../lib/dataset';
import { TorchError } from '../../lib/errors';
import type { TrainEvent } from '../../lib/progress';
import { createApi } from '../../lib/api';
import { EVENTS, FakeBinding, checkpointInfo, makeDataDir, nativeError, rejection } from './fake-binding';

let dataDir: string;
beforeEach(() => {
  dataDir = makeDataDir();
});
afterEach(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('a completed run', () => {
  test('forwards every event, in order, and resolves with the result', async () => {
    const binding = new FakeBinding();
    const seen: TrainEvent[] = [];
    const result = await createApi(binding).train({ dataDir, epochs: 2, onProgress: (e) => seen.push(e) });

    expect(seen).toEqual(EVENTS);
    expect(result).toEqual({
      epochs: [
        { epoch: 1, trainLoss: 2.25, validAccuracy: 0.1, seconds: 1.5, validSeconds: 0.5, imagesPerSecond: 105 },
        { epoch: 2, trainLoss: 1.95, validAccuracy: 0.3, seconds: 1.4, validSeconds: 0.1, imagesPerSecond: 125 },
      ],
      testAccuracy: 0.25,
      perClassAccuracy: [0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0],
      confusionMatrix: expect.any(Array),
      classes: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
      parameters: 21298314,
      device: 'cpu',
      libtorchVersion: '1.13.1',
      threads: 4,
      precision: 'fp32',
      memoryFormat: 'contiguous',
      trainSize: 100,
      validSize: 10,
      testSize: 20,
      seconds: 3.2,
      testSeconds: 0.2,
      cudaGraph: false,
      worldSize: 1,
      rank: 0,
    });
    expect(result).not.toHaveProperty('status');
    expect(binding.cancelCalls).toBe(0);
  });

  test('hands the addon the resolved options and the prepared data folder', async () => {
    const binding = new FakeBinding();
    await createApi(binding).train({ dataDir, preset: 'cifar', epochs: 2, limitTest: 50, threads: 3 });
    expect(binding.started).toEqual([
      {
        epochs: 2,
        lr: 0.4,
        batchSize: 512,
        momentum: 0.9,
        weightDecay: 5e-4,
        decayNormAndBias: false,
        nesterov: true,
        scheduler: 'onecycle',
        warmupEpochs: 2 / 6,
        labelSmoothing: 0.1,
        augment: 'crop-flip',
        flipTta: true,
        validSplit: 0.1,
        seed: 42,
        preset: 'cifar',
        imageSize: 32,
        device: 'auto',
        threads: 3,
        precision: 'auto',
        memoryFormat: 'auto',
        dataDir,
        limitTrain: 0,
        limitTest: 50,
        logEvery: 10,
        checkpointDir: '',
        resumeFrom: '',
        initFrom: '',
        freeze: 'none',
        distributed: null,
        cudaGraph: 'auto',
        images: '',
        imagesTrainCache: '',
        imagesValidCache: '',
        imagesTestCache: '',
      },
    ]);
  });

  test('runs without onProgress', async () => {
    const binding = new FakeBinding();
    await expect(createApi(binding).train({ dataDir })).resolves.toHaveProperty('testAccuracy', 0.25);
    expect(binding.delivered).toBe(EVENTS.length);
  });

  test('removes its abort listener once settled', async () => {
    const controller = new AbortController();
    const remove = jest.spyOn(controller.signal, 'removeEventListener');
    const binding = new FakeBinding();
    await createApi(binding).train({ dataDir, signal: controller.signal });
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
    controller.abort();
    expect(binding.cancelCalls).toBe(0);
  });

  test('the binding is loaded lazily, after validation', async () => {
    const load = jest.fn(() => new FakeBinding());
    await expect(createApi(load).train({ dataDir, epochs: 0 })).rejects.toThrow(RangeError);
    expect(load).not.toHaveBeenCalled();
    await createApi(load).train({ dataDir });
    expect(load).toHaveBeenCalledTimes(1);
  });
});

describe('rejections before any native work', () => {
  test('an invalid option rejects with the config error; nothing starts', async () => {
    const binding = new FakeBinding();
    const error = await rejection(createApi(binding).train({ dataDir, batchSize: 0 }));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe('Expected integer between 1 and 4096 for batchSize but received 0 of type number');
    expect(binding.started).toHaveLength(0);
  });

  test('missing data rejects with ERR_DATA_NOT_FOUND; nothing starts', async () => {
    const binding = new FakeBinding();
    fs.rmSync(dataDir, { recursive: true });
    const error = await rejection(createApi(binding).train({ dataDir, download: false }));
    expect(error.code).toBe('ERR_DATA_NOT_FOUND');
    expect(binding.started).toHaveLength(0);
  });

  test('a signal aborted before the call rejects with AbortError; nothing starts', async () => {
    const binding = new FakeBinding();
    const controller = new AbortController();
    const reason = new Error('changed my mind');
    controller.abort(reason);
    const error = await rejection(createApi(binding).train({ dataDir, signal: controller.signal }));
    expect(error.name).toBe('AbortError');
    expect(error.code).toBe('ABORT_ERR');
    expect(error.cause).toBe(reason);
    expect(binding.started).toHaveLength(0);
  });
});

describe('aborting a running job', () => {
  test('after the first batchEnd: job.cancel() once, then AbortError with the reason as cause', async () => {
    const binding = new FakeBinding();
    const controller = new AbortController();
    const seen: string[] = [];
    const error = await rejection(
      createApi(binding).train({
        dataDir,
        signal: controller.signal,
        onProgress: (event) => {
          seen.push(event.type);
          if (event.type === 'batchEnd') controller.abort('stop please');
        },
      }),
    );
    expect(error.name).toBe('AbortError');
    expect(error.code).toBe('ABORT_ERR');
    expect(error.cause).toBe('stop please');
    expect(binding.cancelCalls).toBe(1);
    expect(binding.doneCalls).toBe(1);
    // The fake checks the flag before every step, as the native loop does.
    expect(seen).toEqual(['trainBegin', 'epochBegin', 'batchEnd']);
  });

  test('the promise settles only once the job reported it stopped', async () => {
    const binding = new FakeBinding();
    const controller = new AbortController();
    const run = createApi(binding).train({ dataDir, signal: controller.signal });
    let settled = false;
    run.catch(() => undefined).finally(() => (settled = true));
    // Abort only once the job runs: before that, train() rejects without starting one (prepareDataset is async).
    while (binding.started.length === 0) await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    await Promise.resolve();
    expect(settled).toBe(false);
    expect(binding.doneCalls).toBe(0);
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(binding.doneCalls).toBe(1);
  });
});

describe('native errors', () => {
  // A named caller, to find in the stack: native callbacks run on a later turn of the event loop, so only the
  // stack captured when train() was called can hold it.
  async function callerOfTrainForStackTest(binding: FakeBinding) {
    return createApi(binding).train({ dataDir });
  }

  test('become a TorchError with the code, the message and the caller stack', async () => {
    const native = nativeError('CUDA out of memory (out of memory: try a smaller batchSize)', 'ERR_TORCH_OOM');
    const binding = new FakeBinding({ error: native });
    const error = await rejection(callerOfTrainForStackTest(binding));
    expect(error).toBeInstanceOf(TorchError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('TorchError');
    expect(error.code).toBe('ERR_TORCH_OOM');
    expect(error.message).toBe('CUDA out of memory (out of memory: try a smaller batchSize)');
    expect(error.cause).toBe(native);
    expect(error.stack).toMatch(/^TorchError: CUDA out of memory/);
    expect(error.stack).toContain('callerOfTrainForStackTest');
    expect(Object.keys(error)).not.toContain('name');
  });

  test('an error without a code is ERR_NATIVE', async () => {
    const binding = new FakeBinding({ error: new Error('bad') });
    await expect(createApi(binding).train({ dataDir })).rejects.toMatchObject({
      name: 'TorchError',
      code: 'ERR_NATIVE',
      message: 'bad',
    });
  });

  test('startTraining throwing becomes a TorchError too', async () => {
    const binding = new FakeBinding({ throwOnStart: nativeError('cannot start', 'ERR_TORCH') });
    const error = await rejection(createApi(binding).train({ dataDir }));
    expect(error).toBeInstanceOf(TorchError);
    expect(error.code).toBe('ERR_TORCH');
  });
});

describe('an onProgress that throws', () => {
  test('cancels the job and rejects with its error; no later events reach it', async () => {
    const binding = new FakeBinding();
    const boom = new Error('listener bug');
    const seen: string[] = [];
    const error = await rejection(
      createApi(binding).train({
        dataDir,
        onProgress: (event) => {
          seen.push(event.type);
          if (event.type === 'epochBegin') throw boom;
        },
      }),
    );
    expect(error).toBe(boom);
    expect(binding.cancelCalls).toBe(1);
    expect(seen).toEqual(['trainBegin', 'epochBegin']);
  });

  test('an async onProgress that rejects does the same', async () => {
    const binding = new FakeBinding();
    const boom = new Error('async listener bug');
    const error = await rejection(
      createApi(binding).train({
        dataDir,
        onProgress: async (event) => {
          if (event.type === 'trainBegin') throw boom;
        },
      }),
    );
    expect(error).toBe(boom);
    expect(binding.cancelCalls).toBe(1);
  });

  test('throwing on an event delivered before startTraining returned still cancels the job', async () => {
    const binding = new FakeBinding({ firstEventSync: true });
    const boom = new Error('early');
    const error = await rejection(
      createApi(binding).train({
        dataDir,
        onProgress: () => {
          throw boom;
        },
      }),
    );
    expect(error).toBe(boom);
    expect(binding.cancelCalls).toBe(1);
  });

  test('wins over a native error that follows', async () => {
    const binding = new FakeBinding({ events: EVENTS.slice(0, 1), error: nativeError('later', 'ERR_TORCH') });
    const boom = new Error('first');
    const error = await rejection(
      createApi(binding).train({
        dataDir,
        onProgress: () => {
          throw boom;
        },
      }),
    );
    expect(error).toBe(boom);
  });
});

describe('info', () => {
  test('combines info() and the parameter counts', async () => {
    await expect(createApi(new FakeBinding()).info()).resolves.toEqual({
      libtorchVersion: '1.13.1',
      cudaAvailable: false,
      cudaDevices: 0,
      threads: 8,
      distributedBackends: ['gloo'],
      cudaVersion: '',
      cudnnVersion: '',
      presets: {
        article: { parameters: 21298314 },
        cifar: { parameters: 21282122 },
        torchvision: { parameters: 21289802 },
      },
    });
  });

  test("a CUDA build's CUDA and cuDNN versions, as people write them", async () => {
    const binding = new FakeBinding();
    const native = binding.info.bind(binding);
    for (const [cuda, cudnn, cudaText, cudnnText] of [
      [12040, 90100, '12.4', '9.1.0'],
      [13000, 91002, '13.0', '9.10.2'],
      [11080, 8902, '11.8', '8.9.2'],
    ] as const) {
      binding.info = () => ({ ...native(), cudaRuntimeVersion: cuda, cudnnVersion: cudnn });
      await expect(createApi(binding).info()).resolves.toMatchObject({ cudaVersion: cudaText, cudnnVersion: cudnnText });
    }
  });

  test('a native exception becomes a TorchError with the caller stack', async () => {
    const binding = new FakeBinding();
    binding.infoError = nativeError('c10 failure', 'ERR_TORCH');
    async function callerOfInfoForStackTest() {
      return createApi(binding).info();
    }
    const error = await rejection(callerOfInfoForStackTest());
    expect(error).toBeInstanceOf(TorchError);
    expect(error.code).toBe('ERR_TORCH');
    expect(error.stack).toContain('callerOfInfoForStackTest');
  });
});

describe('evaluate and predict on a fake binding', () => {
  test('evaluate: the data folder is prepared, the result carries class names and the checkpoint summary', async () => {
    const binding = new FakeBinding();
    const result = await createApi(binding).evaluate({ checkpoint: 'best.pt', dataDir, limitTest: 20, threads: 1 });
    expect(binding.evaluations[0]).toEqual({
      checkpoint: path.resolve('best.pt'),
      dataDir,
      limitTest: 20,
      batchSize: 64,
      device: 'auto',
      threads: 1,
      // null: the core scores as the checkpoint's run did.
      flipTta: null,
    });
    expect(result.classes).toEqual(CIFAR10_CLASSES);
    expect(result).toMatchObject({ flipTta: false, precision: 'fp32' });
    expect(result.checkpoint).toEqual({
      path: path.resolve('best.pt'),
      kind: 'checkpoint',
      preset: 'cifar',
      imageSize: 16,
      epochsDone: 1,
      libtorchVersion: '1.13.1',
    });
  });

  test('evaluate: an aborted signal rejects with AbortError before anything starts', async () => {
    const binding = new FakeBinding();
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(createApi(binding).evaluate({ checkpoint: 'a.pt', dataDir, signal: controller.signal }));
    expect(error.name).toBe('AbortError');
    expect(binding.evaluations).toHaveLength(0);
  });

  test('predict: classes ranked by probability, `top` of them, images named', async () => {
    const binding = new FakeBinding({ probabilities: [0.1, 0.3, 0, 0, 0, 0, 0, 0.6, 0, 0] });
    const png = PNG.sync.write(new PNG({ width: 4, height: 3 }));
    const [p] = await createApi(binding).predict({ checkpoint: 'a.pt', images: [png], top: 2 });
    expect(p).toEqual({
      image: 'images[0]',
      top: [
        { label: 'horse', classIndex: 7, probability: 0.6 },
        { label: 'automobile', classIndex: 1, probability: 0.3 },
      ],
      probabilities: [0.1, 0.3, 0, 0, 0, 0, 0, 0.6, 0, 0],
    });
    expect(binding.predictions[0]!.images[0]).toMatchObject({ width: 4, height: 3 });
    expect(binding.predictions[0]!.images[0]!.data).toHaveLength(4 * 3 * 3);
  });

  test('the class names are the ones the checkpoint names, for predict and evaluate alike', async () => {
    const classes = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9'];
    const checkpoint = { ...checkpointInfo(3), kind: 'weights' as const, classes };
    const binding = new FakeBinding({ probabilities: [0, 0, 0, 0.9, 0.1, 0, 0, 0, 0, 0], checkpoint });
    const png = PNG.sync.write(new PNG({ width: 4, height: 3 }));
    const [p] = await createApi(binding).predict({ checkpoint: 'weights.pt', images: [png], top: 1 });
    expect(p!.top).toEqual([{ label: 'c3', classIndex: 3, probability: 0.9 }]);
    const result = await createApi(binding).evaluate({ checkpoint: 'weights.pt', dataDir });
    expect(result.classes).toEqual(classes);
    expect(result.checkpoint).toMatchObject({ kind: 'weights', epochsDone: 3 });
  });

  test('resume from a weights file: ERR_CHECKPOINT saying to pass last.pt, before any data is prepared', async () => {
    const binding = new FakeBinding({ checkpoint: { ...checkpointInfo(2), kind: 'weights' } });
    const error = await rejection(createApi(binding).train({ resume: 'runs/a/checkpoints/weights.pt', dataDir: '/nonexistent' }));
    expect(error).toMatchObject({ name: 'TorchError', code: 'ERR_CHECKPOINT' });
    expect(error.message).toMatch(/^cannot resume from \/.*\/runs\/a\/checkpoints\/weights\.pt: a weights file .*last\.pt/);
    expect(binding.started).toHaveLength(0);
  });
});
