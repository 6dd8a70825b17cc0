// SPDX-License-Identifier: MIT
// A scripted NativeBinding: plays events on later turns of the event loop, honours cancel(), settles once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CIFAR10_CLASSES } from '../../lib/dataset';

import type {
  NativeBenchOptions,
  NativeBenchResult,
  NativeBinding,
  NativeCheckpointInfo,
  NativeEvalOptions,
  NativeEvalResult,
  NativeImage,
  NativePredictOptions,
  NativePredictResult,
  NativeError,
  NativeEvent,
  NativeInfo,
  NativeJob,
  NativeModel,
  NativeTrainOptions,
  NativeTrainResult,
} from '../../lib/native';

export const EVENTS: NativeEvent[] = [
  {
    type: 'trainBegin',
    epochs: 2,
    stepsPerEpoch: 2,
    trainSize: 100,
    validSize: 10,
    testSize: 20,
    parameters: 21298314,
    threads: 4,
    device: 'cpu',
    worldSize: 1,
    rank: 0,
    startEpoch: 0,
    startStep: 0,
  },
  { type: 'epochBegin', epoch: 1, epochs: 2, stepsPerEpoch: 2 },
  { type: 'batchEnd', phase: 'train', epoch: 1, epochs: 2, step: 1, stepsPerEpoch: 2, loss: 2.3, accuracy: 0.2, imagesPerSecond: 100, lr: 0.01 },
  { type: 'batchEnd', phase: 'train', epoch: 1, epochs: 2, step: 2, stepsPerEpoch: 2, loss: 2.2, accuracy: 0.2, imagesPerSecond: 110, lr: 0.01 },
  { type: 'evalBegin', phase: 'valid', epoch: 1, samples: 10 },
  { type: 'epochEnd', epoch: 1, epochs: 2, trainLoss: 2.25, validAccuracy: 0.1, seconds: 1.5, validSeconds: 0.5, imagesPerSecond: 105 },
  { type: 'epochBegin', epoch: 2, epochs: 2, stepsPerEpoch: 2 },
  { type: 'batchEnd', phase: 'train', epoch: 2, epochs: 2, step: 1, stepsPerEpoch: 2, loss: 2.0, accuracy: 0.2, imagesPerSecond: 120, lr: 0.01 },
  { type: 'batchEnd', phase: 'train', epoch: 2, epochs: 2, step: 2, stepsPerEpoch: 2, loss: 1.9, accuracy: 0.2, imagesPerSecond: 130, lr: 0.01 },
  { type: 'evalBegin', phase: 'valid', epoch: 2, samples: 10 },
  { type: 'epochEnd', epoch: 2, epochs: 2, trainLoss: 1.95, validAccuracy: 0.3, seconds: 1.4, validSeconds: 0.1, imagesPerSecond: 125 },
  { type: 'evalBegin', phase: 'test', epoch: 2, samples: 20 },
  { type: 'trainEnd', testAccuracy: 0.25, seconds: 3.2 },
];

export function nativeResult(status: 'completed' | 'cancelled' = 'completed'): NativeTrainResult {
  return plainResult(status);
}

function plainResult(status: 'completed' | 'cancelled'): NativeTrainResult {
  return {
    status,
    epochs: [
      { epoch: 1, trainLoss: 2.25, validAccuracy: 0.1, seconds: 1.5, validSeconds: 0.5, imagesPerSecond: 105 },
      { epoch: 2, trainLoss: 1.95, validAccuracy: 0.3, seconds: 1.4, validSeconds: 0.1, imagesPerSecond: 125 },
    ],
    testAccuracy: 0.25,
    perClassAccuracy: [0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0],
    confusionMatrix: Array.from({ length: 10 }, (_, i) => Array.from({ length: 10 }, (_, j) => (i === j ? 1 : 0))),
    classes: [...CIFAR10_CLASSES],
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
  };
}

