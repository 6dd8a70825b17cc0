// SPDX-License-Identifier: MIT
// libtorch-resnet launch: starts one node's training workers with torchrun's environment and supervises them.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';

import { DEFAULT_MASTER_PORT, resolveLaunchOptions } from './config/launch';
import type { LaunchOptions, ResolvedLaunchOptions } from './config/launch';
import type { ProgressStream } from './progress';

export { DEFAULT_MASTER_PORT };
export type { LaunchOptions };

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_INTERRUPTED = 130;
// In their own process group a terminal's Ctrl-C reaches the launcher only, which passes one SIGINT on: a worker
// sent two (the terminal's and the launcher's) would quit at once instead of saving a checkpoint. Signals then go
// to the whole group, so helpers a worker starts stop with it.
const OWN_PROCESS_GROUP = process.platform !== 'win32';

/**
 * How one worker ended.
 *
 * @example
 * if (exit.signal !== null) console.log(`rank ${exit.rank} was killed by ${exit.signal}`);
 */
export interface WorkerExit {
  /** Global rank: nodeRank * nprocPerNode + localRank. */
  readonly rank: number;
  readonly localRank: number;
  /** undefined when the process could not be started. */
  readonly pid: number | undefined;
  /** Exit code; null when a signal ended it or it never started. */
  readonly code: number | null;
  /** The signal that ended it, else null. */
  readonly signal: NodeJS.Signals | null;
}

/**
 * How the job ended: exitCode 0 when every worker exited 0, 1 after a failure, 130 when interrupted.
 *
 * @example
 * const { exitCode, failed, message } = await launch({ nprocPerNode: 2, args: ['train'] });
 * if (failed) console.error(`rank ${failed.rank} failed: ${message}`);
 */
export interface LaunchResult {
  readonly exitCode: number;
  /** Every worker started, by local rank. */
  readonly workers: readonly WorkerExit[];
  /** The first worker that failed; the others it then stopped are not failures. */
  readonly failed?: WorkerExit;
  /** What went wrong: `rank 1 (pid 4242) exited with code 3`. */
  readonly message?: string;
}

/**
 * A running launch.
 *
 * @example
 * const job = startLaunch({ nprocPerNode: 2, args: ['train'] });
 * process.once('SIGINT', () => job.interrupt());
 * process.exitCode = (await job.result).exitCode;
 */
export interface LaunchHandle {
  /** Settles once every worker has exited and its output is written. */
  readonly result: Promise<LaunchResult>;
  /** Sends SIGINT to every running worker (train stops after its current step and saves a checkpoint); once only. */
  interrupt(): void;
  /** Sends SIGKILL to every running worker. */
  kill(): void;
}

/**
 * Whether `env` is that of a launched worker other than rank 0 (RANK set to a positive integer): such a worker
 * trains without printing results, since rank 0 speaks for the job.
 *
 * @example
 * isNonZeroRankWorker({ RANK: '1' }); // true
 * isNonZeroRankWorker({}); // false
 */
export function isNonZeroRankWorker(env: NodeJS.ProcessEnv = process.env): boolean {
  const rank = env.RANK?.trim();
  return rank !== undefined && /^\d+$/.test(rank) && Number(rank) > 0;
}

/** The environment of one worker: torchrun's variables on top of the base. */
function workerEnv(config: ResolvedLaunchOptions, localRank: number, port: number): NodeJS.ProcessEnv {
  const { nprocPerNode, nnodes, nodeRank, env } = config;
  const vars: NodeJS.ProcessEnv = {
    ...env,
    WORLD_SIZE: String(nnodes * nprocPerNode),
    RANK: String(nodeRank * nprocPerNode + localRank),
    LOCAL_RANK: String(localRank),
    LOCAL_WORLD_SIZE: String(nprocPerNode),
    GROUP_RANK: String(nodeRank),
    MASTER_ADDR: config.masterAddr,
    MASTER_PORT: String(port),
  };
  // torchrun sets OMP_NUM_THREADS=1 for every worker. We share the cores out instead, so CPU workers (Gloo)
  // together use the whole machine without oversubscribing it; a value the user set is kept.
  if (env.OMP_NUM_THREADS === undefined || env.OMP_NUM_THREADS === '') {
    vars.OMP_NUM_THREADS = String(Math.max(1, Math.floor(os.availableParallelism() / nprocPerNode)));
  }
  return vars;
}

