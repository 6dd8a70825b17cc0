// SPDX-License-Identifier: MIT
// The libtorch-resnet command: train (and launch, its multi-process form), eval, predict, bench, download, doctor
// and info. The training flags are generated from the option table in config.ts (OPTION_SPECS).
import fs from 'node:fs';
import path from 'node:path';

import { Command, CommanderError, Option } from 'commander';

import {
  OPTION_SPECS,
  defaultDataDir,
  resolveBenchConfig,
  resolveConfig,
  resolveEvalConfig,
  resolvePredictConfig,
} from './config';
import type {
  OptionSpec,
  ResolvedBenchConfig,
  ResolvedConfig,
  ResolvedEvalConfig,
  ResolvedPredictConfig,
} from './config';
import { reproduceCommand, runBenchmark } from './bench';
import { getBinding } from './job';
import { prepareDataset } from './dataset';
import { doctor, machineProbes } from './doctor';
import { captureCallerStack } from './errors';
import { isNonZeroRankWorker, startLaunch } from './launch';
import type { LaunchHandle, LaunchOptions } from './launch';
import { loadNative } from './native';
import { ProgressRenderer, formatCount, formatEvaluation, formatPercent, formatSummary } from './progress';
import type { ProgressStream, TrainEvent } from './progress';
import { createApi } from './api';
import { runEvaluation } from './evaluate';
import { runPrediction } from './predict';
import { runTraining } from './train';
import type { BindingSource } from './job';

/** Exit codes, as issue #4 fixes them. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/**
 * Everything the CLI touches outside itself, so tests can run it in-process with a fake binding.
 *
 * @example
 * const code = await run(['train', '--epochs', '1'], { stdout, stderr, binding: fakeBinding });
 */
export interface CliIo {
  readonly stdout: ProgressStream;
  readonly stderr: ProgressStream;
  /** The addon, or a function that loads it. */
  readonly binding: BindingSource;
  /** Calls `handler` on Ctrl-C; returns a function that stops listening. */
  onInterrupt(handler: () => void): () => void;
  /** Calls `handler` on SIGTERM and SIGHUP (only launch listens); returns a function that stops listening. */
  onTerminate?(handler: () => void): () => void;
  /** The program launch runs with the worker's arguments (default: this package's CLI under the same Node). */
  readonly launchWorker?: readonly string[];
}

function processInterrupt(handler: () => void): () => void {
  let count = 0;
  const listener = () => {
    count += 1;
    // A second Ctrl-C does not wait for the current step.
    if (count > 1) process.exit(EXIT_INTERRUPTED);
    handler();
  };
  process.on('SIGINT', listener);
  return () => {
    process.off('SIGINT', listener);
  };
}

function processTerminate(handler: () => void): () => void {
  process.on('SIGTERM', handler);
  process.on('SIGHUP', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGHUP', handler);
  };
}

function defaultIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    binding: loadNative,
    onInterrupt: processInterrupt,
    onTerminate: processTerminate,
  };
}

function packageVersion(): string {
  // dist/cli.js and lib/cli.ts both sit one level below package.json.
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

/** batchSize -> batch-size. */
export function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

// Flag values become numbers where they look like numbers; anything else goes to resolveConfig as it is, so
// that its message (naming the option and what is allowed) is the one the user sees.
function parseNumberFlag(value: string): number | string {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value.trim()) ? Number(value) : value;
}

/**
 * The flags of an option. A boolean that defaults to true has only its --no- form; other booleans (whose
 * default may depend on the preset) have both.
 */
export function flagNames(spec: OptionSpec): string[] {
  const flag = `--${kebabCase(spec.name)}`;
  if (spec.type !== 'boolean') return [flag];
  const negated = `--no-${kebabCase(spec.name)}`;
  return spec.default === true ? [negated] : [flag, negated];
}

