// SPDX-License-Identifier: MIT
// The run folder: config.json, metrics.jsonl (every event but `step`, one JSON object per line), result.json,
// report.html, and checkpoints/ (written by the native core). A resumed run continues the same folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { ResolvedConfig } from './config';
import { CIFAR10_CLASSES } from './dataset';
import { fileSystemCode } from './errors';
import type { NativeHistoryEpoch } from './native';
import type { TrainEvent } from './progress';
import { renderReport } from './report';
import type { ReportInput } from './report';

/** What the finished run adds to the report and result.json. */
export interface RunOutcome {
  readonly status: 'completed' | 'interrupted' | 'failed';
  readonly result?: Readonly<Record<string, unknown>> & {
    readonly epochs: readonly NativeHistoryEpoch[];
    readonly testAccuracy: number;
    readonly testSize: number;
    readonly perClassAccuracy: readonly number[];
    readonly confusionMatrix: readonly (readonly number[])[];
  };
  readonly error?: string;
}

/**
 * A file system error on the run folder as the error a user can act on: `ERR_DISK_FULL` or `ERR_PERMISSION`
 * (the codes the native side gives checkpoints), with what to do; any other error as it is.
 */
export function runDirError(error: unknown, file: string): unknown {
  const code = fileSystemCode(error);
  if (code === undefined) return error;
  const what = code === 'ERR_DISK_FULL'
    ? 'no space left on the device; free space on that disk, or choose another runDir'
    : 'permission denied; change the folder\'s permissions, or choose a runDir this user may write to';
  return Object.assign(new Error(`cannot write ${file}: ${what}`, { cause: error }), { code });
}

/** Writes `file` whole or not at all: a failed write leaves neither it changed nor its temporary behind. */
function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw runDirError(error, file);
  }
}

/** The config as config.json records it: functions and signals left out, paths absolute. */
export function configRecord(config: ResolvedConfig): Record<string, unknown> {
  const { signal: _signal, onProgress: _onProgress, given: _given, ...rest } = config;
  return { ...rest };
}

function readSteps(metricsFile: string): ReportInput['steps'] {
  let text: string;
  try {
    text = fs.readFileSync(metricsFile, 'utf8');
  } catch {
    return [];
  }
  const steps: { x: number; loss: number; accuracy: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"batchEnd"')) continue;
    try {
      const e = JSON.parse(line) as { epoch: number; step: number; stepsPerEpoch: number; loss: number; accuracy: number };
      steps.push({ x: e.epoch - 1 + e.step / e.stepsPerEpoch, loss: e.loss, accuracy: e.accuracy ?? 0 });
    } catch {
      // A line cut short by a crash: the rest of the file still counts.
    }
  }
  return steps;
}

/**
 * One run's folder, kept up to date from the run's events.
 *
 * @example
 * const run = RunDirectory.open('runs/a', config, []);
 * onProgress = (e) => run.record(e);
 * await run.finish({ status: 'completed', result });
 */
export class RunDirectory {
  readonly dir: string;
  private readonly metrics: fs.WriteStream;
  private readonly config: Record<string, unknown>;
  private readonly epochs: NativeHistoryEpoch[];
  private readonly steps: { x: number; loss: number; accuracy: number }[];
  private machine: Record<string, string | number>;

  private writeError: Error | undefined;

