// SPDX-License-Identifier: MIT
// Evaluation: a checkpoint or weights file scored on the CIFAR-10 test split by the addon, off the JS thread.
import type { Precision, Preset, ResolvedEvalConfig } from './config';
import { createAbortError } from './errors';
import { findData, getBinding, runJob } from './job';
import type { BindingSource } from './job';
import type { NativeEvalResult } from './native';

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

/** evaluate() after validation, shared with the CLI. */
export async function runEvaluation(
  source: BindingSource,
  config: ResolvedEvalConfig,
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
  // The addon's result is the public one.
  const { status: _status, ...result } = await runJob<NativeEvalResult>(
    (onEvent, onDone) => binding.startEvaluation(options, onEvent, onDone),
    { signal, onProgress },
    callerStack,
  );
  return result;
}
