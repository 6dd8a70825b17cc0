// SPDX-License-Identifier: MIT
// The one place user input is checked: train() options, CLI flags and the README's table all come from here.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';

import { MD5_ENV, OFFICIAL_MD5, OFFICIAL_URL, URL_ENV } from './download';
import type { DownloadSource } from './download';

import type { NativeCheckpointOptions, NativeCudaGraph, NativeTrainOptions } from './native';
import type { TrainEvent } from './progress';

/** The network shape: the article's 224 px ImageNet-style ResNet-34, or the same blocks with a 32 px CIFAR stem. */
export type Preset = 'article' | 'cifar';

/**
 * The arithmetic of a run. 'fp32' is PyTorch's default math, what the article's program gets: float32 tensors,
 * with cuDNN free to run convolutions on TF32 tensor cores on a GPU. 'tf32' lets matrix products use TF32 too.
 * 'bf16' and 'fp16' run forward and loss under autocast (weights and optimizer stay float32); 'fp16' scales the
 * loss. On the CPU 'tf32' runs as 'fp32', and 'fp16' is refused. 'auto' is 'bf16' on CUDA and 'fp32' on the CPU.
 */
export type Precision = 'fp32' | 'tf32' | 'bf16' | 'fp16' | 'auto';

/** How batches and convolution weights are laid out: 'auto' is channels-last on CUDA, contiguous on the CPU. */
export type MemoryFormat = 'auto' | 'contiguous' | 'channels-last';

/**
 * The learning rate's course over a run, after `warmupEpochs` of linear rise to `lr`, with p the fraction of the
 * remaining steps done: 'constant' stays at lr, 'cosine' is lr (1 + cos(pi p)) / 2, 'onecycle' falls linearly,
 * lr (1 - p), reaching 0 at the end.
 */
export type Scheduler = 'constant' | 'cosine' | 'onecycle';

/**
 * Random changes to training images, on the training device: 'flip' mirrors half of them; 'crop-flip' first
 * takes a 32x32 crop at a random offset of the image padded by 4 black pixels. 'none' trains on them as they are.
 */
export type Augment = 'none' | 'flip' | 'crop-flip';

/**
 * How the training step runs: 'auto' captures it in one CUDA graph for single-process CUDA training and runs it
 * eagerly otherwise; true captures on CUDA (a distributed run is refused: it stays eager), and on the CPU runs the
 * same static-buffer step without capture (how CI tests its logic; not faster); false is always the eager step.
 */
export type CudaGraph = 'auto' | boolean;

/** The c10d backend of a distributed run: 'auto' is NCCL on CUDA and Gloo on the CPU. */
export type Backend = 'auto' | 'gloo' | 'nccl';

/**
 * One process's place in a data-parallel run, with torchrun's names. Fields left out come from torchrun's
 * environment variables (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), then the defaults.
 *
 * @example
 * await train({ distributed: { worldSize: 2, rank: 0, masterAddr: '10.0.0.1', masterPort: 29500 } });
 */
export interface DistributedConfig {
  /** Processes in the run, on all machines. */
  worldSize?: number | undefined;
  /** This process's index, 0 to worldSize - 1; rank 0 writes the run folder. */
  rank?: number | undefined;
  /** This process's index on its machine; a GPU rank trains on cuda:<localRank> (rank). */
  localRank?: number | undefined;
  /** Where rank 0 listens for the others ('127.0.0.1'). */
  masterAddr?: string | undefined;
  /** The port rank 0 listens on (29500). */
  masterPort?: number | undefined;
  /** 'auto', 'gloo' or 'nccl' ('auto'). */
  backend?: Backend | undefined;
  /** How long to wait for the other ranks at the start and in any collective before failing (300). */
  timeoutSeconds?: number | undefined;
  /** Compare the weights of all ranks after every step and fail if they differ; slow, for debugging (false). */
  checkReplicas?: boolean | undefined;
}

/** {@link DistributedConfig} after {@link resolveConfig}: every field filled in. */
export interface ResolvedDistributed {
  readonly worldSize: number;
  readonly rank: number;
  readonly localRank: number;
  readonly masterAddr: string;
  readonly masterPort: number;
  readonly backend: Backend;
  readonly timeoutSeconds: number;
  readonly checkReplicas: boolean;
}

/** Where training runs: `auto` takes the first CUDA device when LibTorch sees one, else the CPU. */
export type Device = 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;

/**
 * Options of {@link train}, as users write them: every field is optional and falls back to the article's value.
 * `OPTION_SPECS` lists each one with its type, default and allowed range.
 *
 * @example
 * const options: TrainConfig = { epochs: 5, preset: 'cifar', limitTrain: 5000, signal: controller.signal };
 * const result = await train(options);
 */
export interface TrainConfig {
  /** Passes over the training split (20). */
  epochs?: number | undefined;
  /** SGD learning rate (0.01). */
  lr?: number | undefined;
  /** Images per training and evaluation step (64). */
  batchSize?: number | undefined;
  /** SGD momentum (0.9). */
  momentum?: number | undefined;
  /** SGD weight decay, an L2 penalty on every parameter (0.001). */
  weightDecay?: number | undefined;
  /** Whether weight decay reaches BatchNorm's weights and the biases too (true, as in the article). */
  decayNormAndBias?: boolean | undefined;
  /** Nesterov momentum (false). */
  nesterov?: boolean | undefined;
  /** The learning rate's course: 'constant', 'cosine' or 'onecycle' ('constant'). */
  scheduler?: Scheduler | undefined;
  /** Epochs (fractions allowed) of linear warm-up to lr before the scheduler's course (0). */
  warmupEpochs?: number | undefined;
  /** Cross-entropy against targets smoothed by this much (0). */
  labelSmoothing?: number | undefined;
  /** Training image augmentation: 'none', 'flip' or 'crop-flip' ('none'). */
  augment?: Augment | undefined;
  /** Score validation and test images with their mirror images too (false). */
  flipTta?: boolean | undefined;
  /** Fraction of the training records held out for validation (0.1). */
  validSplit?: number | undefined;
  /** Seeds weight initialisation, the train/validation split and the shuffles (42). */
  seed?: number | undefined;
  /** Network shape ('article'). */
  preset?: Preset | undefined;
  /** Side in pixels images are resized to (224 for 'article', 32 for 'cifar'). */
  imageSize?: number | undefined;
  /** 'auto', 'cpu', 'cuda' or 'cuda:N' ('auto'). */
  device?: Device | string | undefined;
  /** CPU threads; 0 uses every core (0). */
  threads?: number | undefined;
  /** Arithmetic: 'fp32', 'tf32', 'bf16' or 'fp16' ('fp32', as in the article). */
  precision?: Precision | undefined;
  /** Layout of batches and weights: 'auto', 'contiguous' or 'channels-last' ('auto'). */
  memoryFormat?: MemoryFormat | undefined;
  /**
   * Capture the training step in one CUDA graph: 'auto', true or false ('auto': for single-process CUDA training).
   * A per-run choice: checkpoints do not record it, and a resumed run may change it.
   */
  cudaGraph?: CudaGraph | undefined;
  /** Where CIFAR-10 is, or will be cached ($LIBTORCH_RESNET_DATA, else ~/.cache/libtorch-resnet). */
  dataDir?: string | undefined;
  /**
   * Download CIFAR-10 when dataDir lacks it (true); `{ url, md5 }` picks a mirror or a local copy (a path or a
   * file: URL), each field defaulting to $LIBTORCH_RESNET_CIFAR_URL / $LIBTORCH_RESNET_CIFAR_MD5, then the official
   * archive.
   */
  download?: boolean | { url?: string | undefined; md5?: string | undefined } | undefined;
  /** Use only the first N training records (all). */
  limitTrain?: number | undefined;
  /** Use only the first N test records (all). */
  limitTest?: number | undefined;
  /** Send a batchEnd event every this many training steps (10). */
  logEvery?: number | undefined;
  /**
   * Folder for config.json, metrics.jsonl, result.json, report.html and checkpoints/ (none: nothing is written;
   * the CLI uses ./runs/<timestamp>). With `resume`, defaults to the checkpoint's run folder.
   */
  runDir?: string | undefined;
  /**
   * A checkpoint to continue from (`<runDir>/checkpoints/last.pt`): options left out take the checkpoint's
   * values; `epochs` may be raised to train longer.
   */
  resume?: string | undefined;
  /**
   * Data-parallel training across processes (see `libtorch-resnet launch`). Left out: on when torchrun's
   * WORLD_SIZE is set in the environment. `false`: off whatever the environment says.
   */
  distributed?: boolean | DistributedConfig | undefined;
  /** Aborting it stops the run after the current step; train() then rejects with an AbortError. */
  signal?: AbortSignal | undefined;
  /** Called on the main thread with every event, in order. */
  onProgress?: ((event: TrainEvent) => void) | undefined;
}

