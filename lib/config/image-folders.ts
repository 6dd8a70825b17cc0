// SPDX-License-Identifier: MIT
// The images option's folder, checked and listed: which layout it has, its classes (the sorted class-folder
// names), and every picture with its label, size and modification time (what the decode cache is keyed by).
// Every way the folder can be wrong is a ConfigError on 'images' that says what to do.
import fs from 'node:fs';
import path from 'node:path';

import { configError } from './checks';
import type { ConfigError } from './checks';

/** The fewest and most classes a folder may have. */
export const IMAGE_CLASSES_RANGE = Object.freeze({ min: 2, max: 1000 });

/** Split folder names of the train/test(/val) layout. */
export const SPLIT_FOLDERS = Object.freeze({ train: 'train', test: 'test', valid: 'val' } as const);

export type ImageSplit = keyof typeof SPLIT_FOLDERS;

/** One picture: its path relative to the images folder, its class index and what identifies its version. */
export interface ImageFile {
  readonly path: string;
  readonly label: number;
  readonly size: number;
  readonly mtimeMs: number;
}

/**
 * What {@link scanImageFolders} found. `splits.test` and `splits.valid` are absent when the folder has no test/
 * or val/ (then a seeded draw makes the test split and validSplit the validation split).
 */
export interface ImageFolderLayout {
  /** Absolute. */
  readonly root: string;
  /** Class-folder names, sorted: label i is classes[i]. */
  readonly classes: readonly string[];
  readonly splits: { readonly [S in ImageSplit]?: readonly ImageFile[] } & { readonly train: readonly ImageFile[] };
}

function folderError(message: string): ConfigError {
  return configError(TypeError, 'ERR_INVALID_ARG_VALUE', 'images', message);
}

// Hidden entries (.DS_Store, the .libtorch-resnet cache) are not data.
function visible(dir: string): fs.Dirent[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => !entry.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function isFolder(dir: string, entry: fs.Dirent): boolean {
  return entry.isDirectory() || (entry.isSymbolicLink() && fs.statSync(path.join(dir, entry.name)).isDirectory());
}

function some(names: readonly string[]): string {
  const shown = names.slice(0, 3).map((name) => `'${name}'`).join(', ');
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}

/** Every picture under a class folder, subfolders included, sorted by path. */
function picturesUnder(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const entry of visible(dir)) {
    const full = path.join(dir, entry.name);
    if (isFolder(dir, entry)) out.push(...picturesUnder(root, full));
    else out.push(path.relative(root, full));
  }
  return out;
}

/** The class folders of one split folder, with their pictures. */
function readClassFolders(root: string, dir: string): Map<string, string[]> {
  const entries = visible(dir);
  const loose = entries.filter((entry) => !isFolder(dir, entry)).map((entry) => entry.name);
  if (loose.length > 0) {
    throw folderError(
      `images folder ${dir} holds ${loose.length} file(s) outside any class folder (${some(loose)}); ` +
        'move each picture into the folder of its class (one folder per class), or delete them',
    );
  }
  const classes = new Map<string, string[]>();
  for (const entry of entries) {
    if (entry.name.includes('\n')) throw folderError(`class folder name ${JSON.stringify(entry.name)} holds a line break; rename it`);
    const pictures = picturesUnder(root, path.join(dir, entry.name));
    if (pictures.length === 0) {
      throw folderError(
        `class folder ${path.join(dir, entry.name)} holds no pictures; add JPEG or PNG files to it, or remove it`,
      );
    }
    classes.set(entry.name, pictures);
  }
  if (classes.size < IMAGE_CLASSES_RANGE.min) {
    const found = classes.size === 0 ? 'no class folders' : `only one class folder ('${[...classes.keys()][0]}')`;
    throw folderError(
      `images folder ${dir} has ${found}; a classifier needs at least ${IMAGE_CLASSES_RANGE.min} classes, ` +
        'each a folder of its pictures (README, "Your own images")',
    );
  }
  if (classes.size > IMAGE_CLASSES_RANGE.max) {
    throw folderError(
      `images folder ${dir} has ${classes.size} class folders, more than the ${IMAGE_CLASSES_RANGE.max} this ` +
        'package trains; merge classes or train on a part of them',
    );
  }
  return classes;
}