function flagOptions(spec: OptionSpec): Option[] {
  if (spec.type === 'boolean') {
    const lower = `${spec.description.charAt(0).toLowerCase()}${spec.description.slice(1)}`;
    const names = flagNames(spec);
    return names.map((flag) =>
      !flag.startsWith('--no-')
        ? new Option(flag, `${spec.description} (default: ${spec.defaultText})`)
        : new Option(
            flag,
            names.length === 1
              ? `Don't ${lower}`
              : typeof spec.default === 'string'
                ? `The opposite of ${names[0]} (${spec.name}: false; neither flag: ${spec.defaultText})`
                : `The opposite of ${names[0]}`,
          ),
    );
  }
  const placeholder =
    spec.type === 'integer' ? 'n' : spec.type === 'number' ? 'x' : kebabCase(spec.name).split('-').pop()!;
  const details = spec.range ? `default: ${spec.defaultText}; ${spec.range}` : `default: ${spec.defaultText}`;
  const option = new Option(`${flagNames(spec)[0]} <${placeholder}>`, `${spec.description} (${details})`);
  if (spec.type === 'integer' || spec.type === 'number') option.argParser(parseNumberFlag);
  return [option];
}

function isConfigError(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    (error instanceof TypeError || error instanceof RangeError) &&
    (code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_OUT_OF_RANGE')
  );
}

// The checkers name the option (camelCase); the user typed its flag.
function flagOfConfigError(message: string): string | undefined {
  const match = / for (\w+) but received /.exec(message);
  return match ? `--${kebabCase(match[1]!)}` : undefined;
}

function runtimeErrorMessage(error: unknown): string {
  if (!(error instanceof Error)) return `libtorch-resnet: ${String(error)}\n`;
  const code = (error as { code?: unknown }).code;
  return `libtorch-resnet: ${error.message}${typeof code === 'string' ? ` [${code}]` : ''}\n`;
}

/** Where a command's events go: one JSON line each with --json, else the progress renderer. */
function eventSink(json: boolean, io: CliIo): { renderer?: ProgressRenderer; onProgress: (event: TrainEvent) => void } {
  const renderer = json ? undefined : new ProgressRenderer(io.stdout);
  const onProgress = (event: TrainEvent) => {
    if (json) io.stdout.write(`${JSON.stringify(event)}\n`);
    else renderer!.onProgress(event);
  };
  return { renderer, onProgress };
}

function reportUsageError(io: CliIo, command: string, error: Error, flag: string | undefined): number {
  io.stderr.write(`error: ${flag ? `option '${flag}': ` : ''}${error.message}\n`);
  io.stderr.write(`Run 'libtorch-resnet ${command} --help' for the options.\n`);
  return EXIT_USAGE;
}

/**
 * Runs a command's job with the first Ctrl-C aborting `controller` (the job stops at its next check), and turns
 * the outcome into an exit code: 0 done, 130 interrupted, 1 with the error's message otherwise.
 */
