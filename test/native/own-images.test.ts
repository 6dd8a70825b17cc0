// SPDX-License-Identifier: MIT
// README's "Your own images" path in one run: a folder of photos (real CIFAR-10 JPEGs enlarged to 80x60, so they
// are resized as photos are), fine-tuned from a torchvision state dict saved by Python (1000 classes: a new head),
// with the backbone frozen; then exported. The ONNX file, run by onnxruntime-node, and the safetensors file, loaded
// strictly into torchvision's own resnet34 in Python, both give predict()'s probabilities for the same pictures.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import sharp from 'sharp';

import { exportModel, predict, train } from '../../lib/index';
import { modelProto } from '../../lib/onnx-proto';
import { sharedDir, tempDir } from '../fixtures/cifar';
import { runOnnx, softmaxRows } from '../fixtures/onnx-run';
import { PYTHON, pythonHas } from '../fixtures/python';

const ARCHIVE = process.env.LIBTORCH_RESNET_CIFAR_JPEG ?? path.join(sharedDir(), 'data/cifar-10-jpeg.tar.gz');
const CLASSES = ['deer', 'horse', 'truck'];
const PER_CLASS = 16;
const SIDE = 48;
const ready = fs.existsSync(ARCHIVE) && (pythonHas('torch', 'torchvision') || process.env.CI !== undefined);
const describeReady = ready ? describe : describe.skip;

let work: string;

