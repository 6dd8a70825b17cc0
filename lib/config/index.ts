// SPDX-License-Identifier: MIT
// The one place user input is checked. checks.ts holds the checks and their errors, spec.ts what an option spec
// is; each command has its table and resolver (train-options.ts and train.ts, scoring.ts, bench.ts, launch.ts,
// download-command.ts, with download.ts and distributed.ts for train()'s two nested options); resume.ts is the
// resume policy.
export type {
  Augment,
  Backend,
  CudaGraph,
  Device,
  DistributedConfig,
  Freeze,
  MemoryFormat,
  OptionName,
  Precision,
  Preset,
  ResolvedConfig,
  ResolvedDistributed,
  Scheduler,
  TrainConfig,
} from './types';
export type { ConfigError, Check } from './checks';
export { editDistance, invalidParameter, isConfigError, readAbortSignal } from './checks';
export type { AnySpec, OptionSpec, SpecTable, Spec } from './spec';
export { DEFAULT_IMAGE_SIZE, IMAGE_SIZE_RANGE, PRESET_RECIPES } from './presets';
export type { Recipe } from './presets';
export {
  DATA_DIR_ENV,
  OPTION_NAMES,
  OPTION_SPECS,
  TRAIN_SPECS,
  defaultDataDir,
  suggestOption,
  unknownOption,
} from './train-options';
export { checkImageSize, nativeCudaGraph, resolveConfig, toNativeOptions } from './train';
export { resolveDownload } from './download';
export { DOWNLOAD_SPECS, resolveDownloadCommand } from './download-command';
export { resolveDistributed } from './distributed';
export { RESUME_FIXED, RESUME_SWITCHABLE, mergeResume } from './resume';
export { EVAL_SPECS, PREDICT_SPECS, resolveEvalConfig, resolvePredictConfig } from './scoring';
export type { EvalConfig, ImageInput, PredictConfig, ResolvedEvalConfig, ResolvedPredictConfig } from './scoring';
export { BENCH_SPECS, PEER_COMPILE_MODES, defaultPeer, defaultYardstick, resolveBenchConfig } from './bench';
export type { BenchConfig, PeerCompile, ResolvedBenchConfig } from './bench';
export { DEFAULT_MASTER_PORT, LAUNCH_SPECS, resolveLaunchOptions } from './launch';
export type { LaunchOptions, ResolvedLaunchOptions } from './launch';
export { EXPORT_FORMATS, EXPORT_SPECS, resolveExportConfig } from './export';
export type { ExportConfig, ExportFormat, ResolvedExportConfig } from './export';