async function runInterruptible(
  io: CliIo,
  controller: AbortController,
  renderer: ProgressRenderer | undefined,
  what: string,
  stoppingMessage: string | undefined,
  job: () => Promise<void>,
  afterInterrupt?: () => void,
): Promise<number> {
  const stopListening = io.onInterrupt(() => {
    renderer?.stop();
    if (stoppingMessage) io.stderr.write(stoppingMessage);
    controller.abort(new Error('interrupted (SIGINT)'));
  });
  try {
    await job();
    return EXIT_OK;
  } catch (error) {
    renderer?.stop();
    if (controller.signal.aborted || (error as Error | null)?.name === 'AbortError') {
      io.stderr.write(`libtorch-resnet: ${what} interrupted\n`);
      afterInterrupt?.();
      return EXIT_INTERRUPTED;
    }
    // Options that only a checkpoint can refuse (a resume that changes the network) are usage errors too.
    if (isConfigError(error)) return reportUsageError(io, what === 'training' ? 'train' : what, error, undefined);
    io.stderr.write(runtimeErrorMessage(error));
    return EXIT_FAILURE;
  } finally {
    stopListening();
  }
}

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

  // Only flags given on the command line: resolveConfig fills in the rest.
  const input: Record<string, unknown> = { signal: controller.signal, onProgress };
  for (const spec of OPTION_SPECS) {
    if (spec.cli && command.getOptionValueSource(spec.name) === 'cli') input[spec.name] = opts[spec.name];
  }
  // A worker of `launch` (or of torchrun) gets the rest of its distributed settings from the environment.
  if (opts.backend !== undefined) input.distributed = { backend: opts.backend };
  // A resumed run continues its own folder (the one holding checkpoints/); anything else gets a fresh folder.
  const insideRun = typeof input.resume === 'string' && path.basename(path.dirname(input.resume)) === 'checkpoints';
  if (input.runDir === undefined && !insideRun) input.runDir = defaultRunDir();
  let config: ResolvedConfig;
  try {
    config = resolveConfig(input);
  } catch (error) {
    if (!isConfigError(error)) throw error;
    return reportUsageError(io, 'train', error, flagOfConfigError(error.message));
  }

  const stopping = 'Stopping after the current step and saving a checkpoint (Ctrl-C again to quit at once)\n';
  const printResume = () => {
    if (lastCheckpoint === undefined) return;
    io.stderr.write(`checkpoint saved: ${lastCheckpoint}\n`);
    io.stderr.write(`resume with: libtorch-resnet train --resume ${shellQuote(lastCheckpoint)}\n`);
  };
  return runInterruptible(
    io,
    controller,
    renderer,
    'training',
    stopping,
    async () => {
      const result = await runTraining(io.binding, config, callerStack);
      renderer?.stop();
      if (quiet) return;
      if (json) {
        io.stdout.write(`${JSON.stringify({ type: 'result', ...result })}\n`);
        return;
      }
      io.stdout.write(`\n${formatSummary(result)}`);
      if (result.runDir !== undefined) {
        io.stdout.write(`\nrun folder: ${result.runDir}\n  report: ${path.join(result.runDir, 'report.html')}\n`);
        if (result.checkpoints) {
          io.stdout.write(`  checkpoints: ${result.checkpoints.last}${result.checkpoints.best ? `, ${result.checkpoints.best}` : ''}\n`);
          io.stdout.write(`  weights for PyTorch: ${result.checkpoints.weights}\n`);
        }
      }
    },
    printResume,
  );
}

