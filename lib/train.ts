// SPDX-License-Identifier: MIT
// The operations on the addon: train(), evaluate(), predict() and info(), each also as a *With(binding, ...) form
// for tests and the CLI: options checked, data found, the native job started off the JS thread, its events and
// outcome turned into JS.
import {
  mergeResume,
  resolveConfig,
  resolveEvalConfig,
  resolvePredictConfig,
  toNativeOptions,
} from './config';
import type { EvalConfig, PredictConfig, Precision, Preset, ResolvedConfig, TrainConfig } from './config';
import { CIFAR10_CLASSES, prepareDataset } from './dataset';
import { captureCallerStack, createAbortError, fromNativeError } from './errors';
import type { AbortError, TorchError } from './errors';
import { loadImages } from './images';
import { cudaVersionText, cudnnVersionText, loadNative } from './native';
import type {
  NativeBinding,
  NativeCheckpointInfo,
  NativeCheckpointSummary,
  NativeError,
  NativeEvalResult,
  NativeEvent,
  NativeJob,
  NativeTrainResult,
} from './native';
import type { DownloadEvent, DownloadSource } from './download';
import type { TrainEvent } from './progress';
import { RunDirectory } from './run-dir';

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
  /** Time of the epoch's validation pass (not in `seconds`). */
  readonly validSeconds: number;
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
  /** The arithmetic the run used ('auto' resolved for the device). */
  readonly precision: Exclude<Precision, 'auto'>;
  /** The layout the run used ('auto' resolved for the device). */
  readonly memoryFormat: 'contiguous' | 'channels-last';
  readonly trainSize: number;
  readonly validSize: number;
  readonly testSize: number;
  /** This process's part of the run (a resumed run counts from the resume). */
  readonly seconds: number;
  /** Time of the final test evaluation. */
  readonly testSeconds: number;
  /** Whether the training step really was captured in a CUDA graph (cudaGraph 'auto' or true, on CUDA). */
  readonly cudaGraph: boolean;
  /**
   * Processes that trained together (1 unless distributed) and this one's rank. Metrics are the whole job's and
   * the same on every rank; only rank 0 has a run folder and checkpoints.
   */
  readonly worldSize: number;
  readonly rank: number;
  /** The c10d backend of a distributed run: 'gloo' or 'nccl'. */
  readonly backend?: string;
  /** The run folder, when there is one. */
  readonly runDir?: string;
  /** Files in `<runDir>/checkpoints/`: the latest checkpoint, the best by validation accuracy, the weights export. */
  readonly checkpoints?: { readonly last: string; readonly best?: string; readonly weights: string };
  /** Where a resumed run picked up: the checkpoint, epochs done, steps of the next epoch taken. */
  readonly resumedFrom?: { readonly checkpoint: string; readonly epoch: number; readonly step: number };
}

/**
 * What the checkpoint a result came from says about itself.
 *
 * @example
 * const { checkpoint } = await evaluate({ checkpoint: 'runs/a/checkpoints/best.pt' });
 * console.log(checkpoint.preset, checkpoint.epochsDone);
 */
export interface CheckpointSummary {
  readonly path: string;
  /** 'checkpoint' (last.pt, best.pt: a run's whole state) or 'weights' (weights.pt: the network and what it is). */
  readonly kind: 'checkpoint' | 'weights';
  readonly preset: Preset;
  readonly imageSize: number;
  /** Epochs the network had trained for. */
  readonly epochsDone: number;
  /** The LibTorch that wrote it. */
  readonly libtorchVersion: string;
}

/**
 * What {@link evaluate} resolves with. Accuracies are fractions in [0, 1].
 *
 * @example
 * const { testAccuracy, perClassAccuracy } = await evaluate({ checkpoint: 'runs/a/checkpoints/best.pt' });
 */
export interface EvalResult {
  readonly testAccuracy: number;
  readonly perClassAccuracy: readonly number[];
  /** 10x10 counts: row = true class, column = predicted class. */
  readonly confusionMatrix: readonly (readonly number[])[];
  readonly classes: readonly string[];
  readonly testSize: number;
  readonly device: string;
  readonly libtorchVersion: string;
  readonly threads: number;
  readonly seconds: number;
  /** Whether each image was scored together with its mirror image. */
  readonly flipTta: boolean;
  /**
   * The arithmetic it was scored in: the checkpoint's precision on CUDA (as its run scored), float32 on the CPU.
   */
  readonly precision: Exclude<Precision, 'auto'>;
  readonly checkpoint: CheckpointSummary;
}

