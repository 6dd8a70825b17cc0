// SPDX-License-Identifier: MIT
// export on a real trained network: the ONNX graph, run by onnxruntime-node on the pictures given to predict(),
// gives predict()'s probabilities (batch of 1 and of 3, one graph); its opset and metadata; safetensors read back by
// this file's own reader (every tensor against readModel's) and by Python (json + struct + torch.frombuffer, loaded
// with strict=True into the network written again in Python, whose probabilities must be predict()'s too).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { PNG } from 'pngjs';

import { exportModel, predict, train } from '../../lib/index';
import type { TrainResult } from '../../lib/index';
import { loadNative } from '../../lib/native';
import type { NativeModel } from '../../lib/native';
import { modelProto } from '../../lib/onnx-proto';
import { PLAIN_SGD, RECORD_BYTES, extractMini, tempDir } from '../fixtures/cifar';
import { runOnnx, softmaxRows } from '../fixtures/onnx-run';
import { PYTHON, pythonHas } from '../fixtures/python';
import { describeAsRoot, useTmpfs } from '../fixtures/tmpfs';

const COUNT = 3;
let mini: string;
let work: string;
let records: Buffer[];
let pngs: string[];

/** 32x32 RGB record (planes R, G, B) -> a PNG file, so that predict()'s centre square and resize leave it as is. */
function writePng(record: Buffer, file: string): string {
  const png = new PNG({ width: 32, height: 32 });
  for (let p = 0; p < 1024; p++) {
    for (let c = 0; c < 3; c++) png.data[p * 4 + c] = record[c * 1024 + p]!;
    png.data[p * 4 + 3] = 255;
  }
  fs.writeFileSync(file, PNG.sync.write(png));
  return file;
}

/** F.interpolate(x, size, mode='bilinear', align_corners=False) of one [3, 32, 32] record, scaled to [0, 1]. */
function resizeRecord(record: Buffer, size: number): Float32Array {
  const out = new Float32Array(3 * size * size);
  const scale = 32 / size;
  const source = (d: number) => {
    const s = Math.max(0, (d + 0.5) * scale - 0.5);
    const i0 = Math.floor(s);
    return { i0, i1: Math.min(i0 + 1, 31), w: s - i0 };
  };
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < size; y++) {
      const sy = source(y);
      for (let x = 0; x < size; x++) {
        const sx = source(x);
        const at = (yy: number, xx: number) => record[c * 1024 + yy * 32 + xx]!;
        const top = at(sy.i0, sx.i0) * (1 - sx.w) + at(sy.i0, sx.i1) * sx.w;
        const bottom = at(sy.i1, sx.i0) * (1 - sx.w) + at(sy.i1, sx.i1) * sx.w;
        out[(c * size + y) * size + x] = (top * (1 - sy.w) + bottom * sy.w) / 255;
      }
    }
  }
  return out;
}

function batch(count: number, size: number): Float32Array {
  const out = new Float32Array(count * 3 * size * size);
  for (let i = 0; i < count; i++) out.set(resizeRecord(records[i]!, size), i * 3 * size * size);
  return out;
}

function readModel(file: string): Promise<NativeModel> {
  return new Promise((resolve, reject) =>
    loadNative().readModel(file, (error, model) => (error ? reject(error) : resolve(model!))),
  );
}

// Log-probabilities less their mean are the logits less theirs: compared too, as a barely trained network's
// probabilities are all near 0.1 and would hide a small difference in its logits.
const centredLogits = (row: readonly number[]) => {
  const logs = row.map(Math.log);
  const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
  return logs.map((l) => l - mean);
};
const expectClose = (got: number[][], want: readonly (readonly number[])[]) => {
  expect(got.length).toBe(want.length);
  got.forEach((row, i) => row.forEach((p, k) => expect(Math.abs(p - want[i]![k]!)).toBeLessThan(1e-4)));
  got.forEach((row, i) => {
    const expected = centredLogits(want[i]!);
    centredLogits(row).forEach((l, k) => expect(Math.abs(l - expected[k]!)).toBeLessThan(1e-3));
  });
};

async function trainTiny(preset: 'cifar' | 'article' | 'torchvision', imageSize: number, name: string): Promise<TrainResult> {
  return train({
    ...PLAIN_SGD,
    preset,
    imageSize,
    epochs: 1,
    batchSize: 8,
    limitTrain: 16,
    limitTest: 8,
    validSplit: 0.5,
    flipTta: false,
    threads: 2,
    device: 'cpu',
    dataDir: mini,
    download: false,
    runDir: path.join(work, name),
  });
}

