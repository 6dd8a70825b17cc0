// SPDX-License-Identifier: MIT
// train()'s resolver: the options object checked against TRAIN_SPECS, every default filled in (the recipe's, the
// table's, the environment's), the checks between options, and the object the addon reads.
import path from 'node:path';

import type { NativeCudaGraph, NativeTrainOptions } from '../native';

import { configError, invalidParameter } from './checks';
import { resolveDistributed } from './distributed';
import { resolveDownload } from './download';
import { DEFAULT_IMAGE_SIZE, IMAGE_SIZE_RANGE, PRESET_RECIPES } from './presets';
import type { Recipe } from './presets';
import { readOptions } from './spec';
import type { ReadValues } from './spec';
import { DEFAULTS, TRAIN_SPECS, defaultDataDir } from './train-options';
import type { CudaGraph, OptionName, Preset, ResolvedConfig } from './types';

/**
 * Refuses an image side the preset's network cannot take (a RangeError naming imageSize).
 *
 * @example
 * checkImageSize('article', 32); // RangeError: Expected integer between 193 and 224 (preset 'article') ...
 */
export function checkImageSize(preset: Preset, imageSize: number): void {
  const sizes = IMAGE_SIZE_RANGE[preset];
  if (Number.isInteger(imageSize) && imageSize >= sizes.min && imageSize <= sizes.max) return;
  const hints: Partial<Record<Preset, string>> = {
    article:
      "the article's network ends in AvgPool2d(7) + Linear(512), which needs a 7x7 final feature map; " +
      "use preset 'cifar' for smaller images",
    torchvision: "torchvision's resnet34 halves the side 5 times before its global pooling; use preset 'cifar' for smaller images",
  };
  const hint = hints[preset];
  throw invalidParameter(
    RangeError,
    'ERR_OUT_OF_RANGE',
    'imageSize',
    `integer between ${sizes.min} and ${sizes.max} (preset '${preset}')`,
    imageSize,
    hint,
  );
}

/** The recipe's parts, each as given or else the preset's; a default warm-up fits the run's length. */
function recipeOf(values: ReadValues<typeof TRAIN_SPECS>, preset: Preset): Recipe {
  const recipe = PRESET_RECIPES[preset];
  const epochs = values.epochs ?? recipe.epochs;
  return {
    epochs,
    lr: values.lr ?? recipe.lr,
    batchSize: values.batchSize ?? recipe.batchSize,
    weightDecay: values.weightDecay ?? recipe.weightDecay,
    precision: values.precision ?? recipe.precision,
    decayNormAndBias: values.decayNormAndBias ?? recipe.decayNormAndBias,
    nesterov: values.nesterov ?? recipe.nesterov,
    scheduler: values.scheduler ?? recipe.scheduler,
    // A short run gets a short warm-up.
    warmupEpochs: values.warmupEpochs ?? Math.min(recipe.warmupEpochs, epochs / 6),
    labelSmoothing: values.labelSmoothing ?? recipe.labelSmoothing,
    augment: values.augment ?? recipe.augment,
    flipTta: values.flipTta ?? recipe.flipTta,
  };
}

/** The checks between options, once each is known. */
function checkTogether(config: ResolvedConfig): void {
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
    const hint = 'Nesterov momentum needs momentum; set momentum or nesterov: false';
    throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', 'momentum', 'number greater than 0 with nesterov', config.momentum, hint);
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
  checkImageSize(config.preset, config.imageSize);
  checkFineTuning(config);
  checkImagesAlone(config);
}

/** init and freeze against the rest: what a fine-tuning run cannot be combined with. */
function checkFineTuning(config: ResolvedConfig): void {
  if (config.init !== undefined && config.resume !== undefined) {
    const message =
      'Cannot use init together with resume: a resumed run continues from its checkpoint\'s weights (an init ' +
      'run\'s checkpoint included); pass resume alone to continue, or init alone to start a new run from a file';
    throw configError(TypeError, 'ERR_INVALID_ARG_VALUE', 'init', message);
  }
  if (config.freeze === 'backbone' && config.init === undefined && config.resume === undefined) {
    const message =
      "freeze 'backbone' needs init: a frozen random backbone would train a classifier on random features; pass " +
      "init: FILE (pretrained weights), or leave freeze 'none'";
    throw configError(RangeError, 'ERR_INVALID_ARG_VALUE', 'freeze', message);
  }
}

