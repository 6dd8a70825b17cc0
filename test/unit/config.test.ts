// SPDX-License-Identifier: MIT
// resolveConfig: every rejection with its exact message, class and code; defaults; the option table.
import os from 'node:os';
import path from 'node:path';

import {
  OPTION_SPECS,
  PRESET_RECIPES,
  defaultDataDir,
  nativeCudaGraph,
  editDistance,
  resolveConfig,
  suggestOption,
  toNativeOptions,
} from '../../lib/config';

type Case = [label: string, input: unknown, errorClass: typeof TypeError | typeof RangeError, code: string, message: string];

const T = TypeError;
const R = RangeError;
const TYPE = 'ERR_INVALID_ARG_TYPE';
const RANGE = 'ERR_OUT_OF_RANGE';
const VALUE = 'ERR_INVALID_ARG_VALUE';

const cases: Case[] = [
  ['options not an object', 5, T, TYPE, 'Expected object for options but received 5 of type number'],
  ['options null', null, T, TYPE, 'Expected object for options but received null of type null'],
  ['options an array', [], T, TYPE, 'Expected object for options but received [] of type object'],
  ['epochs 0', { epochs: 0 }, R, RANGE, 'Expected integer between 1 and 10000 for epochs but received 0 of type number'],
  ['epochs 10001', { epochs: 10001 }, R, RANGE, 'Expected integer between 1 and 10000 for epochs but received 10001 of type number'],
  ['epochs 1.5', { epochs: 1.5 }, R, RANGE, 'Expected integer between 1 and 10000 for epochs but received 1.5 of type number'],
  ['epochs NaN', { epochs: NaN }, R, RANGE, 'Expected integer between 1 and 10000 for epochs but received NaN of type number'],
  ['epochs string', { epochs: '20' }, T, TYPE, "Expected integer between 1 and 10000 for epochs but received '20' of type string"],
  ['epochs null', { epochs: null }, T, TYPE, 'Expected integer between 1 and 10000 for epochs but received null of type null'],
  ['lr 0', { lr: 0 }, R, RANGE, 'Expected number greater than 0 and at most 10 for lr but received 0 of type number'],
  ['lr negative', { lr: -0.1 }, R, RANGE, 'Expected number greater than 0 and at most 10 for lr but received -0.1 of type number'],
  ['lr 10.5', { lr: 10.5 }, R, RANGE, 'Expected number greater than 0 and at most 10 for lr but received 10.5 of type number'],
  ['lr NaN', { lr: NaN }, R, RANGE, 'Expected number greater than 0 and at most 10 for lr but received NaN of type number'],
  ['lr Infinity', { lr: Infinity }, R, RANGE, 'Expected number greater than 0 and at most 10 for lr but received Infinity of type number'],
  ['lr bigint', { lr: 1n }, T, TYPE, 'Expected number greater than 0 and at most 10 for lr but received 1n of type bigint'],
  ['batchSize 0', { batchSize: 0 }, R, RANGE, 'Expected integer between 1 and 4096 for batchSize but received 0 of type number'],
  ['batchSize 4097', { batchSize: 4097 }, R, RANGE, 'Expected integer between 1 and 4096 for batchSize but received 4097 of type number'],
  ['batchSize true', { batchSize: true }, T, TYPE, 'Expected integer between 1 and 4096 for batchSize but received true of type boolean'],
  ['momentum 1', { momentum: 1 }, R, RANGE, 'Expected number at least 0 and less than 1 for momentum but received 1 of type number'],
  ['momentum -0.1', { momentum: -0.1 }, R, RANGE, 'Expected number at least 0 and less than 1 for momentum but received -0.1 of type number'],
  ['weightDecay 1.1', { weightDecay: 1.1 }, R, RANGE, 'Expected number between 0 and 1 for weightDecay but received 1.1 of type number'],
  ['weightDecay NaN', { weightDecay: NaN }, R, RANGE, 'Expected number between 0 and 1 for weightDecay but received NaN of type number'],
  ['validSplit 0.95', { validSplit: 0.95 }, R, RANGE, 'Expected number between 0 and 0.9 for validSplit but received 0.95 of type number'],
  ['validSplit -1', { validSplit: -1 }, R, RANGE, 'Expected number between 0 and 0.9 for validSplit but received -1 of type number'],
  ['seed -1', { seed: -1 }, R, RANGE, 'Expected integer between 0 and 4294967295 for seed but received -1 of type number'],
  ['seed 2^32', { seed: 2 ** 32 }, R, RANGE, 'Expected integer between 0 and 4294967295 for seed but received 4294967296 of type number'],
  ['preset unknown', { preset: 'resnet' }, T, VALUE, "Expected one of 'article', 'cifar' or 'torchvision' for preset but received 'resnet' of type string"],
  ['preset number', { preset: 1 }, T, TYPE, "Expected one of 'article', 'cifar' or 'torchvision' for preset but received 1 of type number"],
  [
    'imageSize 32 with the article preset',
    { imageSize: 32 },
    R,
    RANGE,
    "Expected integer between 193 and 224 (preset 'article') for imageSize but received 32 of type number; the " +
      "article's network ends in AvgPool2d(7) + Linear(512), which needs a 7x7 final feature map; use preset " +
      "'cifar' for smaller images",
  ],
  [
    'imageSize 225 with the article preset',
    { preset: 'article', imageSize: 225 },
    R,
    RANGE,
    "Expected integer between 193 and 224 (preset 'article') for imageSize but received 225 of type number; the " +
      "article's network ends in AvgPool2d(7) + Linear(512), which needs a 7x7 final feature map; use preset " +
      "'cifar' for smaller images",
  ],
  [
    'imageSize 4 with the cifar preset',
    { preset: 'cifar', imageSize: 4 },
    R,
    RANGE,
    "Expected integer between 8 and 512 (preset 'cifar') for imageSize but received 4 of type number",
  ],
  [
    'imageSize 600',
    { preset: 'cifar', imageSize: 600 },
    R,
    RANGE,
    "Expected integer between 8 and 512 (preset 'cifar') for imageSize but received 600 of type number",
  ],
  [
    'imageSize 200.5 with the cifar preset',
    { preset: 'cifar', imageSize: 200.5 },
    R,
    RANGE,
    "Expected integer between 8 and 512 (preset 'cifar') for imageSize but received 200.5 of type number",
  ],
  [
    'imageSize NaN with the cifar preset',
    { preset: 'cifar', imageSize: NaN },
    R,
    RANGE,
    "Expected integer between 8 and 512 (preset 'cifar') for imageSize but received NaN of type number",
  ],
  [
    'imageSize string',
    { imageSize: '224' },
    T,
    TYPE,
    "Expected integer between 193 and 224 (preset 'article') or 8 and 512 (preset 'cifar') or 32 and 512 (preset 'torchvision') for imageSize but received '224' of type string",
  ],
  ['device gpu', { device: 'gpu' }, T, VALUE, "Expected one of 'auto', 'cpu', 'cuda' or 'cuda:N' (N a device index) for device but received 'gpu' of type string"],
  ['device cuda:x', { device: 'cuda:x' }, T, VALUE, "Expected one of 'auto', 'cpu', 'cuda' or 'cuda:N' (N a device index) for device but received 'cuda:x' of type string"],
  ['device cuda:-1', { device: 'cuda:-1' }, T, VALUE, "Expected one of 'auto', 'cpu', 'cuda' or 'cuda:N' (N a device index) for device but received 'cuda:-1' of type string"],
  ['device CPU', { device: 'CPU' }, T, VALUE, "Expected one of 'auto', 'cpu', 'cuda' or 'cuda:N' (N a device index) for device but received 'CPU' of type string"],
  ['device number', { device: 0 }, T, TYPE, "Expected one of 'auto', 'cpu', 'cuda' or 'cuda:N' (N a device index) for device but received 0 of type number"],
  ['threads -1', { threads: -1 }, R, RANGE, 'Expected integer between 0 and 1024 for threads but received -1 of type number'],
  ['threads 1025', { threads: 1025 }, R, RANGE, 'Expected integer between 0 and 1024 for threads but received 1025 of type number'],
  ['dataDir number', { dataDir: 5 }, T, TYPE, 'Expected non-empty string for dataDir but received 5 of type number'],
  ['dataDir empty', { dataDir: '' }, T, VALUE, "Expected non-empty string without null bytes for dataDir but received '' of type string"],
  ['dataDir null byte', { dataDir: 'a\0b' }, T, VALUE, "Expected non-empty string without null bytes for dataDir but received 'a\\x00b' of type string"],
  ['download string', { download: 'no' }, T, TYPE, "Expected boolean or object { url?: string, md5?: string } for download but received 'no' of type string"],
  ['download 0', { download: 0 }, T, TYPE, 'Expected boolean or object { url?: string, md5?: string } for download but received 0 of type number'],
  ['download null', { download: null }, T, TYPE, 'Expected boolean or object { url?: string, md5?: string } for download but received null of type null'],
  ['download array', { download: [] }, T, TYPE, 'Expected boolean or object { url?: string, md5?: string } for download but received [] of type object'],
  ['download unknown key', { download: { sha: 'x' } }, T, VALUE, "Unknown option 'download.sha'; download takes url and md5"],
  ['download.url number', { download: { url: 5 } }, T, TYPE, 'Expected http:, https: or file: URL, or a file path for download.url but received 5 of type number'],
  ['download.url empty', { download: { url: '' } }, T, VALUE, "Expected http:, https: or file: URL, or a file path for download.url but received '' of type string"],
  ['download.url ftp', { download: { url: 'ftp://x/a.tgz' } }, T, VALUE, "Expected http:, https: or file: URL, or a file path for download.url but received 'ftp://x/a.tgz' of type string"],
  ['download.url bad http', { download: { url: 'http://' } }, T, VALUE, "Expected http:, https: or file: URL, or a file path for download.url but received 'http://' of type string"],
  ['download.md5 short', { download: { md5: 'abc' } }, T, VALUE, "Expected md5 checksum of 32 hexadecimal digits for download.md5 but received 'abc' of type string"],
  ['download.md5 number', { download: { md5: 1 } }, T, TYPE, 'Expected md5 checksum of 32 hexadecimal digits for download.md5 but received 1 of type number'],
  ['limitTrain 0', { limitTrain: 0 }, R, RANGE, 'Expected integer of at least 1 for limitTrain but received 0 of type number'],
  ['limitTrain 2.5', { limitTrain: 2.5 }, R, RANGE, 'Expected integer of at least 1 for limitTrain but received 2.5 of type number'],
  ['limitTest -5', { limitTest: -5 }, R, RANGE, 'Expected integer of at least 1 for limitTest but received -5 of type number'],
  ['limitTest string', { limitTest: 'all' }, T, TYPE, "Expected integer of at least 1 for limitTest but received 'all' of type string"],
  ['logEvery 0', { logEvery: 0 }, R, RANGE, 'Expected integer between 1 and 100000 for logEvery but received 0 of type number'],
  ['logEvery 100001', { logEvery: 100001 }, R, RANGE, 'Expected integer between 1 and 100000 for logEvery but received 100001 of type number'],
  ['cudaGraph string', { cudaGraph: 'on' }, T, VALUE, "Expected 'auto', true or false for cudaGraph but received 'on' of type string"],
  ['cudaGraph number', { cudaGraph: 1 }, T, TYPE, "Expected 'auto', true or false for cudaGraph but received 1 of type number"],
  ['cudaGraph null', { cudaGraph: null }, T, TYPE, "Expected 'auto', true or false for cudaGraph but received null of type null"],
  [
    'cudaGraph true in a distributed run',
    { cudaGraph: true, distributed: { worldSize: 2, rank: 0 } },
    R,
    VALUE,
    "Expected 'auto' or false in a distributed run for cudaGraph but received true of type boolean; distributed runs " +
      "stay eager (only single-process training captures its step); use 'auto' or false",
  ],
  ['signal plain object', { signal: {} }, T, TYPE, 'Expected AbortSignal for signal but received {} of type object'],
  ['signal true', { signal: true }, T, TYPE, 'Expected AbortSignal for signal but received true of type boolean'],
  ['onProgress string', { onProgress: 'log' }, T, TYPE, "Expected function for onProgress but received 'log' of type string"],
  ['unknown key, near miss', { epoch: 3 }, T, VALUE, "Unknown option 'epoch'; did you mean 'epochs'?"],
  ['unknown key, snake case', { batch_size: 3 }, T, VALUE, "Unknown option 'batch_size'; did you mean 'batchSize'?"],
  ['unknown key, case', { learningrate: 3 }, T, VALUE, expect.stringContaining("Unknown option 'learningrate'") as unknown as string],
  ['unknown key, typo', { wieghtDecay: 0.1 }, T, VALUE, "Unknown option 'wieghtDecay'; did you mean 'weightDecay'?"],
  ['unknown key, kebab case', { 'limit-train': 10 }, T, VALUE, "Unknown option 'limit-train'; did you mean 'limitTrain'?"],
  [
    'unknown key, far from all',
    { colour: 'red' },
    T,
    VALUE,
    "Unknown option 'colour'; the options are epochs, lr, batchSize, momentum, weightDecay, decayNormAndBias, nesterov, scheduler, warmupEpochs, labelSmoothing, augment, flipTta, validSplit, seed, " +
      'preset, imageSize, device, threads, precision, memoryFormat, cudaGraph, dataDir, download, images, skipBadImages, limitTrain, limitTest, logEvery, runDir, resume, ' +
      'init, freeze, distributed, signal, onProgress',
  ],
];