/**
 * {@link TrainConfig} after {@link resolveConfig}: checked, every default filled in, frozen.
 *
 * @example
 * const config: ResolvedConfig = resolveConfig({ preset: 'cifar' });
 * config.imageSize; // 32
 */
export interface ResolvedConfig extends Recipe {
  readonly momentum: number;
  readonly validSplit: number;
  readonly seed: number;
  readonly preset: Preset;
  readonly imageSize: number;
  readonly device: Device;
  readonly threads: number;
  readonly memoryFormat: MemoryFormat;
  readonly cudaGraph: CudaGraph;
  /** Absolute. */
  readonly dataDir: string;
  /** false, or where the archive comes from: an http(s) URL, a file: URL or an absolute path, and its md5. */
  readonly download: false | DownloadSource;
  /** undefined: all records. */
  readonly limitTrain: number | undefined;
  /** undefined: all records. */
  readonly limitTest: number | undefined;
  readonly logEvery: number;
  /** Absolute; undefined: no run folder. */
  readonly runDir: string | undefined;
  /** Absolute path of the checkpoint to continue from. */
  readonly resume: string | undefined;
  /** undefined: one process. */
  readonly distributed: ResolvedDistributed | undefined;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((event: TrainEvent) => void) | undefined;
  /** The options the caller set (not left to their defaults): a resume keeps the checkpoint's for the rest. */
  readonly given: readonly OptionName[];
}

/** The name of a {@link TrainConfig} option. */
export type OptionName = keyof TrainConfig;

/**
 * One row of the options table, machine-readable: README tables and CLI flags are generated from these.
 *
 * @example
 * for (const spec of OPTION_SPECS) console.log(`| ${spec.name} | ${spec.type} | ${spec.defaultText} | ${spec.range} |`);
 */
export interface OptionSpec {
  readonly name: OptionName;
  /** How the value is typed. */
  readonly type: 'integer' | 'number' | 'boolean' | 'string' | 'enum' | 'object' | 'AbortSignal' | 'function';
  /** The default value; undefined where it depends on other options or the environment (see defaultText). */
  readonly default: number | string | boolean | undefined;
  /** The default, as the README shows it. */
  readonly defaultText: string;
  /** Allowed values, short: '1–4096', '(0, 10]', "'article' | 'cifar'"; empty where any value of the type goes. */
  readonly range: string;
  /** What a valid value is, as error messages say it: 'integer between 1 and 4096'. */
  readonly expected: string;
  /** One line for the README and --help. */
  readonly description: string;
  /** Whether `libtorch-resnet train` has a flag for it (the kebab-case of name). */
  readonly cli: boolean;
  /** Bounds of 'integer' and 'number' options. */
  readonly min?: number;
  readonly max?: number;
  /** Whether min / max themselves are excluded ('number' options). */
  readonly minExclusive?: boolean;
  readonly maxExclusive?: boolean;
  /** The values of 'enum' options. */
  readonly values?: readonly string[];
}

/** The environment variable naming the data folder when dataDir is not given. */
export const DATA_DIR_ENV = 'LIBTORCH_RESNET_DATA';

/** Image sides each preset accepts. The article ends in AvgPool2d(7) + Linear(512), so it needs a 7x7 final map. */
export const IMAGE_SIZE_RANGE: Readonly<Record<Preset, { readonly min: number; readonly max: number }>> = Object.freeze({
  article: Object.freeze({ min: 193, max: 224 }),
  cifar: Object.freeze({ min: 8, max: 512 }),
});

/** The image side each preset uses by default. */
export const DEFAULT_IMAGE_SIZE: Readonly<Record<Preset, number>> = Object.freeze({ article: 224, cifar: 32 });

const PRESETS = ['article', 'cifar'] as const;
const PRECISIONS = ['fp32', 'tf32', 'bf16', 'fp16', 'auto'] as const satisfies readonly Precision[];
const MEMORY_FORMATS = ['auto', 'contiguous', 'channels-last'] as const satisfies readonly MemoryFormat[];
const SCHEDULERS = ['constant', 'cosine', 'onecycle'] as const satisfies readonly Scheduler[];
const AUGMENTS = ['none', 'flip', 'crop-flip'] as const satisfies readonly Augment[];

/** The training recipe each preset starts from (see {@link PRESET_RECIPES}); every part is an option of its own. */
export interface Recipe {
  readonly epochs: number;
  readonly lr: number;
  readonly batchSize: number;
  readonly weightDecay: number;
  readonly precision: Precision;
  readonly decayNormAndBias: boolean;
  readonly nesterov: boolean;
  readonly scheduler: Scheduler;
  readonly warmupEpochs: number;
  readonly labelSmoothing: number;
  readonly augment: Augment;
  readonly flipTta: boolean;
}

/**
 * What train() defaults to for each preset: 'article' is the article's plain SGD at a constant rate without
 * augmentation; 'cifar' a modern recipe. warmupEpochs, when left out, is at most a sixth of the run.
 */
export const PRESET_RECIPES: Readonly<Record<Preset, Recipe>> = Object.freeze({
  article: Object.freeze({
    epochs: 20,
    lr: 0.01,
    batchSize: 64,
    weightDecay: 0.001,
    precision: 'fp32',
    decayNormAndBias: true,
    nesterov: false,
    scheduler: 'constant',
    warmupEpochs: 0,
    labelSmoothing: 0,
    augment: 'none',
    flipTta: false,
  }),
  // A modern recipe: a large batch with the learning rate scaled linearly (0.1 per 128 images), Nesterov
  // momentum, no decay on BatchNorm and biases, warm-up then a linear fall to 0, label smoothing, random crops
  // and flips on the device, flip TTA, bf16 autocast on CUDA.
  cifar: Object.freeze({
    epochs: 30,
    lr: 0.4,
    batchSize: 512,
    weightDecay: 5e-4,
    precision: 'auto',
    decayNormAndBias: false,
    nesterov: true,
    scheduler: 'onecycle',
    warmupEpochs: 5,
    labelSmoothing: 0.1,
    augment: 'crop-flip',
    flipTta: true,
  }),
});

/** How a recipe default reads in the options table: one value, or each preset's. */
function recipeDefaultText(name: keyof Recipe): string {
  const text = (v: unknown) => (typeof v === 'string' ? `'${v}'` : String(v));
  const { article, cifar } = PRESET_RECIPES;
  return article[name] === cifar[name] ? text(article[name]) : `${text(article[name])} (article), ${text(cifar[name])} (cifar)`;
}

/** A spec whose default comes from the preset's recipe. */
function recipeDefault<K extends OptionName & keyof Recipe>(spec: OptionSpec & { readonly name: K }): OptionSpec & { readonly name: K } {
  return { ...spec, default: undefined, defaultText: recipeDefaultText(spec.name) };
}

function booleanSpec<K extends OptionName & keyof Recipe>(name: K, description: string): OptionSpec & { readonly name: K } {
  return {
    name,
    type: 'boolean',
    default: undefined,
    defaultText: recipeDefaultText(name),
    range: 'true | false',
    expected: 'boolean',
    description,
    cli: true,
  };
}