beforeAll(async () => {
  mini = await extractMini();
  work = tempDir('ltr-export-');
  const test = fs.readFileSync(path.join(mini, 'cifar-10-batches-bin', 'test_batch.bin'));
  records = Array.from({ length: COUNT }, (_, i) => test.subarray(i * RECORD_BYTES + 1, (i + 1) * RECORD_BYTES));
  pngs = records.map((r, i) => writePng(r, path.join(work, `image-${i}.png`)));
});
afterAll(() => {
  fs.rmSync(mini, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

describe('export of a cifar model (32 px)', () => {
  let result: TrainResult;
  beforeAll(async () => {
    result = await trainTiny('cifar', 32, 'cifar');
  });

  test('the ONNX graph gives predict() probabilities, for a batch of 1 and of 3', async () => {
    const out = path.join(work, 'cifar.onnx');
    const exported = await exportModel({ checkpoint: result.checkpoints!.last, format: 'onnx', out });
    expect(exported).toMatchObject({ out, format: 'onnx', preset: 'cifar', imageSize: 32, bytes: fs.statSync(out).size });
    const predictions = await predict({ checkpoint: result.checkpoints!.last, images: pngs, flipTta: false });
    const ort = runOnnx(out, [{ data: batch(1, 32), dims: [1, 3, 32, 32] }, { data: batch(COUNT, 32), dims: [COUNT, 3, 32, 32] }], work);
    expect(ort.runs.map((r) => r.dims)).toEqual([[1, 10], [COUNT, 10]]);
    const want = predictions.map((p) => p.probabilities);
    expectClose(softmaxRows(ort.runs[0]!.data, 10), want.slice(0, 1));
    expectClose(softmaxRows(ort.runs[1]!.data, 10), want);
    expect(ort.inputs[0]).toMatchObject({ name: 'images', shape: ['N', 3, 32, 32] });
    expect(ort.outputs[0]).toMatchObject({ name: 'logits', shape: ['N', 10] });
  });

  test('the ONNX file declares opset 17, IR version 8 and the model in its metadata', async () => {
    const out = path.join(work, 'meta.onnx');
    await exportModel({ checkpoint: result.checkpoints!.weights, format: 'onnx', out });
    const decoded = modelProto().toObject(modelProto().decode(fs.readFileSync(out)), { longs: Number }) as {
      irVersion: number;
      opsetImport: { domain?: string; version: number }[];
      metadataProps: { key: string; value: string }[];
    };
    expect(decoded.irVersion).toBe(8);
    // The default opset domain, '' (ai.onnx), is proto3's default and so not written.
    expect(decoded.opsetImport.map((o) => [o.domain ?? '', o.version])).toEqual([['', 17]]);
    const meta = Object.fromEntries(decoded.metadataProps.map((p) => [p.key, p.value]));
    expect(JSON.parse(meta.classes!)).toEqual(result.classes);
    expect(meta).toMatchObject({ preset: 'cifar', imageSize: '32', recordSize: '32' });
    const model = await readModel(result.checkpoints!.weights);
    JSON.parse(meta.mean!).forEach((m: number, i: number) => expect(m).toBeCloseTo(model.mean[i]!, 6));
    JSON.parse(meta.std!).forEach((s: number, i: number) => expect(s).toBeCloseTo(model.std[i]!, 6));
  });

  test.each(['last', 'weights'] as const)(
    "safetensors of the %s file holds readModel's tensors under their names, 8-byte aligned, with the metadata",
    async (which) => {
      const checkpoint = result.checkpoints![which];
      const out = path.join(work, `${which}.safetensors`);
      await exportModel({ checkpoint, format: 'safetensors', out });
      const blob = fs.readFileSync(out);
      const length = Number(blob.readBigUInt64LE(0));
      expect((8 + length) % 8).toBe(0);
      type Entry = { dtype: string; shape: number[]; data_offsets: [number, number] };
      const { __metadata__: meta, ...entries } = JSON.parse(blob.subarray(8, 8 + length).toString('utf8')) as Record<string, Entry> & {
        __metadata__: Record<string, string>;
      };
      expect(meta).toMatchObject({ preset: 'cifar', imageSize: '32', classes: JSON.stringify(result.classes) });
      const model = await readModel(checkpoint);
      expect(Object.keys(entries)).toEqual(model.tensors.map((t) => t.name));
      let end = 0;
      for (const t of model.tensors) {
        const entry = entries[t.name]!;
        expect(entry.dtype).toBe(t.name.endsWith('num_batches_tracked') ? 'I64' : 'F32');
        expect(entry.shape).toEqual(t.shape);
        const bytes = blob.subarray(8 + length + entry.data_offsets[0], 8 + length + entry.data_offsets[1]);
        expect(Buffer.compare(bytes, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))).toBe(0);
        end = Math.max(end, entry.data_offsets[1]);
      }
      expect(8 + length + end).toBe(blob.length);
    },
  );

  (pythonHas('torch') ? test : test.skip)('Python loads the safetensors with strict=True and gets predict() probabilities', async () => {
    const out = path.join(work, 'python.safetensors');
    await exportModel({ checkpoint: result.checkpoints!.last, format: 'safetensors', out });
    const recordsFile = path.join(work, 'records.bin');
    fs.writeFileSync(recordsFile, Buffer.concat(records));
    const script = path.join(__dirname, '../fixtures/read-safetensors.py');
    const python = JSON.parse(execFileSync(PYTHON, [script, out, recordsFile, String(COUNT)], { encoding: 'utf8' })) as { probabilities: number[][] };
    const predictions = await predict({ checkpoint: result.checkpoints!.last, images: pngs, flipTta: false });
    expectClose(python.probabilities, predictions.map((p) => p.probabilities));
  });

  test('a missing checkpoint or out folder is an error that says what to do; no file is left behind', async () => {
    const missing = path.join(work, 'no-such.pt');
    await expect(exportModel({ checkpoint: missing, format: 'onnx', out: path.join(work, 'x.onnx') })).rejects.toMatchObject({
      code: 'ERR_FILE_NOT_FOUND',
    });
    const noFolder = path.join(work, 'no-such-folder', 'x.onnx');
    await expect(exportModel({ checkpoint: result.checkpoints!.last, format: 'onnx', out: noFolder })).rejects.toMatchObject({
      code: 'ERR_FILE_NOT_FOUND',
      message: expect.stringContaining('create it first'),
    });
    expect(fs.readdirSync(work).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  test('a damaged checkpoint is ERR_CHECKPOINT: its checksum is verified before anything is written', async () => {
    const damaged = path.join(work, 'damaged.pt');
    const bytes = fs.readFileSync(result.checkpoints!.weights);
    const model = await readModel(result.checkpoints!.weights);
    // A bit of fc.bias's bytes flipped in the file: the archive stays readable, the tensors do not add up.
    const fcBias = model.tensors.find((t) => t.name === 'fc.bias')!;
    const at = bytes.indexOf(Buffer.from(fcBias.data.buffer, fcBias.data.byteOffset, fcBias.data.byteLength));
    expect(at).toBeGreaterThan(0);
    bytes[at] ^= 0x01;
    fs.writeFileSync(damaged, bytes);
    const out = path.join(work, 'damaged.onnx');
    await expect(exportModel({ checkpoint: damaged, format: 'onnx', out })).rejects.toMatchObject({ code: 'ERR_CHECKPOINT' });
    expect(fs.existsSync(out)).toBe(false);
  });

  describeAsRoot('onto a full disk and a read-only file system', () => {
    const full = useTmpfs('256k');
    let readOnly = '';
    beforeAll(() => {
      readOnly = fs.mkdtempSync(path.join(work, 'ro-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnly]);
    });
    afterAll(() => void spawnSync('umount', [readOnly]));

    test.each([
      ['full', 'ERR_DISK_FULL', 'free some space or write elsewhere'],
      ['read-only', 'ERR_PERMISSION', 'choose a folder you may write to'],
    ])('%s: %s, saying what to do, and no temporary left', async (which, code, advice) => {
      const folder = which === 'full' ? full() : readOnly;
      const out = path.join(folder, 'model.onnx');
      await expect(exportModel({ checkpoint: result.checkpoints!.last, format: 'onnx', out })).rejects.toMatchObject({
        code,
        message: expect.stringContaining(advice),
      });
      expect(fs.readdirSync(folder)).toEqual([]);
    });
  });
});

describe('export of an article model (224 px)', () => {
  test('the ONNX graph gives predict() probabilities', async () => {
    const result = await trainTiny('article', 224, 'article');
    const out = path.join(work, 'article.onnx');
    await exportModel({ checkpoint: result.checkpoints!.weights, format: 'onnx', out });
    const predictions = await predict({ checkpoint: result.checkpoints!.weights, images: pngs, flipTta: false });
    const ort = runOnnx(out, [{ data: batch(COUNT, 224), dims: [COUNT, 3, 224, 224] }], work);
    expectClose(softmaxRows(ort.runs[0]!.data, 10), predictions.map((p) => p.probabilities));
  });
});

// The torchvision preset through the whole path: its checkpoint read by readModel, laid out by the exporter's
// torchvision entry, normalised with ImageNet's mean and std inside the graph.
describe('export of a torchvision model (64 px)', () => {
  test('the ONNX graph gives predict() probabilities and records ImageNet normalisation', async () => {
    const result = await trainTiny('torchvision', 64, 'torchvision');
    const out = path.join(work, 'torchvision.onnx');
    const exported = await exportModel({ checkpoint: result.checkpoints!.weights, format: 'onnx', out });
    expect(exported).toMatchObject({ preset: 'torchvision', imageSize: 64 });
    const decoded = modelProto().toObject(modelProto().decode(fs.readFileSync(out))) as {
      metadataProps: { key: string; value: string }[];
    };
    const meta = Object.fromEntries(decoded.metadataProps.map((p) => [p.key, p.value]));
    expect(JSON.parse(meta.mean!)).toEqual([0.485, 0.456, 0.406].map((v) => expect.closeTo(v, 6)));
    const predictions = await predict({ checkpoint: result.checkpoints!.weights, images: pngs, flipTta: false });
    const ort = runOnnx(out, [{ data: batch(COUNT, 64), dims: [COUNT, 3, 64, 64] }], work);
    expectClose(softmaxRows(ort.runs[0]!.data, 10), predictions.map((p) => p.probabilities));
  });
});
