// SPDX-License-Identifier: MIT
// The public operations, made by one factory from a binding source, as better-sqlite3's createDatabase(getAddon)
// makes its Database: index.ts exports createApi(loadNative)'s, and tests pass a fake binding. Each operation checks
// its options (usage errors throw before anything native runs), then runs on the binding from its own file.
import { resolveConfig, resolveEvalConfig, resolveExportConfig, resolvePredictConfig } from './config';
import type { EvalConfig, ExportConfig, PredictConfig, TrainConfig } from './config';
import { captureCallerStack } from './errors';
import { runEvaluation } from './evaluate';
import type { EvalResult } from './evaluate';
import { runExport } from './export';
import type { ExportResult } from './export';
import { describeMachine } from './info';
import type { InfoResult } from './info';
import type { BindingSource } from './job';
import { loadNative } from './native';
import { runPrediction } from './predict';
import type { Prediction } from './predict';
import { runTraining } from './train';
import type { TrainResult } from './train';

/** What {@link createApi} returns: the package's operations on one binding. */
export interface Api {
  /** {@link train} on this binding. */
  train(options?: TrainConfig): Promise<TrainResult>;
  /** {@link evaluate} on this binding. */
  evaluate(options: EvalConfig): Promise<EvalResult>;
  /** {@link predict} on this binding. */
  predict(options: PredictConfig): Promise<Prediction[]>;
  /** {@link info} on this binding. */
  info(): Promise<InfoResult>;
  /** {@link exportModel} on this binding. */
  exportModel(options: ExportConfig): Promise<ExportResult>;
}

/**
 * The operations on `source`: the addon, or a function that loads it (called only once the options are known to
 * be valid, so a bad option is reported even where the addon cannot load).
 *
 * @example
 * const { train } = createApi(fakeBinding); // unit tests
 * const result = await train({ epochs: 1, dataDir: tmp });
 */
export function createApi(source: BindingSource): Api {
  // Each operation cuts its own frame off the caller's stack, which a TorchError then carries.
  async function train(options?: TrainConfig): Promise<TrainResult> {
    const callerStack = captureCallerStack(train);
    return runTraining(source, resolveConfig(options), callerStack);
  }
  async function evaluate(options: EvalConfig): Promise<EvalResult> {
    const callerStack = captureCallerStack(evaluate);
    return runEvaluation(source, resolveEvalConfig(options), callerStack);
  }
  async function predict(options: PredictConfig): Promise<Prediction[]> {
    const callerStack = captureCallerStack(predict);
    return runPrediction(source, resolvePredictConfig(options), callerStack);
  }
  async function info(): Promise<InfoResult> {
    const callerStack = captureCallerStack(info);
    return describeMachine(source, callerStack);
  }
  async function exportModel(options: ExportConfig): Promise<ExportResult> {
    const callerStack = captureCallerStack(exportModel);
    return runExport(source, resolveExportConfig(options), callerStack);
  }
  return Object.freeze({ train, evaluate, predict, info, exportModel });
}

// The operations on this package's addon, loaded on first use.
const addonApi = createApi(loadNative);

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
export const train = addonApi.train;

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
export const evaluate = addonApi.evaluate;

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
export const predict = addonApi.predict;

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
export const info = addonApi.info;

/**
 * Writes a checkpoint's network to a file other tools read: `'onnx'`, a graph that takes RGB images in [0, 1]
 * (float32 [N, 3, imageSize, imageSize], normalised inside) and gives logits [N, classes], with the class names,
 * preset, image size, mean and std in its metadata; or `'safetensors'`, the state dict's tensors under PyTorch's
 * key names. The folder of `out` must exist; the file is written atomically.
 *
 * @example
 * import { exportModel } from 'libtorch-resnet';
 *
 * const { out, bytes } = await exportModel({ checkpoint: 'runs/a/checkpoints/best.pt', format: 'onnx', out: 'resnet34.onnx' });
 * console.log(`${out}: ${bytes} bytes`);
 */
export const exportModel = addonApi.exportModel;