function enumSpec<K extends OptionName & keyof Recipe>(
  name: K,
  values: readonly string[],
  description: string,
): OptionSpec & { readonly name: K } {
  return {
    name,
    type: 'enum',
    default: undefined,
    defaultText: recipeDefaultText(name),
    range: values.map((v) => `'${v}'`).join(' | '),
    expected: `one of ${values.slice(0, -1).map((v) => `'${v}'`).join(', ')} or '${values[values.length - 1]}'`,
    description,
    cli: true,
    values,
  };
}

// The article's values (and this package's choices where the article has none); train()'s recipe defaults are
// PRESET_RECIPES'.
const DEFAULTS = {
  batchSize: 64,
  momentum: 0.9,
  validSplit: 0.1,
  seed: 42,
  preset: 'article' as Preset,
  device: 'auto' as Device,
  threads: 0,
  precision: 'fp32' as Precision,
  memoryFormat: 'auto' as MemoryFormat,
  cudaGraph: 'auto' as CudaGraph,
  download: true,
  logEvery: 10,
} as const;
const DEVICE_PATTERN = /^(auto|cpu|cuda|cuda:(0|[1-9][0-9]{0,3}))$/;
const UINT32_MAX = 2 ** 32 - 1;

function integerSpec<K extends OptionName>(
  name: K,
  min: number,
  max: number,
  def: number | undefined,
  description: string,
  extra: Partial<Omit<OptionSpec, 'name'>> = {},
): OptionSpec & { readonly name: K } {
  const unbounded = max === Number.MAX_SAFE_INTEGER;
  return {
    name,
    type: 'integer',
    default: def,
    defaultText: def === undefined ? 'all' : String(def),
    range: unbounded ? `≥ ${min}` : `${min}–${max}`,
    expected: unbounded ? `integer of at least ${min}` : `integer between ${min} and ${max}`,
    description,
    cli: true,
    min,
    max,
    ...extra,
  };
}

function numberSpec<K extends OptionName>(
  name: K,
  bounds: { min: number; max: number; minExclusive?: boolean; maxExclusive?: boolean },
  def: number,
  description: string,
): OptionSpec & { readonly name: K } {
  const minExclusive = bounds.minExclusive ?? false;
  const maxExclusive = bounds.maxExclusive ?? false;
  const lower = minExclusive ? `greater than ${bounds.min}` : `at least ${bounds.min}`;
  const upper = maxExclusive ? `less than ${bounds.max}` : `at most ${bounds.max}`;
  return {
    name,
    type: 'number',
    default: def,
    defaultText: String(def),
    range: `${minExclusive ? '(' : '['}${bounds.min}, ${bounds.max}${maxExclusive ? ')' : ']'}`,
    expected:
      minExclusive || maxExclusive
        ? `number ${lower} and ${upper}`
        : `number between ${bounds.min} and ${bounds.max}`,
    description,
    cli: true,
    min: bounds.min,
    max: bounds.max,
    minExclusive,
    maxExclusive,
  };
}

