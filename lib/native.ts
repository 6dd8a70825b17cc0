// SPDX-License-Identifier: MIT
// The only file that loads the compiled addon, and the one declaration of its shape.
import fs from 'node:fs';
import path from 'node:path';

import type { DownloadEvent, EpochStats, TrainEvent } from './events';
import { libtorchLibrary } from './find-libtorch';
import type { EvalResult } from './evaluate';
import type { TrainResult } from './train';

/** Options exactly as native/binding/convert.cpp reads them: already validated and defaulted by lib/config/. */
export interface NativeTrainOptions {
  epochs: number;
  lr: number;
  batchSize: number;
  momentum: number;
  weightDecay: number;
  decayNormAndBias: boolean;
  nesterov: boolean;
  scheduler: 'constant' | 'cosine' | 'onecycle';
  warmupEpochs: number;
  labelSmoothing: number;
  augment: 'none' | 'flip' | 'crop-flip';
  flipTta: boolean;
  validSplit: number;
  seed: number;
  preset: 'article' | 'cifar' | 'torchvision';
  imageSize: number;
  device: string;
  /** 0 = every core (or OMP_NUM_THREADS). */
  threads: number;
  precision: 'fp32' | 'tf32' | 'bf16' | 'fp16' | 'auto';
  memoryFormat: 'auto' | 'contiguous' | 'channels-last';
  /** Folder holding the binary batches (or cifar-10-batches-bin/ inside it). */
  dataDir: string;
  /** 0 = all records. */
  limitTrain: number;
  limitTest: number;
  logEvery: number;
  /** Where last.pt, best.pt and weights.pt go; '' writes none. */
  checkpointDir: string;
  /** A checkpoint to continue from; '' starts afresh. */
  resumeFrom: string;
  /** Fine-tuning: a checkpoint, weights file or Python state dict the weights start from; '' for none. */
  initFrom: string;
  /** 'backbone': the classifier alone trains. */
  freeze: 'none' | 'backbone';
  /** null: one process. */
  distributed: NativeDistributedOptions | null;
  /**
   * The training step: 'auto' captures it in one CUDA graph for single-process CUDA training (eager otherwise),
   * 'on' captures on CUDA (on the CPU: the same static-buffer step, uncaptured), 'off' runs it eagerly.
   */
  cudaGraph: NativeCudaGraph;
  /** Image folders: the folder the run was given ('' for CIFAR-10), recorded in checkpoints. */
  images: string;
  /** Its decoded splits (lib/image-cache.ts); '' for a split drawn from train (valid, test) or CIFAR-10. */
  imagesTrainCache: string;
  imagesValidCache: string;
  imagesTestCache: string;
}

/** TrainConfig.cudaGraph as the addon reads it: 'auto', 'on' (true) or 'off' (false). */
export type NativeCudaGraph = 'auto' | 'on' | 'off';

export interface NativeDistributedOptions {
  worldSize: number;
  rank: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
  backend: 'auto' | 'gloo' | 'nccl';
  timeoutSeconds: number;
  checkReplicas: boolean;
}

/**
 * The options of a checkpoint, as train() recorded them: a NativeTrainOptions without the two paths, the
 * distributed settings and cudaGraph (a per-run choice a checkpoint does not record).
 */
export type NativeCheckpointOptions = Omit<
  NativeTrainOptions,
  | 'checkpointDir'
  | 'resumeFrom'
  | 'distributed'
  | 'cudaGraph'
  | 'initFrom'
  | 'imagesTrainCache'
  | 'imagesValidCache'
  | 'imagesTestCache'
> & {
  /** The processes that trained together (1 in files from before distributed training). */
  worldSize: number;
  /** The file the run's weights started from ('' when trained from scratch). */
  init: string;
};

export interface NativeEvalOptions {
  checkpoint: string;
  dataDir: string;
  /** 0 = all records. */
  limitTest: number;
  batchSize: number;
  device: string;
  threads: number;
  /** Score mirror images too; null: as the checkpoint's run scored. */
  flipTta: boolean | null;
}

export interface NativePredictOptions {
  checkpoint: string;
  device: string;
  threads: number;
  /** Average the logits of each image and its mirror image; null: as the checkpoint's run scored. */
  flipTta: boolean | null;
}

export interface NativeBenchOptions {
  preset: 'article' | 'cifar' | 'torchvision';
  imageSize: number;
  batchSize: number;
  steps: number;
  warmup: number;
  device: string;
  threads: number;
  precision: NativeTrainOptions['precision'];
  memoryFormat: NativeTrainOptions['memoryFormat'];
  dataDir: string;
  /** As NativeTrainOptions.cudaGraph. */
  cudaGraph: NativeCudaGraph;
}