describe('resolveConfig rejections', () => {
  test.each(cases)('%s', (_label, input, errorClass, code, message) => {
    let caught: unknown;
    try {
      resolveConfig(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(errorClass);
    // TypeError and RangeError are siblings: make sure it is not the other one.
    expect((caught as Error).constructor).toBe(errorClass);
    expect(caught).toMatchObject({ code, message });
  });

  test('the first invalid option in table order is reported, whatever the key order', () => {
    expect(() => resolveConfig({ lr: 0, epochs: 0 })).toThrow(/for epochs/);
  });
});

describe('resolveConfig defaults', () => {
  const savedEnv = { ...process.env };
  afterEach(() => {
    process.env = { ...savedEnv };
  });

  test('fills in the article defaults', () => {
    delete process.env.LIBTORCH_RESNET_DATA;
    process.env.XDG_CACHE_HOME = '/var/cache/xdg';
    expect(resolveConfig({})).toEqual({
      epochs: 20,
      lr: 0.01,
      batchSize: 64,
      momentum: 0.9,
      weightDecay: 0.001,
      decayNormAndBias: true,
      nesterov: false,
      scheduler: 'constant',
      warmupEpochs: 0,
      labelSmoothing: 0,
      augment: 'none',
      flipTta: false,
      validSplit: 0.1,
      seed: 42,
      preset: 'article',
      imageSize: 224,
      device: 'auto',
      threads: 0,
      precision: 'fp32',
      memoryFormat: 'auto',
      cudaGraph: 'auto',
      dataDir: '/var/cache/xdg/libtorch-resnet',
      download: {
        url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
        md5: 'c32a1d4ab5d03f1284b67883e8d87530',
      },
      images: undefined,
      skipBadImages: false,
      limitTrain: undefined,
      limitTest: undefined,
      logEvery: 10,
      runDir: undefined,
      resume: undefined,
      init: undefined,
      freeze: 'none',
      signal: undefined,
      onProgress: undefined,
      given: [],
    });
  });

  test('undefined input and undefined values take the defaults', () => {
    expect(resolveConfig(undefined).epochs).toBe(20);
    expect(resolveConfig({ epochs: undefined, preset: undefined }).imageSize).toBe(224);
  });

  test("preset 'cifar' defaults to 32 px images", () => {
    expect(resolveConfig({ preset: 'cifar' }).imageSize).toBe(32);
  });

  test('keeps valid values, bounds included', () => {
    const onProgress = () => undefined;
    const signal = new AbortController().signal;
    const config = resolveConfig({
      epochs: 10000,
      lr: 10,
      batchSize: 1,
      momentum: 0,
      weightDecay: 1,
      validSplit: 0,
      seed: 2 ** 32 - 1,
      preset: 'article',
      imageSize: 193,
      device: 'cuda:1',
      threads: 1024,
      dataDir: 'relative/data',
      download: false,
      limitTrain: 512,
      limitTest: 1,
      logEvery: 100000,
      signal,
      onProgress,
    });
    expect(config).toMatchObject({
      epochs: 10000,
      lr: 10,
      batchSize: 1,
      momentum: 0,
      weightDecay: 1,
      validSplit: 0,
      seed: 4294967295,
      imageSize: 193,
      device: 'cuda:1',
      threads: 1024,
      dataDir: path.resolve('relative/data'),
      download: false,
      limitTrain: 512,
      limitTest: 1,
      logEvery: 100000,
    });
    expect(config.signal).toBe(signal);
    expect(config.onProgress).toBe(onProgress);
  });

  test.each([
    ['article', 193],
    ['article', 224],
    ['cifar', 8],
    ['cifar', 512],
  ] as const)('preset %s accepts imageSize %d', (preset, imageSize) => {
    expect(resolveConfig({ preset, imageSize })).toMatchObject({ preset, imageSize });
  });

  test.each(['auto', 'cpu', 'cuda', 'cuda:0', 'cuda:15'])('device %s is accepted', (device) => {
    expect(resolveConfig({ device }).device).toBe(device);
  });

  test('returns a frozen object', () => {
    const config = resolveConfig({ epochs: 3 });
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { epochs: number }).epochs = 5;
    }).toThrow(TypeError);
    expect(config.epochs).toBe(3);
  });

  test('does not modify its input', () => {
    const input = { epochs: 3 };
    resolveConfig(input);
    expect(input).toEqual({ epochs: 3 });
    expect(Object.isFrozen(input)).toBe(false);
  });
});

