// SPDX-License-Identifier: MIT
// The images option: the folder layouts scanImageFolders accepts (temp folders of empty stand-in files: the scan
// never decodes), each way a folder is refused with its own message, and images against dataDir and download.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { resolveConfig, mergeResume } from '../../lib/config';
import type { NativeCheckpointOptions } from '../../lib/native';
import { scanImageFolders } from '../../lib/config/image-folders';
import { formatEventLine } from '../../lib/format';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'libtorch-resnet-folders-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Writes each relative path as a small file. */
function files(...relative: string[]): void {
  for (const rel of relative) {
    fs.mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
    fs.writeFileSync(path.join(tmp, rel), rel);
  }
}

function scanError(): Error & { option?: string; code?: string } {
  try {
    scanImageFolders(tmp);
  } catch (error) {
    return error as Error;
  }
  throw new Error('the scan accepted the folder');
}

describe('layouts', () => {
  test('one folder per class: sorted names are the labels, files sorted within, hidden entries ignored', () => {
    files('dog/b.jpg', 'dog/a.png', 'cat/1.jpg', 'Zebra/z.jpg', '.DS_Store', 'cat/.hidden.jpg', 'cat/sub/2.jpg');
    const layout = scanImageFolders(tmp);
    // Code-point order, as JavaScript sorts: uppercase first.
    expect(layout.classes).toEqual(['Zebra', 'cat', 'dog'].sort());
    expect(layout.splits.train.map((f) => [f.path, f.label])).toEqual([
      [path.join('Zebra', 'z.jpg'), 0],
      [path.join('cat', '1.jpg'), 1],
      [path.join('cat', 'sub', '2.jpg'), 1],
      [path.join('dog', 'a.png'), 2],
      [path.join('dog', 'b.jpg'), 2],
    ]);
    expect(layout.splits.test).toBeUndefined();
    expect(layout.splits.valid).toBeUndefined();
    const stat = fs.statSync(path.join(tmp, 'dog', 'a.png'));
    expect(layout.splits.train[3]).toMatchObject({ size: stat.size, mtimeMs: stat.mtimeMs });
  });

  test('train/ and test/ (and val/) with the same classes', () => {
    files('train/a/1.jpg', 'train/b/2.jpg', 'test/a/3.jpg', 'test/b/4.jpg', 'val/a/5.jpg', 'val/b/6.jpg');
    const layout = scanImageFolders(tmp);
    expect(layout.classes).toEqual(['a', 'b']);
    expect(layout.splits.train.map((f) => f.path)).toEqual([path.join('train', 'a', '1.jpg'), path.join('train', 'b', '2.jpg')]);
    expect(layout.splits.test!.map((f) => f.label)).toEqual([0, 1]);
    expect(layout.splits.valid!.map((f) => f.path)).toEqual([path.join('val', 'a', '5.jpg'), path.join('val', 'b', '6.jpg')]);
  });

  test('train/ alone: test and validation are drawn later', () => {
    files('train/a/1.jpg', 'train/b/2.jpg');
    expect(scanImageFolders(tmp).splits.test).toBeUndefined();
  });
});

