// SPDX-License-Identifier: MIT
// Image folders decoded once: every picture of a split through sharp (libvips, on libuv's thread pool, so off the
// JS thread and a bounded number at a time) into one uint8 cache file the core loads whole. The file's byte
// layout is documented in native/core/folder_cache.h, the one reader of it:
//   "LTRNIMG1", uint32 side S, uint32 count N, uint32 classes C, uint32 name bytes L, the class names ('\n'
//   after each), N uint16 labels (0xFFFF: a file that could not be decoded), then N records of 3*S*S bytes
//   (R, G, B planes). All little-endian.
// A cache is named by a hash of what it was made from (each file's relative path, size and modification time,
// the classes and S), so a second run with the same pictures finds it and decodes nothing; it is written to a
// temporary name and renamed, so a killed run leaves no half file under the real name.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';


import { defaultDataDir } from './config';
import type { ImageFile, ImageFolderLayout, ImageSplit } from './config/image-folders';

const MAGIC = Buffer.from('LTRNIMG1', 'latin1');
const HEADER_BYTES = 24;
const BAD_LABEL = 0xffff;
/** The cache folder inside the images folder. */
export const CACHE_FOLDER = '.libtorch-resnet';
const CACHE_VERSION = 1;

/**
 * Decoding progress of one split, sent when it starts, every 1% or so, and when it ends. `fromCache`: the split
 * was decoded by an earlier run, and nothing is decoded now (then only the end is sent).
 *
 * @example
 * onProgress: (e) => { if (e.type === 'decode') console.log(`${e.split}: ${e.done}/${e.total}`); }
 */
export interface DecodeEvent {
  readonly type: 'decode';
  readonly split: ImageSplit;
  readonly done: number;
  readonly total: number;
  readonly fromCache: boolean;
  /** The cache file the split is (being) decoded into. */
  readonly cacheFile: string;
}

/** A picture that could not be decoded. */
export interface BadImage {
  /** Absolute path. */
  readonly file: string;
  readonly reason: string;
}

/**
 * Pictures left out with skipBadImages: true, sent once all splits are decoded.
 *
 * @example
 * onProgress: (e) => { if (e.type === 'badImages') for (const b of e.images) console.warn(b.file, b.reason); }
 */
export interface BadImagesEvent {
  readonly type: 'badImages';
  readonly images: readonly BadImage[];
}

/** The cache files of a folder's splits, and the pictures that could not be decoded. */
export interface PreparedImages {
  readonly train: string;
  readonly valid?: string;
  readonly test?: string;
  readonly bad: readonly BadImage[];
}

interface Manifest {
  readonly version: number;
  readonly side: number;
  readonly count: number;
  readonly classes: readonly string[];
  readonly bad: readonly { readonly path: string; readonly reason: string }[];
}

function cacheKey(layout: ImageFolderLayout, files: readonly ImageFile[], side: number): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify([CACHE_VERSION, side, layout.classes]));
  for (const f of files) hash.update(JSON.stringify([f.path, f.label, f.size, f.mtimeMs]));
  return hash.digest('hex').slice(0, 20);
}

// JPEG starts FF D8 FF, PNG with its 8-byte signature: the content decides, whatever the name says.
function kindOf(bytes: Buffer): 'jpeg' | 'png' | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'png';
  return undefined;
}

/**
 * One picture as a record: uint8 R, G, B planes of side x side. EXIF orientation applied; alpha flattened onto
 * black (as the zero padding of crop-flip); grayscale and palette made RGB; 16-bit reduced to 8; the centre square
 * kept and resized to side x side (sharp's fit 'cover'), as predict() treats a picture.
 */