/** Listens on port 0 and gives back the port the system chose. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Writes a stream's text to `out` a whole line at a time, each after `prefix`, so that lines of several workers
 * (and the launcher's own) never run into each other; a last line without a newline gets one.
 */
function lineWriter(out: ProgressStream, prefix = ''): { write(chunk: string): void; end(): void } {
  let partial = '';
  return {
    write(chunk) {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      if (lines.length > 0) out.write(lines.map((line) => `${prefix}${line}\n`).join(''));
    },
    end() {
      if (partial !== '') out.write(`${prefix}${partial}\n`);
      partial = '';
    },
  };
}

function describeExit(exit: WorkerExit): string {
  const how = exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  return `rank ${exit.rank} (pid ${exit.pid}) ${how}`;
}

interface Worker {
  readonly rank: number;
  readonly localRank: number;
  readonly child: ChildProcess | undefined;
  exit: WorkerExit | undefined;
  closed: boolean;
}

class Supervisor {
  private readonly config: ResolvedLaunchOptions;
  private readonly workers: Worker[] = [];
  private interrupted = false;
  private killed = false;
  private failure: { exit: WorkerExit; message: string } | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private finish: (() => void) | undefined;
  // If the launcher's own process ends first, its workers go with it.
  private readonly onProcessExit = () => this.signalRunning('SIGKILL');

  constructor(config: ResolvedLaunchOptions) {
    this.config = config;
  }

