// SPDX-License-Identifier: MIT
// Training: a resolved config run on the addon, resumed from a checkpoint when asked, its run folder written as
// it goes, its result turned into JS. createApi (api.ts) makes train() of it.
import { mergeResume, toNativeOptions } from './config';
import type { Precision, ResolvedConfig } from './config';
import { createAbortError, fromNativeError } from './errors';
import type { AbortError, TorchError } from './errors';
import { findData, getBinding, runJob } from './job';
import type { BindingSource } from './job';
import type { EpochStats } from './events';
import type { NativeBinding, NativeCheckpointInfo, NativeTrainResult } from './native';
import { RunDirectory } from './run-dir';
import { prepareFolders } from './train-images';
import type { BadImage } from './image-cache';

export type { EpochStats };

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
  /** One entry per class, in the order of `classes`. */
  readonly perClassAccuracy: readonly number[];
  /** Classes x classes counts: row = true class, column = predicted class. */
  readonly confusionMatrix: readonly (readonly number[])[];
  /** The class names in label order: CIFAR-10's ten, or an images folder's sorted class-folder names. */
  readonly classes: readonly string[];
  /** With images and skipBadImages: the pictures left out because they could not be decoded. */
  readonly skippedImages?: readonly BadImage[];
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
  /**
   * Fine-tuning: the file the weights started from, and whether its classifier was replaced by a new seeded one
   * (it was trained for another class count). Absent when trained from scratch, and in a resumed run.
   */
  readonly init?: { readonly from: string; readonly headReplaced: boolean };
}

// The addon's result is the public one; the run folder is this side's to add, rank 0's alone.
function toTrainResult(
  { status: _status, ...native }: NativeTrainResult,
  config: ResolvedConfig,
  skipped: readonly BadImage[],
): TrainResult {
  const result = skipped.length > 0 ? { ...native, skippedImages: skipped } : native;
  return config.runDir !== undefined && writesRunDir(config) ? { ...result, runDir: config.runDir } : result;
}

/** Rank 0 speaks for a distributed job: the other ranks write no run folder. */
function writesRunDir(config: ResolvedConfig): boolean {
  return (config.distributed?.rank ?? 0) === 0;
}

// The native trainer refuses it too; here it is refused before any data is looked for or downloaded.
function notResumable(file: string, callerStack: string): TorchError {
  const message =
    `cannot resume from ${file}: a weights file holds no optimizer state and no place in a run; resume from the ` +
    "run's checkpoints/last.pt (weights files are for evaluate, predict and Python)";
  return fromNativeError({ message, code: 'ERR_CHECKPOINT' }, callerStack);
}

function readCheckpointWith(binding: NativeBinding, file: string, callerStack: string): Promise<NativeCheckpointInfo> {
  return runJob<NativeCheckpointInfo & { status?: undefined }>(
    (_onEvent, onDone) => binding.readCheckpoint(file, onDone),
    { signal: undefined, onProgress: undefined },
    callerStack,
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
  // Image folders replace CIFAR-10: decoded (or found decoded) instead of downloaded
  const folders = config.images === undefined ? undefined : await prepareFolders(config, callerStack);
  const dataDir = folders ? config.dataDir : await findData(config.dataDir, config.download, signal, onProgress);
  if (signal?.aborted) throw createAbortError(signal.reason);

  const run =
    config.runDir === undefined || !writesRunDir(config)
      ? undefined
      : RunDirectory.open(config.runDir, config, resumedHistory);
  const nativeOptions = toNativeOptions(config, dataDir, folders);
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
    const trainResult = toTrainResult(result, finalConfig, folders?.bad ?? []);
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