async function launchCommand(workerArgs: string[], opts: Record<string, unknown>, io: CliIo): Promise<number> {
  // Only train is distributed.
  if (workerArgs[0] !== 'train') {
    return reportUsageError(io, 'launch', new Error(`launch runs train; got '${workerArgs[0]}'`), undefined);
  }
  const options: Record<string, unknown> = {
    nprocPerNode: opts.nprocPerNode ?? 1,
    args: workerArgs,
    worker: io.launchWorker,
    stdout: io.stdout,
    stderr: io.stderr,
  };
  for (const name of ['nnodes', 'nodeRank', 'masterAddr', 'masterPort']) options[name] = opts[name];
  let job: LaunchHandle;
  try {
    job = startLaunch(options as unknown as LaunchOptions);
  } catch (error) {
    if (!isConfigError(error)) throw error;
    return reportUsageError(io, 'launch', error, flagOfConfigError(error.message));
  }
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

async function evalCommand(opts: Record<string, unknown>, command: Command, io: CliIo): Promise<number> {
  const json = opts.json === true;
  const callerStack = captureCallerStack();
  const controller = new AbortController();
  const { renderer, onProgress } = eventSink(json, io);
  const input: Record<string, unknown> = { signal: controller.signal, onProgress, checkpoint: opts.checkpoint };
  for (const name of ['dataDir', 'limitTest', 'batchSize', 'device', 'threads', 'flipTta']) {
    if (command.getOptionValueSource(name) === 'cli') input[name] = opts[name];
  }
  let config: ResolvedEvalConfig;
  try {
    config = resolveEvalConfig(input);
  } catch (error) {
    if (!isConfigError(error)) throw error;
    return reportUsageError(io, 'eval', error, flagOfConfigError(error.message));
  }
  return runInterruptible(io, controller, renderer, 'evaluation', undefined, async () => {
    const result = await runEvaluation(io.binding, config, callerStack);
    renderer?.stop();
    if (json) io.stdout.write(`${JSON.stringify({ type: 'result', ...result })}\n`);
    else io.stdout.write(formatEvaluation(result));
  });
}

async function predictCommand(
  images: string[],
  opts: Record<string, unknown>,
  command: Command,
  io: CliIo,
): Promise<number> {
  const json = opts.json === true;
  const callerStack = captureCallerStack();
  const input: Record<string, unknown> = { checkpoint: opts.checkpoint, images };
  for (const name of ['top', 'device', 'threads', 'flipTta']) {
    if (command.getOptionValueSource(name) === 'cli') input[name] = opts[name];
  }
  let config: ResolvedPredictConfig;
  try {
    config = resolvePredictConfig(input);
  } catch (error) {
    if (!isConfigError(error)) throw error;
    const flag = /for top /.test(error.message) ? '--top' : flagOfConfigError(error.message);
    return reportUsageError(io, 'predict', error, flag);
  }
  return runInterruptible(io, new AbortController(), undefined, 'prediction', undefined, async () => {
    const predictions = await runPrediction(io.binding, config, callerStack);
    if (json) {
      io.stdout.write(`${JSON.stringify({ type: 'result', predictions })}\n`);
      return;
    }
    for (const p of predictions) {
      const ranked = p.top.map((t) => `${t.label} ${formatPercent(t.probability)}`).join(', ');
      io.stdout.write(`${p.image}: ${ranked}\n`);
    }
  });
}

async function benchCommand(opts: Record<string, unknown>, command: Command, io: CliIo): Promise<number> {
  const json = opts.json === true;
  const input: Record<string, unknown> = {};
  for (const name of ['preset', 'imageSize', 'batchSize', 'steps', 'warmup', 'rounds', 'device', 'threads', 'dataDir',
    'precision', 'memoryFormat', 'yardstickWorkers', 'peakTflops', 'yardstick', 'python', 'cudaGraph', 'peer', 'peerCompile',
    'peerTimeout', 'download']) {
    if (command.getOptionValueSource(name) === 'cli') input[name] = opts[name];
  }
  let config: ResolvedBenchConfig;
  try {
    config = resolveBenchConfig(input);
  } catch (error) {
    if (!isConfigError(error)) throw error;
    return reportUsageError(io, 'bench', error, flagOfConfigError(error.message));
  }
  const log = (line: string) => void (json ? io.stderr : io.stdout).write(`${line}\n`);
  return runInterruptible(io, new AbortController(), undefined, 'benchmark', undefined, async () => {
    log(
      `timing ${config.rounds} x ${config.steps} training steps (after ${config.warmup} warm-up steps), ` +
        `preset ${config.preset} at ${config.imageSize} px, batch ${config.batchSize}, ${config.precision}, ` +
        `memory format ${config.memoryFormat}, cudaGraph ${config.cudaGraph === 'auto' ? "'auto'" : config.cudaGraph}`,
    );
    const report = await runBenchmark(
      getBinding(io.binding),
      config,
      (round, i) => {
        const yardstick = round.yardstick === null ? '' : `, yardstick ${round.yardstick.toFixed(2)} img/s`;
        log(`round ${i + 1}/${config.rounds}: ours ${round.ours.toFixed(2)} img/s${yardstick}`);
      },
      (data) =>
        log(
          data.data === 'generated'
            ? `data: generated, ${data.records} records (no CIFAR-10 at ${data.dataDir}; --download to fetch it)`
            : `data: CIFAR-10 at ${data.dataDir}`,
        ),
    );
    if (report.yardstickSkipped) log(`yardstick not run: ${report.yardstickSkipped}`);
    log(
      `ours ${report.ours.toFixed(2)} img/s` +
        (report.yardstick === null
          ? ''
          : `, yardstick ${report.yardstick.toFixed(2)} img/s (torch ${report.yardstickTorch}), ` +
            `ratio ${report.ratio!.toFixed(2)}x`) +
        ` on ${report.device}, ${report.threads} threads, LibTorch ${report.libtorchVersion}`,
    );
    log(
      `step: ${(report.gpuMsPerStep ?? (1000 * report.batchSize) / report.ours).toFixed(1)} ms` +
        `${report.gpuMsPerStep === null ? '' : ' on the GPU'}, host issues it in ${report.hostMsPerStep.toFixed(1)} ms ` +
        `(${report.cudaGraph ? 'captured in a CUDA graph' : 'eager'})`,
    );
    if (report.peer !== null) {
      if (report.peerSkipped) log(`peer not run: ${report.peerSkipped}`);
      else {
        const versus = (name: string, rate: number | null) =>
          rate === null ? '' : `, peer ${name} ${rate.toFixed(2)} img/s (ours ${(report.ours / rate).toFixed(2)}x)`;
        log(
          `ours ${report.ours.toFixed(2)} img/s${versus('eager', report.peer.eager)}` +
            `${versus(`compiled (${report.peer.mode})`, report.peer.compiled)}, peer on torch ${report.peer.torch}`,
        );
        if (report.peerCompiledSkipped) log(`peer compiled run: ${report.peerCompiledSkipped}`);
      }
    }
    log(
      `data path alone: ${report.dataBatchesPerSecond.toFixed(1)} batches/s, ` +
        `${(100 * report.dataFraction).toFixed(2)}% of a training step`,
    );
    log(
      `model FLOPs: ${report.trainGflopsPerImage.toFixed(2)} GFLOP per training image, ${report.tflops.toFixed(2)} TFLOP/s` +
        (report.mfu === null
          ? ' (no peak known for this device: pass --peak-tflops for the utilisation)'
          : `, MFU ${(100 * report.mfu).toFixed(1)}% of ${report.peakTflops} TFLOP/s (${report.peakSource})`) +
        (report.channelsLast ? ', channels-last' : ''),
    );
    log(`reproduce: ${reproduceCommand(report)}`);
    if (json) io.stdout.write(`${JSON.stringify(report)}\n`);
  });
}

async function downloadCommand(opts: Record<string, unknown>, io: CliIo): Promise<number> {
  const json = opts.json === true;
  const { renderer, onProgress } = eventSink(json, io);
  // Validate: resolveConfig checks the data folder, URL and md5 as it does for train().
  const input: Record<string, unknown> = {};
  if (opts.dataDir !== undefined) input.dataDir = opts.dataDir;
  const source: Record<string, unknown> = {};
  if (opts.url !== undefined) source.url = opts.url;
  if (opts.md5 !== undefined) source.md5 = opts.md5;
  input.download = source;
  let config: ResolvedConfig;
  try {
    config = resolveConfig(input);
  } catch (error) {
    if (!isConfigError(error)) throw error;
    const flag = /for download\.url /.test(error.message)
      ? '--url'
      : /for download\.md5 /.test(error.message)
        ? '--md5'
        : flagOfConfigError(error.message);
    return reportUsageError(io, 'download', error, flag);
  }
  const controller = new AbortController();
  return runInterruptible(io, controller, renderer, 'download', undefined, async () => {
    const dir = await prepareDataset(config.dataDir, {
      download: config.download,
      onProgress,
      signal: controller.signal,
    });
    renderer?.stop();
    if (json) io.stdout.write(`${JSON.stringify({ type: 'result', dataDir: dir })}\n`);
    else io.stdout.write(`CIFAR-10 is ready in ${dir}\n`);
  });
}

async function doctorCommand(opts: Record<string, unknown>, io: CliIo): Promise<number> {
  const report = await doctor({
    ...machineProbes(),
    loadBinding: () => {
      try {
        return getBinding(io.binding);
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error));
      }
    },
  });
  if (opts.json === true) {
    io.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    for (const check of report.checks) {
      io.stdout.write(`${check.ok ? 'ok     ' : 'PROBLEM'} ${check.name.padEnd(12)} ${check.detail}\n`);
      if (check.fix) io.stdout.write(`${' '.repeat(21)}fix: ${check.fix.replace(/\n/g, `\n${' '.repeat(26)}`)}\n`);
    }
    io.stdout.write(report.ok ? 'Everything needed is in place.\n' : 'Fix the problems above, then run doctor again.\n');
  }
  return report.ok ? EXIT_OK : EXIT_FAILURE;
}

