// SPDX-License-Identifier: MIT
// Every option of train(), evaluate() and predict(), given a wrong type, NaN, an out-of-range value or an
// unknown key: a TypeError or RangeError naming the option, before any native work (the fake addon is never asked).
import { OPTION_SPECS } from '../../lib/config';
import type { OptionSpec } from '../../lib/config';
import { createApi } from '../../lib/api';
import { FakeBinding } from './fake-binding';

/** A value of the wrong type for each kind of option. */
function wrongType(spec: OptionSpec): unknown {
  switch (spec.type) {
    case 'integer':
    case 'number':
      return '5';
    case 'boolean':
      return 42; // download takes true, false or { url, md5 }
    case 'AbortSignal':
      return 'stop';
    case 'function':
      return 'log';
    default:
      return 7; // string and enum options
  }
}

async function rejection(run: () => Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await run();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('train(): every option', () => {
  test.each(OPTION_SPECS.map((spec) => [spec.name, spec] as const))('%s of the wrong type', async (name, spec) => {
    const binding = new FakeBinding();
    const error = await rejection(() => createApi(binding).train({ [name]: wrongType(spec) }));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(error.message).toContain(` for ${name}`);
    expect(binding.started).toHaveLength(0);
  });

  test.each(OPTION_SPECS.filter((s) => s.type === 'integer' || s.type === 'number').map((s) => [s.name] as const))(
    '%s: NaN and out-of-range values are RangeErrors saying what is allowed',
    async (name) => {
      const spec = OPTION_SPECS.find((s) => s.name === name)!;
      for (const value of [Number.NaN, spec.min! - 1, Number.POSITIVE_INFINITY]) {
        const binding = new FakeBinding();
        const error = await rejection(() => createApi(binding).train({ [name]: value }));
        expect(error).toBeInstanceOf(RangeError);
        expect(error.code).toBe('ERR_OUT_OF_RANGE');
        expect(error.message).toMatch(new RegExp(`^Expected .+ for ${name} but received`));
        expect(binding.started).toHaveLength(0);
      }
    },
  );

  test.each(OPTION_SPECS.filter((s) => s.type === 'enum').map((s) => [s.name] as const))(
    '%s: a value outside the enumeration lists the allowed ones',
    async (name) => {
      const spec = OPTION_SPECS.find((s) => s.name === name)!;
      const error = await rejection(() => createApi(new FakeBinding()).train({ [name]: 'bogus' }));
      expect(error).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
      for (const allowed of spec.values!) expect(error.message).toContain(`'${allowed}'`);
    },
  );

  test('a near-miss key suggests the option meant', async () => {
    const error = await rejection(() => createApi(new FakeBinding()).train({ learningRate: 0.1, precison: 'bf16' } as never));
    expect(error.message).toMatch(/^Unknown option '(learningRate|precison)'/);
    const typo = await rejection(() => createApi(new FakeBinding()).train({ precison: 'bf16' } as never));
    expect(typo.message).toBe("Unknown option 'precison'; did you mean 'precision'?");
  });
});

describe('evaluate() and predict(): every option', () => {
  const evalCases: [string, unknown, ErrorConstructor | RangeErrorConstructor][] = [
    ['checkpoint', 3, TypeError],
    ['dataDir', 3, TypeError],
    ['download', 'yes', TypeError],
    ['limitTest', 0, RangeError],
    ['batchSize', Number.NaN, RangeError],
    ['device', 'gpu', TypeError],
    ['threads', -1, RangeError],
    ['signal', {}, TypeError],
    ['onProgress', 1, TypeError],
  ];
  test.each(evalCases)('evaluate %s = %p', async (name, value, kind) => {
    const binding = new FakeBinding();
    const error = await rejection(() => createApi(binding).evaluate({ checkpoint: 'last.pt', [name]: value } as never));
    expect(error).toBeInstanceOf(kind);
    expect(error.message).toContain(name);
    expect(binding.evaluations).toHaveLength(0);
  });

  const predictCases: [string, unknown, ErrorConstructor | RangeErrorConstructor][] = [
    ['checkpoint', null, TypeError],
    ['images', 'cat.png', TypeError],
    ['top', 11, RangeError],
    ['device', 'tpu', TypeError],
    ['threads', 1.5, RangeError],
  ];
  test.each(predictCases)('predict %s = %p', async (name, value, kind) => {
    const binding = new FakeBinding();
    const error = await rejection(() =>
      createApi(binding).predict({ checkpoint: 'last.pt', images: ['cat.png'], [name]: value } as never),
    );
    expect(error).toBeInstanceOf(kind);
    expect(error.message).toContain(name);
    expect(binding.predictions).toHaveLength(0);
  });

  test('unknown keys are named, with a suggestion when close', async () => {
    await expect(createApi(new FakeBinding()).evaluate({ checkpoint: 'a.pt', batchsize: 8 } as never)).rejects.toThrow(
      "Unknown option 'batchsize'; did you mean 'batchSize'?",
    );
    await expect(createApi(new FakeBinding()).predict({ checkpoint: 'a.pt', images: [], topk: 2 } as never)).rejects.toThrow(
      /^Unknown option 'topk'/,
    );
  });
});
