// SPDX-License-Identifier: MIT
// train()'s option table: every option once, with its type, default, range, description and check. The README's
// options table, `libtorch-resnet train`'s flags and resolveConfig all read it.
import os from 'node:os';
import path from 'node:path';

import { MD5_ENV, URL_ENV } from '../download';
import type { TrainEvent } from '../progress';

import {
  closestName,
  invalidParameter,
  readAbortSignal,
  readFunction,
  readNumber,
  readNumberType,
  readPath,
  readPattern,
  unknownKey,
} from './checks';
import type { ConfigError } from './checks';
import {
  AUGMENTS,
  DEFAULT_IMAGE_SIZE,
  FREEZES,
  IMAGE_SIZE_RANGE,
  MEMORY_FORMATS,
  PRECISIONS,
  PRESETS,
  PRESET_RECIPES,
  SCHEDULERS,
} from './presets';
import type { Recipe } from './presets';
import { DISTRIBUTED_EXPECTED, readDistributedType } from './distributed';
import { resolveDownload } from './download';
import { booleanSpec, enumSpec, integerSpec, numberSpec, spec } from './spec';
import type { OptionSpec, Spec } from './spec';
import type { CudaGraph, Device, Freeze, MemoryFormat, OptionName, Preset } from './types';

/** The environment variable naming the data folder when dataDir is not given. */
export const DATA_DIR_ENV = 'LIBTORCH_RESNET_DATA';

/**
 * The data folder used when dataDir is not given: $LIBTORCH_RESNET_DATA, else $XDG_CACHE_HOME/libtorch-resnet
 * (when absolute, as the XDG spec requires), else ~/.cache/libtorch-resnet.
 *
 * @example
 * defaultDataDir({ XDG_CACHE_HOME: '/var/cache' }); // '/var/cache/libtorch-resnet'
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env[DATA_DIR_ENV];
  if (explicit) return path.resolve(explicit);
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'libtorch-resnet');
  return path.join(os.homedir(), '.cache', 'libtorch-resnet');
}

// The article's values (and this package's choices where the article has none); train()'s recipe defaults are
// PRESET_RECIPES'.
export const DEFAULTS = {
  batchSize: 64,
  momentum: 0.9,
  validSplit: 0.1,
  seed: 42,
  preset: 'article' as Preset,
  device: 'auto' as Device,
  threads: 0,
  memoryFormat: 'auto' as MemoryFormat,
  cudaGraph: 'auto' as CudaGraph,
  download: true,
  logEvery: 10,
  freeze: 'none' as Freeze,
} as const;
const DEVICE_PATTERN = /^(auto|cpu|cuda|cuda:(0|[1-9][0-9]{0,3}))$/;
const DEVICE_EXPECTED = "one of 'auto', 'cpu', 'cuda' or 'cuda:N' (N a device index)";
const UINT32_MAX = 2 ** 32 - 1;

/** How a recipe default reads in the options table: one value, or each preset's. */
function recipeDefaultText(name: keyof Recipe): string {
  const text = (v: unknown) => (typeof v === 'string' ? `'${v}'` : String(v));
  const values = PRESETS.map((preset) => PRESET_RECIPES[preset][name]);
  if (values.every((v) => v === values[0])) return text(values[0]);
  return PRESETS.map((preset, i) => `${text(values[i])} (${preset})`).join(', ');
}

/** Each preset's value, for the options table: "224 (article), 32 (cifar), 224 (torchvision)". */
function perPresetText(value: (preset: Preset) => string): string {
  return PRESETS.map((preset) => `${value(preset)} (${preset})`).join(', ');
}

/** A spec whose default comes from the preset's recipe. */
function recipeDefault<N extends OptionName & keyof Recipe, T>(base: Spec<N, T>): Spec<N, T> {
  return { ...base, default: undefined, defaultText: recipeDefaultText(base.name) };
}

function recipeBoolean<N extends OptionName & keyof Recipe>(name: N, description: string): Spec<N, boolean> {
  return booleanSpec(name, undefined, recipeDefaultText(name), description);
}

function recipeEnum<N extends OptionName & keyof Recipe, V extends string>(
  name: N,
  values: readonly V[],
  description: string,
): Spec<N, V> {
  return enumSpec(name, values, undefined, recipeDefaultText(name), description);
}

/** A number spec with its text changed, checked with the new text (warmupEpochs' bound is epochs, known later). */
function numberSpecAs<N extends string>(base: Spec<N, number>, text: Partial<OptionSpec<N>>): Spec<N, number> {
  const fields = { ...base, ...text };
  return spec(fields, (value) => readNumber(value, fields));
}

