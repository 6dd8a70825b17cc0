// SPDX-License-Identifier: MIT
// PNG and JPEG files to RGB pixels for predict(): decoding is pngjs's and jpeg-js's job, the rest (centre square,
// 32 px, the training transform) is the native core's.
import fs from 'node:fs/promises';

import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

import type { ImageInput } from './config';
import type { NativeImage } from './native';

/** An image that could not be read or decoded; `code` is ERR_INVALID_IMAGE. */
export class ImageError extends Error {
  readonly code = 'ERR_INVALID_IMAGE';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ImageError';
  }
}

function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** The EXIF orientation (1-8) of a JPEG, 1 when it states none: cameras store portraits turned. */
export function exifOrientation(bytes: Buffer): number {
  let at = 2;
  while (at + 4 <= bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1]!;
    const length = bytes.readUInt16BE(at + 2);
    if (marker === 0xda) break; // image data: no metadata after it
    if (marker === 0xe1 && bytes.toString('latin1', at + 4, at + 10) === 'Exif\0\0') {
      const tiff = at + 10;
      const little = bytes.toString('latin1', tiff, tiff + 2) === 'II';
      const u16 = (o: number) => (little ? bytes.readUInt16LE(o) : bytes.readUInt16BE(o));
      const u32 = (o: number) => (little ? bytes.readUInt32LE(o) : bytes.readUInt32BE(o));
      const ifd = tiff + u32(tiff + 4);
      const entries = ifd + 2 <= bytes.length ? u16(ifd) : 0;
      for (let i = 0; i < entries && ifd + 2 + 12 * (i + 1) <= bytes.length; i++) {
        const entry = ifd + 2 + 12 * i;
        if (u16(entry) === 0x0112) {
          const value = u16(entry + 8);
          return value >= 1 && value <= 8 ? value : 1;
        }
      }
      return 1;
    }
    at += 2 + length;
  }
  return 1;
}

/** RGB pixels turned upright for an EXIF orientation, as sharp's rotate() turns train({ images })' pictures. */
export function orient(image: { width: number; height: number; data: Uint8Array }, orientation: number) {
  if (orientation <= 1 || orientation > 8) return image;
  const { width: w, height: h, data } = image;
  const swap = orientation >= 5;
  const W = swap ? h : w, H = swap ? w : h;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      // Where upright pixel (x, y) is stored, per orientation (EXIF 2.3, tag 0x0112).
      const [sx, sy] = [
        [x, y], [w - 1 - x, y], [w - 1 - x, h - 1 - y], [x, h - 1 - y],
        [y, x], [y, h - 1 - x], [w - 1 - y, h - 1 - x], [w - 1 - y, x],
      ][orientation - 1]!;
      const src = 3 * (sy! * w + sx!), dst = 3 * (y * W + x);
      out[dst] = data[src]!;
      out[dst + 1] = data[src + 1]!;
      out[dst + 2] = data[src + 2]!;
    }
  }
  return { width: W, height: H, data: out };
}

/**
 * Decodes PNG or JPEG bytes to width * height * 3 RGB bytes. Transparency is flattened onto black, as
 * train({ images }) flattens its pictures (CIFAR-10 has none); 16-bit PNGs are reduced to 8 bits by pngjs; a
 * JPEG's EXIF orientation is applied, as sharp applies it to train({ images })' pictures.
 *
 * @example
 * const { width, height, data } = decodeImage(fs.readFileSync('cat.png'), 'cat.png');
 */
export function decodeImage(bytes: Uint8Array, name: string): NativeImage {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    if (isPng(buffer)) {
      const png = PNG.sync.read(buffer);
      const rgb = new Uint8Array(png.width * png.height * 3);
      for (let src = 0, dst = 0; src < png.data.length; src += 4, dst += 3) {
        const alpha = png.data[src + 3]! / 255;
        rgb[dst] = Math.round(png.data[src]! * alpha);
        rgb[dst + 1] = Math.round(png.data[src + 1]! * alpha);
        rgb[dst + 2] = Math.round(png.data[src + 2]! * alpha);
      }
      return { width: png.width, height: png.height, data: rgb };
    }
    if (isJpeg(buffer)) {
      const decoded = orient(jpeg.decode(buffer, { useTArray: true, formatAsRGBA: false }), exifOrientation(buffer));
      return { width: decoded.width, height: decoded.height, data: decoded.data };
    }
  } catch (error) {
    throw new ImageError(`cannot decode ${name}: ${(error as Error).message}`, { cause: error });
  }
  throw new ImageError(`${name} is neither a PNG nor a JPEG image; convert it to one of those`);
}

/** Reads (when a path) and decodes each image, in order. */
export async function loadImages(inputs: readonly ImageInput[]): Promise<NativeImage[]> {
  return Promise.all(
    inputs.map(async (input, i) => {
      if (typeof input !== 'string') return decodeImage(input, `images[${i}]`);
      let bytes: Buffer;
      try {
        bytes = await fs.readFile(input);
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        throw new ImageError(`cannot read image ${input} (${reason})`, { cause: error });
      }
      return decodeImage(bytes, input);
    }),
  );
}
