// SPDX-License-Identifier: MIT
// What every operation on the addon shares: the binding (or its loader), one native job run to its end with its
// events, cancellation and errors turned into JS, and the data folder found (downloaded when asked).
import { prepareDataset } from './dataset';
import { createAbortError, fromNativeError } from './errors';
import type { DownloadEvent, DownloadSource } from './download';
import type { NativeBinding, NativeError, NativeEvent, NativeJob } from './native';
import type { TrainEvent } from './progress';

/** The addon, or a function that loads it (called only once the options are known to be valid). */
export type BindingSource = NativeBinding | (() => NativeBinding);

/** The binding itself, loading it when given the loader. */
export function getBinding(source: BindingSource): NativeBinding {
  return typeof source === 'function' ? source() : source;
}

function missingResult(): NativeError {
  return Object.assign(new Error('the addon finished without an error or a result'), { code: 'ERR_NATIVE' });
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * The data folder, downloading CIFAR-10 when it lacks it. A listener that throws while the archive downloads
 * stops the download, and the call rejects with its error.
 */
export async function findData(
  dir: string,
  download: false | DownloadSource,
  signal: AbortSignal | undefined,
  onProgress: ((event: TrainEvent) => void) | undefined,
): Promise<string> {
  let downloadListenerError: { error: unknown } | undefined;
  const downloadController = new AbortController();
  const onDownload = (event: DownloadEvent) => {
    if (!onProgress || downloadListenerError) return;
    try {
      const returned: unknown = onProgress(event);
      if (isThenable(returned)) {
        returned.then(undefined, (error: unknown) => {
          downloadListenerError ??= { error };
          downloadController.abort(error);
        });
      }
    } catch (error) {
      downloadListenerError = { error };
      downloadController.abort(error);
    }
  };
  try {
    return await prepareDataset(dir, {
      download,
      onProgress: onDownload,
      signal: signal ? AbortSignal.any([signal, downloadController.signal]) : downloadController.signal,
    });
  } catch (error) {
    if (downloadListenerError) throw downloadListenerError.error;
    throw error;
  }
}

/** Listeners of a native job: the caller's (which may throw) and an internal one (which must not). */
export interface JobListeners {
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((event: TrainEvent) => void) | undefined;
  readonly record?: (event: NativeEvent) => void;
}

/**
 * Runs one native job to its end: events go to the listeners in order; aborting `signal` cancels the job and
 * rejects with an AbortError; a listener that throws (or rejects) cancels it and becomes the rejection; a native
 * failure rejects with a TorchError carrying `callerStack`. onDone settles it, exactly once.
 */
export function runJob<R extends { status?: 'completed' | 'cancelled' }>(
  start: (onEvent: (event: NativeEvent) => void, onDone: (error: NativeError | null, result?: R) => void) => NativeJob,
  { signal, onProgress, record }: JobListeners,
  callerStack: string,
): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    let job: NativeJob | undefined;
    let cancelRequested = false;
    let settled = false;
    let listenerError: { error: unknown } | undefined;

    const cancel = () => {
      if (cancelRequested) return;
      cancelRequested = true;
      // Before start has returned there is no job yet: cancelled right after it returns.
      job?.cancel();
    };
    const onAbort = () => cancel();
    const failFromListener = (error: unknown) => {
      if (listenerError || settled) return;
      listenerError = { error };
      cancel();
    };
    const finish = () => {
      settled = true;
      signal?.removeEventListener('abort', onAbort);
    };

    const onEvent = (event: NativeEvent) => {
      if (settled) return;
      record?.(event);
      if (!onProgress || listenerError) return;
      const publicEvent: TrainEvent = event;
      // A listener that throws (or rejects) must not take the process down: it cancels the run, whose promise
      // then rejects with the listener's error.
      try {
        const returned: unknown = onProgress(publicEvent);
        if (isThenable(returned)) returned.then(undefined, failFromListener);
      } catch (error) {
        failFromListener(error);
      }
    };

    const onDone = (error: NativeError | null, result?: R) => {
      if (settled) return;
      finish();
      if (listenerError) reject(listenerError.error);
      else if (error) reject(fromNativeError(error, callerStack));
      else if (!result) reject(fromNativeError(missingResult(), callerStack));
      else if (result.status === 'cancelled' || signal?.aborted) reject(createAbortError(signal?.reason));
      else resolve(result);
    };

    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      job = start(onEvent, onDone);
    } catch (error) {
      if (!settled) {
        finish();
        reject(fromNativeError(error, callerStack));
      }
      return;
    }
    if (cancelRequested && !settled) job.cancel();
  });
}
