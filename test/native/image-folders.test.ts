// SPDX-License-Identifier: MIT
// train({ images }) end to end: real CIFAR-10 JPEGs (from the image-folder copy of CIFAR-10 in
// /work/shared/data, or $LIBTORCH_RESNET_CIFAR_JPEG) and PNGs of every kind made from them, decoded into the cache
// and compared with PIL's decode of the same files; the cache found again; bad pictures refused or skipped; a short
// run whose result, report and predict() speak of the folder names; and a resume of it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import sharp from 'sharp';

import { evaluate, predict, train, TorchError } from '../../lib/index';
import type { TrainEvent } from '../../lib/index';
import { scanImageFolders } from '../../lib/config/image-folders';
import { prepareImages } from '../../lib/image-cache';
import type { DecodeEvent } from '../../lib/image-cache';
import { extractMini, tempDir, PLAIN_SGD } from '../fixtures/cifar';

const ARCHIVE = process.env.LIBTORCH_RESNET_CIFAR_JPEG ?? '/work/shared/data/cifar-10-jpeg.tar.gz';
const CLASSES = ['cat', 'frog', 'ship'];
const PER_CLASS = 40;
const describeWithData = fs.existsSync(ARCHIVE) ? describe : describe.skip;

let source: string;
const made: string[] = [];

beforeAll(() => {
  if (!fs.existsSync(ARCHIVE)) return;
  source = tempDir('ltr-jpeg-');
  made.push(source);
  // 0000.jpg ... 0039.jpg of three classes: tar extracts just these members.
  const members = CLASSES.map((c) => `cifar-10-jpeg/train/${c}/00[0-3]?.jpg`);
  execFileSync('tar', ['-xzf', ARCHIVE, '-C', source, '--wildcards', ...members]);
});

afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new images folder holding `count` real JPEGs of each class. */
function folder(count = PER_CLASS): string {
  const dir = tempDir('ltr-images-');
  made.push(dir);
  for (const c of CLASSES) {
    fs.mkdirSync(path.join(dir, c));
    for (let i = 0; i < count; i++) {
      const name = `${String(i).padStart(4, '0')}.jpg`;
      fs.copyFileSync(path.join(source, 'cifar-10-jpeg/train', c, name), path.join(dir, c, name));
    }
  }
  return dir;
}

/** The records of a cache file, by the layout native/core/folder_cache.h documents. */
function readCache(file: string): { side: number; classes: string[]; labels: number[]; records: Buffer[] } {
  const bytes = fs.readFileSync(file);
  expect(bytes.subarray(0, 8).toString('latin1')).toBe('LTRNIMG1');
  const side = bytes.readUInt32LE(8), count = bytes.readUInt32LE(12), nameBytes = bytes.readUInt32LE(20);
  const classes = bytes.subarray(24, 24 + nameBytes).toString('utf8').split('\n').slice(0, -1);
  const labelsAt = 24 + nameBytes, pixelsAt = labelsAt + 2 * count, record = 3 * side * side;
  const labels = Array.from({ length: count }, (_, i) => bytes.readUInt16LE(labelsAt + 2 * i));
  const records = labels.map((_, i) => bytes.subarray(pixelsAt + i * record, pixelsAt + (i + 1) * record));
  return { side, classes, labels, records };
}

// PIL's reading of each file as a record (an independent decoder: libjpeg / zlib through Pillow, not libvips):
// EXIF orientation, alpha over black, RGB, the centre square, box-filtered to side x side, as R, G, B planes.
const PIL_SCRIPT = `
import sys
from PIL import Image, ImageOps
side = int(sys.argv[1]); out = open(sys.argv[2], 'wb')
for name in sys.argv[3:]:
    im = ImageOps.exif_transpose(Image.open(name))
    if im.mode == 'I;16' or im.mode == 'I':
        im = im.point(lambda v: v / 257).convert('L')
    if im.mode in ('RGBA', 'LA', 'P', 'PA'):
        im = im.convert('RGBA')
        black = Image.new('RGBA', im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, im)
    im = im.convert('RGB')
    w, h = im.size; s = min(w, h); l = (w - s) // 2; t = (h - s) // 2
    im = im.crop((l, t, l + s, t + s))
    if s != side:
        im = im.resize((side, side), Image.BOX)
    for band in im.split():
        out.write(band.tobytes())
`;

function pilRecords(files: readonly string[], side: number): Buffer[] {
  const out = path.join(tempDir('ltr-pil-'), 'records.bin');
  made.push(path.dirname(out));
  execFileSync('/usr/bin/python3', ['-c', PIL_SCRIPT, String(side), out, ...files]);
  const bytes = fs.readFileSync(out);
  const record = 3 * side * side;
  return files.map((_, i) => bytes.subarray(i * record, (i + 1) * record));
}

function meanAbsDiff(a: Buffer, b: Buffer): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