async function infoCommand(opts: Record<string, unknown>, io: CliIo): Promise<number> {
  try {
    const about = await createApi(io.binding).info();
    if (opts.json === true) {
      io.stdout.write(`${JSON.stringify(about)}\n`);
      return EXIT_OK;
    }
    const toolkit = [
      about.cudaVersion && `CUDA ${about.cudaVersion}`,
      about.cudnnVersion && `cuDNN ${about.cudnnVersion}`,
    ].filter(Boolean);
    const cuda =
      (about.cudaAvailable ? `available, ${about.cudaDevices} device(s)` : 'not available') +
      (toolkit.length > 0 ? ` (built with ${toolkit.join(', ')})` : '');
    io.stdout.write(
      [
        `libtorch-resnet  ${packageVersion()}`,
        `LibTorch         ${about.libtorchVersion}`,
        `CUDA             ${cuda}`,
        `CPU threads      ${about.threads}`,
        `distributed      ${about.distributedBackends.length > 0 ? about.distributedBackends.join(', ') : 'none in this build'}`,
        `parameters       article ${formatCount(about.presets.article.parameters)}, ` +
          `cifar ${formatCount(about.presets.cifar.parameters)}`,
        `data folder      ${defaultDataDir()} (default)`,
        '',
      ].join('\n'),
    );
    return EXIT_OK;
  } catch (error) {
    io.stderr.write(runtimeErrorMessage(error));
    return EXIT_FAILURE;
  }
}

