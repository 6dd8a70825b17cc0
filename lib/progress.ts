// SPDX-License-Identifier: MIT
// The CLI's live view of a run: a bar per epoch with the ETA of the epoch and of the run, one subscriber among
// others. The event types (events.ts) and the text formatters (format.ts) live apart; this file re-exports both.
import cliProgress from 'cli-progress';

import type { DownloadEvent } from './download';
import type { EpochBeginEvent, StepEvent, TrainBeginEvent, TrainEvent } from './events';
import {
  formatBytes,
  formatDownload,
  formatDuration,
  formatEtas,
  formatEventLine,
  formatLoss,
  formatPercent,
  formatRate,
  formatSlowRun,
} from './format';

export type {
  BatchEndEvent,
  CheckpointEvent,
  DownloadEvent,
  EpochBeginEvent,
  EpochEndEvent,
  EpochStats,
  EvalBeginEvent,
  EvaluationInput,
  StepEvent,
  SummaryInput,
  TrainBeginEvent,
  TrainEndEvent,
  TrainEvent,
} from './events';
export {
  formatValidation,
  formatPercent,
  formatDuration,
  formatRate,
  formatLoss,
  formatCount,
  formatBytes,
  formatDownload,
  formatEventLine,
  formatSummary,
  formatEta,
  formatEtas,
  formatSlowRun,
  formatEvaluation,
} from './format';

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
      default: {
        const text = formatEventLine(event);
        if (text === undefined) return;
        this.stopBar();
        this.stream.write(`${text}\n`);
      }
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