  async run(): Promise<LaunchResult> {
    const { signal } = this.config;
    const onAbort = () => this.interrupt();
    if (signal?.aborted) this.interrupted = true;
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let port = this.config.masterPort;
      if (port === undefined && !this.interrupted) {
        try {
          port = await freePort(this.config.masterAddr);
        } catch (error) {
          const message = `could not pick a free port on ${this.config.masterAddr}: ${(error as Error).message}`;
          this.log(message);
          return { exitCode: EXIT_FAILURE, workers: [], message };
        }
      }
      if (this.interrupted) return { exitCode: EXIT_INTERRUPTED, workers: [] };
      await new Promise<void>((resolve) => {
        this.finish = resolve;
        this.start(port!);
      });
      return this.outcome();
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  interrupt(): void {
    if (this.interrupted) return;
    this.interrupted = true;
    this.signalRunning('SIGINT');
  }

  kill(): void {
    this.interrupted = true;
    this.killed = true;
    this.signalRunning('SIGKILL');
  }

  private log(line: string): void {
    this.config.stderr.write(`launch: ${line}\n`);
  }

  private start(port: number): void {
    const { nprocPerNode: n, nnodes, nodeRank, worker } = this.config;
    const first = nodeRank * n;
    const ranks = n === 1 ? `rank ${first}` : `ranks ${first}-${first + n - 1}`;
    this.log(
      `starting ${n} worker${n === 1 ? '' : 's'} (${ranks} of ${nnodes * n}) with ` +
        `MASTER_ADDR=${this.config.masterAddr} MASTER_PORT=${port}`,
    );
    process.on('exit', this.onProcessExit);
    for (let localRank = 0; localRank < n && this.failure === undefined; localRank++) {
      const rank = first + localRank;
      let child: ChildProcess;
      try {
        child = spawn(worker[0]!, [...worker.slice(1), ...this.config.args], {
          env: workerEnv(this.config, localRank, port),
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: OWN_PROCESS_GROUP,
        });
      } catch (error) {
        const entry: Worker = { rank, localRank, child: undefined, exit: undefined, closed: true };
        this.workers.push(entry);
        this.onGone(entry, null, null, error as Error);
        break;
      }
      const entry: Worker = { rank, localRank, child, exit: undefined, closed: false };
      this.workers.push(entry);
      this.route(entry, child);
      // 'error' without a pid: it could not be started ('close' still follows).
      child.on('error', (error) => {
        if (child.pid === undefined && entry.exit === undefined) this.onGone(entry, null, null, error);
      });
      child.on('exit', (code, sig) => this.onGone(entry, code, sig));
      child.on('close', () => {
        entry.closed = true;
        this.settleIfDone();
      });
    }
    this.settleIfDone();
  }

  // Rank 0's stdout is the job's, passed on as it comes (so --json stays parseable). Its stderr is passed on
  // unlabelled, a line at a time, as every other rank's stdout and stderr are, labelled.
  private route(entry: Worker, child: ChildProcess): void {
    const { stdout, stderr } = this.config;
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    if (entry.rank === 0) child.stdout!.on('data', (chunk: string) => void stdout.write(chunk));
    const label = entry.rank === 0 ? '' : `[rank ${entry.rank}] `;
    for (const stream of entry.rank === 0 ? [child.stderr!] : [child.stdout!, child.stderr!]) {
      const lines = lineWriter(stderr, label);
      stream.on('data', (chunk: string) => lines.write(chunk));
      stream.on('end', () => lines.end());
    }
  }

  private onGone(entry: Worker, code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void {
    const exit: WorkerExit = { rank: entry.rank, localRank: entry.localRank, pid: entry.child?.pid, code, signal };
    entry.exit = exit;
    if (this.isFailure(exit)) {
      const message = spawnError
        ? `rank ${exit.rank} could not be started: ${spawnError.message}`
        : describeExit(exit);
      this.failure = { exit, message };
      this.log(message);
      if (this.workers.some((w) => w.exit === undefined)) {
        this.log('stopping the other workers');
        this.signalRunning('SIGTERM');
        this.killTimer = setTimeout(() => this.signalRunning('SIGKILL'), this.config.graceSeconds * 1000);
      }
    }
    this.settleIfDone();
  }

  private isFailure(exit: WorkerExit): boolean {
    // Only the first failure counts: the workers it stops, or that kill() ends, are not failures.
    if (this.failure !== undefined || this.killed || exit.code === EXIT_OK) return false;
    return !(this.interrupted && (exit.code === EXIT_INTERRUPTED || exit.signal === 'SIGINT'));
  }

  private signalRunning(signal: NodeJS.Signals): void {
    for (const { child, exit } of this.workers) {
      if (child?.pid === undefined || exit !== undefined) continue;
      try {
        process.kill(OWN_PROCESS_GROUP ? -child.pid : child.pid, signal);
      } catch {
        // Gone already (its 'exit' is on its way), or it left its group: try the process itself.
        try {
          process.kill(child.pid, signal);
        } catch {
          // Gone already.
        }
      }
    }
  }

  private settleIfDone(): void {
    if (this.finish === undefined || !this.workers.every((w) => w.closed && w.exit !== undefined)) return;
    if (this.failure === undefined && this.workers.length < this.config.nprocPerNode) return;
    clearTimeout(this.killTimer);
    process.off('exit', this.onProcessExit);
    const finish = this.finish;
    this.finish = undefined;
    finish();
  }

  private outcome(): LaunchResult {
    const workers = this.workers.map((w) => w.exit!);
    if (this.failure) {
      return { exitCode: EXIT_FAILURE, workers, failed: this.failure.exit, message: this.failure.message };
    }
    const allOk = workers.every((w) => w.code === EXIT_OK);
    return { exitCode: this.interrupted && !allOk ? EXIT_INTERRUPTED : EXIT_OK, workers };
  }
}

/**
 * Starts `nprocPerNode` workers with torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE,
 * GROUP_RANK, MASTER_ADDR, MASTER_PORT, OMP_NUM_THREADS) and supervises them: when one fails the others get
 * SIGTERM, then SIGKILL after `graceSeconds`. Throws a `TypeError` or `RangeError` (ERR_INVALID_ARG_TYPE,
 * ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE) naming the option before starting anything.
 *
 * @example
 * const job = startLaunch({ nprocPerNode: 2, args: ['train', '--epochs', '1'] });
 * process.once('SIGINT', () => {
 *   job.interrupt();
 *   process.once('SIGINT', () => job.kill());
 * });
 * const { exitCode } = await job.result;
 */
export function startLaunch(options: LaunchOptions): LaunchHandle {
  const supervisor = new Supervisor(resolveLaunchOptions(options));
  return {
    result: supervisor.run(),
    interrupt: () => supervisor.interrupt(),
    kill: () => supervisor.kill(),
  };
}

/**
 * {@link startLaunch} as one promise; aborting `signal` interrupts the workers. Rejects only on invalid options:
 * a failed or interrupted job resolves, with exitCode 1 or 130.
 *
 * @example
 * const controller = new AbortController();
 * process.once('SIGINT', () => controller.abort());
 * const result = await launch({ nprocPerNode: 4, args: ['train', '--json'], signal: controller.signal });
 * process.exitCode = result.exitCode;
 */
export async function launch(options: LaunchOptions): Promise<LaunchResult> {
  return startLaunch(options).result;
}