type SetExitCode = (code: number) => void;

const numberOption = (flags: string, description: string) => new Option(flags, description).argParser(parseNumberFlag);

function buildProgram(io: CliIo, setExitCode: SetExitCode): Command {
  const program = new Command();
  program
    .name('libtorch-resnet')
    .description('Train ResNet-34 on CIFAR-10 with LibTorch, on a CUDA GPU or every CPU core.')
    .version(packageVersion(), '-V, --version')
    // Options after a subcommand are that subcommand's, so launch can pass train's flags through.
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError("(run 'libtorch-resnet --help' for usage)")
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
    });

  addTrainCommands(program, io, setExitCode);
  addScoringCommands(program, io, setExitCode);
  addBenchCommand(program, io, setExitCode);
  addMachineCommands(program, io, setExitCode);
  return program;
}

// train, and launch: train in several processes.
function addTrainCommands(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  const trainCmd = program
    .command('train')
    .description('Train on CIFAR-10 and print the per-epoch metrics, test accuracy and per-class accuracy.');
  for (const spec of OPTION_SPECS) if (spec.cli) for (const option of flagOptions(spec)) trainCmd.addOption(option);
  trainCmd
    .option('--json', 'Print one JSON object per line: every event, then the result (type "result") last.')
    .option('--backend <backend>', "Under launch: the c10d backend, 'gloo' or 'nccl' (default: NCCL on CUDA, Gloo on the CPU)")
    .action(async (opts: Record<string, unknown>, command: Command) => {
      setExitCode(await trainCommand(opts, command, io));
    });

  program
    .command('launch')
    .description('Start data-parallel train workers on this node, as torchrun does: launch --nproc-per-node 2 -- train')
    .argument('<command...>', 'The worker command and its flags: train ...')
    .addOption(numberOption('--nproc-per-node <n>', 'Workers on this node (default: 1)'))
    .addOption(numberOption('--nnodes <n>', 'Nodes in the job (default: 1)'))
    .addOption(numberOption('--node-rank <n>', "This node's index, below --nnodes (default: 0)"))
    .option('--master-addr <host>', "Where rank 0 listens for the other ranks (default: '127.0.0.1')")
    .addOption(numberOption('--master-port <port>', 'Its port (default: a free port with one node, else 29500)'))
    .passThroughOptions()
    .action(async (workerArgs: string[], opts: Record<string, unknown>) => {
      setExitCode(await launchCommand(workerArgs, opts, io));
    });
}

