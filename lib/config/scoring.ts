// SPDX-License-Identifier: MIT
// evaluate()'s and predict()'s options: what scoring a checkpoint takes, checked with train()'s checks and
// messages, each option's spec shared with train()'s where the two mean the same.
import type { DownloadSource } from '../download';
import type { TrainEvent } from '../progress';

import { invalidParameter, readPath } from './checks';
import { resolveDownload } from './download';
import { integerSpec, readOptions, spec } from './spec';
import { DEFAULTS, TRAIN_SPECS, defaultDataDir } from './train-options';
import type { Device, TrainConfig } from './types';

/**
 * Options of {@link evaluate}.
 *
 * @example
 * const result = await evaluate({ checkpoint: 'runs/a/checkpoints/best.pt', limitTest: 1000 });
 */
export interface EvalConfig {
  /** A checkpoint or weights file written by train(): `<runDir>/checkpoints/last.pt`, `best.pt` or `weights.pt`. Required. */
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


export const CHECKPOINT_SPEC = spec(
  {
    name: 'checkpoint',
    type: 'string',
    default: undefined,
    defaultText: 'none',
    range: '',
    expected: 'non-empty string',
    description: 'Checkpoint or weights file written by train (<run-dir>/checkpoints/best.pt, last.pt or weights.pt).',
    cli: true,
    required: 'path of a checkpoint file',
    flag: '--checkpoint <file>',
  },
  (value) => readPath(value, 'checkpoint'),
);

// Scoring keeps the checkpoint's TTA unless told: the same check as train()'s, another default.
const FLIP_TTA_SPEC = {
  ...TRAIN_SPECS.flipTta,
  default: undefined,
  defaultText: "as the checkpoint's run did",
  description: 'Score each image together with its mirror image.',
};

const SCORING_SPECS = {
  device: { ...TRAIN_SPECS.device, description: "Where to score; 'auto' takes CUDA when LibTorch sees a device, else the CPU." },
  threads: TRAIN_SPECS.threads,
  flipTta: FLIP_TTA_SPEC,
};

/** evaluate()'s options, each with its check, in the order `eval --help` lists them. */
export const EVAL_SPECS = Object.freeze({
  checkpoint: CHECKPOINT_SPEC,
  dataDir: { ...TRAIN_SPECS.dataDir, defaultText: 'as for train' },
  download: { ...TRAIN_SPECS.download, description: 'Download CIFAR-10 when the data folder lacks it, as train does.' },
  limitTest: TRAIN_SPECS.limitTest,
  batchSize: {
    ...TRAIN_SPECS.batchSize,
    default: DEFAULTS.batchSize,
    defaultText: String(DEFAULTS.batchSize),
    description: 'Images per step.',
  },
  ...SCORING_SPECS,
  signal: TRAIN_SPECS.signal,
  onProgress: TRAIN_SPECS.onProgress,
});

const TOP_DEFAULT = 3;
const IMAGES_EXPECTED = 'non-empty array of PNG or JPEG paths or bytes (Uint8Array)';

function readImages(images: unknown): readonly ImageInput[] {
  if (!Array.isArray(images)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'images', IMAGES_EXPECTED, images);
  }
  if (images.length === 0) throw invalidParameter(RangeError, 'ERR_OUT_OF_RANGE', 'images', IMAGES_EXPECTED, images);
  const checked = images.map((image: unknown, i) => (image instanceof Uint8Array ? image : readPath(image, `images[${i}]`)));
  return Object.freeze(checked);
}

/** predict()'s options, each with its check, in the order `predict --help` lists them. */
export const PREDICT_SPECS = Object.freeze({
  checkpoint: CHECKPOINT_SPEC,
  // The CLI takes the images as its arguments, not as a flag.
  images: spec(
    {
      name: 'images',
      type: 'object',
      default: undefined,
      defaultText: 'none',
      range: '',
      expected: IMAGES_EXPECTED,
      description: 'PNG or JPEG files (paths) or their bytes.',
      cli: false,
      required: IMAGES_EXPECTED,
    },
    readImages,
  ),
  top: integerSpec('top', 1, 10, TOP_DEFAULT, 'Classes to list per image, most probable first.'),
  ...SCORING_SPECS,
});

/**
 * Checks {@link evaluate}'s options as resolveConfig checks train()'s, with the same messages and codes.
 *
 * @example
 * resolveEvalConfig({ checkpoint: 'runs/a/checkpoints/best.pt' }).batchSize; // 64
 */
export function resolveEvalConfig(input: unknown): ResolvedEvalConfig {
  const { values } = readOptions(EVAL_SPECS, input);
  return Object.freeze({
    checkpoint: values.checkpoint!,
    dataDir: values.dataDir ?? defaultDataDir(),
    download: values.download ?? resolveDownload(DEFAULTS.download),
    limitTest: values.limitTest,
    batchSize: values.batchSize ?? DEFAULTS.batchSize,
    device: values.device ?? DEFAULTS.device,
    threads: values.threads ?? DEFAULTS.threads,
    flipTta: values.flipTta,
    signal: values.signal,
    onProgress: values.onProgress,
  });
}

/**
 * Checks {@link predict}'s options.
 *
 * @example
 * resolvePredictConfig({ checkpoint: 'best.pt', images: ['cat.png'] }).top; // 3
 */
export function resolvePredictConfig(input: unknown): ResolvedPredictConfig {
  // A missing checkpoint or images first, then the images, then the checkpoint and the rest.
  const { values } = readOptions(PREDICT_SPECS, input, { first: ['images'], absentFirst: true });
  return Object.freeze({
    checkpoint: values.checkpoint!,
    images: values.images!,
    top: values.top ?? TOP_DEFAULT,
    device: values.device ?? DEFAULTS.device,
    threads: values.threads ?? DEFAULTS.threads,
    flipTta: values.flipTta,
  });
}