describe('refused folders, each with what to do', () => {
  test('a folder that does not exist', () => {
    fs.rmSync(tmp, { recursive: true });
    expect(scanError()).toMatchObject({ option: 'images', message: expect.stringMatching(/does not exist; pass a folder/) });
  });

  test('a file instead of a folder', () => {
    const file = path.join(tmp, 'x.jpg');
    fs.writeFileSync(file, '');
    expect(() => scanImageFolders(file)).toThrow(/is not a folder/);
  });

  test('an empty class folder', () => {
    files('a/1.jpg', 'b/.hidden');
    expect(scanError().message).toMatch(new RegExp(`class folder ${path.join(tmp, 'b')} holds no pictures; add`));
  });

  test('a single class', () => {
    files('a/1.jpg');
    expect(scanError().message).toMatch(/only one class folder \('a'\); a classifier needs at least 2 classes/);
  });

  test('no class folders', () => {
    expect(scanError().message).toMatch(/has no class folders/);
  });

  test('loose files at the top level, counted', () => {
    files('a/1.jpg', 'b/2.jpg', 'x.jpg', 'y.png');
    expect(scanError().message).toMatch(/holds 2 file\(s\) outside any class folder \('x.jpg', 'y.png'\); move each/);
  });

  test('loose files beside train/', () => {
    files('train/a/1.jpg', 'train/b/2.jpg', 'notes.txt');
    expect(scanError().message).toMatch(/holds 1 file\(s\) beside train\/ \('notes.txt'\)/);
  });

  test('test/ with other classes than train/', () => {
    files('train/a/1.jpg', 'train/b/2.jpg', 'test/a/3.jpg', 'test/c/4.jpg');
    expect(scanError().message).toMatch(/test lacks 'b' and has 'c' that train\/ lacks; train\/, test\/ and val\/ must hold/);
  });

  test('test/ without train/', () => {
    files('test/a/1.jpg', 'test/b/2.jpg');
    expect(scanError().message).toMatch(/has 'test\/' but no train\//);
  });

  test('train/ beside class folders', () => {
    files('train/a/1.jpg', 'train/b/2.jpg', 'cat/3.jpg');
    expect(scanError().message).toMatch(/mixes train\/ with other folders \('cat'\)/);
  });

  test('every refusal is a config error on images', () => {
    files('a/1.jpg');
    expect(scanError()).toMatchObject({ option: 'images', code: 'ERR_INVALID_ARG_VALUE', name: 'TypeError' });
  });
});

describe('images among the other options', () => {
  test('resolved to an absolute path; skipBadImages defaults to false', () => {
    const config = resolveConfig({ images: 'photos', preset: 'cifar' });
    expect(config.images).toBe(path.resolve('photos'));
    expect(config.skipBadImages).toBe(false);
    expect(resolveConfig({}).images).toBeUndefined();
  });

  test.each(['dataDir', 'download'] as const)('images with %s is refused', (name) => {
    const value = name === 'dataDir' ? '/data' : false;
    expect(() => resolveConfig({ images: '/photos', [name]: value })).toThrow(
      expect.objectContaining({
        option: name,
        message: `${name} is for CIFAR-10, and images replaces CIFAR-10 with your own folders; leave ${name} out, or images out to train on CIFAR-10`,
      }),
    );
  });

  test('skipBadImages without images is refused', () => {
    expect(() => resolveConfig({ skipBadImages: true })).toThrow(
      expect.objectContaining({ option: 'skipBadImages', message: expect.stringMatching(/pass images too/) }),
    );
  });

  test('images of the wrong type', () => {
    expect(() => resolveConfig({ images: 3 })).toThrow(
      'Expected non-empty string for images but received 3 of type number',
    );
  });

  test('a resume takes the folder from the checkpoint and refuses another', () => {
    const saved = { ...resolveConfig({}), images: '/photos', limitTrain: 0, limitTest: 0, worldSize: 1 };
    const checkpoint = saved as unknown as NativeCheckpointOptions;
    expect(mergeResume(resolveConfig({ resume: '/r/checkpoints/last.pt' }), checkpoint).images).toBe('/photos');
    expect(() => mergeResume(resolveConfig({ resume: '/r/last.pt', images: '/other' }), checkpoint)).toThrow(
      /Cannot change images when resuming/,
    );
    const cifar = { ...checkpoint, images: '' };
    expect(mergeResume(resolveConfig({ resume: '/r/last.pt' }), cifar).images).toBeUndefined();
  });
});

describe('decode and badImages events as log lines', () => {
  const decode = (done: number, fromCache = false) =>
    ({ type: 'decode', split: 'train', done, total: 40, fromCache, cacheFile: '/p/.libtorch-resnet/t.bin' }) as const;

  test('a split prints where it starts and where it ends, nothing between', () => {
    expect([0, 4, 39, 40].map((done) => formatEventLine(decode(done)))).toEqual([
      'decoding 40 train images into /p/.libtorch-resnet/t.bin',
      undefined,
      undefined,
      'train: 40 images decoded',
    ]);
    expect(formatEventLine(decode(40, true))).toBe('train: 40 images decoded earlier (/p/.libtorch-resnet/t.bin)');
  });

  test('skipped pictures are listed, the first three by name', () => {
    const images = ['a', 'b', 'c', 'd'].map((n) => ({ file: `/p/${n}.jpg`, reason: 'truncated' }));
    expect(formatEventLine({ type: 'badImages', images })).toBe(
      'skipped 4 picture(s) that cannot be decoded (skipBadImages): /p/a.jpg (truncated), /p/b.jpg (truncated), ' +
        '/p/c.jpg (truncated), ...',
    );
  });
});