// eval and predict: what a checkpoint or weights file scores and answers.
function addScoringCommands(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  program
    .command('eval')
    .description('Score a checkpoint on the CIFAR-10 test split: accuracy, per-class accuracy, confusion matrix.')
    .requiredOption('--checkpoint <file>', 'Checkpoint or weights file written by train (<run-dir>/checkpoints/best.pt, last.pt or weights.pt)')
    .option('--data-dir <dir>', 'Folder where CIFAR-10 is, or will be downloaded to (default: as for train)')
    .addOption(numberOption('--limit-test <n>', 'Use only the first N test records (default: all)'))
    .addOption(numberOption('--batch-size <n>', 'Images per step (default: 64)'))
    .option('--device <device>', "'auto', 'cpu', 'cuda' or 'cuda:N' (default: 'auto')")
    .addOption(numberOption('--threads <n>', 'CPU threads; 0 uses every core (default: 0)'))
    .option('--flip-tta', "Score each image together with its mirror image (default: as the checkpoint's run did)")
    .option('--no-flip-tta', 'The opposite of --flip-tta')
    .option('--json', 'Print one JSON object per line: the events, then the result (type "result") last.')
    .action(async (opts: Record<string, unknown>, command: Command) => {
      setExitCode(await evalCommand(opts, command, io));
    });

  program
    .command('predict')
    .description('Classify PNG or JPEG images with a checkpoint; prints the most probable classes of each.')
    .argument('<image...>', 'PNG or JPEG files')
    .requiredOption('--checkpoint <file>', 'Checkpoint or weights file written by train (<run-dir>/checkpoints/best.pt, last.pt or weights.pt)')
    .addOption(numberOption('--top <n>', 'Classes to list per image, most probable first (default: 3)'))
    .option('--device <device>', "'auto', 'cpu', 'cuda' or 'cuda:N' (default: 'auto')")
    .addOption(numberOption('--threads <n>', 'CPU threads; 0 uses every core (default: 0)'))
    .option('--flip-tta', "Average each image's logits with its mirror image's (default: as the checkpoint's run did)")
    .option('--no-flip-tta', 'The opposite of --flip-tta')
    .option('--json', 'Print one JSON object: { type: "result", predictions: [...] }.')
    .action(async (images: string[], opts: Record<string, unknown>, command: Command) => {
      setExitCode(await predictCommand(images, opts, command, io));
    });
}