  private constructor(dir: string, config: ResolvedConfig, history: readonly NativeHistoryEpoch[]) {
    this.dir = dir;
    this.config = configRecord(config);
    if (config.resume === undefined && fs.existsSync(path.join(dir, 'metrics.jsonl'))) {
      const error = new Error(
        `the run folder ${dir} already holds a run; resume it (resume: ${path.join(dir, 'checkpoints', 'last.pt')}) ` +
          'or choose another runDir',
      ) as Error & { code: string };
      error.code = 'ERR_RUN_DIR_EXISTS';
      throw error;
    }
    try {
      fs.mkdirSync(path.join(dir, 'checkpoints'), { recursive: true });
    } catch (error) {
      throw runDirError(error, path.join(dir, 'checkpoints'));
    }
    writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(this.config, null, 2)}\n`);
    this.epochs = [...history];
    // Steps logged before a resume, up to where the checkpoint stood.
    const lastEpoch = history.length;
    this.steps = readSteps(this.metricsPath).filter((s) => s.x <= lastEpoch + 1);
    this.metrics = fs.createWriteStream(this.metricsPath, { flags: 'a' });
    // A full disk must not take the process down; the run goes on and finish() warns once.
    this.metrics.on('error', (error) => {
      this.writeError ??= error;
    });
    this.machine = {
      host: os.hostname(),
      cpu: `${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length}`,
      memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
    };
  }

  /** Creates the folder (and checkpoints/ in it) and writes config.json; `history` is a resumed run's epochs. */
  static open(dir: string, config: ResolvedConfig, history: readonly NativeHistoryEpoch[] = []): RunDirectory {
    return new RunDirectory(dir, config, history);
  }

  get metricsPath(): string {
    return path.join(this.dir, 'metrics.jsonl');
  }

  get reportPath(): string {
    return path.join(this.dir, 'report.html');
  }

  /**
   * Appends the event to metrics.jsonl (all but `step` events: one line per step would bloat the file, and
   * batchEnd carries the metrics); refreshes report.html after every epoch.
   */
  record(event: TrainEvent): void {
    if (event.type === 'step') return;
    this.metrics.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
    switch (event.type) {
      case 'trainBegin':
        this.machine = { device: event.device, threads: event.threads, ...this.machine };
        break;
      case 'batchEnd':
        this.steps.push({
          x: event.epoch - 1 + event.step / event.stepsPerEpoch,
          loss: event.loss,
          accuracy: event.accuracy,
        });
        break;
      case 'epochEnd':
        this.epochs.push({
          epoch: event.epoch,
          trainLoss: event.trainLoss,
          validAccuracy: event.validAccuracy,
          seconds: event.seconds,
          validSeconds: event.validSeconds,
          imagesPerSecond: event.imagesPerSecond,
        });
        this.writeReport({ status: 'running' });
        break;
      default:
        break;
    }
  }

  /** Writes result.json (when completed) and the final report.html, and closes metrics.jsonl. */
  async finish(outcome: RunOutcome): Promise<void> {
    if (outcome.result) {
      writeFileAtomic(path.join(this.dir, 'result.json'), `${JSON.stringify(outcome.result, null, 2)}\n`);
      this.machine = {
        device: String(outcome.result.device ?? this.machine.device ?? ''),
        libtorch: String(outcome.result.libtorchVersion ?? ''),
        threads: Number(outcome.result.threads ?? this.machine.threads ?? 0),
        ...(typeof outcome.result.cudaGraph === 'boolean'
          ? { 'training step': outcome.result.cudaGraph ? 'captured in a CUDA graph' : 'eager' }
          : {}),
        ...this.machine,
      };
    }
    this.writeReport(outcome);
    await new Promise<void>((resolve) => {
      if (this.metrics.destroyed) resolve();
      else this.metrics.end(resolve);
    });
    if (this.writeError) {
      process.emitWarning(`metrics.jsonl in ${this.dir} is incomplete: ${this.writeError.message}`, {
        code: 'LIBTORCH_RESNET_METRICS',
      });
    }
  }

  private writeReport(outcome: { readonly status: ReportInput['status']; readonly result?: RunOutcome['result'] }): void {
    const result = outcome.result;
    const html = renderReport({
      title: path.basename(this.dir),
      status: outcome.status,
      config: this.config,
      machine: this.machine,
      epochs: result ? result.epochs : this.epochs,
      steps: this.steps,
      test: result
        ? {
            testAccuracy: result.testAccuracy,
            testSize: result.testSize,
            perClassAccuracy: result.perClassAccuracy,
            confusionMatrix: result.confusionMatrix,
            ...(typeof result.testSeconds === 'number' ? { seconds: result.testSeconds } : {}),
          }
        : undefined,
      // A folder run's class names; CIFAR-10's before a result says otherwise.
      classes: Array.isArray(result?.classes) ? (result.classes as string[]) : CIFAR10_CLASSES,
      generatedAt: new Date(),
    });
    writeFileAtomic(this.reportPath, html);
  }
}
