// SPDX-License-Identifier: MIT
// The package's public API: train(), info(), resolveConfig(), TorchError and their types.

/**
 * @example
 * import { train, info, resolveConfig, TorchError } from 'libtorch-resnet';
 *
 * const controller = new AbortController();
 * process.once('SIGINT', () => controller.abort());
 * const result = await train({ epochs: 20, lr: 0.01, signal: controller.signal, onProgress: console.log });
 * console.log(`test accuracy ${(result.testAccuracy * 100).toFixed(2)}%`);
 */
export { train, info } from './train';
export type { TrainResult, EpochStats, InfoResult } from './train';
export { resolveConfig, OPTION_SPECS } from './config';
export type { TrainConfig, ResolvedConfig, OptionSpec, OptionName, Preset, Device } from './config';
export { TorchError } from './errors';
export { DownloadError, OFFICIAL_URL, OFFICIAL_MD5 } from './download';
export type { DownloadSource } from './download';
export { CIFAR10_CLASSES } from './dataset';
export type {
  TrainEvent,
  DownloadEvent,
  TrainBeginEvent,
  EpochBeginEvent,
  BatchEndEvent,
  EvalBeginEvent,
  EpochEndEvent,
  TrainEndEvent,
} from './progress';