// Only the type when read: the range depends on the preset, checked once the preset is known.
function typeOnly<N extends string>(base: Spec<N, number>): Spec<N, number> {
  return spec(base, (value) => readNumberType(value, base));
}

// 'auto' or a boolean: another string is a wrong value, anything else a wrong type.
function readCudaGraph(value: unknown): CudaGraph {
  if (value === 'auto' || typeof value === 'boolean') return value;
  const code = typeof value === 'string' ? 'ERR_INVALID_ARG_VALUE' : 'ERR_INVALID_ARG_TYPE';
  throw invalidParameter(TypeError, code, 'cudaGraph', "'auto', true or false", value);
}


/** train()'s options, each with its check; the object's order is the table's. */
export const TRAIN_SPECS = Object.freeze({
  epochs: recipeDefault(integerSpec('epochs', 1, 10000, undefined, 'Passes over the training split.')),
  lr: recipeDefault(
    numberSpec('lr', { min: 0, max: 10, minExclusive: true }, 0, 'SGD learning rate (the peak, with a scheduler).'),
  ),
  batchSize: recipeDefault(integerSpec('batchSize', 1, 4096, undefined, 'Images per training and evaluation step.')),
  momentum: numberSpec('momentum', { min: 0, max: 1, maxExclusive: true }, DEFAULTS.momentum, 'SGD momentum.'),
  weightDecay: recipeDefault(numberSpec('weightDecay', { min: 0, max: 1 }, 0, 'SGD weight decay (L2 penalty).')),
  decayNormAndBias: recipeBoolean(
    'decayNormAndBias',
    "Apply weight decay to BatchNorm's weights and all biases too (modern recipes leave them out).",
  ),
  nesterov: recipeBoolean('nesterov', 'Nesterov momentum (needs momentum above 0).'),
  scheduler: recipeEnum(
    'scheduler',
    SCHEDULERS,
    "Learning-rate course after warm-up: 'constant', 'cosine' to 0, or 'onecycle' (linear fall to 0).",
  ),
  warmupEpochs: numberSpecAs(
    recipeDefault(
      numberSpec('warmupEpochs', { min: 0, max: 10000 }, 0, 'Epochs (fractions allowed) of linear warm-up to lr.'),
    ),
    {
      defaultText: `${recipeDefaultText('warmupEpochs')}, at most epochs / 6`,
      range: '[0, epochs]',
      expected: 'number between 0 and epochs',
    },
  ),
  labelSmoothing: recipeDefault(
    numberSpec('labelSmoothing', { min: 0, max: 1, maxExclusive: true }, 0, 'Cross-entropy against smoothed targets.'),
  ),
  augment: recipeEnum(
    'augment',
    AUGMENTS,
    "Training augmentation on the device: 'flip' (horizontal, p = 1/2), 'crop-flip' (4-pixel padded random crop, then flip).",
  ),
  flipTta: recipeBoolean('flipTta', 'Score validation and test images together with their mirror images.'),
  validSplit: numberSpec(
    'validSplit',
    { min: 0, max: 0.9 },
    DEFAULTS.validSplit,
    'Fraction of the training records held out for validation (seeded shuffle).',
  ),
  seed: integerSpec(
    'seed',
    0,
    UINT32_MAX,
    DEFAULTS.seed,
    'Seeds weight initialisation, the train/validation split and the epoch shuffles.',
  ),
  preset: enumSpec(
    'preset',
    PRESETS,
    DEFAULTS.preset,
    "'article'",
    "Network shape: the article's 224 px ResNet-34, the same blocks with a 32 px CIFAR stem, or torchvision's " +
      'resnet34 exactly (its keys, ImageNet normalisation), for fine-tuning its weights with init.',
  ),

  imageSize: typeOnly(integerSpec(
    'imageSize',
    IMAGE_SIZE_RANGE.cifar.min,
    IMAGE_SIZE_RANGE.cifar.max,
    undefined,
    'Side in pixels images are resized to before they enter the network.',
    {
      defaultText: perPresetText((preset) => String(DEFAULT_IMAGE_SIZE[preset])),
      range: perPresetText((preset) => `${IMAGE_SIZE_RANGE[preset].min}–${IMAGE_SIZE_RANGE[preset].max}`),
      expected: PRESETS.map(
        (preset) => `${IMAGE_SIZE_RANGE[preset].min} and ${IMAGE_SIZE_RANGE[preset].max} (preset '${preset}')`,
      )
        .join(' or ')
        .replace(/^/, 'integer between '),
    },
  )),

  device: spec(
    {
      name: 'device',
      type: 'string',
      default: 'auto',
      defaultText: "'auto'",
      range: "'auto' | 'cpu' | 'cuda' | 'cuda:N'",
      expected: DEVICE_EXPECTED,
      description: "Where to train; 'auto' takes CUDA when LibTorch sees a device, else the CPU.",
      cli: true,
    },
    (value) => readPattern<Device>(value, { name: 'device', expected: DEVICE_EXPECTED }, DEVICE_PATTERN),
  ),
  threads: integerSpec('threads', 0, 1024, DEFAULTS.threads, 'CPU threads; 0 uses every core (or OMP_NUM_THREADS).', {
    defaultText: '0 (all cores)',
  }),
  precision: enumSpec(
    'precision',
    PRECISIONS,
    undefined,
    recipeDefaultText('precision'),
    "Arithmetic: 'fp32' as in the article (cuDNN may use TF32 for convolutions, as PyTorch does), 'tf32' for " +
      "matrix products too, 'bf16' or 'fp16' autocast (fp16 with loss scaling; CUDA only); 'auto': bf16 on CUDA, " +
      'fp32 on the CPU.',
  ),

  memoryFormat: enumSpec(
    'memoryFormat',
    MEMORY_FORMATS,
    DEFAULTS.memoryFormat,
    "'auto'",
    "Layout of batches and convolution weights; 'auto' is channels-last on CUDA, contiguous on the CPU.",
  ),

  // A boolean with a third state: neither flag given is 'auto', so the CLI has --cuda-graph and --no-cuda-graph.
  cudaGraph: spec(
    {
      name: 'cudaGraph',
      type: 'boolean',
      default: 'auto',
      defaultText: "'auto'",
      range: "'auto' | true | false",
      expected: "'auto', true or false",
      description:
        "Capture the training step in one CUDA graph: 'auto' does for single-process CUDA training and runs it " +
        'eagerly otherwise; true captures on CUDA (distributed runs stay eager: refused) and on the CPU runs the same ' +
        'static-buffer step uncaptured (for tests; not faster); false is always the eager step. Not kept in checkpoints.',
      cli: true,
    },
    readCudaGraph,
  ),
  dataDir: spec(
    {
      name: 'dataDir',
      type: 'string',
      default: undefined,
      defaultText: `$${DATA_DIR_ENV}, else $XDG_CACHE_HOME/libtorch-resnet, else ~/.cache/libtorch-resnet`,
      range: '',
      expected: 'non-empty string',
      description: 'Folder where CIFAR-10 is (cifar-10-batches-bin/ or cifar-10-binary.tar.gz), or will be cached.',
      cli: true,
    },
    (value) => readPath(value, 'dataDir'),
  ),
  download: spec(
    {
      name: 'download',
      type: 'boolean',
      default: true,
      defaultText: 'true',
      range: 'true | false | { url?, md5? }',
      expected: 'boolean or object { url?: string, md5?: string }',
      description:
        `Download CIFAR-10 when dataDir lacks it; { url, md5 } (or $${URL_ENV}, $${MD5_ENV}) picks a mirror ` +
        'or a local copy.',
      cli: true,
    },
    (value) => resolveDownload(value),
  ),
  images: spec(
    {
      name: 'images',
      type: 'string',
      default: undefined,
      defaultText: 'none (CIFAR-10)',
      range: '',
      expected: 'non-empty string',
      description:
        'Train on your own pictures: a folder of class folders, or of train/, test/ (and val/) holding them ' +
        "(README, 'Your own images'). Replaces CIFAR-10: not with dataDir or download.",
      cli: true,
    },
    (value) => readPath(value, 'images'),
  ),
  skipBadImages: booleanSpec(
    'skipBadImages',
    false,
    'false',
    'With images: leave out pictures that cannot be decoded (listed in the result and a badImages event) instead of failing.',
  ),
  limitTrain: integerSpec(
    'limitTrain',
    1,
    Number.MAX_SAFE_INTEGER,
    undefined,
    'Use only the first N training records, for quick runs.',
  ),
  limitTest: integerSpec(
    'limitTest',
    1,
    Number.MAX_SAFE_INTEGER,
    undefined,
    'Use only the first N test records, for quick runs.',
  ),
  logEvery: integerSpec('logEvery', 1, 100000, DEFAULTS.logEvery, 'Send a batchEnd event every N training steps.'),
  runDir: spec(
    {
      name: 'runDir',
      type: 'string',
      default: undefined,
      defaultText: "none (API), ./runs/<timestamp> (CLI); with resume, the checkpoint's run",
      range: '',
      expected: 'non-empty string',
      description: 'Folder for config.json, metrics.jsonl, result.json, report.html and checkpoints/.',
      cli: true,
    },
    (value) => readPath(value, 'runDir'),
  ),
  resume: spec(
    {
      name: 'resume',
      type: 'string',
      default: undefined,
      defaultText: 'none',
      range: '',
      expected: 'non-empty string',
      description: "Checkpoint to continue from (<runDir>/checkpoints/last.pt); options left out take its values.",
      cli: true,
    },
    (value) => readPath(value, 'resume'),
  ),
  // Fine-tuning.
  init: spec(
    {
      name: 'init',
      type: 'string',
      default: undefined,
      defaultText: 'none (seeded random weights)',
      range: '',
      expected: 'non-empty string',
      description:
        "Start the weights from a checkpoint, a weights.pt, or Python's torch.save(model.state_dict(), f) " +
        "(torchvision's resnet34 for preset 'torchvision'); a classifier of another class count is replaced by a " +
        'new seeded one. Not with resume.',
      cli: true,
      flag: '--init <file>',
    },
    (value) => readPath(value, 'init'),
  ),
  freeze: enumSpec(
    'freeze',
    FREEZES,
    DEFAULTS.freeze,
    "'none'",
    "'backbone' trains the classifier alone: the rest gets no gradients, updates or weight decay, and its " +
      'BatchNorm statistics stay as init had them.',
  ),
  distributed: spec(
    {
      name: 'distributed',
      type: 'object',
      default: undefined,
      defaultText: 'from WORLD_SIZE, RANK, … when set',
      range: '',
      expected: DISTRIBUTED_EXPECTED,
      description:
        "Data-parallel training across processes on c10d (Gloo on CPU, NCCL on GPU); `libtorch-resnet launch` sets it up like torchrun.",
      cli: false,
    },
    (value) => readDistributedType(value),
  ),
  signal: spec(
    {
      name: 'signal',
      type: 'AbortSignal',
      default: undefined,
      defaultText: 'none',
      range: '',
      expected: 'AbortSignal',
      description: 'Aborting it stops the run after the current step; train() rejects with an AbortError.',
      cli: false,
    },
    (value) => readAbortSignal(value, 'signal'),
  ),
  onProgress: spec(
    {
      name: 'onProgress',
      type: 'function',
      default: undefined,
      defaultText: 'none',
      range: '',
      expected: 'function',
      description:
        'Receives every progress event (download, decode, badImages, trainBegin, epochBegin, step, batchEnd, evalBegin, epochEnd, checkpoint, trainEnd).',
      cli: false,
    },
    (value) => readFunction<(event: TrainEvent) => void>(value, { name: 'onProgress', expected: 'function' }),
  ),
} as const satisfies { readonly [K in OptionName]-?: Spec<K, unknown> });


