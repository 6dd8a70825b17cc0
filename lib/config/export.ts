// SPDX-License-Identifier: MIT
// export()'s options: which trained network, which format, and where to write it.
import { readPath } from './checks';
import { CHECKPOINT_SPEC } from './scoring';
import { enumSpec, readOptions, spec } from './spec';

/** The formats {@link exportModel} writes. */
export const EXPORT_FORMATS = Object.freeze(['onnx', 'safetensors'] as const);
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * Options of {@link exportModel}.
 *
 * @example
 * await exportModel({ checkpoint: 'runs/a/checkpoints/weights.pt', format: 'onnx', out: 'resnet34.onnx' });
 */
export interface ExportConfig {
  /** A checkpoint or weights file written by train(). Required. */
  checkpoint: string;
  /** 'onnx' (a runnable graph, normalisation included) or 'safetensors' (the state dict's tensors). Required. */
  format: ExportFormat | string;
  /** The file to write; its folder must exist. An existing file is replaced atomically. Required. */
  out: string;
}

export interface ResolvedExportConfig {
  readonly checkpoint: string;
  readonly format: ExportFormat;
  readonly out: string;
}

const FORMAT_SPEC = {
  ...enumSpec(
    'format',
    EXPORT_FORMATS,
    undefined,
    'none',
    'File format: an ONNX graph, or the state dict as safetensors.',
  ),
  required: `one of ${EXPORT_FORMATS.map((f) => `'${f}'`).join(', ')}`,
};

/** export's options, each with its check, in the order `export --help` lists them. */
export const EXPORT_SPECS = Object.freeze({
  checkpoint: CHECKPOINT_SPEC,
  format: FORMAT_SPEC,
  out: spec(
    {
      name: 'out',
      type: 'string',
      default: undefined,
      defaultText: 'none',
      range: '',
      expected: 'non-empty string',
      description: 'File to write (model.onnx, model.safetensors); its folder must exist.',
      cli: true,
      required: 'path of the file to write',
      flag: '--out <file>',
    },
    (value) => readPath(value, 'out'),
  ),
});

/**
 * Checks {@link exportModel}'s options: a missing option first, then each in table order.
 *
 * @example
 * resolveExportConfig({ checkpoint: 'best.pt', format: 'onnx', out: 'model.onnx' }).out; // absolute path
 */
export function resolveExportConfig(input: unknown): ResolvedExportConfig {
  const { values } = readOptions(EXPORT_SPECS, input, { absentFirst: true });
  return Object.freeze({ checkpoint: values.checkpoint!, format: values.format!, out: values.out! });
}
