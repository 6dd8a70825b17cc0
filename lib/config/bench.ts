// SPDX-License-Identifier: MIT
// The benchmark's options (`libtorch-resnet bench`, `npm run bench`): train()'s checks and messages, its specs
// where an option means the same, and the benchmark's own (steps, rounds, the yardstick and the peer).
import fs from 'node:fs';
import path from 'node:path';

import type { DownloadSource } from '../download';

import { invalidParameter, readCommand, readEnum, readPath } from './checks';
import { resolveDownload } from './download';
import { DEFAULT_IMAGE_SIZE, PRECISIONS } from './presets';
import { enumSpec, integerSpec, numberSpec, readOptions, spec } from './spec';
import { DATA_DIR_ENV, DEFAULTS, TRAIN_SPECS, defaultDataDir } from './train-options';
import { checkImageSize } from './train';
import type { CudaGraph, Device, MemoryFormat, Precision, Preset, TrainConfig } from './types';

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

const BENCH_DEFAULTS = {
  steps: 10,
  warmup: 3,
  rounds: 3,
  precision: 'fp32',
  yardstickWorkers: 0,
  peerCompile: 'max-autotune',
  peerTimeout: 0,
} as const;

// The checkout holding this package, from lib/config/ or dist/config/: the anchors sit beside it in ../shared.
const CHECKOUT = path.resolve(__dirname, '..', '..');

/** Where the article program is looked for when `yardstick` is not given: beside this package's checkout. */
export function defaultYardstick(env: NodeJS.ProcessEnv = process.env): string {
  return env.LIBTORCH_RESNET_YARDSTICK
    ? path.resolve(env.LIBTORCH_RESNET_YARDSTICK)
    : path.resolve(CHECKOUT, '..', 'shared', 'anchors', 'article_resnet34.py');
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
    : path.resolve(CHECKOUT, '..', 'shared', 'anchors', 'pytorch_peer.py');
}

function defaultPython(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LIBTORCH_RESNET_PYTHON) return env.LIBTORCH_RESNET_PYTHON;
  // Debian's interpreter has python3-torch; another python3 may come first on the PATH.
  return process.platform === 'linux' && fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

// A benchmark row names its arithmetic: 'auto' would leave the table unclear.
function readBenchPrecision(value: unknown): Exclude<Precision, 'auto'> {
  const precision = readEnum<Precision>(value, TRAIN_SPECS.precision);
  if (precision === 'auto') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', 'precision', "one of 'fp32', 'tf32', 'bf16' or 'fp16'", value);
  }
  return precision;
}

function readPeer(value: unknown): string | false {
  if (value === true) return defaultPeer();
  if (value === false) return false;
  if (typeof value !== 'string') {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'peer', 'boolean or path of pytorch_peer.py', value);
  }
  return readPath(value, 'peer');
}

/** A path option of the benchmark. */
function pathSpec<N extends string, T>(name: N, defaultText: string, description: string, read: (value: unknown) => T) {
  return spec(
    { name, type: 'string', default: undefined, defaultText, range: '', expected: 'non-empty string', description, cli: true },
    read,
  );
}