function listFiles(root: string, classes: readonly string[], found: Map<string, string[]>): ImageFile[] {
  const files: ImageFile[] = [];
  classes.forEach((name, label) => {
    for (const file of found.get(name)!) {
      const stat = fs.statSync(path.join(root, file));
      files.push({ path: file, label, size: stat.size, mtimeMs: stat.mtimeMs });
    }
  });
  return files;
}

function checkSameClasses(root: string, classes: readonly string[], split: string, found: Map<string, string[]>): void {
  const missing = classes.filter((name) => !found.has(name));
  const extra = [...found.keys()].filter((name) => !classes.includes(name));
  if (missing.length === 0 && extra.length === 0) return;
  const parts = [
    ...(missing.length > 0 ? [`lacks ${some(missing)}`] : []),
    ...(extra.length > 0 ? [`has ${some(extra)} that train/ lacks`] : []),
  ];
  throw folderError(
    `${path.join(root, split)} ${parts.join(' and ')}; train/, test/ and val/ must hold the same class folders`,
  );
}

/** The train/test(/val) layout: which split folders there are, or undefined for one folder of class folders. */
function splitFolders(root: string, entries: fs.Dirent[]): ImageSplit[] | undefined {
  const names = entries.filter((entry) => isFolder(root, entry)).map((entry) => entry.name);
  const splitNames = Object.values(SPLIT_FOLDERS) as string[];
  const present = (Object.keys(SPLIT_FOLDERS) as ImageSplit[]).filter((split) => names.includes(SPLIT_FOLDERS[split]));
  if (present.length === 0) return undefined;
  if (!present.includes('train')) {
    throw folderError(
      `images folder ${root} has ${some(present.map((s) => SPLIT_FOLDERS[s] + '/'))} but no train/; add train/ ` +
        'with the class folders, or put the class folders directly in the images folder',
    );
  }
  const others = names.filter((name) => !splitNames.includes(name));
  if (others.length > 0) {
    throw folderError(
      `images folder ${root} mixes train/ with other folders (${some(others)}); put class folders either inside ` +
        'train/ (and test/, val/) or directly in the images folder, not both',
    );
  }
  return present;
}

/**
 * Checks the images folder and lists its pictures: either one folder per class (their sorted names giving the
 * class indices) or train/ and test/ (and optionally val/), each with the same class folders. Hidden files and
 * folders are ignored; every other file in a class folder (subfolders included) counts as a picture, its kind
 * told by its content when decoded. Throws a ConfigError on 'images' saying what to change.
 *
 * @example
 * const layout = scanImageFolders('/photos'); // /photos/cat/1.jpg, /photos/dog/2.png, ...
 * layout.classes; // ['cat', 'dog']
 */
export function scanImageFolders(root: string): ImageFolderLayout {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(root);
  } catch {
    throw folderError(`images folder ${root} does not exist; pass a folder holding one folder of pictures per class`);
  }
  if (!stat.isDirectory()) {
    throw folderError(`images ${root} is not a folder; pass a folder holding one folder of pictures per class`);
  }
  const entries = visible(root);
  const splits = splitFolders(root, entries);
  if (splits === undefined) {
    const found = readClassFolders(root, root);
    const classes = [...found.keys()];
    return Object.freeze({ root, classes: Object.freeze(classes), splits: Object.freeze({ train: listFiles(root, classes, found) }) });
  }
  const loose = entries.filter((entry) => !isFolder(root, entry)).map((entry) => entry.name);
  if (loose.length > 0) {
    throw folderError(
      `images folder ${root} holds ${loose.length} file(s) beside train/ (${some(loose)}); move them into a ` +
        'class folder inside train/ (or test/, val/), or delete them',
    );
  }
  const train = readClassFolders(root, path.join(root, SPLIT_FOLDERS.train));
  const classes = [...train.keys()];
  const out: { [S in ImageSplit]?: ImageFile[] } = { train: listFiles(root, classes, train) };
  for (const split of splits.filter((s) => s !== 'train')) {
    const found = readClassFolders(root, path.join(root, SPLIT_FOLDERS[split]));
    checkSameClasses(root, classes, SPLIT_FOLDERS[split], found);
    out[split] = listFiles(root, classes, found);
  }
  return Object.freeze({
    root,
    classes: Object.freeze(classes),
    splits: Object.freeze(out) as ImageFolderLayout['splits'],
  });
}
