// SPDX-License-Identifier: MIT
// What train() takes and what resolveConfig gives back, as types: the options users write, their values, and
// the resolved config every other part of lib/ reads.
import type { DownloadSource } from '../download';
import type { TrainEvent } from '../progress';

import type { Recipe } from './presets';

/**
 * The network shape: the article's 224 px ImageNet-style ResNet-34, the same blocks with a 32 px CIFAR stem, or
 * torchvision's resnet34 exactly (its state-dict keys, ImageNet normalisation), to fine-tune its weights.
 */
export type Preset = 'article' | 'cifar' | 'torchvision';

/** Fine-tuning: which parameters train. 'backbone' freezes all but the classifier (fc), BatchNorm statistics too. */
export type Freeze = 'none' | 'backbone';

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
  /** Side in pixels images are resized to (224 for 'article' and 'torchvision', 32 for 'cifar'). */
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
  /**
   * Train on your own pictures instead of CIFAR-10: a folder of class folders (or of train/, test/ and optionally
   * val/, each holding the same class folders). Not together with dataDir or download.
   */
  images?: string | undefined;
  /** With images: leave out pictures that cannot be decoded, and report them, instead of failing (false). */
  skipBadImages?: boolean | undefined;
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
  /**
   * Fine-tuning: a checkpoint, a weights.pt, or a state dict saved by Python (`torch.save(model.state_dict(), f)`,
   * torchvision's resnet34 for preset 'torchvision') to start the weights from. A classifier of another class
   * count is replaced by a new seeded one. Not with `resume`.
   */
  init?: string | undefined;
  /** Fine-tuning: 'backbone' trains the classifier alone, the rest (BatchNorm statistics too) stays as init ('none'). */
  freeze?: Freeze | undefined;
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
  /** Absolute; undefined: CIFAR-10 from dataDir. */
  readonly images: string | undefined;
  readonly skipBadImages: boolean;
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
  /** Absolute path of the file the weights start from; undefined: from scratch. */
  readonly init: string | undefined;
  readonly freeze: Freeze;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((event: TrainEvent) => void) | undefined;
  /** The options the caller set (not left to their defaults): a resume keeps the checkpoint's for the rest. */
  readonly given: readonly OptionName[];
}

/** The name of a {@link TrainConfig} option. */
export type OptionName = keyof TrainConfig;
