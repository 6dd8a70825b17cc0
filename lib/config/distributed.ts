// SPDX-License-Identifier: MIT
// The distributed option: one process's place in a data-parallel run, from the option, else torchrun's
// environment variables (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), else the defaults.
import { closestName, configError, invalidParameter } from './checks';
import type { Backend, DistributedConfig, ResolvedDistributed } from './types';

const BACKENDS = ['auto', 'gloo', 'nccl'] as const satisfies readonly Backend[];
const DISTRIBUTED_KEYS = [
  'worldSize',
  'rank',
  'localRank',
  'masterAddr',
  'masterPort',
  'backend',
  'timeoutSeconds',
  'checkReplicas',
] as const satisfies readonly (keyof DistributedConfig)[];
/** What the distributed option may be, as its errors and the options table say it. */
export const DISTRIBUTED_EXPECTED = `boolean or object { ${DISTRIBUTED_KEYS.join(', ')} }`;

/** The distributed option's type alone (the fields are resolveDistributed's): a boolean or a plain object. */
export function readDistributedType(value: unknown): boolean | Record<string, unknown> {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'distributed', DISTRIBUTED_EXPECTED, value);
  }
  return value as Record<string, unknown>;
}
const DISTRIBUTED_ENV = {
  worldSize: 'WORLD_SIZE',
  rank: 'RANK',
  localRank: 'LOCAL_RANK',
  masterAddr: 'MASTER_ADDR',
  masterPort: 'MASTER_PORT',
} as const;

/**
 * The distributed part of a train() config: `value` as given (undefined, a boolean or a {@link DistributedConfig}),
 * torchrun's environment variables filling what it leaves out. undefined: one process.
 *
 * @example
 * resolveDistributed(undefined, { WORLD_SIZE: '2', RANK: '1', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500' });
 * // { worldSize: 2, rank: 1, localRank: 1, masterAddr: '127.0.0.1', masterPort: 29500, backend: 'auto', ... }
 */
export function resolveDistributed(value: unknown, env: NodeJS.ProcessEnv = process.env): ResolvedDistributed | undefined {
  if (value === false) return undefined;
  if (value === undefined && env.WORLD_SIZE === undefined) return undefined;
  if (value !== undefined) readDistributedType(value);
  const given = (typeof value === 'object' ? value : {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(DISTRIBUTED_KEYS as readonly string[]).includes(key)) {
      const guess = closestName(key, DISTRIBUTED_KEYS);
      const message =
        `Unknown option distributed.${key}${guess ? `; did you mean distributed.${guess}?` : ''} ` +
        `(known: ${DISTRIBUTED_KEYS.join(', ')})`;
      throw configError(TypeError, 'ERR_INVALID_ARG_VALUE', `distributed.${key}`, message);
    }
  }
  // A field: as given, else its torchrun variable (a string to parse), else the default.
  const field = (key: keyof DistributedConfig): { value: unknown; name: string } => {
    if (given[key] !== undefined) return { value: given[key], name: `distributed.${key}` };
    const variable = DISTRIBUTED_ENV[key as keyof typeof DISTRIBUTED_ENV];
    const text = variable === undefined ? undefined : env[variable];
    if (text === undefined) return { value: undefined, name: `distributed.${key}` };
    const parsed = key === 'masterAddr' ? text : /^\s*-?\d+\s*$/.test(text) ? Number(text) : text;
    return { value: parsed, name: `${variable} (environment)` };
  };
  const integer = (key: keyof DistributedConfig, min: number, max: number, fallback?: number): number => {
    const { value: v, name } = field(key);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw invalidParameter(
        TypeError,
        'ERR_INVALID_ARG_TYPE',
        `distributed.${key}`,
        `integer (or the ${DISTRIBUTED_ENV[key as keyof typeof DISTRIBUTED_ENV] ?? key} variable)`,
        v,
        'set it, or start the processes with `libtorch-resnet launch`',
      );
    }
    if (typeof v !== 'number') throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', name, 'integer', v);
    if (!Number.isInteger(v) || v < min || v > max) {
      throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', name, `integer between ${min} and ${max}`, v);
    }
    return v;
  };
  const worldSize = integer('worldSize', 1, 65536);
  const rank = integer('rank', 0, worldSize - 1);
  const localRank = integer('localRank', 0, 65535, rank);
  const masterPort = integer('masterPort', 1, 65535, 29500);
  const addr = field('masterAddr');
  if (addr.value !== undefined && (typeof addr.value !== 'string' || addr.value.trim() === '')) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', addr.name, 'non-empty string (a host name or address)', addr.value);
  }
  const backendValue = given.backend ?? 'auto';
  if (typeof backendValue !== 'string' || !(BACKENDS as readonly string[]).includes(backendValue)) {
    throw invalidParameter(
      TypeError,
      typeof backendValue === 'string' ? 'ERR_INVALID_ARG_VALUE' : 'ERR_INVALID_ARG_TYPE',
      'distributed.backend',
      "one of 'auto', 'gloo', 'nccl'",
      backendValue,
    );
  }
  const timeout = given.timeoutSeconds ?? 300;
  if (typeof timeout !== 'number') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'distributed.timeoutSeconds', 'number', timeout);
  }
  if (!Number.isFinite(timeout) || timeout < 1 || timeout > 86400) {
    throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', 'distributed.timeoutSeconds', 'number between 1 and 86400', timeout);
  }
  const checkReplicas = given.checkReplicas ?? false;
  if (typeof checkReplicas !== 'boolean') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'distributed.checkReplicas', 'boolean', checkReplicas);
  }
  return Object.freeze({
    worldSize,
    rank,
    localRank,
    masterAddr: (addr.value as string | undefined) ?? '127.0.0.1',
    masterPort,
    backend: backendValue as Backend,
    timeoutSeconds: timeout,
    checkReplicas,
  });
}