/**
 * Every train() option in a fixed order, with type, default, range and description, frozen.
 * The README's options table and the CLI's flags are generated from it.
 *
 * @example
 * const flags = OPTION_SPECS.filter((spec) => spec.cli).map((spec) => spec.name);
 */
export const OPTION_SPECS: readonly OptionSpec[] = Object.freeze(
  // The rows alone: the checks stay inside lib/config/.
  Object.values(TRAIN_SPECS).map((spec: Spec<OptionName, unknown>) => {
    const { read: _read, required: _required, flag: _flag, negatable: _negatable, ...row } = spec;
    return Object.freeze(row);
  }),
);

/** Every train() option's name, in the table's order. */
export const OPTION_NAMES: readonly OptionName[] = OPTION_SPECS.map((s) => s.name);

/** The known option a misspelt key most likely meant, or undefined when none is close. */
export function suggestOption<N extends string = OptionName>(
  key: string,
  names: readonly N[] = OPTION_NAMES as readonly string[] as readonly N[],
): N | undefined {
  return closestName(key, names);
}

/**
 * The error for a key that is not an option, with a "did you mean" when one of `names` is close.
 *
 * @example
 * throw unknownOption('batchsize'); // TypeError: Unknown option 'batchsize'; did you mean 'batchSize'?
 */
export function unknownOption(key: string, names: readonly string[] = OPTION_NAMES): ConfigError {
  return unknownKey(key, names);
}
