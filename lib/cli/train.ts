// SPDX-License-Identifier: MIT
// `libtorch-resnet train`, and `launch`: train in several processes, as torchrun starts them. train's flags are
// TRAIN_SPECS', launch's LAUNCH_SPECS'.
import fs from 'node:fs';
import path from 'node:path';

import type { Command } from 'commander';

import { LAUNCH_SPECS, TRAIN_SPECS, resolveConfig, resolveLaunchOptions } from '../config';
import { captureCallerStack } from '../errors';
import { isNonZeroRankWorker, startLaunch } from '../launch';
import { formatSummary } from '../progress';
import type { TrainEvent } from '../progress';
import { runTraining } from '../train';

import { addFlags, givenFlags } from './flags';
import { commandAction, eventSink, reportUsageError, resolveFlags, runInterruptible } from './io';
import type { CliIo, SetExitCode } from './io';

/** ./runs/<UTC timestamp>, with a suffix when two runs start in the same second. */
export function defaultRunDir(now: Date = new Date(), cwd: string = process.cwd()): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, '').replace(/:/g, '-');
  let dir = path.join(cwd, 'runs', stamp);
  for (let n = 2; fs.existsSync(dir); n++) dir = path.join(cwd, 'runs', `${stamp}-${n}`);
  return dir;
}

/** Quotes an argument for a POSIX shell when it needs it. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

/** The flags given, as train() options: a fresh run folder unless a resume continues its own. */
function trainInput(opts: Record<string, unknown>, command: Command): Record<string, unknown> {
  const input = givenFlags(TRAIN_SPECS, opts, command);
  // A worker of `launch` (or of torchrun) gets the rest of its distributed settings from the environment.
  if (opts.backend !== undefined) input.distributed = { backend: opts.backend };
  // A resumed run continues its own folder (the one holding checkpoints/); anything else gets a fresh folder.
  const insideRun = typeof input.resume === 'string' && path.basename(path.dirname(input.resume)) === 'checkpoints';
  if (input.runDir === undefined && !insideRun) input.runDir = defaultRunDir();
  return input;
}

async function trainCommand(opts: Record<string, unknown>, command: Command, io: CliIo): Promise<number> {
  const json = opts.json === true;
  const callerStack = captureCallerStack();
  const controller = new AbortController();
  // A launched worker other than rank 0 prints no events and no result: rank 0 speaks for the job.
  const quiet = isNonZeroRankWorker(process.env);
  const { renderer, onProgress: sink } = quiet ? { renderer: undefined, onProgress: () => {} } : eventSink(json, io);
  let lastCheckpoint: string | undefined;
  const onProgress = (event: TrainEvent) => {
    if (event.type === 'checkpoint') lastCheckpoint = event.path;
    sink(event);
  };
  const input = { ...trainInput(opts, command), signal: controller.signal, onProgress };
  const config = resolveFlags(TRAIN_SPECS, () => resolveConfig(input), { 'distributed.backend': '--backend' });

  const stopping = 'Stopping after the current step and saving a checkpoint (Ctrl-C again to quit at once)\n';
  const printResume = () => {
    if (lastCheckpoint === undefined) return;
    io.stderr.write(`checkpoint saved: ${lastCheckpoint}\n`);
    io.stderr.write(`resume with: libtorch-resnet train --resume ${shellQuote(lastCheckpoint)}\n`);
  };
  const job = async () => {
    const result = await runTraining(io.binding, config, callerStack);
    renderer?.stop();
    if (quiet) return;
    if (json) {
      io.stdout.write(`${JSON.stringify({ type: 'result', ...result })}\n`);
      return;
    }
    io.stdout.write(`\n${formatSummary(result)}`);
    if (result.runDir === undefined) return;
    io.stdout.write(`\nrun folder: ${result.runDir}\n  report: ${path.join(result.runDir, 'report.html')}\n`);
    if (result.checkpoints) {
      const { last, best, weights } = result.checkpoints;
      io.stdout.write(`  checkpoints: ${last}${best ? `, ${best}` : ''}\n`);
      io.stdout.write(`  weights for PyTorch: ${weights}\n`);
    }
  };
  return runInterruptible(io, controller, renderer, 'training', stopping, job, printResume);
}

async function launchCommand(workerArgs: string[], opts: Record<string, unknown>, command: Command, io: CliIo): Promise<number> {
  // Only train is distributed.
  if (workerArgs[0] !== 'train') {
    return reportUsageError(io, 'launch', new Error(`launch runs train; got '${workerArgs[0]}'`), undefined);
  }
  const input = {
    nprocPerNode: 1,
    ...givenFlags(LAUNCH_SPECS, opts, command),
    args: workerArgs,
    worker: io.launchWorker,
    stdout: io.stdout,
    stderr: io.stderr,
  };
  const job = startLaunch(resolveFlags(LAUNCH_SPECS, () => resolveLaunchOptions(input)));
  let requests = 0;
  const stop = () => {
    requests += 1;
    if (requests > 1) {
      job.kill();
      return;
    }
    io.stderr.write('Stopping the workers after their current step (Ctrl-C again to kill them)\n');
    job.interrupt();
  };
  const stopListening = io.onInterrupt(stop);
  const stopListeningTerminate = io.onTerminate?.(stop);
  try {
    return (await job.result).exitCode;
  } finally {
    stopListening();
    stopListeningTerminate?.();
  }
}

/** train, and launch: train in several processes. */
export function addTrainCommands(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  const trainCmd = program
    .command('train')
    .description('Train on CIFAR-10 and print the per-epoch metrics, test accuracy and per-class accuracy.');
  addFlags(trainCmd, TRAIN_SPECS)
    .option('--json', 'Print one JSON object per line: every event, then the result (type "result") last.')
    .option('--backend <backend>', "Under launch: the c10d backend, 'gloo' or 'nccl' (default: NCCL on CUDA, Gloo on the CPU)")
    .action(commandAction(io, setExitCode, (opts: Record<string, unknown>, command: Command) => trainCommand(opts, command, io)));

  const launchCmd = program
    .command('launch')
    .description('Start data-parallel train workers on this node, as torchrun does: launch --nproc-per-node 2 -- train')
    .argument('<command...>', 'The worker command and its flags: train ...');
  addFlags(launchCmd, LAUNCH_SPECS)
    .passThroughOptions()
    .action(
      commandAction(io, setExitCode, (workerArgs: string[], opts: Record<string, unknown>, command: Command) =>
        launchCommand(workerArgs, opts, command, io),
      ),
    );
}