const SPECS = {
  epochs: recipeDefault(integerSpec('epochs', 1, 10000, undefined, 'Passes over the training split.')),
  lr: recipeDefault(
    numberSpec('lr', { min: 0, max: 10, minExclusive: true }, 0, 'SGD learning rate (the peak, with a scheduler).'),
  ),
  batchSize: recipeDefault(integerSpec('batchSize', 1, 4096, undefined, 'Images per training and evaluation step.')),
  momentum: numberSpec('momentum', { min: 0, max: 1, maxExclusive: true }, DEFAULTS.momentum, 'SGD momentum.'),
  weightDecay: recipeDefault(numberSpec('weightDecay', { min: 0, max: 1 }, 0, 'SGD weight decay (L2 penalty).')),
  decayNormAndBias: booleanSpec(
    'decayNormAndBias',
    "Apply weight decay to BatchNorm's weights and all biases too (modern recipes leave them out).",
  ),
  nesterov: booleanSpec('nesterov', 'Nesterov momentum (needs momentum above 0).'),
  scheduler: enumSpec(
    'scheduler',
    SCHEDULERS,
    "Learning-rate course after warm-up: 'constant', 'cosine' to 0, or 'onecycle' (linear fall to 0).",
  ),
  warmupEpochs: {
    ...recipeDefault(
      numberSpec('warmupEpochs', { min: 0, max: 10000 }, 0, 'Epochs (fractions allowed) of linear warm-up to lr.'),
    ),
    defaultText: `${recipeDefaultText('warmupEpochs')}, at most epochs / 6`,
    range: '[0, epochs]',
    expected: 'number between 0 and epochs',
  },
  labelSmoothing: recipeDefault(
    numberSpec('labelSmoothing', { min: 0, max: 1, maxExclusive: true }, 0, 'Cross-entropy against smoothed targets.'),
  ),
  augment: enumSpec(
    'augment',
    AUGMENTS,
    "Training augmentation on the device: 'flip' (horizontal, p = 1/2), 'crop-flip' (4-pixel padded random crop, then flip).",
  ),
  flipTta: booleanSpec('flipTta', 'Score validation and test images together with their mirror images.'),
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
  preset: {
    name: 'preset',
    type: 'enum',
    default: 'article',
    defaultText: "'article'",
    range: "'article' | 'cifar'",
    expected: "one of 'article' or 'cifar'",
    description: "Network shape: the article's 224 px ResNet-34, or the same blocks with a 32 px CIFAR stem.",
    cli: true,
    values: PRESETS,
  },
  imageSize: integerSpec(
    'imageSize',
    IMAGE_SIZE_RANGE.cifar.min,
    IMAGE_SIZE_RANGE.cifar.max,
    undefined,
    'Side in pixels images are resized to before they enter the network.',
    {
      defaultText: `${DEFAULT_IMAGE_SIZE.article} (article), ${DEFAULT_IMAGE_SIZE.cifar} (cifar)`,
      range: `${IMAGE_SIZE_RANGE.article.min}–${IMAGE_SIZE_RANGE.article.max} (article), ` +
        `${IMAGE_SIZE_RANGE.cifar.min}–${IMAGE_SIZE_RANGE.cifar.max} (cifar)`,
      expected:
        `integer between ${IMAGE_SIZE_RANGE.article.min} and ${IMAGE_SIZE_RANGE.article.max} (preset 'article') ` +
        `or ${IMAGE_SIZE_RANGE.cifar.min} and ${IMAGE_SIZE_RANGE.cifar.max} (preset 'cifar')`,
    },
  ),
  device: {
    name: 'device',
    type: 'string',
    default: 'auto',
    defaultText: "'auto'",
    range: "'auto' | 'cpu' | 'cuda' | 'cuda:N'",
    expected: "one of 'auto', 'cpu', 'cuda' or 'cuda:N' (N a device index)",
    description: "Where to train; 'auto' takes CUDA when LibTorch sees a device, else the CPU.",
    cli: true,
  },
  threads: integerSpec('threads', 0, 1024, DEFAULTS.threads, 'CPU threads; 0 uses every core (or OMP_NUM_THREADS).', {
    defaultText: '0 (all cores)',
  }),
  precision: {
    name: 'precision',
    type: 'enum',
    default: undefined,
    defaultText: recipeDefaultText('precision'),
    range: "'fp32' | 'tf32' | 'bf16' | 'fp16' | 'auto'",
    expected: "one of 'fp32', 'tf32', 'bf16', 'fp16' or 'auto'",
    description:
      "Arithmetic: 'fp32' as in the article (cuDNN may use TF32 for convolutions, as PyTorch does), 'tf32' for " +
      "matrix products too, 'bf16' or 'fp16' autocast (fp16 with loss scaling; CUDA only); 'auto': bf16 on CUDA, " +
      'fp32 on the CPU.',
    cli: true,
    values: PRECISIONS,
  },
  memoryFormat: {
    name: 'memoryFormat',
    type: 'enum',
    default: 'auto',
    defaultText: "'auto'",
    range: "'auto' | 'contiguous' | 'channels-last'",
    expected: "one of 'auto', 'contiguous' or 'channels-last'",
    description: "Layout of batches and convolution weights; 'auto' is channels-last on CUDA, contiguous on the CPU.",
    cli: true,
    values: MEMORY_FORMATS,
  },
  // A boolean with a third state: neither flag given is 'auto', so the CLI has --cuda-graph and --no-cuda-graph.
  cudaGraph: {
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
  dataDir: {
    name: 'dataDir',
    type: 'string',
    default: undefined,
    defaultText: `$${DATA_DIR_ENV}, else $XDG_CACHE_HOME/libtorch-resnet, else ~/.cache/libtorch-resnet`,
    range: '',
    expected: 'non-empty string',
    description: 'Folder where CIFAR-10 is (cifar-10-batches-bin/ or cifar-10-binary.tar.gz), or will be cached.',
    cli: true,
  },
  download: {
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
  runDir: {
    name: 'runDir',
    type: 'string',
    default: undefined,
    defaultText: "none (API), ./runs/<timestamp> (CLI); with resume, the checkpoint's run",
    range: '',
    expected: 'non-empty string',
    description: 'Folder for config.json, metrics.jsonl, result.json, report.html and checkpoints/.',
    cli: true,
  },
  resume: {
    name: 'resume',
    type: 'string',
    default: undefined,
    defaultText: 'none',
    range: '',
    expected: 'non-empty string',
    description: "Checkpoint to continue from (<runDir>/checkpoints/last.pt); options left out take its values.",
    cli: true,
  },
  distributed: {
    name: 'distributed',
    type: 'object',
    default: undefined,
    defaultText: 'from WORLD_SIZE, RANK, … when set',
    range: '',
    expected: 'boolean or object { worldSize, rank, localRank, masterAddr, masterPort, backend, timeoutSeconds, checkReplicas }',
    description:
      "Data-parallel training across processes on c10d (Gloo on CPU, NCCL on GPU); `libtorch-resnet launch` sets it up like torchrun.",
    cli: false,
  },
  signal: {
    name: 'signal',
    type: 'AbortSignal',
    default: undefined,
    defaultText: 'none',
    range: '',
    expected: 'AbortSignal',
    description: 'Aborting it stops the run after the current step; train() rejects with an AbortError.',
    cli: false,
  },
  onProgress: {
    name: 'onProgress',
    type: 'function',
    default: undefined,
    defaultText: 'none',
    range: '',
    expected: 'function',
    description:
      'Receives every progress event (download, trainBegin, epochBegin, step, batchEnd, evalBegin, epochEnd, checkpoint, trainEnd).',
    cli: false,
  },
} as const satisfies { readonly [K in OptionName]-?: OptionSpec & { readonly name: K } };

/**
 * Every train() option in a fixed order, with type, default, range and description, frozen.
 * The README's options table and the CLI's flags are generated from it.
 *
 * @example
 * const flags = OPTION_SPECS.filter((spec) => spec.cli).map((spec) => spec.name);
 */
export const OPTION_SPECS: readonly OptionSpec[] = Object.freeze(
  Object.values(SPECS).map((spec) => Object.freeze(spec as OptionSpec)),
);

const OPTION_NAMES: readonly OptionName[] = OPTION_SPECS.map((spec) => spec.name);

type CodedError = Error & { code: string };

function typeOf(value: unknown): string {
  return value === null ? 'null' : typeof value;
}

function describe(value: unknown): string {
  return inspect(value, { depth: 0, breakLength: Infinity, maxArrayLength: 4, maxStringLength: 80 });
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
): CodedError {
  const message =
    `Expected ${expected} for ${name} but received ${describe(actual)} of type ${typeOf(actual)}` +
    (hint ? `; ${hint}` : '');
  const error = new ErrorClass(message) as CodedError;
  error.code = code;
  return error;
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

/** The known option a misspelt key most likely meant, or undefined when none is close. */
export function suggestOption<N extends string = OptionName>(
  key: string,
  names: readonly N[] = OPTION_NAMES as readonly string[] as readonly N[],
): N | undefined {
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
 * throw unknownOption('batchsize'); // TypeError: Unknown option 'batchsize'; did you mean 'batchSize'?
 */
export function unknownOption(key: string, names: readonly string[] = OPTION_NAMES): CodedError {
  const suggestion = suggestOption(key, names);
  const message = suggestion
    ? `Unknown option '${key}'; did you mean '${suggestion}'?`
    : `Unknown option '${key}'; the options are ${names.join(', ')}`;
  const error = new TypeError(message) as CodedError;
  error.code = 'ERR_INVALID_ARG_VALUE';
  return error;
}

function readInteger(value: unknown, spec: OptionSpec): number {
  if (typeof value !== 'number') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', spec.name, spec.expected, value);
  }
  if (!Number.isInteger(value) || value < spec.min! || value > spec.max!) {
    throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', spec.name, spec.expected, value);
  }
  return value;
}

function readNumber(value: unknown, spec: OptionSpec): number {
  if (typeof value !== 'number') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', spec.name, spec.expected, value);
  }
  const tooLow = spec.minExclusive ? value <= spec.min! : value < spec.min!;
  const tooHigh = spec.maxExclusive ? value >= spec.max! : value > spec.max!;
  // NaN fails every comparison, so it is caught by isFinite, not by the bounds.
  if (!Number.isFinite(value) || tooLow || tooHigh) {
    throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', spec.name, spec.expected, value);
  }
  return value;
}

// Only the type here: the range depends on the preset, checked once the preset is known.
function readImageSize(value: unknown): number {
  if (typeof value !== 'number') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'imageSize', SPECS.imageSize.expected, value);
  }
  return value;
}

function readBoolean(value: unknown, spec: OptionSpec): boolean {
  if (typeof value !== 'boolean') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', spec.name, spec.expected, value);
  }
  return value;
}

// A benchmark row names its arithmetic: 'auto' would leave the table unclear.
function readBenchPrecision(value: unknown): Exclude<Precision, 'auto'> {
  const precision = readEnum<Precision>(value, SPECS.precision);
  if (precision === 'auto') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', 'precision', "one of 'fp32', 'tf32', 'bf16' or 'fp16'", value);
  }
  return precision;
}

function readPreset(value: unknown): Preset {
  return readEnum<Preset>(value, SPECS.preset);
}

function readEnum<T extends string>(value: unknown, spec: OptionSpec): T {
  if (typeof value !== 'string') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', spec.name, spec.expected, value);
  }
  if (!spec.values!.includes(value)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', spec.name, spec.expected, value);
  }
  return value as T;
}

// 'auto' or a boolean: another string is a wrong value, anything else a wrong type.
function readCudaGraph(value: unknown): CudaGraph {
  const spec = SPECS.cudaGraph;
  if (value === 'auto' || typeof value === 'boolean') return value;
  const code = typeof value === 'string' ? 'ERR_INVALID_ARG_VALUE' : 'ERR_INVALID_ARG_TYPE';
  throw invalidParameter(TypeError, code, spec.name, spec.expected, value);
}

/**
 * The cudaGraph option as the addon reads it: 'auto', 'on' (true) or 'off' (false).
 *
 * @example
 * nativeCudaGraph(false); // 'off'
 */
export function nativeCudaGraph(value: CudaGraph): NativeCudaGraph {
  return value === 'auto' ? 'auto' : value ? 'on' : 'off';
}

function readDevice(value: unknown): Device {
  const spec = SPECS.device;
  if (typeof value !== 'string') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', spec.name, spec.expected, value);
  }
  if (!DEVICE_PATTERN.test(value)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', spec.name, spec.expected, value);
  }
  return value as Device;
}

