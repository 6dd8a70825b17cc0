// SPDX-License-Identifier: MIT
// The checks every option goes through, and the errors they throw: what sharp's lib/is.mjs is to its methods. Each
// command's resolver (train.ts, scoring.ts, bench.ts, launch.ts beside this file) reads its options with these.
import path from 'node:path';
import { inspect } from 'node:util';

/**
 * The error every option check throws: a TypeError or RangeError with Node's validator codes, naming the option
 * in its message and in `option`, so the CLI can name the flag without reading the message.
 */
export type ConfigError = (TypeError | RangeError) & { code: string; option?: string };

/** What a check needs to know of an option: its name and what a valid value is, plus bounds or values. */
export interface Check<N extends string = string> {
  readonly name: N;
  /** What a valid value is, as error messages say it: 'integer between 1 and 4096'. */
  readonly expected: string;
  readonly min?: number;
  readonly max?: number;
  readonly minExclusive?: boolean;
  readonly maxExclusive?: boolean;
  readonly values?: readonly string[];
}

function typeOf(value: unknown): string {
  return value === null ? 'null' : typeof value;
}

/** A value as an error message shows it: short, one line. */
export function describe(value: unknown): string {
  return inspect(value, { depth: 0, breakLength: Infinity, maxArrayLength: 4, maxStringLength: 80 });
}

/** A config error with a message of its own, for the checks whose wording is not invalidParameter's. */
export function configError(
  ErrorClass: typeof TypeError | typeof RangeError,
  code: string,
  option: string | undefined,
  message: string,
): ConfigError {
  const error = new ErrorClass(message) as ConfigError;
  error.code = code;
  if (option !== undefined) error.option = option;
  return error;
}

/**
 * The error every option check in this package throws: the message as sharp's invalidParameterError writes it,
 * the class and code as Node's validators choose them.
 *
 * @example
 * throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', 'batchSize', 'integer between 1 and 4096', 0);
 */
export function invalidParameter(
  ErrorClass: typeof TypeError | typeof RangeError,
  code: string,
  name: string,
  expected: string,
  actual: unknown,
  hint?: string,
): ConfigError {
  const message =
    `Expected ${expected} for ${name} but received ${describe(actual)} of type ${typeOf(actual)}` +
    (hint ? `; ${hint}` : '');
  return configError(ErrorClass, code, name, message);
}

/**
 * Whether `error` is one of these checks' errors (a usage error: the CLI exits 2), not a failure of the run.
 *
 * @example
 * if (isConfigError(error)) console.error(`bad option ${error.option}`);
 */
export function isConfigError(error: unknown): error is ConfigError {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    (error instanceof TypeError || error instanceof RangeError) &&
    (code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_OUT_OF_RANGE')
  );
}

/** Levenshtein distance between two strings. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The one of `names` a misspelt key most likely meant, or undefined when none is close. */
export function closestName<N extends string>(key: string, names: readonly N[]): N | undefined {
  // Compare without case and separators, so batch_size and BatchSize find batchSize.
  const normalize = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');
  const wanted = normalize(key);
  let best: N | undefined;
  let bestDistance = Infinity;
  for (const name of names) {
    const distance = editDistance(wanted, normalize(name));
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  const allowed = Math.max(1, Math.floor(Math.min(wanted.length, 12) / 3));
  return bestDistance <= allowed ? best : undefined;
}

/**
 * The error for a key that is not an option, with a "did you mean" when one of `names` is close.
 *
 * @example
 * throw unknownKey('batchsize', ['batchSize']); // TypeError: Unknown option 'batchsize'; did you mean 'batchSize'?
 */
export function unknownKey(key: string, names: readonly string[]): ConfigError {
  const suggestion = closestName(key, names);
  const message = suggestion
    ? `Unknown option '${key}'; did you mean '${suggestion}'?`
    : `Unknown option '${key}'; the options are ${names.join(', ')}`;
  return configError(TypeError, 'ERR_INVALID_ARG_VALUE', key, message);
}

/** `input` as an options object (undefined as {} where allowed), or a TypeError naming `options`. */
export function readObject(input: unknown, allowUndefined: boolean): Record<string, unknown> {
  if (input === undefined && allowUndefined) return {};
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'options', 'object', input);
  }
  return input as Record<string, unknown>;
}

export function readInteger(value: unknown, check: Check): number {
  if (typeof value !== 'number') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', check.name, check.expected, value);
  }
  if (!Number.isInteger(value) || value < check.min! || value > check.max!) {
    throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', check.name, check.expected, value);
  }
  return value;
}

export function readNumber(value: unknown, check: Check): number {
  if (typeof value !== 'number') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', check.name, check.expected, value);
  }
  const tooLow = check.minExclusive ? value <= check.min! : value < check.min!;
  const tooHigh = check.maxExclusive ? value >= check.max! : value > check.max!;
  // NaN fails every comparison, so it is caught by isFinite, not by the bounds.
  if (!Number.isFinite(value) || tooLow || tooHigh) {
    throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', check.name, check.expected, value);
  }
  return value;
}

/** A number, its range checked later (it depends on another option). */
export function readNumberType(value: unknown, check: Check): number {
  if (typeof value !== 'number') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', check.name, check.expected, value);
  }
  return value;
}

export function readBoolean(value: unknown, check: Check): boolean {
  if (typeof value !== 'boolean') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', check.name, check.expected, value);
  }
  return value;
}

export function readEnum<T extends string>(value: unknown, check: Check): T {
  if (typeof value !== 'string') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', check.name, check.expected, value);
  }
  if (!check.values!.includes(value)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', check.name, check.expected, value);
  }
  return value as T;
}

/** A string matching `pattern`: another string is a wrong value, anything else a wrong type. */
export function readPattern<T extends string>(value: unknown, check: Check, pattern: RegExp): T {
  if (typeof value !== 'string') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', check.name, check.expected, value);
  }
  if (!pattern.test(value)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', check.name, check.expected, value);
  }
  return value as T;
}

/** A file or folder path, made absolute. */
export function readPath(value: unknown, name: string): string {
  if (typeof value !== 'string') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', name, 'non-empty string', value);
  }
  if (value === '' || value.includes('\0')) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', name, 'non-empty string without null bytes', value);
  }
  return path.resolve(value);
}

// A command name (python3) or a path, checked as a path is but kept as given: resolving would break a bare name.
export function readCommand(value: unknown, name: string): string {
  readPath(value, name);
  return value as string;
}

/**
 * `value` as an AbortSignal, or a TypeError naming `name`. Duck-typed, as Node's validateAbortSignal does, so a
 * signal from another realm (a jest sandbox) still works.
 *
 * @example
 * const signal = readAbortSignal(options.signal, 'signal');
 */
export function readAbortSignal(value: unknown, name: string): AbortSignal {
  const candidate = value as Partial<AbortSignal> | null;
  if (
    typeof value !== 'object' ||
    candidate === null ||
    typeof candidate.aborted !== 'boolean' ||
    typeof candidate.addEventListener !== 'function' ||
    typeof candidate.removeEventListener !== 'function'
  ) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', name, 'AbortSignal', value);
  }
  return value as AbortSignal;
}

export function readFunction<F>(value: unknown, check: Check): F {
  if (typeof value !== 'function') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', check.name, check.expected, value);
  }
  return value as F;
}

/** A plain object (not null, not an array), or a TypeError naming the option. */
export function readPlainObject(value: unknown, check: Check): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', check.name, check.expected, value);
  }
  return value as Record<string, unknown>;
}
