// SPDX-License-Identifier: MIT
// What a run reports while it trains (the onProgress events) and what the summaries need of a result: types only,
// apart from the formatters (format.ts) and the live view (progress.ts) that use them.
import type { DownloadEvent } from './download';
import type { BadImagesEvent, DecodeEvent } from './image-cache';

export type { DownloadEvent } from './download';
export type { BadImagesEvent, DecodeEvent } from './image-cache';

/**
 * First event of a run, once the data is loaded and the network built.
 *
 * @example
 * onProgress: (e) => { if (e.type === 'trainBegin') console.log(`${e.parameters} parameters on ${e.device}`); }
 */
export interface TrainBeginEvent {
  readonly type: 'trainBegin';
  readonly epochs: number;
  /** Training steps (batches) per epoch. */
  readonly stepsPerEpoch: number;
  readonly trainSize: number;
  readonly validSize: number;
  readonly testSize: number;
  readonly parameters: number;
  /** CPU threads LibTorch uses. */
  readonly threads: number;
  /** The device actually used: 'cpu', 'cuda:0', ... */
  readonly device: string;
  /** Processes training together (1 unless distributed) and this one's rank; sizes and steps are the job's. */
  readonly worldSize: number;
  readonly rank: number;
  /** When resuming: epochs already done, and steps of the next one already taken (else 0 and 0). */
  readonly startEpoch: number;
  readonly startStep: number;
}

/**
 * An epoch starts.
 *
 * @example
 * onProgress: (e) => { if (e.type === 'epochBegin') console.log(`epoch ${e.epoch}/${e.epochs}`); }
 */
export interface EpochBeginEvent {
  readonly type: 'epochBegin';
  /** 1-based. */
  readonly epoch: number;
  readonly epochs: number;
  readonly stepsPerEpoch: number;
}

/**
 * A training step ended; sent after every step, before that step's batchEnd when one is due. Cheap (nothing is
 * read back from the device), so a progress bar can move every step; the metrics come with batchEnd.
 *
 * @example
 * onProgress: (e) => { if (e.type === 'step') process.stdout.write(`\r${e.step}/${e.stepsPerEpoch} ${e.seconds.toFixed(1)}s`); }
 */
export interface StepEvent {
  readonly type: 'step';
  readonly epoch: number;
  readonly epochs: number;
  /** 1-based within the epoch. */
  readonly step: number;
  readonly stepsPerEpoch: number;
  /**
   * The epoch's training time so far as the host sees it (on a GPU it runs ahead of the device by the queued
   * work); on a resumed epoch it includes the time before the stop.
   */
  readonly seconds: number;
}

/**
 * A training step ended; sent every `logEvery` steps and on the last step of an epoch.
 *
 * @example
 * onProgress: (e) => { if (e.type === 'batchEnd') console.log(e.step, e.loss.toFixed(4)); }
 */
export interface BatchEndEvent {
  readonly type: 'batchEnd';
  readonly phase: 'train';
  readonly epoch: number;
  readonly epochs: number;
  /** 1-based within the epoch. */
  readonly step: number;
  readonly stepsPerEpoch: number;
  /** Mean loss over the steps since the previous batchEnd. */
  readonly loss: number;
  /** Training accuracy (fraction) over the steps since the previous batchEnd. */
  readonly accuracy: number;
  /** All ranks' images per second, in a distributed run. */
  readonly imagesPerSecond: number;
  /** The learning rate of this step, as the scheduler set it. */
  readonly lr: number;
  /** With distributed.checkReplicas: a checksum of the weights after this step, equal on every rank. */
  readonly weightsChecksum?: number;
}

/**
 * Evaluation on the validation split (after each epoch) or the test split (at the end) starts.
 *
 * @example
 * onProgress: (e) => { if (e.type === 'evalBegin') console.log(`evaluating ${e.samples} ${e.phase} images`); }
 */
export interface EvalBeginEvent {
  readonly type: 'evalBegin';
  readonly phase: 'valid' | 'test';
  readonly epoch: number;
  readonly samples: number;
}

/**
 * An epoch ended, its validation included.
 *
 * @example
 * onProgress: (e) => { if (e.type === 'epochEnd') console.log(e.epoch, e.trainLoss, e.validAccuracy); }
 */
export interface EpochEndEvent {
  readonly type: 'epochEnd';
  readonly epoch: number;
  readonly epochs: number;
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
 * A checkpoint was written whole: after every epoch (step 0) and when the run is stopped (the exact step).
 *
 * @example
 * onProgress: (e) => { if (e.type === 'checkpoint') console.log(`saved ${e.path}`); }
 */
export interface CheckpointEvent {
  readonly type: 'checkpoint';
  /** The file: `<runDir>/checkpoints/last.pt`. */
  readonly path: string;
  /** Epochs done. */
  readonly epoch: number;
  /** Steps of the next epoch already taken (0 at an epoch boundary). */
  readonly step: number;
  readonly stepsPerEpoch: number;
}

/**
 * Last event of a completed run.
 *
 * @example
 * onProgress: (e) => { if (e.type === 'trainEnd') console.log(`test accuracy ${e.testAccuracy}`); }
 */
export interface TrainEndEvent {
  readonly type: 'trainEnd';
  /** Fraction in [0, 1]. */
  readonly testAccuracy: number;
  /** The whole run. */
  readonly seconds: number;
}

/**
 * Everything `onProgress` receives, a union on `type` with tfjs's callback vocabulary.
 *
 * @example
 * await train({
 *   onProgress(event: TrainEvent) {
 *     if (event.type === 'epochEnd') console.log(`epoch ${event.epoch}: ${formatPercent(event.validAccuracy)}`);
 *   },
 * });
 */
export type TrainEvent =
  | DownloadEvent
  | DecodeEvent
  | BadImagesEvent
  | TrainBeginEvent
  | EpochBeginEvent
  | StepEvent
  | BatchEndEvent
  | EvalBeginEvent
  | EpochEndEvent
  | CheckpointEvent
  | TrainEndEvent;

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

/** What the summary needs of a result (a TrainResult fits). */
export interface SummaryInput {
  readonly epochs: readonly EpochStats[];
  readonly testAccuracy: number;
  readonly perClassAccuracy: readonly number[];
  readonly classes: readonly string[];
  readonly device: string;
  readonly threads: number;
  readonly testSize: number;
  readonly seconds: number;
  /** Time of the final test evaluation. */
  readonly testSeconds: number;
  /** Whether the training step was captured in a CUDA graph. */
  readonly cudaGraph: boolean;
}

/** What {@link formatEvaluation} needs (an EvalResult fits). */
export interface EvaluationInput {
  readonly testAccuracy: number;
  readonly testSize: number;
  readonly perClassAccuracy: readonly number[];
  readonly confusionMatrix: readonly (readonly number[])[];
  readonly classes: readonly string[];
  readonly seconds: number;
  readonly device: string;
  /** Scored with mirror images too (absent: no). */
  readonly flipTta?: boolean;
}