function readDataDir(value: unknown): string {
  return readPath(value, SPECS.dataDir.name);
}

// A command name (python3) or a path, checked as a path is but kept as given: resolving would break a bare name.
function readCommand(value: unknown, name: string): string {
  readPath(value, name);
  return value as string;
}

function readPath(value: unknown, name: string): string {
  const spec = { name, expected: 'non-empty string' };
  if (typeof value !== 'string') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', spec.name, spec.expected, value);
  }
  if (value === '' || value.includes('\0')) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', spec.name, 'non-empty string without null bytes', value);
  }
  return path.resolve(value);
}

const URL_EXPECTED = 'http:, https: or file: URL, or a file path';
const MD5_EXPECTED = 'md5 checksum of 32 hexadecimal digits';

// An http(s) URL is kept as it is; a file: URL or a path becomes an absolute path.
function readUrl(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', name, URL_EXPECTED, value);
  if (value === '' || value.includes('\0')) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', name, URL_EXPECTED, value);
  }
  // A scheme of two or more letters: a URL (one letter is a Windows drive).
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]+):/.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined) return path.resolve(value);
  if (scheme === 'http' || scheme === 'https') {
    if (!URL.canParse(value)) throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', name, URL_EXPECTED, value);
    return value;
  }
  if (scheme === 'file') {
    try {
      return fileURLToPath(value);
    } catch {
      throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', name, URL_EXPECTED, value);
    }
  }
  throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', name, URL_EXPECTED, value);
}

function readMd5(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', name, MD5_EXPECTED, value);
  if (!/^[0-9a-fA-F]{32}$/.test(value)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', name, MD5_EXPECTED, value);
  }
  return value.toLowerCase();
}

/**
 * The download option resolved: false, or the source, each field from the option, else the environment
 * ($LIBTORCH_RESNET_CIFAR_URL, $LIBTORCH_RESNET_CIFAR_MD5), else the official archive.
 *
 * @example
 * resolveDownload(true, {}); // { url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz', md5: 'c32a...' }
 */
export function resolveDownload(value: unknown, env: NodeJS.ProcessEnv = process.env): false | DownloadSource {
  const spec = SPECS.download;
  if (value === false) return false;
  if (value !== true && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', spec.name, spec.expected, value);
  }
  const given = (value === true ? {} : value) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (key !== 'url' && key !== 'md5') {
      const error = new TypeError(`Unknown option 'download.${key}'; download takes url and md5`) as CodedError;
      error.code = 'ERR_INVALID_ARG_VALUE';
      throw error;
    }
  }
  const url =
    given.url !== undefined
      ? readUrl(given.url, 'download.url')
      : env[URL_ENV]
        ? readUrl(env[URL_ENV], URL_ENV)
        : OFFICIAL_URL;
  const md5 =
    given.md5 !== undefined
      ? readMd5(given.md5, 'download.md5')
      : env[MD5_ENV]
        ? readMd5(env[MD5_ENV], MD5_ENV)
        : OFFICIAL_MD5;
  return Object.freeze({ url, md5 });
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

function readFunction(value: unknown): (event: TrainEvent) => void {
  if (typeof value !== 'function') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'onProgress', SPECS.onProgress.expected, value);
  }
  return value as (event: TrainEvent) => void;
}

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
  const spec = SPECS.distributed;
  if (value === false) return undefined;
  if (value === undefined && env.WORLD_SIZE === undefined) return undefined;
  if (value !== undefined && value !== true && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', spec.name, spec.expected, value);
  }
  const given = (typeof value === 'object' ? value : {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(DISTRIBUTED_KEYS as readonly string[]).includes(key)) {
      const guess = suggestOption(key, DISTRIBUTED_KEYS);
      const error = new TypeError(
        `Unknown option distributed.${key}${guess ? `; did you mean distributed.${guess}?` : ''} ` +
          `(known: ${DISTRIBUTED_KEYS.join(', ')})`,
      ) as CodedError;
      error.code = 'ERR_INVALID_ARG_VALUE';
      throw error;
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

/**
 * Checks train() options and fills in every default: the only function that validates user input.
 * Throws before anything native runs: a `TypeError` (`ERR_INVALID_ARG_TYPE`: wrong type;
 * `ERR_INVALID_ARG_VALUE`: a value outside an enumeration, or an unknown key, with a "did you mean") or a
 * `RangeError` (`ERR_OUT_OF_RANGE`: a number out of range, not an integer, or NaN), each naming the option.
 *
 * @example
 * resolveConfig({ preset: 'cifar' }).imageSize; // 32
 * resolveConfig({ batchSize: 0 });
 * // RangeError [ERR_OUT_OF_RANGE]: Expected integer between 1 and 4096 for batchSize but received 0 of type number
 */
export function resolveConfig(input: unknown, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  // Validate arguments
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'options', 'object', input);
  }
  const given = (input ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(OPTION_NAMES as readonly string[]).includes(key)) throw unknownOption(key);
  }
  // An option set to undefined takes its default, as if it were left out.
  const has = (name: OptionName) => given[name] !== undefined;
  const value = (name: OptionName) => given[name];

  // Interpret options
  const preset = has('preset') ? readPreset(value('preset')) : DEFAULTS.preset;
  const recipe = PRESET_RECIPES[preset];
  const epochs = has('epochs') ? readInteger(value('epochs'), SPECS.epochs) : recipe.epochs;
  const config: ResolvedConfig = {
    epochs,
    lr: has('lr') ? readNumber(value('lr'), SPECS.lr) : recipe.lr,
    batchSize: has('batchSize') ? readInteger(value('batchSize'), SPECS.batchSize) : recipe.batchSize,
    momentum: has('momentum') ? readNumber(value('momentum'), SPECS.momentum) : DEFAULTS.momentum,
    weightDecay: has('weightDecay') ? readNumber(value('weightDecay'), SPECS.weightDecay) : recipe.weightDecay,
    decayNormAndBias: has('decayNormAndBias')
      ? readBoolean(value('decayNormAndBias'), SPECS.decayNormAndBias)
      : recipe.decayNormAndBias,
    nesterov: has('nesterov') ? readBoolean(value('nesterov'), SPECS.nesterov) : recipe.nesterov,
    scheduler: has('scheduler') ? readEnum<Scheduler>(value('scheduler'), SPECS.scheduler) : recipe.scheduler,
    // A default warm-up fits the run's length: a short run gets a short one.
    warmupEpochs: has('warmupEpochs')
      ? readNumber(value('warmupEpochs'), SPECS.warmupEpochs)
      : Math.min(recipe.warmupEpochs, epochs / 6),
    labelSmoothing: has('labelSmoothing')
      ? readNumber(value('labelSmoothing'), SPECS.labelSmoothing)
      : recipe.labelSmoothing,
    augment: has('augment') ? readEnum<Augment>(value('augment'), SPECS.augment) : recipe.augment,
    flipTta: has('flipTta') ? readBoolean(value('flipTta'), SPECS.flipTta) : recipe.flipTta,
    validSplit: has('validSplit') ? readNumber(value('validSplit'), SPECS.validSplit) : DEFAULTS.validSplit,
    seed: has('seed') ? readInteger(value('seed'), SPECS.seed) : DEFAULTS.seed,
    preset,
    imageSize: has('imageSize') ? readImageSize(value('imageSize')) : DEFAULT_IMAGE_SIZE[preset],
    device: has('device') ? readDevice(value('device')) : DEFAULTS.device,
    threads: has('threads') ? readInteger(value('threads'), SPECS.threads) : DEFAULTS.threads,
    precision: has('precision') ? readEnum<Precision>(value('precision'), SPECS.precision) : recipe.precision,
    memoryFormat: has('memoryFormat')
      ? readEnum<MemoryFormat>(value('memoryFormat'), SPECS.memoryFormat)
      : DEFAULTS.memoryFormat,
    cudaGraph: has('cudaGraph') ? readCudaGraph(value('cudaGraph')) : DEFAULTS.cudaGraph,
    dataDir: has('dataDir') ? readDataDir(value('dataDir')) : defaultDataDir(),
    download: resolveDownload(has('download') ? value('download') : DEFAULTS.download),
    limitTrain: has('limitTrain') ? readInteger(value('limitTrain'), SPECS.limitTrain) : undefined,
    limitTest: has('limitTest') ? readInteger(value('limitTest'), SPECS.limitTest) : undefined,
    logEvery: has('logEvery') ? readInteger(value('logEvery'), SPECS.logEvery) : DEFAULTS.logEvery,
    runDir: has('runDir') ? readPath(value('runDir'), 'runDir') : undefined,
    resume: has('resume') ? readPath(value('resume'), 'resume') : undefined,
    distributed: resolveDistributed(has('distributed') ? value('distributed') : undefined, env),
    signal: has('signal') ? readAbortSignal(value('signal'), 'signal') : undefined,
    onProgress: has('onProgress') ? readFunction(value('onProgress')) : undefined,
    given: Object.freeze(OPTION_NAMES.filter(has)),
  };

  // Validate interpreted options
  if (config.warmupEpochs > config.epochs) {
    throw invalidParameter(
      RangeError,
      'ERR_OUT_OF_RANGE',
      'warmupEpochs',
      `number between 0 and epochs (${config.epochs})`,
      config.warmupEpochs,
    );
  }
  if (config.nesterov && config.momentum === 0) {
    throw invalidParameter(
      RangeError,
      'ERR_OUT_OF_RANGE',
      'momentum',
      'number greater than 0 with nesterov',
      config.momentum,
      'Nesterov momentum needs momentum; set momentum or nesterov: false',
    );
  }
  if (config.cudaGraph === true && config.distributed !== undefined) {
    throw invalidParameter(
      RangeError,
      'ERR_INVALID_ARG_VALUE',
      'cudaGraph',
      "'auto' or false in a distributed run",
      config.cudaGraph,
      "distributed runs stay eager (only single-process training captures its step); use 'auto' or false",
    );
  }
  const sizes = IMAGE_SIZE_RANGE[preset];
  if (!Number.isInteger(config.imageSize) || config.imageSize < sizes.min || config.imageSize > sizes.max) {
    const hint =
      preset === 'article'
        ? "the article's network ends in AvgPool2d(7) + Linear(512), which needs a 7x7 final feature map; " +
          "use preset 'cifar' for smaller images"
        : undefined;
    throw invalidParameter(
      RangeError,
      'ERR_OUT_OF_RANGE',
      'imageSize',
      `integer between ${sizes.min} and ${sizes.max} (preset '${preset}')`,
      config.imageSize,
      hint,
    );
  }
  return Object.freeze(config);
}