export interface NativeBenchResult {
  status: 'completed' | 'cancelled';
  imagesPerSecond: number;
  secondsPerStep: number;
  dataBatchesPerSecond: number;
  dataFraction: number;
  /** Model FLOPs of one training image (3x forward) and what the timed steps achieved. */
  trainFlopsPerImage: number;
  flopsPerSecond: number;
  channelsLast: boolean;
  parameters: number;
  device: string;
  libtorchVersion: string;
  threads: number;
  /** Whether the timed steps replayed a captured CUDA graph. */
  cudaGraph: boolean;
  /** Host wall time spent issuing one training step, measured without syncing. */
  hostSecondsPerStep: number;
  /** GPU time of one step from CUDA events; 0 where not measured (the CPU). */
  gpuSecondsPerStep: number;
}

/** A decoded picture: width * height * 3 RGB bytes, row by row. */
export interface NativeImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** The training events the addon emits: every TrainEvent but the download's, in the shape train() passes on. */
export type NativeEvent = Exclude<TrainEvent, DownloadEvent>;

/** An epoch as a checkpoint's history holds it: files written before validSeconds existed lack it. */
export type NativeHistoryEpoch = Omit<EpochStats, 'validSeconds'> & { validSeconds?: number };

/** What the addon's training resolves with: the public TrainResult but for the run folder (the caller's), and status. */
export type NativeTrainResult = Omit<TrainResult, 'runDir'> & { status: 'completed' | 'cancelled' };

/** What a checkpoint says about itself. */
export interface NativeCheckpointSummary {
  options: NativeCheckpointOptions;
  epochsDone: number;
  /** Steps of the next epoch already taken (0 at an epoch boundary). */
  step: number;
  libtorchVersion: string;
  /** 'weights': a weights.pt, which describes its network (preset, image size, ...) but cannot be resumed. */
  kind: 'checkpoint' | 'weights';
  /** Label i's name. */
  classes: string[];
}

export interface NativeCheckpointInfo extends NativeCheckpointSummary {
  history: NativeHistoryEpoch[];
  /** -1 before any validation. */
  bestValidAccuracy: number;
}

/** One state-dict tensor of {@link NativeModel}: float32 for parameters and floating buffers, int64 (num_batches_tracked) as BigInt64Array. */
export type NativeModelTensor =
  | { name: string; shape: number[]; dtype: 'float32'; data: Float32Array }
  | { name: string; shape: number[]; dtype: 'int64'; data: BigInt64Array };

/** What readModel gives: a checkpoint's network as plain data, its tensors in state-dict order (parameters, then buffers). */
export interface NativeModel {
  preset: string;
  imageSize: number;
  /** The side predict() shrinks a picture to first: 32 for CIFAR-10, the stored side for image folders. */
  recordSide: number;
  classes: string[];
  mean: number[];
  std: number[];
  tensors: NativeModelTensor[];
}

/** What the addon's evaluation resolves with: the public EvalResult, and status. */
export type NativeEvalResult = EvalResult & { status: 'completed' | 'cancelled' };

export interface NativePredictResult {
  /** 10 class probabilities per image. */
  probabilities: number[][];
  device: string;
  flipTta: boolean;
  checkpoint: NativeCheckpointSummary;
}

/** An Error built on the main thread from a native exception; code is ERR_TORCH, ERR_TORCH_OOM or ERR_NATIVE. */
export interface NativeError extends Error {
  code: string;
}

export interface NativeJob {
  /** Asks the loop to stop before its next step; onDone still fires (with status 'cancelled'). */
  cancel(): void;
}

export interface NativeInfo {
  libtorchVersion: string;
  cudaAvailable: boolean;
  cudaDevices: number;
  /** Threads train() uses when threads is 0. */
  threads: number;
  /** The c10d backends this build can train with across processes. */
  distributedBackends: string[];
  /** CUDA's encoding (12040 = 12.4); 0 without CUDA. */
  cudaRuntimeVersion: number;
  /** cuDNN's encoding (90100 = 9.1.0, 8902 = 8.9.2); 0 without cuDNN. */
  cudnnVersion: number;
  /** The _GLIBCXX_USE_CXX11_ABI the addon was compiled with. */
  cxx11Abi: number;
}

