// SPDX-License-Identifier: MIT
// The package's public API: train(), evaluate(), predict(), exportModel(), info(), launch(), the option checkers, errors and types.

/**
 * @example
 * import { train, info, resolveConfig, TorchError } from 'libtorch-resnet';
 *
 * const controller = new AbortController();
 * process.once('SIGINT', () => controller.abort());
 * const result = await train({ epochs: 20, lr: 0.01, signal: controller.signal, onProgress: console.log });
 * console.log(`test accuracy ${(result.testAccuracy * 100).toFixed(2)}%`);
 */
export { train, evaluate, predict, info, exportModel, createApi } from './api';
export type { Api } from './api';
export type { TrainResult, EpochStats } from './train';
export type { EvalResult, CheckpointSummary } from './evaluate';
export type { Prediction } from './predict';
export type { ExportResult } from './export';
export type { InfoResult } from './info';
export type { BindingSource } from './job';
export {
  resolveConfig,
  resolveEvalConfig,
  resolvePredictConfig,
  resolveExportConfig,
  resolveDistributed,
  isConfigError,
  OPTION_SPECS,
  RESUME_FIXED,
} from './config';
export type {
  TrainConfig,
  ResolvedConfig,
  EvalConfig,
  PredictConfig,
  ExportConfig,
  ExportFormat,
  ImageInput,
  OptionSpec,
  OptionName,
  ConfigError,
  Preset,
  Freeze,
  Precision,
  MemoryFormat,
  CudaGraph,
  Device,
  Backend,
  DistributedConfig,
  ResolvedDistributed,
} from './config';
export { launch, startLaunch, DEFAULT_MASTER_PORT } from './launch';
export type { LaunchOptions, LaunchResult, LaunchHandle, WorkerExit } from './launch';
export { TorchError, AbortError } from './errors';
export { ImageError } from './images';
export { renderReport } from './report';
export type { ReportInput } from './report';
export { DownloadError, OFFICIAL_URL, OFFICIAL_MD5 } from './download';
export type { DownloadSource } from './download';
export { CIFAR10_CLASSES } from './dataset';
export type {
  TrainEvent,
  DownloadEvent,
  TrainBeginEvent,
  EpochBeginEvent,
  StepEvent,
  BatchEndEvent,
  EvalBeginEvent,
  EpochEndEvent,
  CheckpointEvent,
  TrainEndEvent,
} from './progress';
