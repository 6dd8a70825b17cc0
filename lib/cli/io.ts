// SPDX-License-Identifier: MIT
// What every command shares: the process it talks to (CliIo), exit codes, where events go, Ctrl-C, and the one
// wrapper that turns a config error into exit 2 with the flag named.
import type { Command } from 'commander';

import { isConfigError } from '../config';
import type { ConfigError, SpecTable } from '../config';
import type { BindingSource } from '../job';
import { loadNative } from '../native';
import { ProgressRenderer } from '../progress';
import type { ProgressStream, TrainEvent } from '../progress';

import { flagOf } from './flags';

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

/** The real process: its streams, signals and the addon. */
export function defaultIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    binding: loadNative,
    onInterrupt: processInterrupt,
    onTerminate: processTerminate,
  };
}

/** A failure's one line on stderr, with its code. */
export function runtimeErrorMessage(error: unknown): string {
  if (!(error instanceof Error)) return `libtorch-resnet: ${String(error)}\n`;
  const code = (error as { code?: unknown }).code;
  return `libtorch-resnet: ${error.message}${typeof code === 'string' ? ` [${code}]` : ''}\n`;
}

/** Where a command's events go: one JSON line each with --json, else the progress renderer. */
export function eventSink(
  json: boolean,
  io: CliIo,
): { renderer?: ProgressRenderer; onProgress: (event: TrainEvent) => void } {
  const renderer = json ? undefined : new ProgressRenderer(io.stdout);
  const onProgress = (event: TrainEvent) => {
    if (json) io.stdout.write(`${JSON.stringify(event)}\n`);
    else renderer!.onProgress(event);
  };
  return { renderer, onProgress };
}

/** A config error from reading a command's flags, with the flag it is about. */
class UsageError extends Error {
  constructor(
    readonly error: ConfigError,
    readonly flag: string | undefined,
  ) {
    super(error.message);
  }
}

/**
 * Reads a command's flags with its resolver. A config error is a usage error about the flag it names (aliases
 * map nested options to flags); {@link commandAction} reports it and exits 2.
 */
export function resolveFlags<T>(
  specs: SpecTable,
  resolve: () => T,
  aliases: Readonly<Record<string, string>> = {},
): T {
  try {
    return resolve();
  } catch (error) {
    if (isConfigError(error)) throw new UsageError(error, flagOf(error, specs, aliases));
    throw error;
  }
}

/** A usage error's two lines on stderr; the exit code. */
export function reportUsageError(io: CliIo, command: string, error: Error, flag: string | undefined): number {
  io.stderr.write(`error: ${flag ? `option '${flag}': ` : ''}${error.message}\n`);
  io.stderr.write(`Run 'libtorch-resnet ${command} --help' for the options.\n`);
  return EXIT_USAGE;
}

export type SetExitCode = (code: number) => void;

/**
 * A command's action: runs `run` and sets the exit code it returns. Every config error ends here as exit 2: one
 * from reading the flags names its flag; one found later (a resume that changes the network) names none.
 */
export function commandAction(
  io: CliIo,
  setExitCode: SetExitCode,
  // Commander passes the arguments, the options, then the command.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  run: (...args: any[]) => Promise<number>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    try {
      setExitCode(await run(...args));
    } catch (error) {
      if (error instanceof UsageError) setExitCode(reportUsageError(io, command.name(), error.error, error.flag));
      else if (isConfigError(error)) setExitCode(reportUsageError(io, command.name(), error, undefined));
      else throw error;
    }
  };
}

/**
 * Runs a command's job with the first Ctrl-C aborting `controller` (the job stops at its next check), and turns
 * the outcome into an exit code: 0 done, 130 interrupted, 1 with the error's message otherwise. A config error is
 * thrown on, for {@link commandAction}.
 */
export async function runInterruptible(
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
    if (isConfigError(error)) throw error;
    io.stderr.write(runtimeErrorMessage(error));
    return EXIT_FAILURE;
  } finally {
    stopListening();
  }
}
