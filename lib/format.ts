// SPDX-License-Identifier: MIT
// The text the CLI prints for a run's events and results: pure functions of their input, apart from the live
// terminal view (progress.ts) so that logs, tests and other subscribers can use them alone.
import type { DownloadEvent } from './download';
import type { DecodeEvent, EvaluationInput, SummaryInput, TrainEvent } from './events';

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

/** A split's decoding as it starts and ends; the steps between print nothing. */
function formatDecode(event: DecodeEvent): string | undefined {
  if (event.fromCache) return `${event.split}: ${event.total} images decoded earlier (${event.cacheFile})`;
  if (event.done === 0) return `decoding ${event.total} ${event.split} images into ${event.cacheFile}`;
  return event.done === event.total ? `${event.split}: ${event.total} images decoded` : undefined;
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
    case 'decode':
      return formatDecode(event);
    case 'badImages':
      return (
        `skipped ${event.images.length} picture(s) that cannot be decoded (skipBadImages): ` +
        event.images.slice(0, 3).map((b) => `${b.file} (${b.reason})`).join(', ') +
        (event.images.length > 3 ? ', ...' : '')
      );
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
