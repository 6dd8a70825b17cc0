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

/**
 * Decodes PNG or JPEG bytes to width * height * 3 RGB bytes. Transparency is flattened onto black, as
 * train({ images }) flattens its pictures (CIFAR-10 has none); 16-bit PNGs are reduced to 8 bits by pngjs.
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
      const decoded = jpeg.decode(buffer, { useTArray: true, formatAsRGBA: false });
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
