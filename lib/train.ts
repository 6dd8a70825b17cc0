// SPDX-License-Identifier: MIT
// train() and info(): options checked, data found, the native job started, its events and outcome turned into JS.
import { resolveConfig, toNativeOptions } from './config';
import type { Preset, ResolvedConfig, TrainConfig } from './config';
import { CIFAR10_CLASSES, prepareDataset } from './dataset';
import { captureCallerStack, createAbortError, fromNativeError } from './errors';
import { loadNative } from './native';
import type { NativeBinding, NativeError, NativeEvent, NativeJob, NativeTrainResult } from './native';
import type { DownloadEvent } from './download';
import type { TrainEvent } from './progress';

/**
 * One epoch of a finished run.
 *
 * @example
 * for (const e of result.epochs) console.log(e.epoch, e.trainLoss, e.validAccuracy);
 */
export interface EpochStats {
  /** 1-based. */
  readonly epoch: number;
  /** Mean training loss over the epoch. */
  readonly trainLoss: number;
  /** Fraction in [0, 1]; 0 when validSplit is 0. */
  readonly validAccuracy: number;
  /** Training time of the epoch. */
  readonly seconds: number;
  readonly imagesPerSecond: number;
}

/**
 * What {@link train} resolves with. Accuracies are fractions in [0, 1].
 *
 * @example
 * const result: TrainResult = await train({ epochs: 1, preset: 'cifar' });
 * result.classes.forEach((name, i) => console.log(name, result.perClassAccuracy[i]));
 */
export interface TrainResult {
  readonly epochs: readonly EpochStats[];
  readonly testAccuracy: number;
  /** 10 entries, in the order of `classes`. */
  readonly perClassAccuracy: readonly number[];
  /** 10x10 counts: row = true class, column = predicted class. */
  readonly confusionMatrix: readonly (readonly number[])[];
  /** The ten CIFAR-10 class names, in label order. */
  readonly classes: readonly string[];
  /** Trainable parameters of the network. */
  readonly parameters: number;
  /** The device used: 'cpu', 'cuda:0', ... */
  readonly device: string;
  readonly libtorchVersion: string;
  /** CPU threads LibTorch used. */
  readonly threads: number;
  readonly trainSize: number;
  readonly validSize: number;
  readonly testSize: number;
  /** The whole run. */
  readonly seconds: number;
}

/**
 * What {@link info} resolves with.
 *
 * @example
 * const { cudaAvailable, presets } = await info();
 */
export interface InfoResult {
  readonly libtorchVersion: string;
  readonly cudaAvailable: boolean;
  readonly cudaDevices: number;
  /** CPU threads train() uses when threads is 0. */
  readonly threads: number;
  readonly presets: { readonly [P in Preset]: { readonly parameters: number } };
}

/** The addon, or a function that loads it (called only once the options are known to be valid). */
export type BindingSource = NativeBinding | (() => NativeBinding);

function getBinding(source: BindingSource): NativeBinding {
  return typeof source === 'function' ? source() : source;
}

function toTrainResult(result: NativeTrainResult): TrainResult {
  return {
    epochs: result.epochs.map((e) => ({
      epoch: e.epoch,
      trainLoss: e.trainLoss,
      validAccuracy: e.validAccuracy,
      seconds: e.seconds,
      imagesPerSecond: e.imagesPerSecond,
    })),
    testAccuracy: result.testAccuracy,
    perClassAccuracy: result.perClassAccuracy,
    confusionMatrix: result.confusionMatrix,
    classes: CIFAR10_CLASSES,
    parameters: result.parameters,
    device: result.device,
    libtorchVersion: result.libtorchVersion,
    threads: result.threads,
    trainSize: result.trainSize,
    validSize: result.validSize,
    testSize: result.testSize,
    seconds: result.seconds,
  };
}

