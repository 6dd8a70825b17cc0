// SPDX-License-Identifier: MIT
// launch()'s options: one node's share of a data-parallel job, as torchrun takes them, checked with train()'s
// checks and messages.
import path from 'node:path';

import type { ProgressStream } from '../progress';

import { invalidParameter, readAbortSignal, unknownKey } from './checks';

/** torchrun's MASTER_PORT when several nodes must agree on one without talking first. */
export const DEFAULT_MASTER_PORT = 29500;

const DEFAULT_MASTER_ADDR = '127.0.0.1';
const DEFAULT_GRACE_SECONDS = 10;
const MAX_NPROC_PER_NODE = 1024;
const MAX_GRACE_SECONDS = 3600;

/**
 * Options of {@link launch} and {@link startLaunch}: one node's share of a data-parallel job, as torchrun takes them.
 *
 * @example
 * const options: LaunchOptions = { nprocPerNode: 2, args: ['train', '--epochs', '1', '--json'] };
 */
export interface LaunchOptions {
  /** Workers on this node, 1–1024. */
  nprocPerNode: number;
  /** Nodes in the job (1). */
  nnodes?: number | undefined;
  /** This node's index, below nnodes (0). */
  nodeRank?: number | undefined;
  /** Where rank 0 listens for the others ('127.0.0.1'). */
  masterAddr?: string | undefined;
  /** Its port, 0–65535: with one node a free port by default (0 picks one too), with several 29500. */
  masterPort?: number | undefined;
  /** The worker's arguments: `['train', '--epochs', '1']`. */
  args: readonly string[];
  /** The program run with args (this package's CLI under this Node: `[process.execPath, bin/libtorch-resnet.js]`). */
  worker?: readonly string[] | undefined;
  /** The workers' environment, before the launcher adds its variables (process.env). */
  env?: NodeJS.ProcessEnv | undefined;
  /** Receives rank 0's stdout, byte for byte (process.stdout). */
  stdout?: ProgressStream | undefined;
  /**
   * Receives rank 0's stderr, every other rank's stdout and stderr as lines labelled `[rank N] `, and the
   * launcher's own lines (process.stderr).
   */
  stderr?: ProgressStream | undefined;
  /** Aborting it interrupts the job, as {@link LaunchHandle.interrupt} does. */
  signal?: AbortSignal | undefined;
  /** After a failure, how long the other workers get between SIGTERM and SIGKILL, 0–3600 (10). */
  graceSeconds?: number | undefined;
}

/** {@link LaunchOptions} checked, every default filled in. */
export interface ResolvedLaunchOptions {
  readonly nprocPerNode: number;
  readonly nnodes: number;
  readonly nodeRank: number;
  readonly masterAddr: string;
  /** undefined: pick a free one. */
  readonly masterPort: number | undefined;
  readonly args: readonly string[];
  readonly worker: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: ProgressStream;
  readonly stderr: ProgressStream;
  readonly signal: AbortSignal | undefined;
  readonly graceSeconds: number;
}

const OPTION_NAMES = [
  'nprocPerNode',
  'nnodes',
  'nodeRank',
  'masterAddr',
  'masterPort',
  'args',
  'worker',
  'env',
  'stdout',
  'stderr',
  'signal',
  'graceSeconds',
] as const;

function readInteger(value: unknown, name: string, min: number, max: number, hint?: string): number {
  const expected = `integer between ${min} and ${max}`;
  if (typeof value !== 'number') throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', name, expected, value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', name, expected, value, hint);
  }
  return value;
}

function readStrings(value: unknown, name: string): readonly string[] {
  const expected = 'non-empty array of strings';
  if (!Array.isArray(value)) throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', name, expected, value);
  if (value.length === 0) throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', name, expected, value);
  value.forEach((item: unknown, i) => {
    if (typeof item !== 'string') {
      throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', `${name}[${i}]`, 'string', item);
    }
    if (item.includes('\0')) {
      throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', `${name}[${i}]`, 'string without null bytes', item);
    }
  });
  return Object.freeze([...(value as string[])]);
}

function readStream(value: unknown, name: string): ProgressStream {
  if (typeof value !== 'object' || value === null || typeof (value as ProgressStream).write !== 'function') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', name, 'object with a write() method', value);
  }
  return value as ProgressStream;
}

/**
 * Checks launch()'s options and fills in the defaults.
 *
 * @example
 * resolveLaunchOptions({ nprocPerNode: 2, args: ['train'] }).masterAddr; // '127.0.0.1'
 */
export function resolveLaunchOptions(input: unknown): ResolvedLaunchOptions {
  // Validate arguments, filling in each default
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'options', 'object', input);
  }
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(OPTION_NAMES as readonly string[]).includes(key)) throw unknownKey(key, OPTION_NAMES);
  }
  const has = (name: string) => given[name] !== undefined;
  const nprocPerNode = readInteger(given.nprocPerNode, 'nprocPerNode', 1, MAX_NPROC_PER_NODE);
  const nnodes = has('nnodes') ? readInteger(given.nnodes, 'nnodes', 1, 65536) : 1;
  const nodeRank = has('nodeRank')
    ? readInteger(given.nodeRank, 'nodeRank', 0, nnodes - 1, `nodeRank must be below nnodes (${nnodes})`)
    : 0;
  let masterAddr = DEFAULT_MASTER_ADDR;
  if (has('masterAddr')) {
    const addr = given.masterAddr;
    if (typeof addr !== 'string') {
      throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'masterAddr', 'host name or IP address', addr);
    }
    if (addr === '' || /[\s\0]/.test(addr)) {
      throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', 'masterAddr', 'host name or IP address', addr);
    }
    masterAddr = addr;
  }
  let masterPort: number | undefined = nnodes > 1 ? DEFAULT_MASTER_PORT : undefined;
  if (has('masterPort')) {
    const port = readInteger(given.masterPort, 'masterPort', 0, 65535);
    // 0 picks a free port, which the other nodes could not know.
    if (port === 0 && nnodes > 1) {
      const hint = 'every node must name the same port, so 0 (pick a free one) needs nnodes 1';
      throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', 'masterPort', 'integer between 1 and 65535', port, hint);
    }
    masterPort = port === 0 ? undefined : port;
  }
  let graceSeconds = DEFAULT_GRACE_SECONDS;
  if (has('graceSeconds')) {
    const expected = `number between 0 and ${MAX_GRACE_SECONDS}`;
    const value = given.graceSeconds;
    if (typeof value !== 'number') {
      throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'graceSeconds', expected, value);
    }
    if (!(value >= 0 && value <= MAX_GRACE_SECONDS)) {
      throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', 'graceSeconds', expected, value);
    }
    graceSeconds = value;
  }
  if (has('env') && (typeof given.env !== 'object' || given.env === null || Array.isArray(given.env))) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'env', 'object', given.env);
  }
  return Object.freeze({
    nprocPerNode,
    nnodes,
    nodeRank,
    masterAddr,
    masterPort,
    args: readStrings(given.args, 'args'),
    worker: has('worker')
      ? readStrings(given.worker, 'worker')
      : Object.freeze([process.execPath, path.join(__dirname, '..', '..', 'bin', 'libtorch-resnet.js')]),
    env: has('env') ? (given.env as NodeJS.ProcessEnv) : process.env,
    stdout: has('stdout') ? readStream(given.stdout, 'stdout') : process.stdout,
    stderr: has('stderr') ? readStream(given.stderr, 'stderr') : process.stderr,
    signal: has('signal') ? readAbortSignal(given.signal, 'signal') : undefined,
    graceSeconds,
  });
}