/**
 * One image's prediction from {@link predict}.
 *
 * @example
 * const [p] = await predict({ checkpoint, images: ['cat.png'] });
 * console.log(p.top[0].label, p.top[0].probability);
 */
export interface Prediction {
  /** The path given, or `images[i]` for bytes. */
  readonly image: string;
  /** The `top` most probable classes, most probable first. */
  readonly top: readonly { readonly label: string; readonly classIndex: number; readonly probability: number }[];
  /** All 10 class probabilities, in the order of CIFAR10_CLASSES. */
  readonly probabilities: readonly number[];
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
  /** The c10d backends this build trains with across processes: 'gloo' (CPU), 'nccl' (CUDA). */
  readonly distributedBackends: readonly string[];
  /** The CUDA runtime LibTorch was built with ('12.4'); '' without CUDA. */
  readonly cudaVersion: string;
  /** cuDNN's version ('9.1.0'); '' without it. */
  readonly cudnnVersion: string;
  readonly presets: { readonly [P in Preset]: { readonly parameters: number } };
}

/** The addon, or a function that loads it (called only once the options are known to be valid). */
export type BindingSource = NativeBinding | (() => NativeBinding);

/** The binding itself, loading it when given the loader. */
export function getBinding(source: BindingSource): NativeBinding {
  return typeof source === 'function' ? source() : source;
}