/**
 * The options object the addon reads (native/binding/convert.cpp), from a resolved config and the data folder
 * prepareDataset() found: 0 stands for "all records" and "every core".
 *
 * @example
 * binding.startTraining(toNativeOptions(config, await prepareDataset(config.dataDir, config)), onEvent, onDone);
 */
export function toNativeOptions(config: ResolvedConfig, dataDir: string): NativeTrainOptions {
  return {
    epochs: config.epochs,
    lr: config.lr,
    batchSize: config.batchSize,
    momentum: config.momentum,
    weightDecay: config.weightDecay,
    decayNormAndBias: config.decayNormAndBias,
    nesterov: config.nesterov,
    scheduler: config.scheduler,
    warmupEpochs: config.warmupEpochs,
    labelSmoothing: config.labelSmoothing,
    augment: config.augment,
    flipTta: config.flipTta,
    validSplit: config.validSplit,
    seed: config.seed,
    preset: config.preset,
    imageSize: config.imageSize,
    device: config.device,
    threads: config.threads,
    precision: config.precision,
    memoryFormat: config.memoryFormat,
    dataDir,
    limitTrain: config.limitTrain ?? 0,
    limitTest: config.limitTest ?? 0,
    logEvery: config.logEvery,
    // Only rank 0 writes checkpoints (the core ignores the folder on the others too).
    checkpointDir:
      config.runDir === undefined || (config.distributed?.rank ?? 0) !== 0 ? '' : path.join(config.runDir, 'checkpoints'),
    resumeFrom: config.resume ?? '',
    distributed: config.distributed ?? null,
    cudaGraph: nativeCudaGraph(config.cudaGraph),
  };
}

/** Options a resume must keep: they decide the network and the batches, so changing them breaks the run. */
export const RESUME_FIXED = Object.freeze([
  'preset',
  'imageSize',
  'batchSize',
  'lr',
  'momentum',
  'weightDecay',
  'validSplit',
  'seed',
  'limitTrain',
  'decayNormAndBias',
  'nesterov',
  'scheduler',
  'warmupEpochs',
  'labelSmoothing',
  'augment',
] as const satisfies readonly OptionName[]);

/**
 * Options a resume takes from the checkpoint unless given: they change how long the run goes, where the data is,
 * how it is reported or scored, or the arithmetic; not the network or the batches. (epochs is refused instead
 * when the run has a schedule: its course was laid over them.)
 */
export const RESUME_SWITCHABLE = Object.freeze([
  'epochs',
  'dataDir',
  'limitTest',
  'logEvery',
  'precision',
  'memoryFormat',
  'flipTta',
] as const satisfies readonly OptionName[]);

// Recorded in a checkpoint but never taken from it: each run says where and how wide it runs. (cudaGraph is
// per-run too, but a checkpoint does not record it at all: NativeCheckpointOptions leaves it out.)
type PerRunOption = 'device' | 'threads' | 'worldSize';
// Compiles only while every option a checkpoint records is in one of the three groups: a new option must say
// how a resume treats it.
const RESUME_COVERS_EVERY_OPTION: Record<
  Exclude<keyof NativeCheckpointOptions, (typeof RESUME_FIXED)[number] | (typeof RESUME_SWITCHABLE)[number] | PerRunOption>,
  never
> = {};
void RESUME_COVERS_EVERY_OPTION;

/**
 * The config of a resumed run: {@link RESUME_FIXED} options take the checkpoint's values, and one given with
 * another value is refused (a RangeError naming it); {@link RESUME_SWITCHABLE} ones take the checkpoint's values
 * unless given. `runDir` defaults to the folder holding `checkpoints/`.
 *
 * @example
 * const info = await readCheckpoint('runs/a/checkpoints/last.pt');
 * const config = mergeResume(resolveConfig({ resume: 'runs/a/checkpoints/last.pt', epochs: 30 }), info.options);
 */
export function mergeResume(config: ResolvedConfig, saved: NativeCheckpointOptions): ResolvedConfig {
  const given = new Set<OptionName>(config.given);
  // The native 0 ("all records") is the config's undefined.
  const savedValues: Partial<Record<OptionName, unknown>> = {
    ...saved,
    limitTrain: saved.limitTrain === 0 ? undefined : saved.limitTrain,
    limitTest: saved.limitTest === 0 ? undefined : saved.limitTest,
  };
  for (const name of RESUME_FIXED) {
    if (given.has(name) && config[name] !== savedValues[name]) {
      const error = new RangeError(
        `Cannot change ${name} when resuming: the checkpoint was trained with ${describe(savedValues[name])}, ` +
          `not ${describe(config[name])}; leave ${name} out (or start a new run)`,
      ) as CodedError;
      error.code = 'ERR_INVALID_ARG_VALUE';
      throw error;
    }
  }
  const scheduled = saved.scheduler !== 'constant' || saved.warmupEpochs > 0;
  if (scheduled && given.has('epochs') && config.epochs !== saved.epochs) {
    const error = new RangeError(
      `Cannot change epochs when resuming a run with a learning-rate schedule (scheduler '${saved.scheduler}', ` +
        `warmupEpochs ${saved.warmupEpochs}): its course was laid over ${saved.epochs} epochs; leave epochs out`,
    ) as CodedError;
    error.code = 'ERR_INVALID_ARG_VALUE';
    throw error;
  }
  const merged: Record<string, unknown> = { ...config };
  for (const name of RESUME_FIXED) merged[name] = savedValues[name];
  for (const name of RESUME_SWITCHABLE) if (!given.has(name)) merged[name] = savedValues[name];
  const checkpointFolder = path.dirname(config.resume!);
  merged.runDir =
    config.runDir ?? (path.basename(checkpointFolder) === 'checkpoints' ? path.dirname(checkpointFolder) : undefined);
  return Object.freeze(merged) as unknown as ResolvedConfig;
}