describe('defaultDataDir', () => {
  test('LIBTORCH_RESNET_DATA wins', () => {
    expect(defaultDataDir({ LIBTORCH_RESNET_DATA: '/data/cifar', XDG_CACHE_HOME: '/x' })).toBe('/data/cifar');
  });
  test('then an absolute XDG_CACHE_HOME', () => {
    expect(defaultDataDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/libtorch-resnet');
  });
  test('a relative XDG_CACHE_HOME is ignored, as the XDG spec says', () => {
    expect(defaultDataDir({ XDG_CACHE_HOME: 'cache' })).toBe(path.join(os.homedir(), '.cache', 'libtorch-resnet'));
  });
  test('resolveConfig reads the environment', () => {
    const saved = process.env.LIBTORCH_RESNET_DATA;
    process.env.LIBTORCH_RESNET_DATA = '/from/env';
    try {
      expect(resolveConfig({}).dataDir).toBe('/from/env');
    } finally {
      if (saved === undefined) delete process.env.LIBTORCH_RESNET_DATA;
      else process.env.LIBTORCH_RESNET_DATA = saved;
    }
  });
});

describe('did you mean', () => {
  test('editDistance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('epochs', 'epochs')).toBe(0);
  });
  test.each([
    ['epoch', 'epochs'],
    ['LR', 'lr'],
    ['batchsize', 'batchSize'],
    ['valid_split', 'validSplit'],
    ['imagesize', 'imageSize'],
    ['devise', 'device'],
    ['onprogress', 'onProgress'],
  ])('%s -> %s', (key, expected) => {
    expect(suggestOption(key)).toBe(expected);
  });
  test.each(['colour', 'x', 'optimizer'])('%s has no suggestion', (key) => {
    expect(suggestOption(key)).toBeUndefined();
  });
});