function maxAbsDiff(a: Buffer, b: Buffer): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** PNGs of every kind (and a large JPEG, and a PNG named .jpg) made from real pictures, in class 'ship'. */
async function addGeneratedKinds(dir: string): Promise<Record<string, string>> {
  const real = path.join(dir, 'cat', '0000.jpg');
  const photo = path.join(dir, 'frog', '0001.jpg');
  const out = (name: string) => path.join(dir, 'ship', name);
  const kinds: Record<string, string> = {
    gray: out('k-gray.png'),
    palette: out('k-palette.png'),
    alpha: out('k-alpha.png'),
    deep: out('k-16bit.png'),
    large: out('k-large.jpg'),
    disguised: out('k-png-named.jpg'),
  };
  await sharp(real).grayscale().png().toFile(kinds.gray!);
  await sharp(real).png({ palette: true, colours: 16 }).toFile(kinds.palette!);
  // Alpha: a horizontal ramp, so that flattening is tested at every opacity.
  const { data } = await sharp(real).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  for (let i = 0; i < 32 * 32; i++) data[4 * i + 3] = (i % 32) * 8;
  await sharp(data, { raw: { width: 32, height: 32, channels: 4 } }).png().toFile(kinds.alpha!);
  await sharp(real).toColourspace('rgb16').png().toFile(kinds.deep!);
  // 120x80: the centre 80x80 square is kept and shrunk to 32x32.
  await sharp(photo).resize(120, 80, { fit: 'fill' }).jpeg({ quality: 95 }).toFile(kinds.large!);
  await sharp(real).png().toFile(kinds.disguised!);
  return kinds;
}

describeWithData('decoding into the cache', () => {
  test('real JPEGs and PNGs of every kind hold the pixels PIL reads from them', async () => {
    const dir = folder(6);
    const kinds = await addGeneratedKinds(dir);
    const layout = scanImageFolders(dir);
    const prepared = await prepareImages(layout, 32);
    expect(prepared.bad).toEqual([]);
    const cache = readCache(prepared.train);
    expect(cache.side).toBe(32);
    expect(cache.classes).toEqual(CLASSES);
    expect(cache.labels).toEqual(layout.splits.train.map((f) => f.label));
    const files = layout.splits.train.map((f) => path.join(dir, f.path));
    const reference = pilRecords(files, 32);
    const byFile = new Map(files.map((f, i) => [f, i]));
    for (const [kind, file] of Object.entries(kinds)) {
      const i = byFile.get(file)!;
      const diff = meanAbsDiff(cache.records[i]!, reference[i]!);
      // PNG is lossless: only a rounding apart (16-bit to 8, alpha blending); JPEG decoders may differ by a few
      // levels, and two resampling filters by more.
      const bound = kind === 'large' ? 6 : kind === 'disguised' || kind === 'gray' || kind === 'palette' ? 0.01 : 1;
      expect({ kind, diff: diff <= bound }).toEqual({ kind, diff: true });
      if (kind !== 'large') expect(maxAbsDiff(cache.records[i]!, reference[i]!)).toBeLessThanOrEqual(2);
    }
    // The real JPEGs themselves: 32x32, no resampling, decoders agree to within a level or two.
    const jpegs = files.map((f, i) => [f, i] as const).filter(([f]) => /\/\d{4}\.jpg$/.test(f));
    expect(jpegs.length).toBe(18);
    for (const [, i] of jpegs) expect(meanAbsDiff(cache.records[i]!, reference[i]!)).toBeLessThan(1);
  });

  test('a second preparation decodes nothing; a changed file decodes its split again', async () => {
    const dir = folder(4);
    const first: DecodeEvent[] = [];
    const second: DecodeEvent[] = [];
    const a = await prepareImages(scanImageFolders(dir), 32, { onEvent: (e) => first.push(e) });
    const b = await prepareImages(scanImageFolders(dir), 32, { onEvent: (e) => second.push(e) });
    expect(first.some((e) => !e.fromCache && e.done === 0)).toBe(true);
    expect(second).toEqual([{ type: 'decode', split: 'train', done: 12, total: 12, fromCache: true, cacheFile: a.train }]);
    expect(b.train).toBe(a.train);
    expect(a.train.startsWith(path.join(dir, '.libtorch-resnet') + path.sep)).toBe(true);
    // Another modification time is another version of the file.
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(dir, 'cat', '0000.jpg'), later, later);
    const third: DecodeEvent[] = [];
    const c = await prepareImages(scanImageFolders(dir), 32, { onEvent: (e) => third.push(e) });
    expect(c.train).not.toBe(a.train);
    expect(third.some((e) => !e.fromCache)).toBe(true);
    // The stale cache is gone; no temporaries are left.
    expect(fs.readdirSync(path.join(dir, '.libtorch-resnet')).sort()).toEqual(
      [path.basename(c.train), `${path.basename(c.train)}.json`].sort(),
    );
  });
});

