// SPDX-License-Identifier: MIT
// Export: a checkpoint's network read by the addon (checksums verified), written here as an ONNX graph or a
// safetensors file, atomically.
import fs from 'node:fs';
import path from 'node:path';

import type { ExportFormat, ResolvedExportConfig } from './config';
import { TorchError, fileSystemCode } from './errors';
import { getBinding, runJob } from './job';
import type { BindingSource } from './job';
import type { NativeModel } from './native';
import { onnxModel } from './onnx';
import { safetensorsFile } from './safetensors';

/**
 * What {@link exportModel} wrote.
 *
 * @example
 * const { out, bytes, classes } = await exportModel({ checkpoint: 'best.pt', format: 'onnx', out: 'model.onnx' });
 */
export interface ExportResult {
  /** The file written, as an absolute path. */
  readonly out: string;
  readonly format: ExportFormat;
  /** Its size. */
  readonly bytes: number;
  /** The network's preset ('article', 'cifar'). */
  readonly preset: string;
  /** The side of the square input the network takes. */
  readonly imageSize: number;
  /** Label i's name. */
  readonly classes: readonly string[];
}

function packageVersion(): string {
  // lib/ and dist/ both sit one level below package.json.
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

// Before any tensor is read, so that a typo in the folder costs nothing.
function checkOutFolder(out: string): void {
  const folder = path.dirname(out);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(folder);
  } catch {
    const message = `folder ${folder} for out does not exist; create it first or write elsewhere`;
    throw new TorchError(message, 'ERR_FILE_NOT_FOUND');
  }
  if (!stat.isDirectory()) {
    throw new TorchError(`${folder} (the folder for out) is not a folder; choose another out`, 'ERR_FILE');
  }
  if (fs.existsSync(out) && fs.statSync(out).isDirectory()) {
    const example = path.join(out, 'model.onnx');
    throw new TorchError(`out ${out} is a folder; give the path of a file to write, e.g. ${example}`, 'ERR_FILE');
  }
}

let temporaries = 0;

/** Writes `bytes` to a temporary file beside `out`, flushes it and renames it over `out`: readers see all or nothing. */
export function writeAtomically(out: string, bytes: Uint8Array): void {
  const tmp = `${out}.tmp-${process.pid}-${temporaries++}`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      // write(2) may write less than asked (a disk filling up does): go on until all is written or it fails.
      for (let done = 0; done < bytes.byteLength; ) done += fs.writeSync(fd, bytes, done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, out);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    const code = fileSystemCode(error) ?? 'ERR_FILE';
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    const advice =
      code === 'ERR_DISK_FULL'
        ? 'free some space or write elsewhere'
        : code === 'ERR_PERMISSION'
          ? 'choose a folder you may write to'
          : 'check the path';
    throw new TorchError(`cannot write ${out} (${reason}); ${advice}`, code, { cause: error });
  }
}

/** The file's bytes for `model` in `format`. */
export function encodeModel(model: NativeModel, format: ExportFormat): Uint8Array {
  return format === 'onnx' ? onnxModel(model, packageVersion()) : safetensorsFile(model);
}

// A file error made here gets the caller's frames, as the addon's errors do (fromNativeError).
function withCallerStack<T>(callerStack: string, step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof TorchError) {
      const newline = callerStack.indexOf('\n');
      error.stack = `${error.name}: ${error.message}${newline === -1 ? '' : callerStack.slice(newline)}`;
    }
    throw error;
  }
}

/** exportModel() after validation, shared with the CLI. */
export async function runExport(
  source: BindingSource,
  config: ResolvedExportConfig,
  callerStack: string,
): Promise<ExportResult> {
  withCallerStack(callerStack, () => checkOutFolder(config.out));
  const binding = getBinding(source);
  const model = await runJob<NativeModel & { status?: undefined }>(
    (_onEvent, onDone) => binding.readModel(config.checkpoint, onDone),
    { signal: undefined, onProgress: undefined },
    callerStack,
  );
  const bytes = encodeModel(model, config.format);
  withCallerStack(callerStack, () => writeAtomically(config.out, bytes));
  return Object.freeze({
    out: config.out,
    format: config.format,
    bytes: bytes.byteLength,
    preset: model.preset,
    imageSize: model.imageSize,
    classes: Object.freeze([...model.classes]),
  });
}
