// SPDX-License-Identifier: MIT
// Finds CIFAR-10 (binary version) in the data folder, extracting an archive found there; the download comes later.
import fs from 'node:fs/promises';
import path from 'node:path';

import { extract } from 'tar';

import { DATA_DIR_ENV } from './config';

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

/** How prepareDataset() may get data that is not there yet. */
export interface PrepareDatasetOptions {
  /** Whether it may download CIFAR-10 (not available in this version yet). */
  download: boolean;
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
 * Downloads the CIFAR-10 archive into `dataDir` and returns its path, or undefined when it cannot.
 * Automatic download is issue #3; until then this seam finds nothing.
 */
async function downloadArchive(dataDir: string): Promise<string | undefined> {
  void dataDir;
  return undefined;
}

/**
 * Unpacks `archive` into `dataDir`/cifar-10-batches-bin. It extracts into a temporary folder inside dataDir and
 * renames the complete folder into place, so a half-extracted folder is never used.
 */
async function extractArchive(archive: string, dataDir: string): Promise<void> {
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
    // Move into place
    try {
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

function notFoundMessage(dataDir: string, download: boolean): string {
  const batches = path.join(dataDir, BATCHES_FOLDER);
  const archives = ARCHIVE_NAMES.map((name) => path.join(dataDir, name)).join(' or ');
  return (
    `CIFAR-10 was not found in ${dataDir}: looked for ${batches}${path.sep} holding ${BATCH_FILES.join(', ')}, ` +
    `for those files in ${dataDir} itself, and for an archive ${archives}. ` +
    (download
      ? 'Automatic download is not available in this version yet. '
      : 'Downloading is turned off (download: false). ') +
    `To get the data, put the official CIFAR-10 binary version, cifar-10-binary.tar.gz (${OFFICIAL_PAGE}), in ` +
    `${dataDir}, or point dataDir (--data-dir, or ${DATA_DIR_ENV}) at a folder that holds it.`
  );
}

/**
 * Makes sure CIFAR-10's binary batches are in `dataDir` and returns the absolute folder to hand to the native
 * loader: `dataDir` itself, holding either `cifar-10-batches-bin/` or the six `.bin` files directly. When only an
 * archive (`cifar-10-binary.tar.gz`, or `cifar-10-binary-mini.tar.gz`) is there, it is extracted first.
 * Rejects with `code` `ERR_DATA_NOT_FOUND` (nothing usable, the message says where it looked and what to do),
 * `ERR_DATA_INCOMPLETE` (a `cifar-10-batches-bin/` lacking files) or `ERR_DATA_ARCHIVE` (an archive that does not
 * extract to the batches).
 *
 * @example
 * const dir = await prepareDataset(config.dataDir, { download: config.download });
 * binding.startTraining(toNativeOptions(config, dir), onEvent, onDone);
 */
export async function prepareDataset(dataDir: string, options: PrepareDatasetOptions): Promise<string> {
  const root = path.resolve(dataDir);
  const batches = path.join(root, BATCHES_FOLDER);

  // Already extracted
  if (await isDirectory(batches)) {
    const missing = await missingFiles(batches);
    if (missing.length === 0) return root;
    throw dataError(
      'ERR_DATA_INCOMPLETE',
      `${batches} lacks ${missing.join(', ')}; delete that folder (an archive in ${root} is then extracted ` +
        `again) or copy the missing files into it`,
      batches,
    );
  }
  // The batch files directly in dataDir
  if ((await missingFiles(root)).length === 0) return root;

  // An archive in dataDir, or one downloaded into it
  let archive: string | undefined;
  for (const name of ARCHIVE_NAMES) {
    if (await isFile(path.join(root, name))) {
      archive = path.join(root, name);
      break;
    }
  }
  if (archive === undefined && options.download) archive = await downloadArchive(root);
  if (archive === undefined) throw dataError('ERR_DATA_NOT_FOUND', notFoundMessage(root, options.download), root);

  await extractArchive(archive, root);
  return root;
}