describe('OPTION_SPECS', () => {
  test('lists every option once, in a fixed order', () => {
    expect(OPTION_SPECS.map((spec) => spec.name)).toEqual([
      'epochs',
      'lr',
      'batchSize',
      'momentum',
      'weightDecay',
      'decayNormAndBias',
      'nesterov',
      'scheduler',
      'warmupEpochs',
      'labelSmoothing',
      'augment',
      'flipTta',
      'validSplit',
      'seed',
      'preset',
      'imageSize',
      'device',
      'threads',
      'precision',
      'memoryFormat',
      'cudaGraph',
      'dataDir',
      'download',
      'images',
      'skipBadImages',
      'limitTrain',
      'limitTest',
      'logEvery',
      'runDir',
      'resume',
      'init',
      'freeze',
      'distributed',
      'signal',
      'onProgress',
    ]);
  });

  test("each preset's recipe is what resolveConfig fills in; a default warm-up is at most a sixth of the run", () => {
    for (const preset of ['article', 'cifar', 'torchvision'] as const) {
      const { warmupEpochs, ...recipe } = PRESET_RECIPES[preset];
      const config = resolveConfig({ preset });
      expect(config).toMatchObject(recipe);
      expect(config.warmupEpochs).toBe(Math.min(warmupEpochs, config.epochs / 6));
    }
    expect(resolveConfig({ preset: 'cifar' }).warmupEpochs).toBe(5);
    expect(resolveConfig({ preset: 'cifar', epochs: 3 }).warmupEpochs).toBe(0.5);
    expect(resolveConfig({ preset: 'cifar', epochs: 3, warmupEpochs: 2 }).warmupEpochs).toBe(2);
    expect(() => resolveConfig({ preset: 'cifar', epochs: 3, warmupEpochs: 4 })).toThrow(
      'Expected number between 0 and epochs (3) for warmupEpochs but received 4 of type number',
    );
    expect(() => resolveConfig({ nesterov: true, momentum: 0 })).toThrow(/Nesterov momentum needs momentum/);
    expect(() => resolveConfig({ augment: 'rotate' })).toThrow(
      "Expected one of 'none', 'flip' or 'crop-flip' for augment but received 'rotate' of type string",
    );
    expect(() => resolveConfig({ flipTta: 'yes' })).toThrow('Expected boolean for flipTta');
  });

  test('defaults in the table are the defaults resolveConfig applies', () => {
    const resolved = resolveConfig({}) as unknown as Record<string, unknown>;
    for (const spec of OPTION_SPECS) {
      if (spec.default === undefined) continue;
      // download: true resolves to the source it stands for.
      const expected = spec.name === 'download' ? resolveConfig({ download: true }).download : spec.default;
      expect([spec.name, resolved[spec.name]]).toEqual([spec.name, expected]);
    }
  });

  test('integer bounds in the table are the bounds resolveConfig enforces', () => {
    for (const spec of OPTION_SPECS.filter((s) => s.type === 'integer' && s.name !== 'imageSize')) {
      const min = spec.min!;
      expect(() => resolveConfig({ [spec.name]: min })).not.toThrow();
      expect(() => resolveConfig({ [spec.name]: min - 1 })).toThrow(RangeError);
      if (spec.max! < Number.MAX_SAFE_INTEGER) {
        expect(() => resolveConfig({ [spec.name]: spec.max })).not.toThrow();
        expect(() => resolveConfig({ [spec.name]: spec.max! + 1 })).toThrow(`Expected ${spec.expected} for ${spec.name}`);
      }
    }
  });

  test('distributed, signal and onProgress have no CLI flag (launch sets distributed up); every other option has one', () => {
    expect(OPTION_SPECS.filter((s) => !s.cli).map((s) => s.name)).toEqual(['distributed', 'signal', 'onProgress']);
  });

  test('is frozen', () => {
    expect(Object.isFrozen(OPTION_SPECS)).toBe(true);
    expect(Object.isFrozen(OPTION_SPECS[0])).toBe(true);
  });
});

