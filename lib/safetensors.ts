// SPDX-License-Identifier: MIT
// A state dict as a safetensors file (huggingface/safetensors' format): an 8-byte little-endian header length, a
// JSON header naming each tensor's dtype, shape and byte range, then the tensors' bytes back to back. Parameters
// and floating buffers are F32; num_batches_tracked stays I64, as PyTorch keeps it, so that
// model.load_state_dict(load_file(path), strict=True) takes the file as it is.
import type { NativeModel } from './native';
import { onnxMetadata } from './onnx';

// The format asks for the data to start 8-byte aligned; the header is padded with spaces to get there.
const ALIGNMENT = 8;

/** `__metadata__` of an exported file: the same string values as the ONNX model's metadata_props. */
export function safetensorsMetadata(model: NativeModel): Record<string, string> {
  const { classes, mean, std, imageSize, preset } = onnxMetadata(model);
  return { classes: classes!, mean: mean!, std: std!, imageSize: imageSize!, preset: preset! };
}

/**
 * The file's bytes, the tensors in state-dict order.
 *
 * @example
 * // model: what the addon's readModel('weights.pt') gives
 * fs.writeFileSync('model.safetensors', safetensorsFile(model));
 */
export function safetensorsFile(model: NativeModel): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: safetensorsMetadata(model) };
  let offset = 0;
  for (const t of model.tensors) {
    const bytes = t.data.byteLength;
    const dtype = t.dtype === 'int64' ? 'I64' : 'F32';
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const padding = (ALIGNMENT - (Buffer.byteLength(json) % ALIGNMENT)) % ALIGNMENT;
  json += ' '.repeat(padding);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const t of model.tensors) {
    // Little-endian, as safetensors stores numbers; so is every platform the addon is built for.
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, at);
    at += t.data.byteLength;
  }
  return out;
}