/** images replaces CIFAR-10, so the options that say where CIFAR-10 comes from cannot come with it. */
function checkImagesAlone(config: ResolvedConfig): void {
  if (config.images === undefined) {
    if (config.given.includes('skipBadImages')) {
      const message = 'skipBadImages applies to image folders; pass images too, or leave skipBadImages out';
      throw configError(TypeError, 'ERR_INVALID_ARG_VALUE', 'skipBadImages', message);
    }
    return;
  }
  for (const name of ['dataDir', 'download'] as const) {
    if (!config.given.includes(name)) continue;
    const message =
      `${name} is for CIFAR-10, and images replaces CIFAR-10 with your own folders; ` +
      `leave ${name} out, or images out to train on CIFAR-10`;
    throw configError(TypeError, 'ERR_INVALID_ARG_VALUE', name, message);
  }
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
  // The preset first: it decides the other options' defaults and imageSize's range.
  const { values, given } = readOptions(TRAIN_SPECS, input, { allowUndefined: true, first: ['preset'] });
  const preset = values.preset ?? DEFAULTS.preset;
  const recipe = recipeOf(values, preset);
  // In the options table's order, which config.json and the report keep.
  const config: ResolvedConfig = {
    epochs: recipe.epochs,
    lr: recipe.lr,
    batchSize: recipe.batchSize,
    momentum: values.momentum ?? DEFAULTS.momentum,
    weightDecay: recipe.weightDecay,
    decayNormAndBias: recipe.decayNormAndBias,
    nesterov: recipe.nesterov,
    scheduler: recipe.scheduler,
    warmupEpochs: recipe.warmupEpochs,
    labelSmoothing: recipe.labelSmoothing,
    augment: recipe.augment,
    flipTta: recipe.flipTta,
    validSplit: values.validSplit ?? DEFAULTS.validSplit,
    seed: values.seed ?? DEFAULTS.seed,
    preset,
    imageSize: values.imageSize ?? DEFAULT_IMAGE_SIZE[preset],
    device: values.device ?? DEFAULTS.device,
    threads: values.threads ?? DEFAULTS.threads,
    precision: recipe.precision,
    memoryFormat: values.memoryFormat ?? DEFAULTS.memoryFormat,
    cudaGraph: values.cudaGraph ?? DEFAULTS.cudaGraph,
    dataDir: values.dataDir ?? defaultDataDir(),
    download: values.download ?? resolveDownload(DEFAULTS.download),
    images: values.images,
    skipBadImages: values.skipBadImages ?? false,
    limitTrain: values.limitTrain,
    limitTest: values.limitTest,
    logEvery: values.logEvery ?? DEFAULTS.logEvery,
    runDir: values.runDir,
    resume: values.resume,
    distributed: resolveDistributed(values.distributed, env),
    init: values.init,
    freeze: values.freeze ?? DEFAULTS.freeze,
    signal: values.signal,
    onProgress: values.onProgress,
    given: Object.freeze(given as OptionName[]),
  };
  checkTogether(config);
  return Object.freeze(config);
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

/**
 * The options object the addon reads (native/binding/convert.cpp), from a resolved config and the data folder
 * prepareDataset() found (and, for image folders, the cache files prepareImages() wrote): 0 stands for "all
 * records" and "every core".
 *
 * @example
 * binding.startTraining(toNativeOptions(config, await prepareDataset(config.dataDir, config)), onEvent, onDone);
 */
export function toNativeOptions(
  config: ResolvedConfig,
  dataDir: string,
  caches?: { readonly train: string; readonly valid?: string | undefined; readonly test?: string | undefined },
): NativeTrainOptions {
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
    initFrom: config.init ?? '',
    freeze: config.freeze,
    distributed: config.distributed ?? null,
    cudaGraph: nativeCudaGraph(config.cudaGraph),
    images: config.images ?? '',
    imagesTrainCache: caches?.train ?? '',
    imagesValidCache: caches?.valid ?? '',
    imagesTestCache: caches?.test ?? '',
  };
}

