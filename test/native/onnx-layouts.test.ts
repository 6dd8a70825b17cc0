// SPDX-License-Identifier: MIT
// The ONNX graph builder's torchvision layout against torchvision itself: Python writes a seeded
// torchvision.models.resnet34(num_classes=10) (random batch-norm statistics too) and its logits for a fixed input;
// the graph built from those tensors, run by onnxruntime-node, must give the same logits. No addon involved: the
// layout table is what is under test, independently of this package's own presets.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import type { NativeModel, NativeModelTensor } from '../../lib/native';
import { ONNX_LAYOUTS, onnxModel } from '../../lib/onnx';
import { tempDir } from '../fixtures/cifar';
import { runOnnx } from '../fixtures/onnx-run';
import { PYTHON, pythonHas } from '../fixtures/python';

const SIZE = 64;
const withTorchvision = pythonHas('torch', 'torchvision') ? describe : describe.skip;

function readPythonModel(dir: string): NativeModel {
  const entries = JSON.parse(fs.readFileSync(path.join(dir, 'tensors.json'), 'utf8')) as {
    name: string;
    shape: number[];
    dtype: 'float32' | 'int64';
    offset: number;
    bytes: number;
  }[];
  const blob = fs.readFileSync(path.join(dir, 'tensors.bin'));
  const tensors = entries.map(({ name, shape, dtype, offset, bytes }): NativeModelTensor => {
    const copy = new Uint8Array(blob.subarray(offset, offset + bytes)).buffer;
    return dtype === 'int64'
      ? { name, shape, dtype, data: new BigInt64Array(copy) }
      : { name, shape, dtype, data: new Float32Array(copy) };
  });
  return {
    preset: 'torchvision',
    imageSize: SIZE,
    recordSide: SIZE,
    classes: Array.from({ length: 10 }, (_, i) => `class${i}`),
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    tensors,
  };
}

const floats = (file: string): Float32Array => {
  const bytes = fs.readFileSync(file);
  return new Float32Array(new Uint8Array(bytes).buffer);
};

withTorchvision('the torchvision layout', () => {
  test('gives torchvision resnet34 logits for the same tensors and input', () => {
    const dir = tempDir('ltr-torchvision-');
    execFileSync(PYTHON, [path.join(__dirname, '../fixtures/torchvision-resnet.py'), dir, String(SIZE)]);
    const model = readPythonModel(dir);
    const modelFile = path.join(dir, 'model.onnx');
    fs.writeFileSync(modelFile, onnxModel(model, '0.0.0', ONNX_LAYOUTS.torchvision));
    const input = floats(path.join(dir, 'input.bin'));
    const [run] = runOnnx(modelFile, [{ data: input, dims: [2, 3, SIZE, SIZE] }], dir).runs;
    const expected = floats(path.join(dir, 'logits.bin'));
    expect(run!.dims).toEqual([2, 10]);
    const got = run!.data;
    const scale = Math.max(...expected.map(Math.abs));
    for (let i = 0; i < expected.length; i++) expect(Math.abs(got[i]! - expected[i]!)).toBeLessThan(1e-4 * Math.max(1, scale));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