/** What readCheckpoint gives for a checkpoint after `epochsDone` epochs of a cifar run. */
export function checkpointInfo(epochsDone = 1, options: Partial<NativeCheckpointInfo['options']> = {}): NativeCheckpointInfo {
  return {
    options: {
      epochs: 2,
      lr: 0.05,
      batchSize: 32,
      momentum: 0.9,
      weightDecay: 0.001,
      decayNormAndBias: true,
      nesterov: false,
      scheduler: 'constant',
      warmupEpochs: 0,
      labelSmoothing: 0,
      augment: 'none',
      flipTta: false,
      validSplit: 0.1,
      seed: 7,
      preset: 'cifar',
      imageSize: 16,
      device: 'cpu',
      threads: 2,
      precision: 'fp32',
      memoryFormat: 'auto',
      dataDir: '/data/cifar',
      images: '',
      limitTrain: 256,
      limitTest: 0,
      logEvery: 5,
      worldSize: 1,
      init: '',
      freeze: 'none',
      ...options,
    },
    epochsDone,
    step: 0,
    libtorchVersion: '1.13.1',
    kind: 'checkpoint',
    classes: [...CIFAR10_CLASSES],
    history: nativeResult().epochs.slice(0, epochsDone),
    bestValidAccuracy: 0.1,
  };
}

/** A stand-in for readModel's answer: a cifar model's metadata with two small tensors (seeded values). */
export function fakeModel(seed = 1): NativeModel {
  let state = seed;
  const next = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
  return {
    preset: 'cifar',
    imageSize: 32,
    recordSide: 32,
    classes: [...CIFAR10_CLASSES],
    mean: [0.4914, 0.4822, 0.4465],
    std: [0.2023, 0.1994, 0.201],
    tensors: [
      { name: 'fc.weight', shape: [3, 2], dtype: 'float32', data: Float32Array.from({ length: 6 }, next) },
      { name: 'bn.num_batches_tracked', shape: [], dtype: 'int64', data: BigInt64Array.of(BigInt(seed * 7)) },
    ],
  };
}

export interface FakeScript {
  events?: NativeEvent[];
  /** Settle with this error instead of a result. */
  error?: NativeError | Error;
  /** Throw this from startTraining itself. */
  throwOnStart?: unknown;
  /** Deliver the first event synchronously, inside startTraining, before the job is returned. */
  firstEventSync?: boolean;
  /** What readCheckpoint answers (an Error: fails with it). */
  checkpoint?: NativeCheckpointInfo | NativeError;
  /** What readModel answers (an Error: fails with it); by default a two-tensor model (fakeModel()). */
  model?: NativeModel | NativeError;
  /** Class probabilities startPrediction gives every image. */
  probabilities?: number[];
  /** The device startBenchmark reports ('cpu'); a 'cuda' one also measures GPU time. */
  benchDevice?: string;
  /** Called inside startBenchmark with its options, while the data folder it names still exists. */
  onBenchmark?: (options: NativeBenchOptions) => void;
}

export class FakeBinding implements NativeBinding {
  readonly started: NativeTrainOptions[] = [];
  readonly evaluations: NativeEvalOptions[] = [];
  readonly predictions: { options: NativePredictOptions; images: NativeImage[] }[] = [];
  readonly checkpointsRead: string[] = [];
  readonly modelsRead: string[] = [];
  readonly benchmarks: NativeBenchOptions[] = [];
  cancelCalls = 0;
  doneCalls = 0;
  /** Events actually delivered to onEvent. */
  delivered = 0;
  infoError: Error | undefined;

  constructor(private readonly script: FakeScript = {}) {}

  // The checkpoint evaluation and prediction report: the scripted one, else one after an epoch.
  private summary(): NativeCheckpointInfo {
    const scripted = this.script.checkpoint;
    return scripted === undefined || scripted instanceof Error ? checkpointInfo(1) : scripted;
  }