export interface NativeBinding {
  /** Starts training on a libuv worker thread; returns at once. onDone is called exactly once. */
  startTraining(
    options: NativeTrainOptions,
    onEvent: (event: NativeEvent) => void,
    onDone: (error: NativeError | null, result?: NativeTrainResult) => void,
  ): NativeJob;
  /** Scores a checkpoint on the test split, off the main thread. */
  startEvaluation(
    options: NativeEvalOptions,
    onEvent: (event: NativeEvent) => void,
    onDone: (error: NativeError | null, result?: NativeEvalResult) => void,
  ): NativeJob;
  /** Classifies decoded images with a checkpoint, off the main thread; the images are copied at once. */
  startPrediction(
    options: NativePredictOptions,
    images: NativeImage[],
    onEvent: (event: NativeEvent) => void,
    onDone: (error: NativeError | null, result?: NativePredictResult) => void,
  ): NativeJob;
  /** Times training steps and the data path alone, off the main thread. */
  startBenchmark(
    options: NativeBenchOptions,
    onEvent: (event: NativeEvent) => void,
    onDone: (error: NativeError | null, result?: NativeBenchResult) => void,
  ): NativeJob;
  /** Reads a checkpoint's options, position and history, off the main thread. */
  readCheckpoint(path: string, onDone: (error: NativeError | null, result?: NativeCheckpointInfo) => void): NativeJob;
  /** Reads a checkpoint or weights file's network (checksums verified), off the main thread. */
  readModel(path: string, onDone: (error: NativeError | null, result?: NativeModel) => void): NativeJob;
  info(): NativeInfo;
  parameterCount(preset: 'article' | 'cifar' | 'torchvision'): number;
  /** The options the core starts a preset's run from (its recipe and image size), as a checkpoint records them. */
  presetOptions(preset: 'article' | 'cifar' | 'torchvision'): NativeCheckpointOptions;
  /** Model FLOPs of one image's forward pass (convolutions and classifier, 2 per multiply-add). */
  forwardFlops(preset: 'article' | 'cifar' | 'torchvision', imageSize: number): number;
  /** The state dict's keys (parameters, then buffers) with their shapes, named as PyTorch names them. */
  stateDictShapes(preset: 'article' | 'cifar' | 'torchvision'): Record<string, number[]>;
  /**
   * The training augmentation of `count` CIFAR images (uint8, planes R, G, B of 32x32 each), as a training step
   * whose random numbers come from `seed` applies it; the input is left as it is.
   */
  augmentBatch(records: Uint8Array, count: number, augment: NativeTrainOptions['augment'], seed: number): Uint8Array;
}

/** NativeInfo.cudaRuntimeVersion as people write it: 12040 -> '12.4'; '' for 0. */
export function cudaVersionText(encoded: number): string {
  return encoded > 0 ? `${Math.floor(encoded / 1000)}.${Math.floor((encoded % 1000) / 10)}` : '';
}

/** NativeInfo.cudnnVersion as people write it: 90100 -> '9.1.0' (cuDNN 9 counts majors in 10000s), 8902 -> '8.9.2'. */
export function cudnnVersionText(encoded: number): string {
  if (encoded <= 0) return '';
  const major = encoded >= 90000 ? 10000 : 1000;
  return `${Math.floor(encoded / major)}.${Math.floor((encoded % major) / 100)}.${encoded % 100}`;
}

let cached: NativeBinding | undefined;

/** Names a .node file to load instead of the usual search (scripts/sanitize.sh points it at the sanitizer build). */
export const ADDON_ENV = 'LIBTORCH_RESNET_ADDON';

/** What a .node file says about its build: the LibTorch it was linked against (see native/binding/addon.cpp). */
export interface AddonBuildInfo {
  readonly file: string;
  readonly libtorch: string;
  readonly libDir: string;
}

/**
 * The build facts embedded in an addon binary, read from its bytes (so it works when the file cannot be loaded);
 * undefined when the file is missing or holds none.
 *
 * @example
 * readBuildInfo('build/Release/torch_resnet.node'); // { file, libtorch: '1.13.0', libDir: '/usr/lib/x86_64-linux-gnu' }
 */
export function readBuildInfo(file: string): AddonBuildInfo | undefined {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  const start = bytes.indexOf('@@LIBTORCH_RESNET_BUILD{');
  const end = start < 0 ? -1 : bytes.indexOf('}@@', start);
  if (end < 0) return undefined;
  try {
    const parsed = JSON.parse(bytes.subarray(start + '@@LIBTORCH_RESNET_BUILD'.length, end + 1).toString('utf8'));
    return { file, libtorch: String(parsed.libtorch), libDir: String(parsed.libDir) };
  } catch {
    return undefined;
  }
}

/** Whether `libDir` holds a LibTorch library the loader can open (find-libtorch.js decides what counts). */
function holdsLibtorch(libDir: string): boolean {
  return libDir !== '' && libtorchLibrary(libDir) !== null;
}

/** A binary loadNative may try, and where it came from. */
export interface AddonCandidate {
  readonly file: string;
  /** explicit: $LIBTORCH_RESNET_ADDON; local: this install's own build; prebuilt: from prebuilds/. */
  readonly origin: 'explicit' | 'local' | 'prebuilt';
  /** The LibTorch it was built against, where the file says. */
  readonly build?: AddonBuildInfo;
}

