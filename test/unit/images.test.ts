// SPDX-License-Identifier: MIT
// PNG and JPEG decoding for predict(): pixels, formats, and errors that name the file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

import sharp from 'sharp';

import { ImageError, decodeImage, loadImages } from '../../lib/images';

function pngOf(width: number, height: number, pixel: (x: number, y: number) => [number, number, number, number]) {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) png.data.set(pixel(x, y), (y * width + x) * 4);
  }
  return PNG.sync.write(png);
}

test('a PNG becomes RGB rows, alpha flattened onto black (as train({ images }) does)', () => {
  const bytes = pngOf(3, 2, (x, y) => [x * 10, y * 20, 200, x === 0 ? 0 : x === 1 ? 255 : 51]);
  const image = decodeImage(bytes, 'a.png');
  expect([image.width, image.height]).toEqual([3, 2]);
  // Column 0 transparent (black), column 1 opaque, column 2 at alpha 0.2.
  expect(Array.from(image.data)).toEqual([0, 0, 0, 10, 0, 200, 4, 0, 40, 0, 0, 0, 10, 20, 200, 4, 4, 40]);
});

test('a JPEG becomes RGB close to what was encoded', () => {
  const rgba = Buffer.alloc(16 * 16 * 4);
  for (let i = 0; i < 256; i++) rgba.set([200, 100, 50, 255], i * 4);
  const image = decodeImage(jpeg.encode({ width: 16, height: 16, data: rgba }, 95).data, 'a.jpg');
  expect([image.width, image.height, image.data.length]).toEqual([16, 16, 16 * 16 * 3]);
  for (const [i, want] of [200, 100, 50].entries()) expect(Math.abs(image.data[i]! - want)).toBeLessThan(6);
});

test('anything else is an ImageError naming the file', () => {
  expect(() => decodeImage(Buffer.from('GIF89a....'), 'x.gif')).toThrow(ImageError);
  expect(() => decodeImage(Buffer.from('GIF89a....'), 'x.gif')).toThrow(/^x\.gif is neither a PNG nor a JPEG image/);
  const truncated = pngOf(8, 8, () => [1, 2, 3, 255]).subarray(0, 40);
  expect(() => decodeImage(truncated, 'cut.png')).toThrow(/^cannot decode cut\.png: /);
});

test('loadImages reads paths and takes bytes, in order; a missing file says so', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-images-'));
  try {
    const file = path.join(dir, 'one.png');
    fs.writeFileSync(file, pngOf(2, 2, () => [9, 9, 9, 255]));
    const images = await loadImages([file, pngOf(1, 1, () => [1, 1, 1, 255])]);
    expect(images.map((i) => i.width)).toEqual([2, 1]);
    const error = await loadImages([path.join(dir, 'none.png')]).catch((e: ImageError) => e);
    expect(error).toMatchObject({ code: 'ERR_INVALID_IMAGE', message: expect.stringMatching(/none\.png \(ENOENT\)$/) });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('a JPEG stored turned (EXIF orientation)', () => {
  // 48x32, four flat quadrants of different colours: any wrong turn or mirror moves a colour to another corner.
  async function turnedJpeg(orientation: number): Promise<Buffer> {
    const w = 48, h = 32;
    const raw = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const colour = [[250, 20, 20], [20, 250, 20], [20, 20, 250], [240, 240, 30]][(y < h / 2 ? 0 : 2) + (x < w / 2 ? 0 : 1)]!;
        raw.set(colour, 3 * (y * w + x));
      }
    }
    return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation }).toBuffer();
  }

  test.each([1, 2, 3, 4, 5, 6, 7, 8])('orientation %i is turned upright as sharp turns it', async (orientation) => {
    const bytes = await turnedJpeg(orientation);
    const image = decodeImage(bytes, 'turned.jpg');
    const upright = await sharp(bytes).rotate().raw().toBuffer({ resolveWithObject: true });
    expect([image.width, image.height]).toEqual([upright.info.width, upright.info.height]);
    const meanDiff = (data: Uint8Array) => data.reduce((sum, v, i) => sum + Math.abs(v - upright.data[i]!), 0) / data.length;
    // Two JPEG decoders (jpeg-js, libjpeg) differ by a few levels at the colour edges; a wrong turn by far more.
    expect(meanDiff(image.data)).toBeLessThan(8);
    const stored = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
    if (orientation > 1 && orientation < 5) expect(meanDiff(stored.data)).toBeGreaterThan(50);
  });
});