beforeAll(() => {
  work = tempDir('ltr-own-images-');
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function python(script: string, ...args: string[]): string {
  return execFileSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
}

/** DIR/<class>/NNNN.jpg: the archive's first PER_CLASS training pictures of each class, enlarged to 80x60. */
async function photoFolder(): Promise<string> {
  const source = path.join(work, 'source');
  fs.mkdirSync(source);
  const members = CLASSES.map((c) => `cifar-10-jpeg/train/${c}/00[0-1]?.jpg`);
  execFileSync('tar', ['-xzf', ARCHIVE, '-C', source, '--wildcards', ...members]);
  const dir = path.join(work, 'photos');
  for (const c of CLASSES) {
    fs.mkdirSync(path.join(dir, c), { recursive: true });
    for (let i = 0; i < PER_CLASS; i++) {
      const name = `${String(i).padStart(4, '0')}.jpg`;
      await sharp(path.join(source, 'cifar-10-jpeg/train', c, name))
        .resize(80, 60, { fit: 'fill' })
        .jpeg({ quality: 90 })
        .toFile(path.join(dir, c, name));
    }
  }
  return dir;
}

/** Test pictures already SIDE x SIDE, so predict()'s centre square and resize leave their pixels as they are. */
async function squarePictures(dir: string): Promise<{ files: string[]; input: Float32Array }> {
  const files: string[] = [];
  const input = new Float32Array(CLASSES.length * 3 * SIDE * SIDE);
  for (const [k, c] of CLASSES.entries()) {
    const { data } = await sharp(path.join(dir, c, '0000.jpg'))
      .resize(SIDE, SIDE, { fit: 'fill' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const file = path.join(work, `${c}.png`);
    await sharp(data, { raw: { width: SIDE, height: SIDE, channels: 3 } }).png().toFile(file);
    files.push(file);
    for (let p = 0; p < SIDE * SIDE; p++)
      for (let ch = 0; ch < 3; ch++) input[((k * 3 + ch) * SIDE * SIDE) + p] = data[p * 3 + ch]! / 255;
  }
  return { files, input };
}

// torchvision's resnet34 in Python, loaded strictly from the safetensors file (read with json, struct and
// torch.frombuffer), normalised with the file's metadata: the probabilities of the [N, 3, S, S] input in [0, 1].
const TORCHVISION_SCRIPT = `
import json, struct, sys, torch, torchvision
blob = open(sys.argv[1], 'rb').read()
(length,) = struct.unpack('<Q', blob[:8])
header = json.loads(blob[8:8 + length]); meta = header.pop('__metadata__')
types = {'F32': torch.float32, 'I64': torch.int64}
state = {k: torch.frombuffer(bytearray(blob[8 + length + e['data_offsets'][0]:8 + length + e['data_offsets'][1]]),
                             dtype=types[e['dtype']]).reshape(e['shape']) for k, e in header.items()}
classes = json.loads(meta['classes'])
model = torchvision.models.resnet34(num_classes=len(classes)); model.load_state_dict(state, strict=True); model.eval()
n, side = int(sys.argv[3]), int(sys.argv[4])
x = torch.frombuffer(bytearray(open(sys.argv[2], 'rb').read()), dtype=torch.float32).reshape(n, 3, side, side)
mean = torch.tensor(json.loads(meta['mean'])).view(1, 3, 1, 1); std = torch.tensor(json.loads(meta['std'])).view(1, 3, 1, 1)
with torch.no_grad():
    print(json.dumps({'classes': classes, 'probabilities': torch.softmax(model((x - mean) / std), 1).tolist()}))
`;

const expectClose = (got: readonly (readonly number[])[], want: readonly (readonly number[])[]) => {
  expect(got.length).toBe(want.length);
  got.forEach((row, i) => row.forEach((p, k) => expect(Math.abs(p - want[i]![k]!)).toBeLessThan(1e-4)));
};

describeReady('from a folder of photos to ONNX and safetensors, fine-tuned from torchvision', () => {
  test('head replaced, folder names everywhere, and both exports give predict() probabilities', async () => {
    const photos = await photoFolder();
    const init = path.join(work, 'imagenet-like.pt');
    python(
      `import torch, torchvision; torch.manual_seed(7); ` +
        `torch.save(torchvision.models.resnet34(num_classes=1000).state_dict(), ${JSON.stringify(init)})`,
    );
    const result = await train({
      images: photos,
      preset: 'torchvision',
      imageSize: SIDE,
      init,
      freeze: 'backbone',
      epochs: 1,
      batchSize: 16,
      flipTta: false,
      threads: 2,
      device: 'cpu',
      runDir: path.join(work, 'run'),
    });
    expect(result.classes).toEqual(CLASSES);
    expect(result.init).toEqual({ from: init, headReplaced: true });
    const weights = result.checkpoints!.weights;

    const { files, input } = await squarePictures(photos);
    const predictions = await predict({ checkpoint: weights, images: files, flipTta: false });
    for (const p of predictions) expect(p.probabilities).toHaveLength(CLASSES.length);
    const want = predictions.map((p) => p.probabilities);

    const onnx = path.join(work, 'model.onnx');
    await exportModel({ checkpoint: weights, format: 'onnx', out: onnx });
    const decoded = modelProto().toObject(modelProto().decode(fs.readFileSync(onnx))) as {
      metadataProps: { key: string; value: string }[];
    };
    const meta = Object.fromEntries(decoded.metadataProps.map((p) => [p.key, p.value]));
    expect(JSON.parse(meta.classes!)).toEqual(CLASSES);
    expect(meta).toMatchObject({ preset: 'torchvision', imageSize: String(SIDE), recordSize: String(SIDE) });
    const ort = runOnnx(onnx, [{ data: input, dims: [CLASSES.length, 3, SIDE, SIDE] }], work);
    expect(ort.runs[0]!.dims).toEqual([CLASSES.length, CLASSES.length]);
    expectClose(softmaxRows(ort.runs[0]!.data, CLASSES.length), want);

    const safetensors = path.join(work, 'model.safetensors');
    await exportModel({ checkpoint: weights, format: 'safetensors', out: safetensors });
    const inputFile = path.join(work, 'input.f32');
    fs.writeFileSync(inputFile, Buffer.from(input.buffer));
    const theirs = JSON.parse(
      python(TORCHVISION_SCRIPT, safetensors, inputFile, String(CLASSES.length), String(SIDE)),
    ) as { classes: string[]; probabilities: number[][] };
    expect(theirs.classes).toEqual(CLASSES);
    expectClose(theirs.probabilities, want);
  });
});
