// SPDX-License-Identifier: MIT
// Finds CIFAR-10 (binary version) in the data folder, extracting an archive found there or downloaded into it.
import fs from 'node:fs/promises';
import path from 'node:path';

import { extract } from 'tar';

import { DATA_DIR_ENV, resolveDownload } from './config';
import { downloadArchive } from './download';
import type { DownloadEvent, DownloadOptions, DownloadSource } from './download';
import { fileSystemCode } from './errors';
import { withLock } from './lock';
import type { LockOptions } from './lock';

/**
 * The ten CIFAR-10 classes, in label order (batches.meta.txt).
 *
 * @example
 * CIFAR10_CLASSES[result.confusionMatrix.findIndex((row) => row[0] > 0)];
 */
export const CIFAR10_CLASSES = Object.freeze([
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const);

/** The folder the official archive unpacks to. */
export const BATCHES_FOLDER = 'cifar-10-batches-bin';

/** The files the native loader reads. */
export const BATCH_FILES: readonly string[] = Object.freeze([
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
  'test_batch.bin',
]);

/** Archives looked for in the data folder, in order of preference. */
export const ARCHIVE_NAMES: readonly string[] = Object.freeze([
  'cifar-10-binary.tar.gz',
  'cifar-10-binary-mini.tar.gz',
]);

const OFFICIAL_PAGE = 'https://www.cs.toronto.edu/~kriz/cifar.html';

/** Bytes in one record: a label byte and 32x32x3 pixels. */
export const RECORD_BYTES = 3073;
/** Size of each batch file of the full archive: 10000 records. */
export const FULL_BATCH_BYTES = 10000 * RECORD_BYTES;
/** Archives known to hold the full-size batches: the official one and the rebuild in shared/data. */
const FULL_ARCHIVE_MD5S = new Set(['c32a1d4ab5d03f1284b67883e8d87530', '395966ba311994b1434349cd181fc8cd']);
/** Written into cifar-10-batches-bin/ last, once every file is extracted and checked. */
export const COMPLETE_MARKER = '.libtorch-resnet-complete';
/** The lock file in dataDir that makes a second process wait while one downloads or extracts. */
export const LOCK_FILE = '.libtorch-resnet.lock';
/** The name a downloaded archive is saved under in dataDir. */
export const DOWNLOAD_NAME = 'cifar-10-binary.tar.gz';

/** How prepareDataset() may get data that is not there yet. */
export interface PrepareDatasetOptions {
  /** false: never download; true: the default source; or where to download from (a resolved config's value). */
  download: boolean | DownloadSource;
  /** Receives download events. */
  onProgress?: ((event: DownloadEvent) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Retry and timeout settings of the download (tests shorten them). */
  downloadOptions?: Omit<DownloadOptions, 'onProgress' | 'signal'> | undefined;
  /** Lock polling settings (tests shorten them). */
  lockOptions?: Omit<LockOptions, 'signal'> | undefined;
}

type CodedError = Error & { code: string; path?: string };

function dataError(code: string, message: string, where: string, cause?: unknown): CodedError {
  const error = new Error(message, cause === undefined ? undefined : { cause }) as CodedError;
  error.code = code;
  error.path = where;
  return error;
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await fs.stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

/** The batch files missing from `dir` (all of them when it does not exist). */
async function missingFiles(dir: string): Promise<string[]> {
  const present = await Promise.all(BATCH_FILES.map((name) => isFile(path.join(dir, name))));
  return BATCH_FILES.filter((_, i) => !present[i]);
}

/**
 * Unpacks `archive` into `dataDir`/cifar-10-batches-bin. It extracts into a temporary folder inside dataDir and
 * renames the complete folder into place, so a half-extracted folder is never used.
 */
async function extractArchive(archive: string, dataDir: string, md5?: string): Promise<void> {
  const target = path.join(dataDir, BATCHES_FOLDER);
  const temp = await fs.mkdtemp(path.join(dataDir, '.extract-'));
  try {
    // Extract
    try {
      await extract({
        file: archive,
        cwd: temp,
        strict: true,
        filter: (entry) => entry.replace(/^(\.\/)+/, '').split('/')[0] === BATCHES_FOLDER,
      });
    } catch (err) {
      // A full disk or a folder that may not be written is no fault of the archive's. tar reports a failed write
      // as TAR_ENTRY_ERROR, with the system's code only in its message.
      const fsCode =
        fileSystemCode(err) ?? fileSystemCode({ code: /\b(E[A-Z]+): /.exec((err as Error).message)?.[1] });
      if (fsCode !== undefined)
        throw dataError(
          fsCode,
          `cannot extract ${archive} into ${dataDir}: ${(err as Error).message}; ` +
            (fsCode === 'ERR_DISK_FULL' ? 'free space on that disk (184 MB for CIFAR-10)' : "change the folder's permissions") +
            `, or point dataDir (--data-dir, or ${DATA_DIR_ENV}) at another folder`,
          dataDir,
          err,
        );
      throw dataError(
        'ERR_DATA_ARCHIVE',
        `cannot extract ${archive}: ${(err as Error).message}; the archive is damaged: delete it and fetch ` +
          `cifar-10-binary.tar.gz again (${OFFICIAL_PAGE})`,
        archive,
        err,
      );
    }
    // Check it holds every batch
    const extracted = path.join(temp, BATCHES_FOLDER);
    const missing = await missingFiles(extracted);
    if (missing.length > 0) {
      throw dataError(
        'ERR_DATA_ARCHIVE',
        `${archive} does not hold ${BATCHES_FOLDER}/ with ${missing.join(', ')}; it is not the CIFAR-10 binary ` +
          `version, or it is damaged: delete it and fetch cifar-10-binary.tar.gz again (${OFFICIAL_PAGE})`,
        archive,
      );
    }
    // Check every file's size, then write the marker last
    const problem = await batchSizeProblem(extracted, md5 !== undefined && FULL_ARCHIVE_MD5S.has(md5));
    if (problem !== undefined) {
      throw dataError(
        'ERR_DATA_ARCHIVE',
        `${archive}: ${BATCHES_FOLDER}/${problem}; the archive is damaged or not the CIFAR-10 binary version: ` +
          `delete it and fetch cifar-10-binary.tar.gz again (${OFFICIAL_PAGE})`,
        archive,
      );
    }
    await fs.writeFile(path.join(extracted, COMPLETE_MARKER), `${JSON.stringify({ archive, md5 })}\n`);
    // Move into place
    try {
      await fs.rm(target, { recursive: true, force: true });
      await fs.rename(extracted, target);
    } catch (err) {
      // Another process may have put a complete copy there first.
      if ((await missingFiles(target)).length > 0) throw err;
    }
  } finally {
    // tar rejects on a damaged archive while its last writes are still in flight: retry until the folder is gone.
    // A leftover .extract-* folder is never read, so a failure here must not hide the real error.
    await fs.rm(temp, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }).catch(() => undefined);
  }
}

/**
 * What is wrong with the batch files' sizes in `dir`, or undefined: each must be a positive multiple of 3073 bytes
 * (whole records), the five training batches equal, and with `full` (an archive known to be the full one) each
 * exactly 30,730,000 bytes. The mini archive's files are 614,600 bytes (200 records), so the rule for archives of
 * unknown md5 is the record multiple, not the full size.
 *
 * @example
 * await batchSizeProblem('/data/cifar-10-batches-bin', true); // 'data_batch_1.bin is 614600 bytes, expected 30730000'
 */
export async function batchSizeProblem(dir: string, full: boolean): Promise<string | undefined> {
  const sizes = await Promise.all(BATCH_FILES.map(async (name) => (await fs.stat(path.join(dir, name))).size));
  for (const [i, name] of BATCH_FILES.entries()) {
    const size = sizes[i]!;
    if (full && size !== FULL_BATCH_BYTES) return `${name} is ${size} bytes, expected ${FULL_BATCH_BYTES}`;
    if (size === 0 || size % RECORD_BYTES !== 0) {
      return `${name} is ${size} bytes, expected a positive multiple of ${RECORD_BYTES} (whole records)`;
    }
  }
  const train = sizes.slice(0, 5);
  if (train.some((size) => size !== train[0])) {
    return `the training batches differ in size (${train.join(', ')} bytes), expected equal sizes`;
  }
  return undefined;
}

function notFoundMessage(dataDir: string, download: boolean): string {
  const batches = path.join(dataDir, BATCHES_FOLDER);
  const archives = ARCHIVE_NAMES.map((name) => path.join(dataDir, name)).join(' or ');
  return (
    `CIFAR-10 was not found in ${dataDir}: looked for ${batches}${path.sep} holding ${BATCH_FILES.join(', ')}, ` +
    `for those files in ${dataDir} itself, and for an archive ${archives}. ` +
    (download ? '' : 'Downloading is turned off (download: false). ') +
    `To get the data, put the official CIFAR-10 binary version, cifar-10-binary.tar.gz (${OFFICIAL_PAGE}), in ` +
    `${dataDir}, or point dataDir (--data-dir, or ${DATA_DIR_ENV}) at a folder that holds it.`
  );
}

/**
 * Makes sure CIFAR-10's binary batches are in `dataDir` and returns the absolute folder to hand to the native
 * loader: `dataDir` itself, holding either `cifar-10-batches-bin/` or the six `.bin` files directly. When only an
 * archive (`cifar-10-binary.tar.gz`, or `cifar-10-binary-mini.tar.gz`) is there, it is extracted first; when there
 * is none and `download` allows, the archive is downloaded, verified and extracted. A cifar-10-batches-bin/ this
 * package extracted holds a marker written last; one without it (copied there by hand) is used when every file is
 * there, and is extracted again, or downloaded again, when files are missing. Two processes sharing `dataDir`
 * take turns (a lock file), so only one downloads.
 * Rejects with `code` `ERR_DATA_NOT_FOUND` (nothing usable, the message says where it looked and what to do),
 * `ERR_DATA_INCOMPLETE` (a `cifar-10-batches-bin/` lacking files), `ERR_DATA_ARCHIVE` (an archive that does not
 * extract to the batches) or a DownloadError's `ERR_DOWNLOAD_*` code.
 *
 * @example
 * const dir = await prepareDataset(config.dataDir, { download: config.download, onProgress });
 * binding.startTraining(toNativeOptions(config, dir), onEvent, onDone);
 */
export async function prepareDataset(dataDir: string, options: PrepareDatasetOptions): Promise<string> {
  const root = path.resolve(dataDir);
  const source = options.download === true ? resolveDownload(true) : options.download;

  // Ready without any work
  const ready = await findReady(root, source !== false);
  if (ready === 'ready') return root;

  // Anything else happens under the lock; another process may have finished meanwhile.
  try {
    await fs.mkdir(root, { recursive: true });
  } catch (err) {
    if (source === false) throw dataError('ERR_DATA_NOT_FOUND', notFoundMessage(root, false), root, err);
    throw dataError(
      fileSystemCode(err) ?? 'ERR_DOWNLOAD_FS',
      `cannot create the data folder ${root}: ${(err as Error).message}; point dataDir (--data-dir, or ` +
        `${DATA_DIR_ENV}) at a folder you can write to`,
      root,
      err,
    );
  }
  return withLock(
    path.join(root, LOCK_FILE),
    async () => {
      if ((await findReady(root, source !== false)) === 'ready') return root;
      // An archive in dataDir, or one downloaded into it
      let archive: string | undefined;
      for (const name of ARCHIVE_NAMES) {
        if (await isFile(path.join(root, name))) {
          archive = path.join(root, name);
          break;
        }
      }
      let md5: string | undefined;
      if (archive === undefined && source !== false) {
        archive = path.join(root, DOWNLOAD_NAME);
        await downloadArchive(source, archive, {
          ...options.downloadOptions,
          onProgress: options.onProgress,
          signal: options.signal,
        });
        md5 = source.md5;
      }
      if (archive === undefined) throw dataError('ERR_DATA_NOT_FOUND', notFoundMessage(root, false), root);
      await extractArchive(archive, root, md5);
      return root;
    },
    { ...options.lockOptions, signal: options.signal },
  );
}

/**
 * Whether `dataDir` holds usable CIFAR-10 batches now, without extracting or downloading anything.
 *
 * @example
 * if (!(await isDatasetReady(defaultDataDir()))) console.log('run: libtorch-resnet download');
 */
export async function isDatasetReady(dataDir: string): Promise<boolean> {
  return (await findReady(path.resolve(dataDir), true)) === 'ready';
}

/**
 * 'ready' when usable batches are there; 'missing' when work is needed (extracting or downloading). Throws
 * ERR_DATA_INCOMPLETE for a cifar-10-batches-bin/ without the marker that lacks files, when there is no archive to
 * redo it from and no download, and ERR_DATA_NOT_FOUND when there is nothing and no download.
 */
async function findReady(root: string, download: boolean): Promise<'ready' | 'missing'> {
  const batches = path.join(root, BATCHES_FOLDER);
  if (await isDirectory(batches)) {
    if (await isFile(path.join(batches, COMPLETE_MARKER))) return 'ready';
    // Without the marker (a folder put there by hand): used when every file is there, else redone if possible.
    const missing = await missingFiles(batches);
    if (missing.length === 0) return 'ready';
    const archives = await Promise.all(ARCHIVE_NAMES.map((name) => isFile(path.join(root, name))));
    if (download || archives.some(Boolean)) return 'missing';
    throw dataError(
      'ERR_DATA_INCOMPLETE',
      `${batches} lacks ${missing.join(', ')}; delete that folder (an archive in ${root} is then extracted ` +
        `again) or copy the missing files into it`,
      batches,
    );
  }
  // The batch files directly in dataDir
  if ((await missingFiles(root)).length === 0) return 'ready';
  const hasArchive = (await Promise.all(ARCHIVE_NAMES.map((name) => isFile(path.join(root, name))))).some(Boolean);
  if (!hasArchive && !download) throw dataError('ERR_DATA_NOT_FOUND', notFoundMessage(root, false), root);
  return 'missing';
}