export async function decodeRecord(file: string, side: number): Promise<Buffer> {
  const bytes = await fs.promises.readFile(file);
  if (kindOf(bytes) === undefined) throw new Error('not a JPEG or PNG file (by its content); convert it or remove it');
  // Loaded here, not at the top: libvips costs every require('libtorch-resnet') tens of milliseconds, and only
  // image-folder runs need it.
  const { default: sharp } = await import('sharp');
  const { data, info } = await sharp(bytes, { failOn: 'error' })
    .rotate()
    .flatten({ background: { r: 0, g: 0, b: 0 } })
    .toColourspace('srgb')
    .resize(side, side, { fit: 'cover', position: 'centre' })
    .removeAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== side || info.height !== side) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, not ${side}x${side}x3`);
  }
  // Interleaved RGB to planes.
  const plane = side * side;
  const out = Buffer.allocUnsafe(3 * plane);
  for (let i = 0; i < plane; i++) {
    out[i] = data[3 * i]!;
    out[plane + i] = data[3 * i + 1]!;
    out[2 * plane + i] = data[3 * i + 2]!;
  }
  return out;
}

function header(classes: readonly string[], count: number, side: number): Buffer {
  const names = Buffer.from(classes.map((name) => `${name}\n`).join(''), 'utf8');
  const head = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(side, 8);
  head.writeUInt32LE(count, 12);
  head.writeUInt32LE(classes.length, 16);
  head.writeUInt32LE(names.length, 20);
  return Buffer.concat([head, names]);
}

let temporaries = 0;
// The core's naming of temporaries (<file>.tmp-<pid>-<n>), so that a killed run's leftovers are recognisable.
function temporaryName(file: string): string {
  return `${file}.tmp-${process.pid}-${++temporaries}`;
}

function writeAtomically(file: string, text: string): void {
  const tmp = temporaryName(file);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** How many decodes run at once: enough to keep libuv's pool (where sharp works) busy, no more. */
function concurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(2, Math.min(2 * pool, 4 * os.availableParallelism()));
}

interface SplitJob {
  readonly layout: ImageFolderLayout;
  readonly split: ImageSplit;
  readonly files: readonly ImageFile[];
  readonly side: number;
  readonly file: string;
  readonly onEvent: (event: DecodeEvent) => void;
  readonly signal: AbortSignal | undefined;
}

/** Decodes a split into `job.file` (through a temporary file); returns the bad pictures' relative paths. */
async function decodeSplit(job: SplitJob): Promise<Manifest['bad']> {
  const { files, side } = job;
  const record = 3 * side * side;
  const head = header(job.layout.classes, files.length, side);
  const pixelsAt = head.length + 2 * files.length;
  const labels = Buffer.alloc(2 * files.length);
  const bad: { path: string; reason: string }[] = [];
  const tmp = temporaryName(job.file);
  const handle = await fs.promises.open(tmp, 'w');
  let done = 0;
  const every = Math.max(1, Math.floor(files.length / 100));
  const send = () => job.onEvent({ type: 'decode', split: job.split, done, total: files.length, fromCache: false, cacheFile: job.file });
  try {
    await handle.write(head, 0, head.length, 0);
    send();
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        job.signal?.throwIfAborted();
        const i = next++;
        const f = files[i]!;
        try {
          const pixels = await decodeRecord(path.join(job.layout.root, f.path), side);
          await handle.write(pixels, 0, record, pixelsAt + i * record);
          labels.writeUInt16LE(f.label, 2 * i);
        } catch (error) {
          // Bad pictures keep their place, with zero pixels and a label that says so.
          await handle.write(Buffer.alloc(record), 0, record, pixelsAt + i * record);
          labels.writeUInt16LE(BAD_LABEL, 2 * i);
          bad.push({ path: f.path, reason: (error as Error).message });
        }
        if (++done % every === 0 && done < files.length) send();
      }
    };
    await Promise.all(Array.from({ length: concurrency() }, worker));
    await handle.write(labels, 0, labels.length, head.length);
    await handle.sync();
    await handle.close();
  } catch (error) {
    await handle.close().catch(() => undefined);
    fs.rmSync(tmp, { force: true });
    throw error;
  }
  fs.renameSync(tmp, job.file);
  send();
  return bad.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** The folder the caches go to: inside the images folder, else (read-only) under the user's cache folder. */
function cacheFolder(root: string): { dir: string; fallback?: string } {
  const inside = path.join(root, CACHE_FOLDER);
  try {
    fs.mkdirSync(inside, { recursive: true });
    fs.accessSync(inside, fs.constants.W_OK);
    return { dir: inside };
  } catch (error) {
    const hash = createHash('sha256').update(root).digest('hex').slice(0, 16);
    const dir = path.join(defaultDataDir(), 'image-cache', `${path.basename(root)}-${hash}`);
    fs.mkdirSync(dir, { recursive: true });
    return { dir, fallback: (error as NodeJS.ErrnoException).code ?? 'unknown error' };
  }
}

// A manifest that says the cache file beside it is whole and what it holds; undefined when it does not.
function readManifest(file: string, side: number, count: number): Manifest | undefined {
  try {
    const manifest = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as Manifest;
    if (manifest.version !== CACHE_VERSION || manifest.side !== side || manifest.count !== count) return undefined;
    const names = Buffer.byteLength(manifest.classes.map((n) => `${n}\n`).join(''), 'utf8');
    const expected = HEADER_BYTES + names + count * (2 + 3 * side * side);
    return fs.statSync(file).size === expected ? manifest : undefined;
  } catch {
    return undefined;
  }
}

// Older caches of the same split and size: made from files that have changed since.
function removeStale(dir: string, prefix: string, keep: string): void {
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith(prefix) && !name.startsWith(path.basename(keep))) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/**
 * Decodes each split of an images folder into its cache file (or finds it decoded), at `side` pixels. Pictures
 * that cannot be decoded are returned in `bad` (the caller decides whether that is an error). When the images
 * folder cannot be written, the caches go under the user's cache folder and a warning says where.
 *
 * @example
 * const prepared = await prepareImages(scanImageFolders('/photos'), 32, { onEvent: console.log });
 * binding.startTraining(toNativeOptions(config, '', prepared), onEvent, onDone);
 */
export async function prepareImages(
  layout: ImageFolderLayout,
  side: number,
  options: { readonly onEvent?: (event: DecodeEvent) => void; readonly signal?: AbortSignal | undefined } = {},
): Promise<PreparedImages> {
  const { dir, fallback } = cacheFolder(layout.root);
  if (fallback !== undefined) {
    process.emitWarning(
      `images folder ${layout.root} cannot hold its decode cache (${fallback}: read-only?); the decoded images ` +
        `are cached in ${dir}`,
      { code: 'LIBTORCH_RESNET_IMAGE_CACHE' },
    );
  }
  const onEvent = options.onEvent ?? (() => undefined);
  const out: { train?: string; valid?: string; test?: string } = {};
  const bad: BadImage[] = [];
  for (const split of ['train', 'valid', 'test'] as const) {
    const files = layout.splits[split];
    if (files === undefined) continue;
    const prefix = `${split}-${side}px-`;
    const file = path.join(dir, `${prefix}${cacheKey(layout, files, side)}.bin`);
    let manifest = readManifest(file, side, files.length);
    if (manifest) {
      onEvent({ type: 'decode', split, done: files.length, total: files.length, fromCache: true, cacheFile: file });
    } else {
      const badFiles = await decodeSplit({ layout, split, files, side, file, onEvent, signal: options.signal });
      manifest = { version: CACHE_VERSION, side, count: files.length, classes: layout.classes, bad: badFiles };
      writeAtomically(`${file}.json`, `${JSON.stringify(manifest)}\n`);
      removeStale(dir, prefix, file);
    }
    out[split] = file;
    bad.push(...manifest.bad.map((b) => ({ file: path.join(layout.root, b.path), reason: b.reason })));
  }
  return Object.freeze({ train: out.train!, valid: out.valid, test: out.test, bad: Object.freeze(bad) });
}