/** The benchmark's options, each with its check, in the order `bench --help` lists them. */
export const BENCH_SPECS = Object.freeze({
  preset: TRAIN_SPECS.preset,
  // Checked against the preset, read before it.
  imageSize: spec(TRAIN_SPECS.imageSize, (value, earlier) => {
    const imageSize = TRAIN_SPECS.imageSize.read(value, earlier);
    checkImageSize((earlier.preset as Preset | undefined) ?? DEFAULTS.preset, imageSize);
    return imageSize;
  }),
  batchSize: { ...TRAIN_SPECS.batchSize, default: DEFAULTS.batchSize, defaultText: String(DEFAULTS.batchSize) },
  steps: integerSpec('steps', 1, 100000, BENCH_DEFAULTS.steps, 'Timed training steps per round.'),
  warmup: integerSpec('warmup', 0, 1000, BENCH_DEFAULTS.warmup, 'Untimed steps before them, as the yardstick does.'),
  rounds: integerSpec('rounds', 1, 100, BENCH_DEFAULTS.rounds, 'Rounds; ours and the yardstick alternate within each.'),
  device: TRAIN_SPECS.device,
  threads: { ...TRAIN_SPECS.threads, description: 'CPU threads for both; 0 uses every core.' },
  dataDir: {
    ...TRAIN_SPECS.dataDir,
    defaultText: 'as for train; without CIFAR-10 there, generated records',
    description: 'Folder where CIFAR-10 is; a folder given without it is an error.',
  },
  download: {
    ...TRAIN_SPECS.download,
    default: false,
    defaultText: 'false',
    description: 'Download CIFAR-10 (163 MB) into the data folder when it lacks it (or { url, md5 }, as for train).',
  },
  precision: spec(
    {
      ...enumSpec('precision', PRECISIONS.filter((p) => p !== 'auto'), BENCH_DEFAULTS.precision, `'${BENCH_DEFAULTS.precision}'`, ''),
      description: 'Our arithmetic, as for train; the yardstick always runs the article\'s float32.',
    },
    readBenchPrecision,
  ),
  memoryFormat: TRAIN_SPECS.memoryFormat,
  yardstickWorkers: integerSpec('yardstickWorkers', 0, 256, BENCH_DEFAULTS.yardstickWorkers, "The yardstick's DataLoader workers (0, as in the article)."),
  peakTflops: {
    ...numberSpec('peakTflops', { min: 0, max: 1e6, minExclusive: true }, undefined, "The device's peak TFLOP/s for the precision, for the MFU."),
    defaultText: 'from a table of known GPUs',
  },
  yardstick: {
    ...pathSpec(
      'yardstick',
      '$LIBTORCH_RESNET_YARDSTICK, else ../shared/anchors/article_resnet34.py',
      'The article program to time against; false (--no-yardstick): time ours only.',
      (value): string | false => (value === false ? false : readPath(value, 'yardstick')),
    ),
    flag: '--yardstick <file>',
    negatable: true,
  },
  python: pathSpec(
    'python',
    '$LIBTORCH_RESNET_PYTHON, else /usr/bin/python3 where present, else python3',
    'The Python with torch that runs the yardstick and the peer.',
    (value) => readCommand(value, 'python'),
  ),
  cudaGraph: TRAIN_SPECS.cudaGraph,
  peer: {
    ...pathSpec(
      'peer',
      'false; true: $LIBTORCH_RESNET_PEER, else ../shared/anchors/pytorch_peer.py',
      'Also time the plain-PyTorch peer at the same settings, eager and compiled, once: true, or its path.',
      readPeer,
    ),
    flag: '--peer [file]',
  },
  peerCompile: enumSpec(
    'peerCompile',
    PEER_COMPILE_MODES,
    BENCH_DEFAULTS.peerCompile,
    `'${BENCH_DEFAULTS.peerCompile}'`,
    "The peer's torch.compile mode for its compiled run; 'none' skips that run.",
  ),
  peerTimeout: integerSpec(
    'peerTimeout',
    0,
    86400,
    BENCH_DEFAULTS.peerTimeout,
    'Seconds each peer run may take before it is stopped and recorded as skipped; 0: no limit.',
  ),
});

/**
 * Checks the benchmark's options, with train()'s messages and codes.
 *
 * @example
 * resolveBenchConfig({ preset: 'cifar' }).imageSize; // 32
 */
export function resolveBenchConfig(input: unknown = {}): ResolvedBenchConfig {
  // The network's shape first (its image size checked against the preset), then the programs timed.
  const { values, given } = readOptions(BENCH_SPECS, input, { first: ['preset', 'imageSize', 'yardstick', 'peer'] });
  const preset = values.preset ?? DEFAULTS.preset;
  const imageSize = values.imageSize ?? DEFAULT_IMAGE_SIZE[preset];
  return Object.freeze({
    preset,
    imageSize,
    batchSize: values.batchSize ?? DEFAULTS.batchSize,
    steps: values.steps ?? BENCH_DEFAULTS.steps,
    warmup: values.warmup ?? BENCH_DEFAULTS.warmup,
    rounds: values.rounds ?? BENCH_DEFAULTS.rounds,
    device: values.device ?? DEFAULTS.device,
    threads: values.threads ?? DEFAULTS.threads,
    dataDir: values.dataDir ?? defaultDataDir(),
    dataDirGiven: given.includes('dataDir') || Boolean(process.env[DATA_DIR_ENV]),
    // Never a 163 MB download unless asked: without data the benchmark generates records (lib/bench.ts).
    download: values.download ?? false,
    precision: values.precision ?? BENCH_DEFAULTS.precision,
    memoryFormat: values.memoryFormat ?? DEFAULTS.memoryFormat,
    yardstickWorkers: values.yardstickWorkers ?? BENCH_DEFAULTS.yardstickWorkers,
    peakTflops: values.peakTflops,
    yardstick: values.yardstick ?? defaultYardstick(),
    python: values.python ?? defaultPython(),
    cudaGraph: values.cudaGraph ?? DEFAULTS.cudaGraph,
    peer: values.peer ?? false,
    peerCompile: values.peerCompile ?? BENCH_DEFAULTS.peerCompile,
    peerTimeout: values.peerTimeout ?? BENCH_DEFAULTS.peerTimeout,
  });
}