describe('toNativeOptions', () => {
  test('maps "all" to 0 and passes the data folder', () => {
    const config = resolveConfig({ preset: 'cifar', threads: 4, dataDir: '/somewhere' });
    expect(toNativeOptions(config, '/prepared')).toEqual({
      epochs: 30,
      lr: 0.4,
      batchSize: 512,
      momentum: 0.9,
      weightDecay: 5e-4,
      decayNormAndBias: false,
      nesterov: true,
      scheduler: 'onecycle',
      warmupEpochs: 5,
      labelSmoothing: 0.1,
      augment: 'crop-flip',
      flipTta: true,
      validSplit: 0.1,
      seed: 42,
      preset: 'cifar',
      imageSize: 32,
      device: 'auto',
      threads: 4,
      precision: 'auto',
      memoryFormat: 'auto',
      dataDir: '/prepared',
      limitTrain: 0,
      limitTest: 0,
      logEvery: 10,
      checkpointDir: '',
      resumeFrom: '',
      initFrom: '',
      freeze: 'none',
      distributed: null,
      cudaGraph: 'auto',
      images: '',
      imagesTrainCache: '',
      imagesValidCache: '',
      imagesTestCache: '',
    });
  });

  test('image folders pass the folder and its cache files; a split drawn from train has none', () => {
    const config = resolveConfig({ preset: 'cifar', images: '/photos' });
    const native = toNativeOptions(config, '/d', { train: '/c/train.bin', test: '/c/test.bin' });
    expect([native.images, native.imagesTrainCache, native.imagesValidCache, native.imagesTestCache]).toEqual([
      '/photos',
      '/c/train.bin',
      '',
      '/c/test.bin',
    ]);
  });

  test('a run folder puts checkpoints in its checkpoints/; resume passes the file', () => {
    const native = toNativeOptions(resolveConfig({ runDir: '/runs/a', resume: '/runs/a/checkpoints/last.pt' }), '/d');
    expect([native.checkpointDir, native.resumeFrom]).toEqual(['/runs/a/checkpoints', '/runs/a/checkpoints/last.pt']);
  });

  test('keeps limits', () => {
    const native = toNativeOptions(resolveConfig({ limitTrain: 512, limitTest: 256 }), '/d');
    expect([native.limitTrain, native.limitTest]).toEqual([512, 256]);
  });
});

