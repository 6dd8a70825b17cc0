// SPDX-License-Identifier: MIT
// The errors this package creates: TorchError for native failures, AbortError for cancelled runs.

/**
 * A failure inside LibTorch or the native addon, carrying a string `code` that says what went wrong:
 * - `ERR_DISK_FULL`: a checkpoint, weights file or folder could not be written for lack of space;
 * - `ERR_PERMISSION`: a file or folder may not be read or written (or the file system is read-only);
 * - `ERR_FILE_NOT_FOUND`: a checkpoint or CIFAR-10 file is not there (or the folder export writes into);
 *   `ERR_FILE`: another file failure;
 * - `ERR_CHECKPOINT`: a checkpoint or weights file that is damaged (its tensors fail their checksum too), truncated
 *   or not this package's, or a weights file given to `resume`;
 * - `ERR_DATA`: CIFAR-10 files that are there but damaged;
 * - `ERR_NON_FINITE_LOSS`, `ERR_BUSY`, `ERR_DISTRIBUTED`: the training run's own failures;
 * - `ERR_TORCH` (a `c10::Error`), `ERR_TORCH_OOM` (out of memory), and `ERR_NATIVE` for any other C++ exception.
 * Downloads reject with a `DownloadError` instead (`ERR_DOWNLOAD_*`, and `ERR_DISK_FULL` / `ERR_PERMISSION` with
 * the meaning they have here); option errors are `TypeError` / `RangeError` with Node's `ERR_INVALID_ARG_*` codes.
 * Its stack is the caller's: it points at the `train()` or `info()` call that failed.
 *
 * @example
 * import { train, TorchError } from 'libtorch-resnet';
 * try {
 *   await train({ device: 'cuda' });
 * } catch (err) {
 *   if (err instanceof TorchError && err.code === 'ERR_TORCH_OOM') console.error('lower batchSize');
 *   else throw err;
 * }
 */
export class TorchError extends Error {
  /** One of the codes listed on the class, e.g. `ERR_DISK_FULL`, `ERR_CHECKPOINT`, `ERR_TORCH_OOM`. */
  readonly code: string;

  constructor(message: string, code = 'ERR_TORCH', options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
Object.defineProperty(TorchError.prototype, 'name', {
  value: 'TorchError',
  configurable: true,
  enumerable: false,
  writable: true,
});

/**
 * What a cancelled run rejects with, shaped like Node's own (`events.once()`, `timers/promises`):
 * `name` 'AbortError', `code` 'ABORT_ERR', `cause` the signal's reason.
 *
 * @example
 * const controller = new AbortController();
 * const run = train({ signal: controller.signal });
 * controller.abort();
 * await run.catch((err: AbortError) => console.log(err.name, err.code)); // AbortError ABORT_ERR
 */
export class AbortError extends Error {
  /** Always 'ABORT_ERR', as in Node. */
  readonly code = 'ABORT_ERR';

  constructor(message = 'The operation was aborted', options?: ErrorOptions) {
    super(message, options);
  }
}
Object.defineProperty(AbortError.prototype, 'name', {
  value: 'AbortError',
  configurable: true,
  enumerable: false,
  writable: true,
});

/**
 * Builds the error a run rejects with once it has been aborted; `reason` is the signal's reason.
 *
 * @example
 * if (signal.aborted) throw createAbortError(signal.reason);
 */
export function createAbortError(reason?: unknown): AbortError {
  return new AbortError('The training run was aborted', { cause: reason });
}

/**
 * Records where a public API function was called, before any asynchronous work, so that errors raised later on
 * the event loop can point at the user's code (sharp captures `Error()` in `toBuffer` the same way).
 * Frames from `boundary` inwards are left out.
 *
 * @example
 * export function train(options) {
 *   const callerStack = captureCallerStack(train);
 *   // ... later, in a native callback: throw fromNativeError(error, callerStack);
 * }
 */
export function captureCallerStack(boundary?: Function): string {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, boundary);
  return holder.stack ?? '';
}

/**
 * Turns an error built by the addon (a `NativeError`, with `code`) into a {@link TorchError} whose stack is
 * `callerStack` (from {@link captureCallerStack}); the native error is kept as `cause`.
 *
 * @example
 * onDone = (error, result) => (error ? reject(fromNativeError(error, callerStack)) : resolve(result));
 */
export function fromNativeError(error: unknown, callerStack: string): TorchError {
  if (error instanceof TorchError) return error;
  // Duck-typed: the addon makes its errors in the main realm, so under a vm context (jest) they fail instanceof.
  const nativeMessage = (error as { message?: unknown } | null)?.message;
  const message = typeof nativeMessage === 'string' ? nativeMessage : String(error);
  const nativeCode = (error as { code?: unknown } | null)?.code;
  const code = typeof nativeCode === 'string' && nativeCode !== '' ? nativeCode : 'ERR_NATIVE';
  const torchError = new TorchError(message, code, { cause: error });
  // Keep the caller's frames: the native error's own stack only shows the event loop.
  const newline = callerStack.indexOf('\n');
  const frames = newline === -1 ? '' : callerStack.slice(newline);
  torchError.stack = `${torchError.name}: ${message}${frames}`;
  return torchError;
}

/**
 * The code a file system failure gets wherever this package writes (checkpoints, the run folder, the data
 * folder): `ERR_DISK_FULL` for a full disk or quota, `ERR_PERMISSION` for a file or folder that may not be written
 * (a read-only file system too); undefined for any other failure.
 *
 * @example
 * fileSystemCode(Object.assign(new Error('no space'), { code: 'ENOSPC' })); // 'ERR_DISK_FULL'
 */
export function fileSystemCode(error: unknown): 'ERR_DISK_FULL' | 'ERR_PERMISSION' | undefined {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'ERR_DISK_FULL';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'ERR_PERMISSION';
  return undefined;
}