function missingResult(): NativeError {
  return Object.assign(new Error('the addon finished without an error or a result'), { code: 'ERR_NATIVE' });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * Runs a resolved config on a binding: the part of train() after validation, shared with the CLI (which resolves
 * the config itself, to tell usage errors from runtime ones). `callerStack` comes from captureCallerStack().
 *
 * @example
 * const config = resolveConfig(flags); // usage errors end here
 * const result = await runTraining(loadNative, config, captureCallerStack());
 */
export async function runTraining(
  source: BindingSource,
  config: ResolvedConfig,
  callerStack: string,
): Promise<TrainResult> {
  const { signal, onProgress } = config;
  if (signal?.aborted) throw createAbortError(signal.reason);

  // Load the addon and find the data
  const binding = getBinding(source);
  // A listener that throws while the archive downloads stops the download; train() rejects with its error.
  let downloadListenerError: { error: unknown } | undefined;
  const downloadController = new AbortController();
  const onDownload = (event: DownloadEvent) => {
    if (!onProgress || downloadListenerError) return;
    try {
      const returned: unknown = onProgress(event);
      if (isThenable(returned)) {
        returned.then(undefined, (error: unknown) => {
          downloadListenerError ??= { error };
          downloadController.abort(error);
        });
      }
    } catch (error) {
      downloadListenerError = { error };
      downloadController.abort(error);
    }
  };
  let dataDir: string;
  try {
    dataDir = await prepareDataset(config.dataDir, {
      download: config.download,
      onProgress: onDownload,
      signal: signal ? AbortSignal.any([signal, downloadController.signal]) : downloadController.signal,
    });
  } catch (error) {
    if (downloadListenerError) throw downloadListenerError.error;
    throw error;
  }
  if (signal?.aborted) throw createAbortError(signal.reason);

  // Start the job; it settles through onDone, exactly once
  return new Promise<TrainResult>((resolve, reject) => {
    let job: NativeJob | undefined;
    let cancelRequested = false;
    let settled = false;
    let listenerError: { error: unknown } | undefined;

    const cancel = () => {
      if (cancelRequested) return;
      cancelRequested = true;
      // Before startTraining has returned there is no job yet: cancelled right after it returns.
      job?.cancel();
    };
    const onAbort = () => cancel();
    const failFromListener = (error: unknown) => {
      if (listenerError || settled) return;
      listenerError = { error };
      cancel();
    };
    const finish = () => {
      settled = true;
      signal?.removeEventListener('abort', onAbort);
    };

    const onEvent = (event: NativeEvent) => {
      if (!onProgress || listenerError || settled) return;
      const publicEvent: TrainEvent = event;
      // A listener that throws (or rejects) must not take the process down: it cancels the run, whose promise
      // then rejects with the listener's error.
      try {
        const returned: unknown = onProgress(publicEvent);
        if (isThenable(returned)) returned.then(undefined, failFromListener);
      } catch (error) {
        failFromListener(error);
      }
    };

    const onDone = (error: NativeError | null, result?: NativeTrainResult) => {
      if (settled) return;
      finish();
      if (listenerError) reject(listenerError.error);
      else if (error) reject(fromNativeError(error, callerStack));
      else if (!result) reject(fromNativeError(missingResult(), callerStack));
      else if (result.status === 'cancelled' || signal?.aborted) reject(createAbortError(signal?.reason));
      else resolve(toTrainResult(result));
    };

    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      job = binding.startTraining(toNativeOptions(config, dataDir), onEvent, onDone);
    } catch (error) {
      if (!settled) {
        finish();
        reject(fromNativeError(error, callerStack));
      }
      return;
    }
    if (cancelRequested && !settled) job.cancel();
  });
}

/**
 * {@link train} on a given binding: unit tests pass a fake one, as better-sqlite3 takes `nativeBinding`.
 *
 * @example
 * const result = await trainWith(fakeBinding, { epochs: 1, dataDir: tmp });
 */
export async function trainWith(binding: BindingSource, options?: TrainConfig): Promise<TrainResult> {
  const callerStack = captureCallerStack(trainWith);
  const config = resolveConfig(options);
  return runTraining(binding, config, callerStack);
}

/**
 * Trains the article's ResNet-34 (or the `cifar` preset) on CIFAR-10 with LibTorch, off the JS thread, on CUDA
 * when there is a device, else on every CPU core. Options are checked first (a TypeError or RangeError naming the
 * option); aborting `signal` stops the run after the current step and rejects with an `AbortError`; a LibTorch
 * failure rejects with a {@link TorchError}.
 *
 * @example
 * import { train } from 'libtorch-resnet';
 *
 * const controller = new AbortController();
 * const result = await train({
 *   epochs: 20,
 *   lr: 0.01,
 *   signal: controller.signal,
 *   onProgress: (event) => {
 *     if (event.type === 'epochEnd') console.log(`epoch ${event.epoch}: ${event.validAccuracy}`);
 *   },
 * });
 * console.log(result.testAccuracy);
 */
export async function train(options?: TrainConfig): Promise<TrainResult> {
  const callerStack = captureCallerStack(train);
  const config = resolveConfig(options);
  return runTraining(loadNative, config, callerStack);
}

/**
 * {@link info} on a given binding (unit tests pass a fake one).
 *
 * @example
 * const { presets } = await infoWith(fakeBinding);
 */
export async function infoWith(source: BindingSource): Promise<InfoResult> {
  const callerStack = captureCallerStack(infoWith);
  return describeBinding(getBinding(source), callerStack);
}

function describeBinding(binding: NativeBinding, callerStack: string): InfoResult {
  try {
    const native = binding.info();
    return {
      libtorchVersion: native.libtorchVersion,
      cudaAvailable: native.cudaAvailable,
      cudaDevices: native.cudaDevices,
      threads: native.threads,
      presets: {
        article: { parameters: binding.parameterCount('article') },
        cifar: { parameters: binding.parameterCount('cifar') },
      },
    };
  } catch (error) {
    throw fromNativeError(error, callerStack);
  }
}

/**
 * What this machine offers: the LibTorch version, CUDA devices, default CPU threads and each preset's parameter
 * count.
 *
 * @example
 * import { info } from 'libtorch-resnet';
 *
 * const { libtorchVersion, cudaAvailable, presets } = await info();
 * console.log(libtorchVersion, cudaAvailable, presets.article.parameters); // 21298314 parameters
 */
export async function info(): Promise<InfoResult> {
  const callerStack = captureCallerStack(info);
  return describeBinding(loadNative(), callerStack);
}