describeWithData('aborting while decoding', () => {
  test('rejects with an AbortError and leaves no cache file, whole or partial', async () => {
    const dir = folder(10);
    const controller = new AbortController();
    const failure = await train({
      ...PLAIN_SGD, images: dir, preset: 'cifar', epochs: 1, signal: controller.signal,
      onProgress: (e) => { if (e.type === 'decode') controller.abort(); },
    }).catch((e: unknown) => e);
    expect(failure).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(fs.readdirSync(path.join(dir, '.libtorch-resnet'))).toEqual([]);
  });
});

describeWithData('a folder the cache cannot go into', () => {
  // Running as root, a read-only mode would not stop the write: a file where the cache folder goes does.
  test('puts the cache under the user cache folder and warns', async () => {
    const dir = folder(2);
    fs.writeFileSync(path.join(dir, '.libtorch-resnet'), '');
    const userCache = tempDir('ltr-user-cache-');
    made.push(userCache);
    const saved = process.env.LIBTORCH_RESNET_DATA;
    process.env.LIBTORCH_RESNET_DATA = userCache;
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const prepared = await prepareImages(scanImageFolders(dir), 32);
      const warnings = warn.mock.calls.map(([w]) => ({ message: String(w) }));
      expect(prepared.train.startsWith(path.join(userCache, 'image-cache') + path.sep)).toBe(true);
      expect(readCache(prepared.train).labels).toEqual([0, 0, 1, 1, 2, 2]);
      expect(warnings.map((w) => w.message)).toEqual([
        `images folder ${dir} cannot hold its decode cache (EEXIST: read-only?); the decoded images are cached in ` +
          path.dirname(prepared.train),
      ]);
    } finally {
      warn.mockRestore();
      if (saved === undefined) delete process.env.LIBTORCH_RESNET_DATA;
      else process.env.LIBTORCH_RESNET_DATA = saved;
    }
  });
});