/**
 * The binaries loadNative tries, in order: $LIBTORCH_RESNET_ADDON alone when set; else the local build
 * (build/Release/torch_resnet.node, from cmake-js or node-gyp); then the prebuilds for this platform, arch, libc and
 * runtime (node-gyp-build's tags), those whose LibTorch is on this machine first and CUDA builds before CPU ones.
 * One package can carry prebuilds for several LibTorch builds: the file names tell them apart
 * (scripts/prebuild.js), and a binary whose LibTorch is missing simply fails to load, so the next one is tried.
 *
 * @example
 * addonCandidates('/app/node_modules/libtorch-resnet').map((c) => c.file);
 * // ['/app/.../build/Release/torch_resnet.node', '/app/.../prebuilds/linux-x64/libtorch-resnet.torch-1_13_1-cpu.glibc.node']
 */
export function addonCandidates(root: string, env: NodeJS.ProcessEnv = process.env): AddonCandidate[] {
  const explicit = env[ADDON_ENV];
  if (explicit) {
    const file = path.resolve(explicit);
    return [{ file, origin: 'explicit', build: readBuildInfo(file) }];
  }
  const candidates: AddonCandidate[] = [];
  const local = path.join(root, 'build', 'Release', 'torch_resnet.node');
  if (fs.existsSync(local)) candidates.push({ file: local, origin: 'local', build: readBuildInfo(local) });

  const folder = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  let names: string[] = [];
  try {
    names = fs.readdirSync(folder);
  } catch {
    // No prebuilds for this platform.
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const gypBuild = require('node-gyp-build') as {
    parseTags(file: string): { file: string } | undefined;
    matchTags(runtime: string, abi: string): (tags: unknown) => boolean;
  };
  const rank = (c: AddonCandidate) =>
    (holdsLibtorch(c.build?.libDir ?? '') ? 0 : 2) + (/\.torch-[\w]+-cuda[\w]*\./.test(path.basename(c.file)) ? 0 : 1);
  const prebuilt = names
    .map((name) => gypBuild.parseTags(name))
    .filter(gypBuild.matchTags('node', process.versions.modules))
    .map((tags) => {
      const file = path.join(folder, (tags as { file: string }).file);
      return { file, origin: 'prebuilt' as const, build: readBuildInfo(file) };
    })
    .sort((a, b) => rank(a) - rank(b) || a.file.localeCompare(b.file));
  return [...candidates, ...prebuilt];
}

/** What the load error says about a binary's own LibTorch, when the binary tells. */
function buildHint(build: AddonBuildInfo | undefined): string {
  if (!build || build.libDir === '') return '';
  return (
    `${build.file} was built against LibTorch ${build.libtorch} in ${build.libDir}` +
    (holdsLibtorch(build.libDir)
      ? ', which is still there (another LibTorch may come first: check LD_LIBRARY_PATH).'
      : ', which is no longer there.')
  );
}

let loadedFrom: AddonCandidate | undefined;

/** The binary loadNative loaded, once it has. */
export function loadedAddon(): AddonCandidate | undefined {
  return loadedFrom;
}

/**
 * Loads the first of addonCandidates() that loads; throws ERR_NATIVE_LOAD listing each binary tried, why it
 * failed and the LibTorch it was built against, with what to do, when none does.
 */
export function loadNative(root: string = path.resolve(__dirname, '..')): NativeBinding {
  if (cached) return cached;
  const candidates = addonCandidates(root);
  const failures: string[] = [];
  for (const candidate of candidates) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      cached = require(candidate.file) as NativeBinding;
      loadedFrom = candidate;
      return cached;
    } catch (err) {
      const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0];
      const hint = buildHint(candidate.build);
      failures.push(`  - ${candidate.file} (${candidate.origin}): ${reason}${hint ? `\n    ${hint}` : ''}`);
    }
  }
  const searched =
    failures.length > 0
      ? `Tried:\n${failures.join('\n')}\n`
      : `There is no build (${path.join(root, 'build', 'Release', 'torch_resnet.node')}) and no prebuilt binary for ` +
        `${process.platform}-${process.arch} (${path.join(root, 'prebuilds')}).\n`;
  const e = new Error(
    'libtorch-resnet: the native addon could not be loaded.\n' +
      searched +
      'Possible solutions:\n' +
      '- Build it: npm run setup in a checkout, or npm rebuild libtorch-resnet in a project that installed it\n' +
      '- Rebuild against the LibTorch you have, or a chosen one: LIBTORCH=/path/to/libtorch npm rebuild libtorch-resnet\n' +
      '- See what is installed and what is missing: npx libtorch-resnet doctor\n',
  );
  (e as NativeError).code = 'ERR_NATIVE_LOAD';
  throw e;
}
