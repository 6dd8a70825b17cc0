// SPDX-License-Identifier: MIT
// launch()'s options: one node's share of a data-parallel job, as torchrun takes them, checked with train()'s
// checks and messages.
import path from 'node:path';

import type { ProgressStream } from '../progress';

import { invalidParameter, readAbortSignal, readInteger, readPlainObject } from './checks';
import { integerSpec, numberSpec, readOptions, spec } from './spec';
import type { OptionSpec } from './spec';

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

function readHost(value: unknown): string {
  if (typeof value !== 'string') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'masterAddr', 'host name or IP address', value);
  }
  if (value === '' || /[\s\0]/.test(value)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', 'masterAddr', 'host name or IP address', value);
  }
  return value;
}

/** An option of the API alone (no flag): a program, streams, a signal. */
function apiOnly<N extends string, T>(name: N, type: OptionSpec<N>['type'], expected: string, description: string, read: (value: unknown) => T) {
  return spec({ name, type, default: undefined, defaultText: 'none', range: '', expected, description, cli: false }, read);
}

function readNodeRank(value: unknown, nnodes: number): number {
  const expected = `integer between 0 and ${nnodes - 1}`;
  if (typeof value !== 'number') throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'nodeRank', expected, value);
  if (!Number.isInteger(value) || value < 0 || value > nnodes - 1) {
    const hint = `nodeRank must be below nnodes (${nnodes})`;
    throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', 'nodeRank', expected, value, hint);
  }
  return value;
}

function readMasterPort(value: unknown, nnodes: number): number {
  const port = readInteger(value, { name: 'masterPort', expected: 'integer between 0 and 65535', min: 0, max: 65535 });
  // 0 picks a free port, which the other nodes could not know.
  if (port === 0 && nnodes > 1) {
    const hint = 'every node must name the same port, so 0 (pick a free one) needs nnodes 1';
    throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', 'masterPort', 'integer between 1 and 65535', port, hint);
  }
  return port;
}

const nnodesOf = (earlier: Readonly<Record<string, unknown>>) => (earlier.nnodes as number | undefined) ?? 1;

/** launch()'s options, each with its check; those with `cli` are `libtorch-resnet launch`'s flags. */
export const LAUNCH_SPECS = Object.freeze({
  // Required of the API; the CLI gives 1 when --nproc-per-node is left out.
  nprocPerNode: {
    ...integerSpec('nprocPerNode', 1, MAX_NPROC_PER_NODE, 1, 'Workers on this node.'),
    required: `integer between 1 and ${MAX_NPROC_PER_NODE}`,
  },
  nnodes: integerSpec('nnodes', 1, 65536, 1, 'Nodes in the job.'),
  // Its bound is nnodes, read before it.
  nodeRank: spec(
    { ...integerSpec('nodeRank', 0, 65535, 0, "This node's index, below --nnodes."), range: '0 to nnodes - 1' },
    (value, earlier) => readNodeRank(value, nnodesOf(earlier)),
  ),
  masterAddr: spec(
    {
      name: 'masterAddr',
      type: 'string',
      default: DEFAULT_MASTER_ADDR,
      defaultText: `'${DEFAULT_MASTER_ADDR}'`,
      range: '',
      expected: 'host name or IP address',
      description: 'Where rank 0 listens for the other ranks.',
      cli: true,
      flag: '--master-addr <host>',
    },
    readHost,
  ),
  masterPort: spec(
    {
      ...integerSpec('masterPort', 0, 65535, undefined, 'Its port; 0 picks a free one (one node only).'),
      defaultText: `a free port with one node, else ${DEFAULT_MASTER_PORT}`,
      flag: '--master-port <port>',
    },
    (value, earlier) => readMasterPort(value, nnodesOf(earlier)),
  ),
  args: {
    ...apiOnly('args', 'object', 'non-empty array of strings', "The worker's arguments: ['train', '--epochs', '1'].", (v) =>
      readStrings(v, 'args'),
    ),
    required: 'non-empty array of strings',
  },
  worker: apiOnly('worker', 'object', 'non-empty array of strings', 'The program run with args.', (v) => readStrings(v, 'worker')),
  env: apiOnly('env', 'object', 'object', "The workers' environment, before the launcher adds its variables.", (v) =>
    readPlainObject(v, { name: 'env', expected: 'object' }) as NodeJS.ProcessEnv,
  ),
  stdout: apiOnly('stdout', 'object', 'object with a write() method', "Receives rank 0's stdout.", (v) => readStream(v, 'stdout')),
  stderr: apiOnly('stderr', 'object', 'object with a write() method', 'Receives every other line.', (v) => readStream(v, 'stderr')),
  signal: apiOnly('signal', 'AbortSignal', 'AbortSignal', 'Aborting it interrupts the job.', (v) => readAbortSignal(v, 'signal')),
  graceSeconds: {
    ...numberSpec(
      'graceSeconds',
      { min: 0, max: MAX_GRACE_SECONDS },
      DEFAULT_GRACE_SECONDS,
      'After a failure, seconds the other workers get between SIGTERM and SIGKILL.',
    ),
    cli: false,
  },
});

/**
 * Checks launch()'s options and fills in the defaults.
 *
 * @example
 * resolveLaunchOptions({ nprocPerNode: 2, args: ['train'] }).masterAddr; // '127.0.0.1'
 */
export function resolveLaunchOptions(input: unknown): ResolvedLaunchOptions {
  // The job's shape first, then the grace period and environment, then the programs and streams.
  const first = ['nprocPerNode', 'nnodes', 'nodeRank', 'masterAddr', 'masterPort', 'graceSeconds', 'env'] as const;
  const { values } = readOptions(LAUNCH_SPECS, input, { first });
  const nnodes = values.nnodes ?? 1;
  const nodeRank = values.nodeRank ?? 0;
  const masterPort = values.masterPort === undefined ? (nnodes > 1 ? DEFAULT_MASTER_PORT : undefined) : values.masterPort;
  return Object.freeze({
    nprocPerNode: values.nprocPerNode!,
    nnodes,
    nodeRank,
    masterAddr: values.masterAddr ?? DEFAULT_MASTER_ADDR,
    masterPort: masterPort === 0 ? undefined : masterPort,
    args: values.args!,
    worker: values.worker ?? Object.freeze([process.execPath, path.join(__dirname, '..', '..', 'bin', 'libtorch-resnet.js')]),
    env: values.env ?? process.env,
    stdout: values.stdout ?? process.stdout,
    stderr: values.stderr ?? process.stderr,
    signal: values.signal,
    graceSeconds: values.graceSeconds ?? DEFAULT_GRACE_SECONDS,
  });
}
