// SPDX-License-Identifier: MIT
// Prediction: images decoded in JS, classified by the addon with a checkpoint's network, ranked here.
import type { ResolvedPredictConfig } from './config';
import { loadImages } from './images';
import { getBinding, runJob } from './job';
import type { BindingSource } from './job';
import type { NativeCheckpointSummary } from './native';

/**
 * One image's prediction from {@link predict}.
 *
 * @example
 * const [p] = await predict({ checkpoint, images: ['cat.png'] });
 * console.log(p.top[0].label, p.top[0].probability);
 */
export interface Prediction {
  /** The path given, or `images[i]` for bytes. */
  readonly image: string;
  /** The `top` most probable classes, most probable first. */
  readonly top: readonly { readonly label: string; readonly classIndex: number; readonly probability: number }[];
  /** One probability per class, in the order of the checkpoint's classes (CIFAR-10's, or its images folder's). */
  readonly probabilities: readonly number[];
}

/** predict() after validation, shared with the CLI. */
export async function runPrediction(
  source: BindingSource,
  config: ResolvedPredictConfig,
  callerStack: string,
): Promise<Prediction[]> {
  const images = await loadImages(config.images);
  const binding = getBinding(source);
  const nativeOptions = {
    checkpoint: config.checkpoint,
    device: config.device,
    threads: config.threads,
    flipTta: config.flipTta ?? null,
  };
  const result = await runJob<{ probabilities: number[][]; checkpoint: NativeCheckpointSummary; status?: undefined }>(
    (onEvent, onDone) => binding.startPrediction(nativeOptions, images, onEvent, onDone),
    { signal: undefined, onProgress: undefined },
    callerStack,
  );
  return result.probabilities.map((probabilities, i) => {
    const input = config.images[i]!;
    const ranked = probabilities
      .map((probability, classIndex) => ({ label: result.checkpoint.classes[classIndex]!, classIndex, probability }))
      .sort((a, b) => b.probability - a.probability);
    return {
      image: typeof input === 'string' ? input : `images[${i}]`,
      top: ranked.slice(0, config.top),
      probabilities,
    };
  });
}
