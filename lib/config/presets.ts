// SPDX-License-Identifier: MIT
// The presets: each network shape's image sizes and the training recipe train() starts from.
import type { Augment, Freeze, MemoryFormat, Precision, Preset, Scheduler } from './types';

/**
 * Image sides each preset accepts. The article ends in AvgPool2d(7) + Linear(512), so it needs a 7x7 final map;
 * torchvision's stem and stages halve the side 5 times before its global pooling, so 32 px leaves a 1x1 map.
 */
export const IMAGE_SIZE_RANGE: Readonly<Record<Preset, { readonly min: number; readonly max: number }>> = Object.freeze({
  article: Object.freeze({ min: 193, max: 224 }),
  cifar: Object.freeze({ min: 8, max: 512 }),
  torchvision: Object.freeze({ min: 32, max: 512 }),
});

/** The image side each preset uses by default. */
export const DEFAULT_IMAGE_SIZE: Readonly<Record<Preset, number>> = Object.freeze({
  article: 224,
  cifar: 32,
  torchvision: 224,
});

export const PRESETS = ['article', 'cifar', 'torchvision'] as const satisfies readonly Preset[];
export const FREEZES = ['none', 'backbone'] as const satisfies readonly Freeze[];
export const PRECISIONS = ['fp32', 'tf32', 'bf16', 'fp16', 'auto'] as const satisfies readonly Precision[];
export const MEMORY_FORMATS = ['auto', 'contiguous', 'channels-last'] as const satisfies readonly MemoryFormat[];
export const SCHEDULERS = ['constant', 'cosine', 'onecycle'] as const satisfies readonly Scheduler[];
export const AUGMENTS = ['none', 'flip', 'crop-flip'] as const satisfies readonly Augment[];

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
  // Fine-tuning pretrained weights (native/core/options.h says why): a small lr with momentum, light weight
  // decay off BatchNorm and biases, cosine to 0, flips, bf16 autocast on CUDA.
  torchvision: Object.freeze({
    epochs: 10,
    lr: 0.01,
    batchSize: 64,
    weightDecay: 1e-4,
    precision: 'auto',
    decayNormAndBias: false,
    nesterov: false,
    scheduler: 'cosine',
    warmupEpochs: 0,
    labelSmoothing: 0,
    augment: 'flip',
    flipTta: false,
  }),
});