  startTraining(
    options: NativeTrainOptions,
    onEvent: (event: NativeEvent) => void,
    onDone: (error: NativeError | null, result?: NativeTrainResult) => void,
  ): NativeJob {
    if (this.script.throwOnStart !== undefined) throw this.script.throwOnStart;
    this.started.push(options);
    const queue = [...(this.script.events ?? EVENTS)];
    let stop = false;
    // As the core does: 'auto' resolves for the device, the CPU here.
    // cudaGraph: the fake plays a CUDA device when options.device starts with 'cuda', where 'auto' and 'on' capture
    // (a distributed run never does); on the CPU nothing is captured.
    const captured =
      options.device.startsWith('cuda') && options.distributed === null && options.cudaGraph !== 'off';
    // As the core does: a resumed run says where it picked up (this fake always at the start of an epoch).
    const resumedFrom = options.resumeFrom === '' ? {} : { resumedFrom: { checkpoint: options.resumeFrom, epoch: 0, step: 0 } };
    const nativeResult = (status: 'completed' | 'cancelled'): NativeTrainResult => ({
      ...plainResult(status),
      precision: options.precision === 'auto' ? ('fp32' as const) : options.precision,
      cudaGraph: captured,
      ...resumedFrom,
    });
    const finish = (error: NativeError | null, result?: NativeTrainResult) => {
      this.doneCalls += 1;
      onDone(error, result);
    };
    const deliver = (event: NativeEvent) => {
      this.delivered += 1;
      onEvent(event);
    };
    // Like the native loop: the stop flag is checked before every step.
    const step = () => {
      if (stop) {
        // As the native loop does: the exact position is saved before it returns.
        if (options.checkpointDir !== '') {
          deliver({ type: 'checkpoint', path: path.join(options.checkpointDir, 'last.pt'), epoch: 0, step: 1, stepsPerEpoch: 2 });
        }
        return finish(null, nativeResult('cancelled'));
      }
      const event = queue.shift();
      if (event === undefined) {
        if (this.script.error) return finish(this.script.error as NativeError);
        const files = (name: string) => path.join(options.checkpointDir, name);
        const checkpoints = { last: files('last.pt'), best: files('best.pt'), weights: files('weights.pt') };
        return finish(null, { ...nativeResult('completed'), ...(options.checkpointDir !== '' ? { checkpoints } : {}) });
      }
      deliver(event);
      // As the native loop does after every epoch when it has a checkpoint folder.
      if (event.type === 'epochEnd' && options.checkpointDir !== '') {
        queue.unshift({
          type: 'checkpoint',
          path: path.join(options.checkpointDir, 'last.pt'),
          epoch: event.epoch,
          step: 0,
          stepsPerEpoch: 2,
        });
      }
      setImmediate(step);
    };
    if (this.script.firstEventSync) {
      const first = queue.shift();
      if (first) deliver(first);
    }
    setImmediate(step);
    return {
      cancel: () => {
        this.cancelCalls += 1;
        stop = true;
      },
    };
  }

  startEvaluation(
    options: NativeEvalOptions,
    onEvent: (event: NativeEvent) => void,
    onDone: (error: NativeError | null, result?: NativeEvalResult) => void,
  ): NativeJob {
    this.evaluations.push(options);
    let stop = false;
    setImmediate(() => {
      onEvent({ type: 'evalBegin', phase: 'test', epoch: 1, samples: 20 });
      setImmediate(() => {
        const r = nativeResult();
        const summary = this.summary();
        onDone(null, {
          status: stop ? 'cancelled' : 'completed',
          testAccuracy: r.testAccuracy,
          perClassAccuracy: r.perClassAccuracy,
          confusionMatrix: r.confusionMatrix,
          classes: summary.classes,
          testSize: 20,
          device: 'cpu',
          libtorchVersion: '1.13.1',
          threads: 4,
          seconds: 0.5,
          // The fake checkpoint was trained without flip TTA.
          flipTta: options.flipTta ?? false,
          precision: 'fp32',
          // As the core describes the file it scored.
          checkpoint: {
            path: options.checkpoint,
            kind: summary.kind,
            preset: summary.options.preset,
            imageSize: summary.options.imageSize,
            epochsDone: summary.epochsDone,
            libtorchVersion: summary.libtorchVersion,
          },
        });
      });
    });
    return { cancel: () => void (stop = true) };
  }

  startPrediction(
    options: NativePredictOptions,
    images: NativeImage[],
    _onEvent: (event: NativeEvent) => void,
    onDone: (error: NativeError | null, result?: NativePredictResult) => void,
  ): NativeJob {
    this.predictions.push({ options, images });
    const row = this.script.probabilities ?? [0.05, 0.05, 0.1, 0.5, 0.05, 0.1, 0.05, 0.04, 0.03, 0.03];
    setImmediate(() =>
      onDone(null, {
        probabilities: images.map(() => [...row]),
        device: 'cpu',
        flipTta: options.flipTta ?? false,
        checkpoint: this.summary(),
      }),
    );
    return { cancel: () => undefined };
  }