/**
 * Options of {@link evaluate}.
 *
 * @example
 * const result = await evaluate({ checkpoint: 'runs/a/checkpoints/best.pt', limitTest: 1000 });
 */
export interface EvalConfig {
  /** A checkpoint written by train(): `<runDir>/checkpoints/last.pt` or `best.pt`. Required. */
  checkpoint: string;
  dataDir?: string | undefined;
  download?: TrainConfig['download'];
  limitTest?: number | undefined;
  batchSize?: number | undefined;
  device?: Device | string | undefined;
  threads?: number | undefined;
  /** Score each image together with its mirror image (default: as the checkpoint's run scored, its `flipTta`). */
  flipTta?: boolean | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((event: TrainEvent) => void) | undefined;
}

export interface ResolvedEvalConfig {
  readonly checkpoint: string;
  readonly dataDir: string;
  readonly download: false | DownloadSource;
  readonly limitTest: number | undefined;
  readonly batchSize: number;
  readonly device: Device;
  readonly threads: number;
  /** undefined: the checkpoint's. */
  readonly flipTta: boolean | undefined;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((event: TrainEvent) => void) | undefined;
}

/** An image for {@link predict}: a PNG or JPEG file path, or its bytes. */
export type ImageInput = string | Uint8Array;

/**
 * Options of {@link predict}.
 *
 * @example
 * const [first] = await predict({ checkpoint: 'runs/a/checkpoints/best.pt', images: ['cat.png'] });
 */
export interface PredictConfig {
  checkpoint: string;
  /** PNG or JPEG files (paths) or their bytes; at least one. */
  images: readonly ImageInput[];
  /** How many classes to list per image, most probable first (3). */
  top?: number | undefined;
  device?: Device | string | undefined;
  threads?: number | undefined;
  /**
   * Probabilities from the mean logits of each image and its mirror image (default: as the checkpoint's run
   * scored, its `flipTta`).
   */
  flipTta?: boolean | undefined;
}

export interface ResolvedPredictConfig {
  readonly checkpoint: string;
  readonly images: readonly ImageInput[];
  readonly top: number;
  readonly device: Device;
  readonly threads: number;
  /** undefined: the checkpoint's. */
  readonly flipTta: boolean | undefined;
}

const EVAL_OPTION_NAMES = Object.freeze([
  'checkpoint',
  'dataDir',
  'download',
  'limitTest',
  'batchSize',
  'device',
  'threads',
  'flipTta',
  'signal',
  'onProgress',
] as const);
const PREDICT_OPTION_NAMES = Object.freeze(['checkpoint', 'images', 'top', 'device', 'threads', 'flipTta'] as const);
const TOP_SPEC = integerSpec('epochs', 1, 10, 3, '');

function readOptionsObject(input: unknown, names: readonly string[]): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'options', 'object', input);
  }
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) if (!names.includes(key)) throw unknownOption(key, names);
  if (given.checkpoint === undefined) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'checkpoint', 'path of a checkpoint file', undefined);
  }
  return given;
}

/**
 * Checks {@link evaluate}'s options as resolveConfig checks train()'s, with the same messages and codes.
 *
 * @example
 * resolveEvalConfig({ checkpoint: 'runs/a/checkpoints/best.pt' }).batchSize; // 64
 */
export function resolveEvalConfig(input: unknown): ResolvedEvalConfig {
  const given = readOptionsObject(input, EVAL_OPTION_NAMES);
  const has = (name: string) => given[name] !== undefined;
  return Object.freeze({
    checkpoint: readPath(given.checkpoint, 'checkpoint'),
    dataDir: has('dataDir') ? readDataDir(given.dataDir) : defaultDataDir(),
    download: resolveDownload(has('download') ? given.download : DEFAULTS.download),
    limitTest: has('limitTest') ? readInteger(given.limitTest, SPECS.limitTest) : undefined,
    batchSize: has('batchSize') ? readInteger(given.batchSize, SPECS.batchSize) : DEFAULTS.batchSize,
    device: has('device') ? readDevice(given.device) : DEFAULTS.device,
    threads: has('threads') ? readInteger(given.threads, SPECS.threads) : DEFAULTS.threads,
    flipTta: has('flipTta') ? readBoolean(given.flipTta, SPECS.flipTta) : undefined,
    signal: has('signal') ? readAbortSignal(given.signal, 'signal') : undefined,
    onProgress: has('onProgress') ? readFunction(given.onProgress) : undefined,
  });
}

/**
 * Checks {@link predict}'s options.
 *
 * @example
 * resolvePredictConfig({ checkpoint: 'best.pt', images: ['cat.png'] }).top; // 3
 */
export function resolvePredictConfig(input: unknown): ResolvedPredictConfig {
  const given = readOptionsObject(input, PREDICT_OPTION_NAMES);
  const has = (name: string) => given[name] !== undefined;
  const images = given.images;
  const imagesExpected = 'non-empty array of PNG or JPEG paths or bytes (Uint8Array)';
  if (!Array.isArray(images)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'images', imagesExpected, images);
  }
  if (images.length === 0) throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', 'images', imagesExpected, images);
  const checked = images.map((image: unknown, i) => {
    if (image instanceof Uint8Array) return image;
    return readPath(image, `images[${i}]`);
  });
  return Object.freeze({
    checkpoint: readPath(given.checkpoint, 'checkpoint'),
    images: Object.freeze(checked),
    top: has('top') ? readInteger(given.top, { ...TOP_SPEC, name: 'top' as OptionName }) : 3,
    device: has('device') ? readDevice(given.device) : DEFAULTS.device,
    threads: has('threads') ? readInteger(given.threads, SPECS.threads) : DEFAULTS.threads,
    flipTta: has('flipTta') ? readBoolean(given.flipTta, SPECS.flipTta) : undefined,
  });
}

/**
 * Options of the benchmark (`npm run bench`, `libtorch-resnet bench`).
 *
 * @example
 * const config = resolveBenchConfig({ preset: 'cifar', batchSize: 64, steps: 10 });
 */
export interface BenchConfig {
  preset?: Preset | undefined;
  imageSize?: number | undefined;
  batchSize?: number | undefined;
  /** Timed training steps per round (10). */
  steps?: number | undefined;
  /** Untimed steps before them (3, as the yardstick does). */
  warmup?: number | undefined;
  /** Rounds; ours and the yardstick alternate within each (3). */
  rounds?: number | undefined;
  device?: Device | string | undefined;
  threads?: number | undefined;
  /**
   * Where CIFAR-10 is (as train()'s). When neither it nor $LIBTORCH_RESNET_DATA is given and the default folder holds
   * no CIFAR-10, the benchmark runs on generated records in CIFAR-10's binary layout; when one is given and holds
   * none, the benchmark fails (unless `download`).
   */
  dataDir?: string | undefined;
  /**
   * As train()'s, but false by default: a benchmark fetches CIFAR-10 (163 MB) only when asked (true, or
   * { url?, md5? }; `--download`).
   */
  download?: TrainConfig['download'];
  /** As train()'s ('fp32'). The yardstick always runs the article's float32. */
  precision?: Precision | undefined;
  /** As train()'s ('auto'). */
  memoryFormat?: MemoryFormat | undefined;
  /** The yardstick's DataLoader workers (0, as in the article). */
  yardstickWorkers?: number | undefined;
  /** The device's peak FLOP/s in TFLOP/s for the precision, for the model FLOP utilisation (from a table of known GPUs). */
  peakTflops?: number | undefined;
  /** The article program to time against; false: time ours only. */
  yardstick?: string | false | undefined;
  /** The Python that runs it and the peer ($LIBTORCH_RESNET_PYTHON, else /usr/bin/python3 where present, else python3). */
  python?: string | undefined;
  /** As train()'s ('auto'). */
  cudaGraph?: CudaGraph | undefined;
  /**
   * Also time the plain-PyTorch peer (pytorch_peer.py) at the same settings, eager and compiled, once per
   * benchmark: true takes $LIBTORCH_RESNET_PEER, else ../shared/anchors/pytorch_peer.py; a string is its path (false).
   */
  peer?: boolean | string | undefined;
  /** The peer's torch.compile mode for its compiled run; 'none' skips that run ('max-autotune'). */
  peerCompile?: PeerCompile | undefined;
  /** Seconds each peer run may take before it is stopped and recorded as skipped; 0: no limit (0). */
  peerTimeout?: number | undefined;
}