function toTrainResult(result: NativeTrainResult, config: ResolvedConfig): TrainResult {
  const extra: {
    runDir?: string;
    checkpoints?: TrainResult['checkpoints'];
    resumedFrom?: TrainResult['resumedFrom'];
    backend?: string;
  } = {};
  if (config.runDir !== undefined && writesRunDir(config)) extra.runDir = config.runDir;
  if (result.backend !== '') extra.backend = result.backend;
  if (result.lastCheckpoint !== '') {
    extra.checkpoints = {
      last: result.lastCheckpoint,
      ...(result.bestCheckpoint !== '' ? { best: result.bestCheckpoint } : {}),
      weights: result.weights,
    };
  }
  if (config.resume !== undefined) {
    extra.resumedFrom = { checkpoint: config.resume, epoch: result.resumedEpoch, step: result.resumedStep };
  }
  return {
    epochs: result.epochs.map((e) => ({
      epoch: e.epoch,
      trainLoss: e.trainLoss,
      validAccuracy: e.validAccuracy,
      seconds: e.seconds,
      validSeconds: e.validSeconds,
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
    precision: result.precision,
    memoryFormat: result.channelsLast ? 'channels-last' : 'contiguous',
    trainSize: result.trainSize,
    validSize: result.validSize,
    testSize: result.testSize,
    seconds: result.seconds,
    testSeconds: result.testSeconds,
    cudaGraph: result.cudaGraph,
    worldSize: result.worldSize,
    rank: result.rank,
    ...extra,
  };
}

/** Rank 0 speaks for a distributed job: the other ranks write no run folder. */
function writesRunDir(config: ResolvedConfig): boolean {
  return (config.distributed?.rank ?? 0) === 0;
}

function toCheckpointSummary(path: string, c: NativeCheckpointSummary): CheckpointSummary {
  return {
    path,
    kind: c.kind,
    preset: c.options.preset,
    imageSize: c.options.imageSize,
    epochsDone: c.epochsDone,
    libtorchVersion: c.libtorchVersion,
  };
}

// The native trainer refuses it too; here it is refused before any data is looked for or downloaded.
function notResumable(file: string, callerStack: string): TorchError {
  const message =
    `cannot resume from ${file}: a weights file holds no optimizer state and no place in a run; resume from the ` +
    "run's checkpoints/last.pt (weights files are for evaluate, predict and Python)";
  return fromNativeError({ message, code: 'ERR_CHECKPOINT' }, callerStack);
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
  resolved: ResolvedConfig,
  callerStack: string,
): Promise<TrainResult> {
  let config = resolved;
  const { signal, onProgress } = config;
  if (signal?.aborted) throw createAbortError(signal.reason);

  // Load the addon and find the data
  const binding = getBinding(source);
  // Resume first: the checkpoint's options fill in what the caller left out, where the data is included
  let resumedHistory: NativeCheckpointInfo['history'] = [];
  if (config.resume !== undefined) {
    const checkpoint = await readCheckpointWith(binding, config.resume, callerStack);
    if (checkpoint.kind === 'weights') throw notResumable(config.resume, callerStack);
    config = mergeResume(config, checkpoint.options);
    resumedHistory = checkpoint.history;
  }
  const dataDir = await findData(config.dataDir, config.download, signal, onProgress);
  if (signal?.aborted) throw createAbortError(signal.reason);

  const run =
    config.runDir === undefined || !writesRunDir(config)
      ? undefined
      : RunDirectory.open(config.runDir, config, resumedHistory);
  const nativeOptions = toNativeOptions(config, dataDir);
  const finalConfig = config;
  let lastCheckpoint: string | undefined;
  try {
    const result = await runJob<NativeTrainResult>(
      (onEvent, onDone) => binding.startTraining(nativeOptions, onEvent, onDone),
      {
        signal,
        onProgress,
        record: (event) => {
          run?.record(event);
          if (event.type === 'checkpoint') lastCheckpoint = event.path;
        },
      },
      callerStack,
    );
    const trainResult = toTrainResult(result, finalConfig);
    await run?.finish({ status: 'completed', result: { ...trainResult } });
    return trainResult;
  } catch (error) {
    const aborted = (error as Error | null)?.name === 'AbortError';
    await run?.finish(aborted ? { status: 'interrupted' } : { status: 'failed', error: String(error) });
    // The checkpoint written on the way out lets the caller resume.
    if (aborted && lastCheckpoint !== undefined) (error as AbortError & { checkpoint?: string }).checkpoint = lastCheckpoint;
    throw error;
  }
}

/**
 * The data folder, downloading CIFAR-10 when it lacks it. A listener that throws while the archive downloads
 * stops the download, and the call rejects with its error.
 */
async function findData(
  dir: string,
  download: false | DownloadSource,
  signal: AbortSignal | undefined,
  onProgress: ((event: TrainEvent) => void) | undefined,
): Promise<string> {
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
  try {
    return await prepareDataset(dir, {
      download,
      onProgress: onDownload,
      signal: signal ? AbortSignal.any([signal, downloadController.signal]) : downloadController.signal,
    });
  } catch (error) {
    if (downloadListenerError) throw downloadListenerError.error;
    throw error;
  }
}

/** Listeners of a native job: the caller's (which may throw) and an internal one (which must not). */
export interface JobListeners {
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((event: TrainEvent) => void) | undefined;
  readonly record?: (event: NativeEvent) => void;
}

/**
 * Runs one native job to its end: events go to the listeners in order; aborting `signal` cancels the job and
 * rejects with an AbortError; a listener that throws (or rejects) cancels it and becomes the rejection; a native
 * failure rejects with a TorchError carrying `callerStack`. onDone settles it, exactly once.
 */
export function runJob<R extends { status?: 'completed' | 'cancelled' }>(
  start: (onEvent: (event: NativeEvent) => void, onDone: (error: NativeError | null, result?: R) => void) => NativeJob,
  { signal, onProgress, record }: JobListeners,
  callerStack: string,
): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    let job: NativeJob | undefined;
    let cancelRequested = false;
    let settled = false;
    let listenerError: { error: unknown } | undefined;

    const cancel = () => {
      if (cancelRequested) return;
      cancelRequested = true;
      // Before start has returned there is no job yet: cancelled right after it returns.
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
      if (settled) return;
      record?.(event);
      if (!onProgress || listenerError) return;
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

    const onDone = (error: NativeError | null, result?: R) => {
      if (settled) return;
      finish();
      if (listenerError) reject(listenerError.error);
      else if (error) reject(fromNativeError(error, callerStack));
      else if (!result) reject(fromNativeError(missingResult(), callerStack));
      else if (result.status === 'cancelled' || signal?.aborted) reject(createAbortError(signal?.reason));
      else resolve(result);
    };

    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      job = start(onEvent, onDone);
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

function readCheckpointWith(binding: NativeBinding, file: string, callerStack: string): Promise<NativeCheckpointInfo> {
  return runJob<NativeCheckpointInfo & { status?: undefined }>(
    (_onEvent, onDone) => binding.readCheckpoint(file, onDone),
    { signal: undefined, onProgress: undefined },
    callerStack,
  );
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
      distributedBackends: native.distributedBackends,
      cudaVersion: cudaVersionText(native.cudaRuntimeVersion),
      cudnnVersion: cudnnVersionText(native.cudnnVersion),
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

/**
 * {@link evaluate} on a given binding (unit tests pass a fake one).
 *
 * @example
 * const result = await evaluateWith(fakeBinding, { checkpoint: 'last.pt', dataDir: tmp });
 */
export async function evaluateWith(source: BindingSource, options: EvalConfig): Promise<EvalResult> {
  const callerStack = captureCallerStack(evaluateWith);
  const config = resolveEvalConfig(options);
  return runEvaluation(source, config, callerStack);
}

/** evaluate() after validation, shared with the CLI. */
export async function runEvaluation(
  source: BindingSource,
  config: ReturnType<typeof resolveEvalConfig>,
  callerStack: string,
): Promise<EvalResult> {
  const { signal, onProgress } = config;
  if (signal?.aborted) throw createAbortError(signal.reason);
  const binding = getBinding(source);
  const dataDir = await findData(config.dataDir, config.download, signal, onProgress);
  if (signal?.aborted) throw createAbortError(signal.reason);
  const options = {
    checkpoint: config.checkpoint,
    dataDir,
    limitTest: config.limitTest ?? 0,
    batchSize: config.batchSize,
    device: config.device,
    threads: config.threads,
    flipTta: config.flipTta ?? null,
  };
  const result = await runJob<NativeEvalResult>(
    (onEvent, onDone) => binding.startEvaluation(options, onEvent, onDone),
    { signal, onProgress },
    callerStack,
  );
  return {
    testAccuracy: result.testAccuracy,
    perClassAccuracy: result.perClassAccuracy,
    confusionMatrix: result.confusionMatrix,
    classes: Object.freeze([...result.checkpoint.classes]),
    testSize: result.testSize,
    device: result.device,
    libtorchVersion: result.libtorchVersion,
    threads: result.threads,
    seconds: result.seconds,
    flipTta: result.flipTta,
    precision: result.precision,
    checkpoint: toCheckpointSummary(config.checkpoint, result.checkpoint),
  };
}

/**
 * Scores a checkpoint on the CIFAR-10 test split, off the JS thread: test accuracy, per-class accuracy and the
 * confusion matrix. The network's preset and image size come from the checkpoint.
 *
 * @example
 * import { evaluate } from 'libtorch-resnet';
 *
 * const result = await evaluate({ checkpoint: 'runs/2026-11-26T22-00-00/checkpoints/best.pt' });
 * console.log(result.testAccuracy, result.checkpoint.epochsDone);
 */
export async function evaluate(options: EvalConfig): Promise<EvalResult> {
  const callerStack = captureCallerStack(evaluate);
  const config = resolveEvalConfig(options);
  return runEvaluation(loadNative, config, callerStack);
}

/**
 * {@link predict} on a given binding (unit tests pass a fake one).
 *
 * @example
 * const [p] = await predictWith(fakeBinding, { checkpoint: 'last.pt', images: [pngBytes] });
 */
export async function predictWith(source: BindingSource, options: PredictConfig): Promise<Prediction[]> {
  const callerStack = captureCallerStack(predictWith);
  return runPrediction(source, resolvePredictConfig(options), callerStack);
}

/** predict() after validation, shared with the CLI. */
export async function runPrediction(
  source: BindingSource,
  config: ReturnType<typeof resolvePredictConfig>,
  callerStack: string,
): Promise<Prediction[]> {
  const images = await loadImages(config.images);
  const binding = getBinding(source);
  const nativeOptions = {
    checkpoint: config.checkpoint,
    device: config.device,
    threads: config.threads,
    flipTta: config.flipTta ?? null,
  };
  const result = await runJob<{ probabilities: number[][]; checkpoint: NativeCheckpointSummary; status?: undefined }>(
    (onEvent, onDone) => binding.startPrediction(nativeOptions, images, onEvent, onDone),
    { signal: undefined, onProgress: undefined },
    callerStack,
  );
  return result.probabilities.map((probabilities, i) => {
    const input = config.images[i]!;
    const ranked = probabilities
      .map((probability, classIndex) => ({ label: result.checkpoint.classes[classIndex]!, classIndex, probability }))
      .sort((a, b) => b.probability - a.probability);
    return {
      image: typeof input === 'string' ? input : `images[${i}]`,
      top: ranked.slice(0, config.top),
      probabilities,
    };
  });
}

/**
 * Classifies PNG or JPEG images with a checkpoint. Each image is prepared as training data was: its centre
 * square shrunk to 32x32 (CIFAR-10's size), then resized and normalised as in training.
 *
 * @example
 * import { predict } from 'libtorch-resnet';
 *
 * const [cat] = await predict({ checkpoint: 'runs/a/checkpoints/best.pt', images: ['cat.jpg'] });
 * console.log(cat.top); // [{ label: 'cat', classIndex: 3, probability: 0.91 }, ...]
 */
export async function predict(options: PredictConfig): Promise<Prediction[]> {
  const callerStack = captureCallerStack(predict);
  return runPrediction(loadNative, resolvePredictConfig(options), callerStack);
}