describe('cudaGraph', () => {
  test("'auto', true and false are kept, 'auto' by default, and reach the addon as 'auto', 'on' and 'off'", () => {
    expect(resolveConfig({}).cudaGraph).toBe('auto');
    const cases: [unknown, string][] = [['auto', 'auto'], [true, 'on'], [false, 'off']];
    for (const [given, native] of cases) {
      const config = resolveConfig({ cudaGraph: given });
      expect(config.cudaGraph).toBe(given);
      expect(config.given).toContain('cudaGraph');
      expect(toNativeOptions(config, '/d').cudaGraph).toBe(native);
    }
    expect([nativeCudaGraph('auto'), nativeCudaGraph(true), nativeCudaGraph(false)]).toEqual(['auto', 'on', 'off']);
    // Left out, or undefined, it is not among the options the caller set (a resume may take nothing for it).
    expect(resolveConfig({ cudaGraph: undefined }).given).not.toContain('cudaGraph');
  });

  test("a distributed run takes 'auto' and false, from the option or from torchrun's environment; true is refused", () => {
    const distributed = { worldSize: 2, rank: 1, masterPort: 29500 };
    expect(resolveConfig({ cudaGraph: 'auto', distributed }).cudaGraph).toBe('auto');
    expect(toNativeOptions(resolveConfig({ cudaGraph: false, distributed }), '/d').cudaGraph).toBe('off');
    const env = { WORLD_SIZE: '2', RANK: '0', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500' };
    expect(() => resolveConfig({ cudaGraph: true }, env)).toThrow(
      /^Expected 'auto' or false in a distributed run for cudaGraph but received true of type boolean; distributed runs stay eager/,
    );
    expect(() => resolveConfig({ cudaGraph: true }, env)).toThrow(RangeError);
    // distributed: false turns the environment off, and with it the refusal.
    expect(resolveConfig({ cudaGraph: true, distributed: false }, env).cudaGraph).toBe(true);
  });

  test('its table row: both flags, the default and the allowed values', () => {
    const spec = OPTION_SPECS.find((s) => s.name === 'cudaGraph')!;
    expect(spec).toMatchObject({ type: 'boolean', default: 'auto', defaultText: "'auto'", range: "'auto' | true | false", cli: true });
  });
});