describeWithData('bad pictures', () => {
  function withBadFiles(): { dir: string; bad: string[] } {
    const dir = folder(8);
    const truncated = path.join(dir, 'cat', 'truncated.jpg');
    const text = path.join(dir, 'frog', 'notes.jpg');
    fs.writeFileSync(truncated, fs.readFileSync(path.join(dir, 'cat', '0001.jpg')).subarray(0, 200));
    fs.writeFileSync(text, 'not a picture\n');
    return { dir, bad: [truncated, text] };
  }

  test('are an error naming the first and counting the others', async () => {
    const { dir, bad } = withBadFiles();
    const failure = await train({ ...PLAIN_SGD, images: dir, preset: 'cifar', epochs: 1 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TorchError);
    expect(failure).toMatchObject({ code: 'ERR_DATA' });
    const message = (failure as Error).message;
    expect(message).toMatch(new RegExp(`^cannot decode (${bad.map((b) => b.replace(/[.]/g, '\\.')).join('|')}) \\(`));
    expect(message).toMatch(/and 1 other picture\(s\) in .*; fix or remove them, or pass skipBadImages: true/);
  });

  test('with skipBadImages are left out, reported in the result and an event', async () => {
    const { dir, bad } = withBadFiles();
    const events: TrainEvent[] = [];
    const result = await train({
      ...PLAIN_SGD, images: dir, skipBadImages: true, preset: 'cifar', epochs: 1, batchSize: 8, validSplit: 0,
      onProgress: (e) => events.push(e),
    });
    expect(result.skippedImages!.map((b) => b.file).sort()).toEqual([...bad].sort());
    expect(result.skippedImages!.find((b) => b.file.endsWith('notes.jpg'))!.reason).toMatch(/not a JPEG or PNG/);
    expect(events.filter((e) => e.type === 'badImages')).toHaveLength(1);
    // 26 good pictures: a fifth of them drawn as the test split.
    const good = 3 * 8;
    expect(result.trainSize + result.testSize).toBe(good);
    expect(result.testSize).toBe(Math.round(0.2 * good));
  });
});

describeWithData('training on a folder', () => {
  test('3 classes at 32 px: result, report and predict() use the folder names; a resume continues it', async () => {
    const dir = folder();
    const runDir = path.join(tempDir('ltr-run-'), 'run');
    made.push(path.dirname(runDir));
    const events: TrainEvent[] = [];
    const result = await train({
      ...PLAIN_SGD, images: dir, preset: 'cifar', epochs: 1, batchSize: 16, runDir, onProgress: (e) => events.push(e),
    });
    const total = 3 * PER_CLASS;
    const nTest = Math.round(0.2 * total);
    expect(result.classes).toEqual(CLASSES);
    expect(result.testSize).toBe(nTest);
    expect(result.validSize).toBe(Math.floor(0.1 * (total - nTest)));
    expect(result.trainSize).toBe(total - nTest - result.validSize);
    expect(result.perClassAccuracy).toHaveLength(3);
    expect(result.confusionMatrix).toHaveLength(3);
    const matrixTotal = result.confusionMatrix.flat().reduce((a, b) => a + b, 0);
    expect(matrixTotal).toBe(nTest);
    expect(result.testAccuracy).toBeCloseTo(
      result.confusionMatrix.reduce((s, row, i) => s + row[i]!, 0) / nTest,
      12,
    );
    expect(events.find((e) => e.type === 'decode' && e.done === e.total)).toBeDefined();
    const report = fs.readFileSync(path.join(runDir, 'report.html'), 'utf8');
    for (const name of CLASSES) expect(report).toContain(name);
    expect(report).not.toContain('airplane');

    // predict() on the folder's own pictures: labels are folder names, one probability per class.
    const pictures = CLASSES.map((c) => path.join(dir, c, '0000.jpg'));
    const predictions = await predict({ checkpoint: result.checkpoints!.weights, images: pictures, top: 3 });
    for (const p of predictions) {
      expect(p.top.map((t) => t.label).sort()).toEqual([...CLASSES].sort());
      expect(p.top.reduce((s, t) => s + t.probability, 0)).toBeCloseTo(1, 6);
    }

    // evaluate() scores on CIFAR-10: a folder model is refused, saying where its accuracy is.
    const mini = await extractMini();
    made.push(mini);
    await expect(evaluate({ checkpoint: result.checkpoints!.weights, dataDir: mini, download: false })).rejects.toThrow(
      /was trained on image folders \(3 classes\), and evaluate\(\) scores on CIFAR-10's test split/,
    );

    // Resume: the folder comes from the checkpoint, found decoded.
    const resumedEvents: TrainEvent[] = [];
    const resumed = await train({
      resume: result.checkpoints!.last, epochs: 2, onProgress: (e) => resumedEvents.push(e),
    });
    expect(resumed.resumedFrom).toMatchObject({ epoch: 1, step: 0 });
    expect(resumed.epochs).toHaveLength(2);
    expect(resumed.classes).toEqual(CLASSES);
    expect([resumed.trainSize, resumed.validSize, resumed.testSize]).toEqual([result.trainSize, result.validSize, nTest]);
    const decodes = resumedEvents.filter((e): e is DecodeEvent => e.type === 'decode');
    expect(decodes.every((e) => e.fromCache)).toBe(true);
  });
});

describeWithData('train/, val/ and test/ folders', () => {
  /** train/ with 12 a class, val/ with 3, test/ with 5, from distinct pictures. */
  function splitFolder(): string {
    const dir = tempDir('ltr-split-images-');
    made.push(dir);
    const counts = { train: 12, val: 3, test: 5 };
    for (const c of CLASSES) {
      let n = 0;
      for (const [split, count] of Object.entries(counts)) {
        fs.mkdirSync(path.join(dir, split, c), { recursive: true });
        for (let i = 0; i < count; i++, n++) {
          const name = `${String(n).padStart(4, '0')}.jpg`;
          fs.copyFileSync(path.join(source, 'cifar-10-jpeg/train', c, name), path.join(dir, split, c, name));
        }
      }
    }
    return dir;
  }

  test('are the splits, whole; limitTrain and limitTest draw from them', async () => {
    const dir = splitFolder();
    const options = { ...PLAIN_SGD, images: dir, preset: 'cifar' as const, epochs: 1, batchSize: 12 };
    const whole = await train(options);
    expect([whole.trainSize, whole.validSize, whole.testSize]).toEqual([36, 9, 15]);
    expect(whole.classes).toEqual(CLASSES);
    // Every class in the test split: its confusion rows hold the test folders' 5 pictures each.
    expect(whole.confusionMatrix.map((row) => row.reduce((a, b) => a + b, 0))).toEqual([5, 5, 5]);
    const limited = await train({ ...options, limitTrain: 20, limitTest: 7 });
    expect([limited.trainSize, limited.validSize, limited.testSize]).toEqual([20, 9, 7]);
  });

  test('a damaged cache file is an error saying to delete it', async () => {
    const dir = splitFolder();
    const prepared = await prepareImages(scanImageFolders(dir), 32);
    const bytes = fs.readFileSync(prepared.test!);
    bytes.write('XXXXXXXX', 0, 'latin1');
    fs.writeFileSync(prepared.test!, bytes);
    const failure = await train({ ...PLAIN_SGD, images: dir, preset: 'cifar', epochs: 1 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TorchError);
    expect(failure).toMatchObject({
      code: 'ERR_DATA',
      message: `image cache ${prepared.test} is not a libtorch-resnet image cache; delete it (train() decodes the images again into a new one)`,
    });
  });
});
