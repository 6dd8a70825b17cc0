// SPDX-License-Identifier: MIT
// train({ images }) before the native run: the folder checked and listed (lib/config/image-folders.ts), its
// splits decoded into cache files (image-cache.ts), and pictures that cannot be decoded either refused or, with
// skipBadImages, left out and reported.
import { scanImageFolders } from './config/image-folders';
import type { ResolvedConfig } from './config';
import { createAbortError, fromNativeError } from './errors';
import { prepareImages } from './image-cache';
import type { PreparedImages } from './image-cache';

/**
 * The cache files of `config.images` at the run's image size. Rejects with a ConfigError (the folder's layout),
 * an AbortError, or a TorchError with code 'ERR_DATA' naming the first bad picture and how many others there
 * are (unless skipBadImages, which sends a badImages event and a warning instead).
 *
 * @example
 * const folders = await prepareFolders(resolveConfig({ images: '/photos', preset: 'cifar' }), captureCallerStack());
 */
export async function prepareFolders(config: ResolvedConfig, callerStack: string): Promise<PreparedImages> {
  const layout = scanImageFolders(config.images!);
  const { signal, onProgress } = config;
  let prepared: PreparedImages;
  try {
    prepared = await prepareImages(layout, config.imageSize, { onEvent: onProgress, signal });
  } catch (error) {
    if (signal?.aborted) throw createAbortError(signal.reason);
    throw error;
  }
  const bad = prepared.bad;
  if (bad.length === 0) return prepared;
  if (!config.skipBadImages) {
    const first = bad[0]!;
    const others = bad.length > 1 ? ` and ${bad.length - 1} other picture(s)` : '';
    const message =
      `cannot decode ${first.file} (${first.reason})${others} in ${layout.root}; fix or remove ` +
      `${bad.length > 1 ? 'them' : 'it'}, or pass skipBadImages: true (--skip-bad-images) to train without ` +
      `${bad.length > 1 ? 'them' : 'it'}`;
    throw fromNativeError({ message, code: 'ERR_DATA' }, callerStack);
  }
  onProgress?.({ type: 'badImages', images: bad });
  process.emitWarning(`left out ${bad.length} picture(s) of ${layout.root} that cannot be decoded (skipBadImages)`, {
    code: 'LIBTORCH_RESNET_BAD_IMAGES',
  });
  return prepared;
}