  startBenchmark(
    options: NativeBenchOptions,
    _onEvent: (event: NativeEvent) => void,
    onDone: (error: NativeError | null, result?: NativeBenchResult) => void,
  ): NativeJob {
    this.benchmarks.push(options);
    this.script.onBenchmark?.(options);
    // 10, 12, 11, ... images/s on successive calls, so medians are checkable.
    const rate = [10, 12, 11][(this.benchmarks.length - 1) % 3]!;
    const device = this.script.benchDevice ?? 'cpu';
    const cuda = device.startsWith('cuda');
    const captured = cuda && options.cudaGraph !== 'off';
    const secondsPerStep = options.batchSize / rate;
    setImmediate(() =>
      onDone(null, {
        status: 'completed',
        imagesPerSecond: rate,
        secondsPerStep,
        dataBatchesPerSecond: 500,
        dataFraction: 0.01,
        trainFlopsPerImage: 3e9,
        flopsPerSecond: 3e9 * rate,
        channelsLast: options.memoryFormat === 'channels-last',
        parameters: 21298314,
        device,
        libtorchVersion: '1.13.1',
        threads: 2,
        cudaGraph: captured,
        // Issuing a captured step is one replay; eager steps take most of the step on the host.
        hostSecondsPerStep: secondsPerStep * (captured ? 0.05 : 0.8),
        gpuSecondsPerStep: cuda ? secondsPerStep * 0.9 : 0,
      }),
    );
    return { cancel: () => undefined };
  }

  readCheckpoint(file: string, onDone: (error: NativeError | null, result?: NativeCheckpointInfo) => void): NativeJob {
    this.checkpointsRead.push(file);
    const answer = this.script.checkpoint ?? checkpointInfo(1);
    setImmediate(() => (answer instanceof Error ? onDone(answer) : onDone(null, answer)));
    return { cancel: () => undefined };
  }

  readModel(file: string, onDone: (error: NativeError | null, result?: NativeModel) => void): NativeJob {
    this.modelsRead.push(file);
    const answer = this.script.model ?? fakeModel();
    setImmediate(() => (answer instanceof Error ? onDone(answer) : onDone(null, answer)));
    return { cancel: () => undefined };
  }

  info(): NativeInfo {
    if (this.infoError) throw this.infoError;
    return { libtorchVersion: '1.13.1', cudaAvailable: false, cudaDevices: 0, threads: 8, distributedBackends: ['gloo'],
      cudaRuntimeVersion: 0, cudnnVersion: 0, cxx11Abi: 1 };
  }

  parameterCount(preset: 'article' | 'cifar' | 'torchvision'): number {
    return { article: 21298314, cifar: 21282122, torchvision: 21289802 }[preset];
  }

  presetOptions(preset: 'article' | 'cifar'): NativeCheckpointInfo['options'] {
    return checkpointInfo(0, { preset }).options;
  }

  forwardFlops(preset: 'article' | 'cifar', imageSize: number): number {
    return (preset === 'article' ? 3.6e9 : 1.16e9) * (imageSize / (preset === 'article' ? 224 : 32)) ** 2;
  }

  stateDictShapes(preset: 'article' | 'cifar'): Record<string, number[]> {
    return preset === 'article' ? { 'conv1.0.weight': [64, 3, 7, 7] } : { 'conv1.0.weight': [64, 3, 3, 3] };
  }

  augmentBatch(records: Uint8Array): Uint8Array {
    return Uint8Array.from(records);
  }
}

/** A temporary data folder holding (empty) CIFAR-10 batch files, enough for prepareDataset. */
export function makeDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libtorch-resnet-fake-data-'));
  const batches = path.join(dir, 'cifar-10-batches-bin');
  fs.mkdirSync(batches);
  for (const name of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch']) {
    fs.writeFileSync(path.join(batches, `${name}.bin`), '');
  }
  return dir;
}

export function nativeError(message: string, code?: string): NativeError {
  const error = new Error(message) as NativeError;
  if (code !== undefined) error.code = code;
  return error;
}

/** The error a promise rejects with; fails the test when it resolves instead. */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}