/** torch.compile modes of the peer's compiled run; 'none' runs no compiled peer. */
export type PeerCompile = 'none' | 'default' | 'reduce-overhead' | 'max-autotune';

/**
 * Every {@link PeerCompile} mode, in the order `bench --help` lists them.
 *
 * @example
 * PEER_COMPILE_MODES.includes('max-autotune'); // true
 */
export const PEER_COMPILE_MODES = Object.freeze(['none', 'default', 'reduce-overhead', 'max-autotune'] as const);

export interface ResolvedBenchConfig {
  readonly preset: Preset;
  readonly imageSize: number;
  readonly batchSize: number;
  readonly steps: number;
  readonly warmup: number;
  readonly rounds: number;
  readonly device: Device;
  readonly threads: number;
  readonly dataDir: string;
  /** Whether dataDir was chosen (the option, or $LIBTORCH_RESNET_DATA) rather than the default cache folder. */
  readonly dataDirGiven: boolean;
  /** false unless asked for. */
  readonly download: false | DownloadSource;
  readonly precision: Precision;
  readonly memoryFormat: MemoryFormat;
  readonly yardstickWorkers: number;
  readonly peakTflops: number | undefined;
  readonly yardstick: string | false;
  readonly python: string;
  readonly cudaGraph: CudaGraph;
  /** The peer program's absolute path; false: no peer. */
  readonly peer: string | false;
  readonly peerCompile: PeerCompile;
  /** 0: no limit. */
  readonly peerTimeout: number;
}

const BENCH_OPTION_NAMES = Object.freeze([
  'preset',
  'imageSize',
  'batchSize',
  'steps',
  'warmup',
  'rounds',
  'device',
  'threads',
  'dataDir',
  'download',
  'precision',
  'memoryFormat',
  'yardstickWorkers',
  'peakTflops',
  'yardstick',
  'python',
  'cudaGraph',
  'peer',
  'peerCompile',
  'peerTimeout',
] as const);

/** Where the article program is looked for when `yardstick` is not given: beside this package's checkout. */
export function defaultYardstick(env: NodeJS.ProcessEnv = process.env): string {
  return env.LIBTORCH_RESNET_YARDSTICK
    ? path.resolve(env.LIBTORCH_RESNET_YARDSTICK)
    : path.resolve(__dirname, '..', '..', 'shared', 'anchors', 'article_resnet34.py');
}

/**
 * Where the plain-PyTorch peer is looked for when `peer` is true: $LIBTORCH_RESNET_PEER, else beside the checkout.
 *
 * @example
 * defaultPeer({ LIBTORCH_RESNET_PEER: '/opt/pytorch_peer.py' }); // '/opt/pytorch_peer.py'
 */
export function defaultPeer(env: NodeJS.ProcessEnv = process.env): string {
  return env.LIBTORCH_RESNET_PEER
    ? path.resolve(env.LIBTORCH_RESNET_PEER)
    : path.resolve(__dirname, '..', '..', 'shared', 'anchors', 'pytorch_peer.py');
}

function defaultPython(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LIBTORCH_RESNET_PYTHON) return env.LIBTORCH_RESNET_PYTHON;
  // Debian's interpreter has python3-torch; another python3 may come first on the PATH.
  return process.platform === 'linux' && fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/**
 * Checks the benchmark's options, with train()'s messages and codes.
 *
 * @example
 * resolveBenchConfig({ preset: 'cifar' }).imageSize; // 32
 */
export function resolveBenchConfig(input: unknown = {}): ResolvedBenchConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'options', 'object', input);
  }
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) if (!(BENCH_OPTION_NAMES as readonly string[]).includes(key)) throw unknownOption(key, BENCH_OPTION_NAMES);
  const has = (name: string) => given[name] !== undefined;
  // preset and imageSize are checked together, as for train().
  const shape = resolveConfig({ preset: given.preset, imageSize: given.imageSize });
  const count = (name: string, min: number, max: number, def: number) =>
    has(name) ? readInteger(given[name], { ...integerSpec('epochs', min, max, def, ''), name: name as OptionName }) : def;
  let yardstick: string | false = defaultYardstick();
  if (given.yardstick === false) yardstick = false;
  else if (has('yardstick')) yardstick = readPath(given.yardstick, 'yardstick');
  let peer: string | false = false;
  if (given.peer === true) peer = defaultPeer();
  else if (has('peer') && given.peer !== false) {
    if (typeof given.peer !== 'string') {
      throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'peer', 'boolean or path of pytorch_peer.py', given.peer);
    }
    peer = readPath(given.peer, 'peer');
  }
  const peerCompileSpec: OptionSpec = {
    ...SPECS.memoryFormat,
    name: 'peerCompile' as OptionName,
    values: PEER_COMPILE_MODES,
    expected: "one of 'none', 'default', 'reduce-overhead' or 'max-autotune'",
  };
  return Object.freeze({
    preset: shape.preset,
    imageSize: shape.imageSize,
    batchSize: has('batchSize') ? readInteger(given.batchSize, SPECS.batchSize) : DEFAULTS.batchSize,
    steps: count('steps', 1, 100000, 10),
    warmup: count('warmup', 0, 1000, 3),
    rounds: count('rounds', 1, 100, 3),
    device: has('device') ? readDevice(given.device) : DEFAULTS.device,
    threads: has('threads') ? readInteger(given.threads, SPECS.threads) : DEFAULTS.threads,
    dataDir: has('dataDir') ? readDataDir(given.dataDir) : defaultDataDir(),
    dataDirGiven: has('dataDir') || Boolean(process.env[DATA_DIR_ENV]),
    // Never a 163 MB download unless asked: without data the benchmark generates records (lib/bench.ts).
    download: resolveDownload(has('download') ? given.download : false),
    precision: has('precision') ? readBenchPrecision(given.precision) : 'fp32',
    memoryFormat: has('memoryFormat')
      ? readEnum<MemoryFormat>(given.memoryFormat, SPECS.memoryFormat)
      : DEFAULTS.memoryFormat,
    yardstickWorkers: count('yardstickWorkers', 0, 256, 0),
    peakTflops: has('peakTflops')
      ? readNumber(given.peakTflops, numberSpec('peakTflops' as OptionName, { min: 0, max: 1e6, minExclusive: true }, 1, ''))
      : undefined,
    yardstick,
    python: has('python') ? readCommand(given.python, 'python') : defaultPython(),
    cudaGraph: has('cudaGraph') ? readCudaGraph(given.cudaGraph) : DEFAULTS.cudaGraph,
    peer,
    peerCompile: has('peerCompile') ? readEnum<PeerCompile>(given.peerCompile, peerCompileSpec) : 'max-autotune',
    peerTimeout: count('peerTimeout', 0, 86400, 0),
  });
}
