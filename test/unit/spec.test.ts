// SPDX-License-Identifier: MIT
// The option-spec machinery every command's checks and flags come from (lib/config/spec.ts, lib/cli/flags.ts):
// the order options are read in (which decides the error reported first), required options, checks that see the
// options read before them, and from a config error back to the flag the user typed.
import { Command } from 'commander';

import { BENCH_SPECS, DOWNLOAD_SPECS, LAUNCH_SPECS, TRAIN_SPECS, isConfigError } from '../../lib/config';
import type { ConfigError } from '../../lib/config';
import { integerSpec, readOptions, spec } from '../../lib/config/spec';
import { addFlags, flagOf, givenFlags } from '../../lib/cli/flags';

const TABLE = {
  a: integerSpec('a', 1, 9, 1, 'A.'),
  b: integerSpec('b', 1, 9, 1, 'B.'),
  // At most a: its check sees what was read before it.
  c: spec({ ...integerSpec('c', 1, 9, 1, 'C.') }, (value, earlier) => {
    const limit = (earlier.a as number | undefined) ?? 1;
    if (typeof value !== 'number' || value > limit) throw new RangeError(`c ${String(value)} above a ${limit}`);
    return value;
  }),
  d: { ...integerSpec('d', 1, 9, undefined, 'D.'), required: 'integer between 1 and 9' },
};

function errorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    return error as ConfigError;
  }
  throw new Error('expected a config error');
}

describe('readOptions', () => {
  test('reads given values with their checks; undefined counts as left out; given lists what was set', () => {
    expect(readOptions(TABLE, { a: 3, b: undefined, c: 2, d: 4 })).toEqual({ values: { a: 3, c: 2, d: 4 }, given: ['a', 'c', 'd'] });
  });

  test('an unknown key comes before any value, with a "did you mean"', () => {
    const error = errorOf(() => readOptions(TABLE, { a: 0, bb: 1, d: 1 }));
    expect(error).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', option: 'bb' });
    expect(error.message).toBe("Unknown option 'bb'; did you mean 'b'?");
  });

  test('table order decides the first error, unless `first` says otherwise', () => {
    expect(errorOf(() => readOptions(TABLE, { a: 0, b: 0, d: 1 })).option).toBe('a');
    expect(errorOf(() => readOptions(TABLE, { a: 0, b: 0, d: 1 }, { first: ['b'] })).option).toBe('b');
  });

  test('a required option left out is refused where it stands, or before every value with absentFirst', () => {
    expect(errorOf(() => readOptions(TABLE, { a: 0 })).option).toBe('a');
    const missing = errorOf(() => readOptions(TABLE, { a: 0 }, { absentFirst: true }));
    expect(missing).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', option: 'd' });
    expect(missing.message).toBe('Expected integer between 1 and 9 for d but received undefined of type undefined');
  });

  test("a check sees the options read before it: c may not exceed a, whatever a's place in the input", () => {
    expect(readOptions(TABLE, { c: 5, a: 6, d: 1 }).values.c).toBe(5);
    expect(() => readOptions(TABLE, { c: 5, a: 4, d: 1 })).toThrow('c 5 above a 4');
  });

  test('only an object is an options object; undefined only where allowed', () => {
    expect(errorOf(() => readOptions(TABLE, [1]))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', option: 'options' });
    expect(errorOf(() => readOptions(TABLE, undefined))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(() => readOptions({ a: TABLE.a }, undefined, { allowUndefined: true })).not.toThrow();
  });
});

describe('flags from specs', () => {
  test("a config error's option is the flag the user typed; nested options by alias; API-only ones name none", () => {
    const error = (option: string) => Object.assign(new RangeError('x'), { code: 'ERR_OUT_OF_RANGE', option });
    expect(flagOf(error('batchSize'), TRAIN_SPECS)).toBe('--batch-size');
    expect(flagOf(error('cudaGraph'), TRAIN_SPECS)).toBe('--cuda-graph');
    // download defaults to true, so its flag is --no-download; the option is still --download.
    expect(flagOf(error('download'), TRAIN_SPECS)).toBe('--download');
    expect(flagOf(error('onProgress'), TRAIN_SPECS)).toBeUndefined();
    expect(flagOf(error('download.url'), DOWNLOAD_SPECS, { 'download.url': '--url' })).toBe('--url');
    expect(flagOf(error('LIBTORCH_RESNET_CIFAR_URL'), DOWNLOAD_SPECS)).toBeUndefined();
    expect(isConfigError(error('x'))).toBe(true);
    expect(isConfigError(new Error('x'))).toBe(false);
  });

  test('each cli spec becomes its flags, and only flags given on the command line are read back', () => {
    const command = addFlags(new Command('bench').exitOverride(), BENCH_SPECS);
    const longs = command.options.map((o) => o.long);
    expect(longs).toEqual(expect.arrayContaining(['--peer', '--yardstick', '--no-yardstick', '--peak-tflops', '--no-download']));
    command.parse(['--steps', '4', '--peer', '--no-yardstick'], { from: 'user' });
    expect(givenFlags(BENCH_SPECS, command.opts(), command)).toEqual({ steps: 4, peer: true, yardstick: false });
  });

  test('launch: --nproc-per-node, required of the API, is optional on the command line (default 1)', () => {
    const command = addFlags(new Command('launch'), LAUNCH_SPECS);
    const flag = command.options.find((o) => o.long === '--nproc-per-node')!;
    expect(flag.mandatory).toBe(false);
    expect(flag.description).toContain('default: 1');
    expect(command.options.map((o) => o.long)).not.toContain('--args');
  });
});