function addBenchCommand(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  program
    .command('bench')
    .description("Time training steps against the article's PyTorch program on this machine (npm run bench).")
    .option('--preset <preset>', "'article' or 'cifar' (default: 'article')")
    .addOption(numberOption('--image-size <n>', 'Image side (default: 224 article, 32 cifar)'))
    .addOption(numberOption('--batch-size <n>', 'Images per step (default: 64)'))
    .addOption(numberOption('--steps <n>', 'Timed steps per round (default: 10)'))
    .addOption(numberOption('--warmup <n>', 'Untimed steps first (default: 3)'))
    .addOption(numberOption('--rounds <n>', 'Rounds, ours and the yardstick alternating (default: 3)'))
    .option('--device <device>', "'auto', 'cpu', 'cuda' or 'cuda:N' (default: 'auto')")
    .addOption(numberOption('--threads <n>', 'CPU threads for both; 0 uses every core (default: 0)'))
    .option('--data-dir <dir>', 'Folder where CIFAR-10 is; one without it is an error (default: as for train; without CIFAR-10 there, generated records)')
    .option('--download', 'Download CIFAR-10 (163 MB) into the data folder when it lacks it (default: no download)')
    .option('--precision <p>', "'fp32', 'tf32', 'bf16' or 'fp16' (default: 'fp32'; the yardstick always runs fp32)")
    .option('--memory-format <f>', "'auto', 'contiguous' or 'channels-last' (default: 'auto')")
    .addOption(numberOption('--yardstick-workers <n>', "The yardstick's DataLoader workers (default: 0, as in the article)"))
    .addOption(numberOption('--peak-tflops <n>', "The device's peak TFLOP/s for the MFU (default: from a table of known GPUs)"))
    .option('--yardstick <file>', 'The article program (default: $LIBTORCH_RESNET_YARDSTICK, else ../shared/anchors/article_resnet34.py)')
    .option('--no-yardstick', 'Time ours only')
    .option('--python <python>', 'Python with torch for the yardstick and the peer (default: $LIBTORCH_RESNET_PYTHON, else /usr/bin/python3)')
    .option('--cuda-graph', "Capture our training step in a CUDA graph (on the CPU: the same static-buffer step, uncaptured; neither flag: 'auto', captured on CUDA)")
    .option('--no-cuda-graph', 'Time our eager training step')
    .option('--peer [file]', 'Also time the plain-PyTorch peer, eager and compiled, once (default file: $LIBTORCH_RESNET_PEER, else ../shared/anchors/pytorch_peer.py)')
    .option('--peer-compile <mode>', "The peer's torch.compile mode: 'none' (no compiled run), 'default', 'reduce-overhead' or 'max-autotune' (default: 'max-autotune')")
    .addOption(numberOption('--peer-timeout <s>', 'Seconds each peer run may take before it is stopped and recorded as skipped (default: 0, no limit)'))
    .option('--json', 'Print the report as one JSON object, the last line on stdout (progress goes to stderr).')
    .action(async (opts: Record<string, unknown>, command: Command) => {
      setExitCode(await benchCommand(opts, command, io));
    });
}

// download, doctor and info: the data and the machine.
function addMachineCommands(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  program
    .command('download')
    .description('Download, verify and extract CIFAR-10 into the data folder (nothing is fetched when it is there).')
    .option('--data-dir <dir>', `Folder to put CIFAR-10 in (default: ${OPTION_SPECS.find((o) => o.name === 'dataDir')!.defaultText})`)
    .option('--url <url>', 'Where to fetch the archive: http(s) URL, file: URL or path (default: $LIBTORCH_RESNET_CIFAR_URL, else the official archive)')
    .option('--md5 <md5>', "The archive's md5 (default: $LIBTORCH_RESNET_CIFAR_MD5, else the official archive's)")
    .option('--json', 'Print one JSON object per line: every download event, then the result (type "result") last.')
    .action(async (opts: Record<string, unknown>) => {
      setExitCode(await downloadCommand(opts, io));
    });

  program
    .command('doctor')
    .description('Check Node, LibTorch, the addon, CUDA, threads, distributed backends and the data cache; each problem comes with its fix (exit 1 when there is one).')
    .option('--json', 'Print the report as JSON: { ok, checks: [{ name, ok, detail, fix? }] }.')
    .action(async (opts: Record<string, unknown>) => {
      setExitCode(await doctorCommand(opts, io));
    });

  program
    .command('info')
    .description('Show the LibTorch version, CUDA devices, CPU threads and parameter counts.')
    .option('--json', 'Print the result of info() as JSON.')
    .action(async (opts: Record<string, unknown>) => {
      setExitCode(await infoCommand(opts, io));
    });
}

/**
 * Runs the CLI on `argv` (the arguments after the script name) and resolves with the exit code:
 * 0 done, 1 runtime error, 2 usage error, 130 interrupted.
 *
 * @example
 * const code = await run(['train', '--epochs', '1', '--preset', 'cifar', '--json']);
 */
export async function run(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const fullIo: CliIo = { ...defaultIo(), ...io };
  let exitCode = EXIT_OK;
  const program = buildProgram(fullIo, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    // Commander has already printed its message (unknown option, missing argument, --help, --version).
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    fullIo.stderr.write(runtimeErrorMessage(error));
    return EXIT_FAILURE;
  }
  return exitCode;
}

/**
 * Entry point of bin/libtorch-resnet.js: runs the CLI on process.argv and sets process.exitCode.
 *
 * @example
 * require('libtorch-resnet/dist/cli.js').main();
 */
export function main(): void {
  void run(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
