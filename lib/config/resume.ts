// SPDX-License-Identifier: MIT
// The resume policy: which options a resumed run must keep, which it takes from the checkpoint unless given, and
// the config of a resumed run.
import path from 'node:path';

import type { NativeCheckpointOptions } from '../native';

import { configError, describe } from './checks';
import type { OptionName, ResolvedConfig } from './types';

/** Options a resume must keep: they decide the network and the batches, so changing them breaks the run. */
export const RESUME_FIXED = Object.freeze([
  'preset',
  'imageSize',
  'batchSize',
  'lr',
  'momentum',
  'weightDecay',
  'validSplit',
  'seed',
  'limitTrain',
  'decayNormAndBias',
  'nesterov',
  'scheduler',
  'warmupEpochs',
  'labelSmoothing',
  'augment',
  // A frozen backbone is not in the optimizer: thawing it mid-run would change what the run trains.
  'freeze',
  'images',
] as const satisfies readonly OptionName[]);

/**
 * Options a resume takes from the checkpoint unless given: they change how long the run goes, where the data is,
 * how it is reported or scored, or the arithmetic; not the network or the batches. (epochs is refused instead
 * when the run has a schedule: its course was laid over them.)
 */
export const RESUME_SWITCHABLE = Object.freeze([
  'epochs',
  'dataDir',
  'limitTest',
  'logEvery',
  'precision',
  'memoryFormat',
  'flipTta',
] as const satisfies readonly OptionName[]);

// Recorded in a checkpoint but never taken from it: each run says where and how wide it runs. (cudaGraph is
// per-run too, but a checkpoint does not record it at all: NativeCheckpointOptions leaves it out.) init is a
// record of where the weights first came from: a resumed run continues from the checkpoint's weights, and init
// with resume is refused.
type PerRunOption = 'device' | 'threads' | 'worldSize' | 'init';
// Compiles only while every option a checkpoint records is in one of the three groups: a new option must say
// how a resume treats it.
const RESUME_COVERS_EVERY_OPTION: Record<
  Exclude<keyof NativeCheckpointOptions, (typeof RESUME_FIXED)[number] | (typeof RESUME_SWITCHABLE)[number] | PerRunOption>,
  never
> = {};
void RESUME_COVERS_EVERY_OPTION;

/**
 * The config of a resumed run: {@link RESUME_FIXED} options take the checkpoint's values, and one given with
 * another value is refused (a RangeError naming it); {@link RESUME_SWITCHABLE} ones take the checkpoint's values
 * unless given. `runDir` defaults to the folder holding `checkpoints/`.
 *
 * @example
 * const info = await readCheckpoint('runs/a/checkpoints/last.pt');
 * const config = mergeResume(resolveConfig({ resume: 'runs/a/checkpoints/last.pt', epochs: 30 }), info.options);
 */
export function mergeResume(config: ResolvedConfig, saved: NativeCheckpointOptions): ResolvedConfig {
  const given = new Set<OptionName>(config.given);
  // The native 0 ("all records") is the config's undefined.
  const savedValues: Partial<Record<OptionName, unknown>> = {
    ...saved,
    limitTrain: saved.limitTrain === 0 ? undefined : saved.limitTrain,
    limitTest: saved.limitTest === 0 ? undefined : saved.limitTest,
    // '' (CIFAR-10, or a file from before image folders) is the config's undefined.
    images: saved.images ? saved.images : undefined,
  };
  for (const name of RESUME_FIXED) {
    if (given.has(name) && config[name] !== savedValues[name]) {
      const message =
        `Cannot change ${name} when resuming: the checkpoint was trained with ${describe(savedValues[name])}, ` +
        `not ${describe(config[name])}; leave ${name} out (or start a new run)`;
      throw configError(RangeError, 'ERR_INVALID_ARG_VALUE', name, message);
    }
  }
  const scheduled = saved.scheduler !== 'constant' || saved.warmupEpochs > 0;
  if (scheduled && given.has('epochs') && config.epochs !== saved.epochs) {
    const message =
      `Cannot change epochs when resuming a run with a learning-rate schedule (scheduler '${saved.scheduler}', ` +
      `warmupEpochs ${saved.warmupEpochs}): its course was laid over ${saved.epochs} epochs; leave epochs out`;
    throw configError(RangeError, 'ERR_INVALID_ARG_VALUE', 'epochs', message);
  }
  const merged: Record<string, unknown> = { ...config };
  for (const name of RESUME_FIXED) merged[name] = savedValues[name];
  for (const name of RESUME_SWITCHABLE) if (!given.has(name)) merged[name] = savedValues[name];
  const checkpointFolder = path.dirname(config.resume!);
  merged.runDir =
    config.runDir ?? (path.basename(checkpointFolder) === 'checkpoints' ? path.dirname(checkpointFolder) : undefined);
  return Object.freeze(merged) as unknown as ResolvedConfig;
}

