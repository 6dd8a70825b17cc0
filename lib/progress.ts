// SPDX-License-Identifier: MIT
// What a run reports while it trains, and the CLI's renderer for it: one subscriber among others.
import cliProgress from 'cli-progress';

import type { DownloadEvent } from './download';

export type { DownloadEvent } from './download';

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
  | TrainBeginEvent
  | EpochBeginEvent
  | StepEvent
  | BatchEndEvent
  | EvalBeginEvent
  | EpochEndEvent
  | CheckpointEvent
  | TrainEndEvent;

/** What the summary needs of a result (a TrainResult fits). */
export interface SummaryInput {
  readonly epochs: readonly {
    readonly epoch: number;
    readonly trainLoss: number;
    readonly validAccuracy: number;
    readonly seconds: number;
    readonly validSeconds: number;
    readonly imagesPerSecond: number;
  }[];
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

/**
 * An epoch's validation time and its share of the epoch (training plus validation).
 *
 * @example
 * formatValidation(0.8, 12.5); // 'validation 800ms (6% of the epoch)'
 */
export function formatValidation(validSeconds: number, seconds: number): string {
  const total = seconds + validSeconds;
  const share = total > 0 ? Math.round((100 * validSeconds) / total) : 0;
  return `validation ${formatDuration(validSeconds)} (${share}% of the epoch)`;
}

/**
 * A fraction as a percentage with two decimals.
 *
 * @example
 * formatPercent(0.5534); // '55.34%'
 */
export function formatPercent(fraction: number): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(2)}%` : '-';
}

/**
 * A duration, short: '850ms', '12.3s', '4m 05s', '1h 02m'.
 *
 * @example
 * formatDuration(245); // '4m 05s'
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h ${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Images per second, rounded: '812 img/s', '1.25k img/s'.
 *
 * @example
 * formatRate(1249.6); // '1.25k img/s'
 */
export function formatRate(imagesPerSecond: number): string {
  if (!Number.isFinite(imagesPerSecond)) return '- img/s';
  if (imagesPerSecond >= 1000) return `${(imagesPerSecond / 1000).toFixed(2)}k img/s`;
  return `${Math.round(imagesPerSecond)} img/s`;
}

/**
 * A loss with four decimals.
 *
 * @example
 * formatLoss(2.302585); // '2.3026'
 */
export function formatLoss(loss: number): string {
  return Number.isFinite(loss) ? loss.toFixed(4) : String(loss);
}

/**
 * An integer with thousands separators.
 *
 * @example
 * formatCount(21298314); // '21,298,314'
 */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/**
 * A byte count in binary units: '812 B', '3.3 MiB'.
 *
 * @example
 * formatBytes(3464214); // '3.3 MiB'
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '-';
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/**
 * A download event as one line.
 *
 * @example
 * formatDownload({ type: 'download', bytes: 1048576, total: 4194304, bytesPerSecond: 1048576, etaSeconds: 3 });
 * // 'downloading CIFAR-10: 1.0 MiB of 4.0 MiB (25%), 1.0 MiB/s, ETA 3.0s'
 */
export function formatDownload(event: DownloadEvent): string {
  const of =
    event.total === null
      ? formatBytes(event.bytes)
      : `${formatBytes(event.bytes)} of ${formatBytes(event.total)} ` +
        `(${event.total > 0 ? Math.floor((event.bytes / event.total) * 100) : 100}%)`;
  const eta = event.etaSeconds === null ? '' : `, ETA ${formatDuration(event.etaSeconds)}`;
  return `downloading CIFAR-10: ${of}, ${formatBytes(event.bytesPerSecond)}/s${eta}`;
}

/**
 * One line per event, for logs (stdout not a terminal); undefined for events that print nothing.
 *
 * @example
 * formatEventLine({ type: 'epochEnd', epoch: 1, epochs: 2, trainLoss: 2.1, validAccuracy: 0.3, seconds: 9,
 *   validSeconds: 1, imagesPerSecond: 500 });
 * // 'epoch 1/2 done: loss 2.1000, valid accuracy 30.00%, 9.0s, 500 img/s, validation 1.0s (10% of the epoch)'
 */
export function formatEventLine(event: TrainEvent): string | undefined {
  switch (event.type) {
    case 'download':
      return formatDownload(event);
    case 'trainBegin':
      return (
        (event.startEpoch > 0 || event.startStep > 0
          ? `resuming after epoch ${event.startEpoch}` +
            (event.startStep > 0 ? ` and ${event.startStep} steps of the next` : '') +
            '; '
          : '') +
        `training on ${event.device} (${event.threads} threads): ${formatCount(event.parameters)} parameters, ` +
        `${event.trainSize} train / ${event.validSize} valid / ${event.testSize} test images, ` +
        `${event.epochs} epochs of ${event.stepsPerEpoch} steps`
      );
    case 'epochBegin':
      return `epoch ${event.epoch}/${event.epochs}`;
    case 'step':
      // One per step: too many for a log; batchEnd prints every logEvery steps.
      return undefined;
    case 'batchEnd':
      return (
        `epoch ${event.epoch}/${event.epochs} step ${event.step}/${event.stepsPerEpoch}: ` +
        `loss ${formatLoss(event.loss)}, accuracy ${formatPercent(event.accuracy)}, ` +
        formatRate(event.imagesPerSecond)
      );
    case 'evalBegin':
      return event.phase === 'test' ? `testing on ${event.samples} images` : undefined;
    case 'epochEnd':
      return (
        `epoch ${event.epoch}/${event.epochs} done: loss ${formatLoss(event.trainLoss)}, ` +
        `valid accuracy ${formatPercent(event.validAccuracy)}, ${formatDuration(event.seconds)}, ` +
        `${formatRate(event.imagesPerSecond)}, ${formatValidation(event.validSeconds, event.seconds)}`
      );
    case 'checkpoint':
      return (
        `checkpoint ${event.path} (epoch ${event.epoch}` +
        (event.step > 0 ? `, step ${event.step}/${event.stepsPerEpoch}` : '') +
        ')'
      );
    case 'trainEnd':
      return `test accuracy ${formatPercent(event.testAccuracy)} after ${formatDuration(event.seconds)}`;
  }
}

/** 'per-class accuracy:' and one aligned line per class, as the train summary and eval print them. */
function perClassLines(classes: readonly string[], accuracies: readonly number[]): string[] {
  const nameWidth = Math.max(...classes.map((name) => name.length));
  return [
    'per-class accuracy:',
    ...accuracies.map((accuracy, i) => `  ${(classes[i] ?? `class ${i}`).padEnd(nameWidth)}  ${formatPercent(accuracy).padStart(7)}`),
  ];
}

/**
 * The end-of-run summary the CLI prints: a per-epoch table, the test accuracy and the per-class accuracy.
 *
 * @example
 * process.stdout.write(formatSummary(await train({ epochs: 2 })));
 */
export function formatSummary(result: SummaryInput): string {
  const lines: string[] = [];
  const header = ['epoch', 'train loss', 'valid acc', 'time', 'valid time', 'images/s'];
  const rows = result.epochs.map((e) => [
    String(e.epoch),
    formatLoss(e.trainLoss),
    formatPercent(e.validAccuracy),
    formatDuration(e.seconds),
    formatDuration(e.validSeconds),
    String(Math.round(e.imagesPerSecond)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padStart(widths[i]!)).join('  ');
  lines.push(line(header));
  for (const row of rows) lines.push(line(row));
  lines.push('');
  const training = result.epochs.reduce((sum, e) => sum + e.seconds, 0);
  const validation = result.epochs.reduce((sum, e) => sum + e.validSeconds, 0);
  if (result.epochs.length > 0) {
    lines.push(
      `training step: ${result.cudaGraph ? 'captured in a CUDA graph' : 'eager'}; ` +
        `${formatValidation(validation, training).replace('of the epoch', 'of the epochs')}`,
    );
  }
  lines.push(
    `test accuracy: ${formatPercent(result.testAccuracy)} on ${result.testSize} images in ` +
      `${formatDuration(result.testSeconds)} (${formatDuration(result.seconds)} in all, ${result.device}, ` +
      `${result.threads} threads)`,
  );
  lines.push(...perClassLines(result.classes, result.perClassAccuracy));
  return `${lines.join('\n')}\n`;
}

/**
 * A time left, for an ETA: whole seconds under a minute, else as {@link formatDuration}; '–' when not known.
 *
 * @example
 * formatEta(13.2); // '14s'
 * formatEta(undefined); // '–'
 */
export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '–';
  if (Math.ceil(seconds) < 60) return `${Math.ceil(seconds)}s`;
  return formatDuration(Math.max(60, seconds));
}

/**
 * The bar's ETA: the current epoch's training steps left, then the whole run's (validation and test included).
 *
 * @example
 * formatEtas(14, 37); // '14s (epoch) · 37s (run)'
 * formatEtas(undefined, undefined); // '–'
 */
export function formatEtas(epochSeconds: number | undefined, runSeconds: number | undefined): string {
  if (epochSeconds === undefined && runSeconds === undefined) return '–';
  return `${formatEta(epochSeconds)} (epoch) · ${formatEta(runSeconds)} (run)`;
}

/**
 * The line the CLI prints early in a run that would take over an hour: how long, at what speed, and what is
 * faster.
 *
 * @example
 * formatSlowRun(34800, 4.1, 'cpu', 2);
 * // "this run will take about 9h 40m at 4.1 s a step on cpu (2 threads); for minutes instead: a GPU
 * //  (--device cuda), the cifar preset (--preset cifar), or fewer images (--limit-train N)"
 */
export function formatSlowRun(seconds: number, secondsPerStep: number, device?: string, threads?: number): string {
  const step = secondsPerStep >= 1 ? `${secondsPerStep.toFixed(1)} s` : `${Math.round(secondsPerStep * 1000)} ms`;
  const where =
    device === undefined ? '' : device === 'cpu' ? ` on cpu${threads ? ` (${threads} threads)` : ''}` : ` on ${device}`;
  const faster =
    device === undefined || device === 'cpu'
      ? 'for minutes instead: a GPU (--device cuda), the cifar preset (--preset cifar), or fewer images ' +
        '(--limit-train N)'
      : 'for less: the cifar preset (--preset cifar), fewer epochs (--epochs N), or fewer images (--limit-train N)';
  return `this run will take about ${formatDuration(seconds)} at ${step} a step${where}; ${faster}`;
}

/**
 * A run's time left, estimated from its events (feed it every one, in order); the bar's ETA and the slow-run
 * warning come from it.
 *
 * - The current epoch's step time is measured from its `step` events: between its first one and the latest (so
 *   that a first step slowed by warm-up or loading does not skew it); from the first alone until there is a
 *   second; before any, as for the later epochs below.
 * - Later epochs take the mean step time of the epochs finished in this process (epochEnd's `seconds`); before
 *   one has finished, the current epoch's.
 * - Validation and the final test take the measured validation time per image (epochEnd's `validSeconds`); before
 *   one is measured, a third of the training time per image (a forward pass, no backward).
 *
 * @example
 * const estimate = new RunEstimate();
 * onProgress = (e) => {
 *   estimate.observe(e);
 *   if (e.type === 'step') console.log(formatEtas(estimate.epochSeconds(), estimate.runSeconds()));
 * };
 */
export class RunEstimate {
  private begin: TrainBeginEvent | undefined;
  private epochs = 0;
  private stepsPerEpoch = 0;
  private epoch = 0;
  private step = 0;
  private seconds = 0;
  // The current epoch's first step event, and whether its validation is done.
  private first: { step: number; seconds: number } | undefined;
  private validated = false;
  // Epochs finished in this process.
  private finishedEpochs = 0;
  private finishedSeconds = 0;
  private validatedEpochs = 0;
  private validSeconds = 0;
  private steps = 0;

  /** Takes in one event; those that say nothing of time are ignored. */
  observe(event: TrainEvent): void {
    switch (event.type) {
      case 'trainBegin':
        this.begin = event;
        this.epochs = event.epochs;
        this.stepsPerEpoch = event.stepsPerEpoch;
        this.enterEpoch(event.startEpoch + 1, event.startStep);
        return;
      case 'epochBegin':
        this.epochs = event.epochs;
        this.stepsPerEpoch = event.stepsPerEpoch;
        // A resumed epoch begins where trainBegin said.
        if (event.epoch !== this.epoch) this.enterEpoch(event.epoch, 0);
        return;
      case 'step':
        this.epochs = event.epochs;
        this.stepsPerEpoch = event.stepsPerEpoch;
        if (event.epoch !== this.epoch || this.validated) this.enterEpoch(event.epoch, 0);
        this.step = event.step;
        this.seconds = event.seconds;
        this.first ??= { step: event.step, seconds: event.seconds };
        this.steps += 1;
        return;
      case 'epochEnd':
        this.finishedEpochs += 1;
        this.finishedSeconds += event.seconds;
        if (event.validSeconds > 0) {
          this.validatedEpochs += 1;
          this.validSeconds += event.validSeconds;
        }
        this.step = this.stepsPerEpoch;
        this.validated = true;
        return;
      default:
        return;
    }
  }

  /** Step events taken in so far. */
  get stepsSeen(): number {
    return this.steps;
  }

  /** Seconds a step of the current epoch takes, as measured; undefined before there is a measure. */
  secondsPerStep(): number | undefined {
    const first = this.first;
    if (first && this.step > first.step && this.seconds > first.seconds) {
      return (this.seconds - first.seconds) / (this.step - first.step);
    }
    if (first && this.step > 0 && this.seconds > 0) return this.seconds / this.step;
    return this.finishedSecondsPerStep();
  }

  /** Seconds left in the current epoch's training steps; undefined while not known. */
  epochSeconds(): number | undefined {
    if (this.validated) return 0;
    const perStep = this.secondsPerStep();
    return perStep === undefined ? undefined : Math.max(0, this.stepsPerEpoch - this.step) * perStep;
  }

  /** Seconds left in the whole run: training, validation and the final test; undefined while not known. */
  runSeconds(): number | undefined {
    const epochLeft = this.epochSeconds();
    const perStep = this.finishedSecondsPerStep() ?? this.secondsPerStep();
    if (epochLeft === undefined || perStep === undefined) return undefined;
    const laterEpochs = Math.max(0, this.epochs - this.epoch);
    const validations = laterEpochs + (this.validated ? 0 : 1);
    const evalImages = validations * (this.begin?.validSize ?? 0) + (this.begin?.testSize ?? 0);
    return epochLeft + laterEpochs * this.stepsPerEpoch * perStep + evalImages * this.evalSecondsPerImage(perStep);
  }

  /** trainBegin's device and threads, once seen. */
  get device(): { device: string; threads: number } | undefined {
    return this.begin && { device: this.begin.device, threads: this.begin.threads };
  }

  private enterEpoch(epoch: number, step: number): void {
    this.epoch = epoch;
    this.step = step;
    this.seconds = 0;
    this.first = undefined;
    this.validated = false;
  }

  private finishedSecondsPerStep(): number | undefined {
    if (this.finishedEpochs === 0 || this.stepsPerEpoch === 0 || this.finishedSeconds <= 0) return undefined;
    return this.finishedSeconds / (this.finishedEpochs * this.stepsPerEpoch);
  }

  private evalSecondsPerImage(secondsPerStep: number): number {
    const validSize = this.begin?.validSize ?? 0;
    if (this.validatedEpochs > 0 && validSize > 0) return this.validSeconds / (this.validatedEpochs * validSize);
    const trainSize = this.begin?.trainSize ?? 0;
    return trainSize > 0 ? (secondsPerStep * this.stepsPerEpoch) / trainSize / 3 : 0;
  }
}

/** A run longer than this gets the slow-run line at its start. */
export const SLOW_RUN_SECONDS = 3600;
/** Steps timed before the slow-run check (or the end of a shorter first epoch). */
const SLOW_RUN_CHECK_STEPS = 3;

/** Where a renderer writes. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

/**
 * Draws a run's events: a bar per epoch (cli-progress) that moves every step, with loss, images/s (every
 * batchEnd) and the ETA of the epoch and of the run ({@link RunEstimate}) when the stream is a terminal; plain lines
 * otherwise (none for `step` events). Either way, a run that would take over an hour says so at its start, from the
 * speed of its first steps ({@link formatSlowRun}).
 *
 * @example
 * const renderer = new ProgressRenderer(process.stdout);
 * try { await train({ onProgress: (e) => renderer.onProgress(e) }); } finally { renderer.stop(); }
 */
export class ProgressRenderer {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private bar: cliProgress.SingleBar | undefined;
  private downloadBar: cliProgress.SingleBar | undefined;
  private lastDownloadTenth = -1;
  private readonly estimate = new RunEstimate();
  private slowRunChecked = false;
  private resumedAt: { epoch: number; step: number } | undefined;

  constructor(stream: ProgressStream, options: { tty?: boolean } = {}) {
    this.stream = stream;
    this.tty = options.tty ?? stream.isTTY === true;
  }

  /** Handles one event; pass it as (part of) onProgress. */
  onProgress(event: TrainEvent): void {
    if (event.type === 'download') {
      this.onDownload(event);
      return;
    }
    this.stopDownloadBar();
    this.estimate.observe(event);
    if (event.type === 'trainBegin') this.resumedAt = { epoch: event.startEpoch + 1, step: event.startStep };
    const slowRun = event.type === 'step' ? this.checkSlowRun(event) : undefined;
    if (!this.tty) {
      const text = slowRun ?? formatEventLine(event);
      if (text !== undefined) this.stream.write(`${text}\n`);
      return;
    }
    // Over the bar's line, which the next redraw puts back below.
    if (slowRun !== undefined) this.stream.write(`\r\u001b[2K${slowRun}\n`);
    switch (event.type) {
      case 'epochBegin':
        this.stopBar();
        // cli-progress's own ETA is left out: it reads '0s' before the first update.
        this.bar = new cliProgress.SingleBar(
          {
            format: 'epoch {epochText} [{bar}] {value}/{total} | loss {loss} | acc {accuracy} | {rate} | ETA {etaText}',
            stream: this.stream as NodeJS.WritableStream,
            hideCursor: true,
            clearOnComplete: true,
            barsize: 20,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(event.stepsPerEpoch, this.startStep(event), {
          epochText: `${event.epoch}/${event.epochs}`,
          loss: '-',
          accuracy: '-',
          rate: '- img/s',
          etaText: this.etaText(),
        });
        return;
      case 'step':
        this.bar?.update(event.step, { etaText: this.etaText() });
        return;
      case 'batchEnd':
        this.bar?.update(event.step, {
          loss: formatLoss(event.loss),
          accuracy: formatPercent(event.accuracy),
          rate: formatRate(event.imagesPerSecond),
          etaText: this.etaText(),
        });
        return;
      case 'evalBegin':
        if (event.phase === 'valid') return;
        this.stopBar();
        this.stream.write(`${formatEventLine(event)}\n`);
        return;
      default:
        this.stopBar();
        this.stream.write(`${formatEventLine(event)}\n`);
    }
  }

  /** Removes a bar still drawn (after an error or an abort). */
  stop(): void {
    this.stopDownloadBar();
    this.stopBar();
  }

  private etaText(): string {
    return formatEtas(this.estimate.epochSeconds(), this.estimate.runSeconds());
  }

  // Where an epoch's bar starts: a resumed epoch at the steps taken before the stop.
  private startStep(event: EpochBeginEvent): number {
    const resumed = this.resumedAt;
    return resumed !== undefined && resumed.epoch === event.epoch ? resumed.step : 0;
  }

  // Once, after the first few steps (or the end of a shorter first epoch): the slow-run line, when due.
  private checkSlowRun(event: StepEvent): string | undefined {
    if (this.slowRunChecked) return undefined;
    if (this.estimate.stepsSeen < SLOW_RUN_CHECK_STEPS && event.step < event.stepsPerEpoch) return undefined;
    this.slowRunChecked = true;
    const seconds = this.estimate.runSeconds();
    const perStep = this.estimate.secondsPerStep();
    if (seconds === undefined || perStep === undefined || seconds <= SLOW_RUN_SECONDS) return undefined;
    const device = this.estimate.device;
    return formatSlowRun(seconds, perStep, device?.device, device?.threads);
  }

  // A bar in bytes on a terminal; elsewhere a line at every tenth of the way (or every event without a total).
  private onDownload(event: DownloadEvent): void {
    if (!this.tty) {
      const tenth = event.total ? Math.floor((event.bytes / event.total) * 10) : event.bytes;
      if (tenth === this.lastDownloadTenth) return;
      this.lastDownloadTenth = tenth;
      this.stream.write(`${formatDownload(event)}\n`);
      return;
    }
    const payload = {
      sizeText: `${formatBytes(event.bytes)}${event.total === null ? '' : ` / ${formatBytes(event.total)}`}`,
      rateText: `${formatBytes(event.bytesPerSecond)}/s`,
      etaText: event.etaSeconds === null ? '-' : formatDuration(event.etaSeconds),
    };
    if (!this.downloadBar) {
      this.downloadBar = new cliProgress.SingleBar(
        {
          format: 'download [{bar}] {percentage}% | {sizeText} | {rateText} | ETA {etaText}',
          stream: this.stream as NodeJS.WritableStream,
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      );
      this.downloadBar.start(event.total ?? 0, event.bytes, payload);
      return;
    }
    if (event.total !== null) this.downloadBar.setTotal(event.total);
    this.downloadBar.update(event.bytes, payload);
  }

  private stopDownloadBar(): void {
    if (!this.downloadBar) return;
    this.downloadBar.stop();
    this.downloadBar = undefined;
  }

  private stopBar(): void {
    if (!this.bar) return;
    this.bar.stop();
    this.bar = undefined;
  }
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

/**
 * The CLI's eval output: accuracy, the per-class table and the confusion matrix (rows: true class).
 *
 * @example
 * process.stdout.write(formatEvaluation(await evaluate({ checkpoint })));
 */
export function formatEvaluation(result: EvaluationInput): string {
  const lines = [
    `test accuracy: ${formatPercent(result.testAccuracy)} on ${result.testSize} images` +
      `${result.flipTta ? ' with their mirror images' : ''} (${formatDuration(result.seconds)}, ${result.device})`,
    ...perClassLines(result.classes, result.perClassAccuracy),
  ];
  const nameWidth = Math.max(...result.classes.map((name) => name.length));
  lines.push('confusion matrix (rows: true class, columns: predicted):');
  const cellWidth = Math.max(5, ...result.confusionMatrix.flat().map((n) => String(n).length + 1));
  const short = result.classes.map((name) => name.slice(0, cellWidth - 1));
  lines.push(`  ${''.padEnd(nameWidth)}${short.map((s) => s.padStart(cellWidth)).join('')}`);
  result.confusionMatrix.forEach((row, i) => {
    lines.push(`  ${(result.classes[i] ?? '').padEnd(nameWidth)}${row.map((n) => String(n).padStart(cellWidth)).join('')}`);
  });
  return `${lines.join('\n')}\n`;
}
