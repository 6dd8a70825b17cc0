// SPDX-License-Identifier: MIT
// Precision, memory format and the FLOP count, through the real addon on the CPU (test/native/cuda.test.ts runs the
// GPU side where there is one).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { runBenchmark } from '../../lib/bench';
import { resolveBenchConfig } from '../../lib/config';
import { train } from '../../lib/index';
import type { TrainConfig, TrainResult } from '../../lib/index';
import { loadNative } from '../../lib/native';
import { extractMini, sharedDir, tempDir, PLAIN_SGD } from '../fixtures/cifar';
import { PYTHON, pythonHas } from '../fixtures/python';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { layout } = require('../fixtures/damaged-checkpoints.js') as {
  layout: (bytes: Buffer) => { tensors: { start: number; end: number }[] };
};

let mini: string;
let work: string;
let fp32: TrainResult;
let fp32First: number;
// The loss of the first batch, computed with the freshly initialised weights: the same network in another
// layout or precision must give nearly the same number (later steps drift apart, as training amplifies rounding).
const firstLoss = () => {
  const seen: number[] = [];
  return {
    onProgress: (e: { type: string; step?: number; loss?: number }) => {
      if (e.type === 'batchEnd' && e.step === 1) seen.push(e.loss!);
    },
    value: () => seen[0]!,
  };
};
const options = (): TrainConfig => ({
  ...PLAIN_SGD,
  preset: 'cifar',
  // Small: bf16 on a CPU without bfloat16 instructions runs about 14x slower than fp32 (seen on the CI machine).
  imageSize: 8,
  epochs: 1,
  batchSize: 16,
  limitTrain: 48,
  limitTest: 32,
  validSplit: 0.25,
  lr: 0.05,
  seed: 5,
  threads: 2,
  logEvery: 1,
  device: 'cpu',
  dataDir: mini,
  download: false,
});

beforeAll(async () => {
  mini = await extractMini();
  work = tempDir('ltr-precision-');
  const first = firstLoss();
  fp32 = await train({ ...options(), runDir: path.join(work, 'fp32'), onProgress: first.onProgress });
  fp32First = first.value();
});
afterAll(() => {
  fs.rmSync(mini, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

test('fp32 on the CPU is contiguous by default and says so', () => {
  expect(fp32.precision).toBe('fp32');
  expect(fp32.memoryFormat).toBe('contiguous');
  expect(Number.isFinite(fp32.epochs[0]!.trainLoss)).toBe(true);
});

test('channels-last computes the same network as contiguous, to float rounding', async () => {
  const first = firstLoss();
  const cl = await train({ ...options(), memoryFormat: 'channels-last', runDir: path.join(work, 'cl'), onProgress: first.onProgress });
  expect(cl.memoryFormat).toBe('channels-last');
  expect(Math.abs(first.value() - fp32First) / fp32First).toBeLessThan(1e-5);
  expect(Math.abs(cl.epochs[0]!.trainLoss - fp32.epochs[0]!.trainLoss) / fp32.epochs[0]!.trainLoss).toBeLessThan(0.05);
  // Checkpoints are stored contiguous, whatever the layout: the same tensor records, of the same sizes.
  const recordSizes = (file: string) => layout(fs.readFileSync(file)).tensors.map((r) => r.end - r.start);
  expect(recordSizes(cl.checkpoints!.weights)).toEqual(recordSizes(fp32.checkpoints!.weights));
  expect(recordSizes(fp32.checkpoints!.weights).length).toBeGreaterThan(100);
  const config = JSON.parse(fs.readFileSync(path.join(work, 'cl', 'config.json'), 'utf8'));
  expect(config.memoryFormat).toBe('channels-last');
});

test('bf16 autocast on the CPU computes in bfloat16: close to fp32, not equal', async () => {
  const first = firstLoss();
  const bf16 = await train({ ...options(), precision: 'bf16', runDir: path.join(work, 'bf16'), onProgress: first.onProgress });
  expect(bf16.precision).toBe('bf16');
  expect(Number.isFinite(bf16.epochs[0]!.trainLoss)).toBe(true);
  // bfloat16 keeps 8 bits of mantissa: through 36 layers the first loss moves by a few percent, not more.
  const b = first.value();
  expect(b).not.toBe(fp32First);
  expect(Math.abs(b - fp32First) / fp32First).toBeLessThan(0.1);
});

test('a resume may switch precision and layout; the checkpoint records the new ones', async () => {
  const last = fp32.checkpoints!.last;
  const resumed = await train({ resume: last, epochs: 2, precision: 'bf16', memoryFormat: 'channels-last', runDir: path.join(work, 'resumed') });
  expect(resumed.epochs.map((e) => e.epoch)).toEqual([1, 2]);
  expect(resumed).toMatchObject({ precision: 'bf16', memoryFormat: 'channels-last' });
  const info = await new Promise<{ options: { precision: string; memoryFormat: string } }>((resolve, reject) =>
    loadNative().readCheckpoint(resumed.checkpoints!.last, (error, result) => (error ? reject(error) : resolve(result!))),
  );
  expect(info.options).toMatchObject({ precision: 'bf16', memoryFormat: 'channels-last' });
});

test('fp16 on the CPU is refused with what to use instead', async () => {
  await expect(train({ ...options(), precision: 'fp16' })).rejects.toThrow(
    /precision 'fp16' needs a CUDA device .*use 'bf16' or 'fp32'/,
  );
});

test('the benchmark runs each precision and reports model FLOPs', async () => {
  const base = {
    preset: 'cifar', imageSize: 8, batchSize: 8, steps: 1, warmup: 1, rounds: 1, threads: 2, device: 'cpu',
    dataDir: mini, download: false, yardstick: false,
  } as const;
  const report = await runBenchmark(loadNative(), resolveBenchConfig({ ...base, precision: 'bf16', memoryFormat: 'channels-last' }));
  expect(report).toMatchObject({ precision: 'bf16', channelsLast: true, gpu: null, peakTflops: null, mfu: null });
  const flops = loadNative().forwardFlops('cifar', 8);
  expect(report.trainGflopsPerImage).toBeCloseTo((3 * flops) / 1e9, 9);
  expect(report.tflops).toBeCloseTo((3 * flops * report.ours) / 1e12, 9);
});

describe('forwardFlops', () => {
  test("the article network at 224 px is ResNet-34's well-known 3.6 G multiply-adds (7.3 GFLOPs)", () => {
    const multiplyAdds = loadNative().forwardFlops('article', 224) / 2;
    expect(multiplyAdds).toBeGreaterThan(3.5e9);
    expect(multiplyAdds).toBeLessThan(3.8e9);
  });

  test('scales with the image area', () => {
    const binding = loadNative();
    const [a, b] = [binding.forwardFlops('cifar', 32), binding.forwardFlops('cifar', 64)];
    expect(b / a).toBeGreaterThan(3.99);
    expect(b / a).toBeLessThan(4.01);
  });

  (pythonHas('torch') ? test : test.skip)(
    "matches the multiply-adds PyTorch's own modules do in the article program, counted with forward hooks",
    () => {
      const script = `
import sys, importlib.util, torch
spec = importlib.util.spec_from_file_location('article', sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
out = []
for preset, size in (('article', 224), ('cifar', 32), ('cifar', 20)):
    model, total = m.ResNet(m.ResidualBlock, [3, 4, 6, 3], preset=preset), [0]
    def conv(mod, inp, o): total[0] += o.numel() * (mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1] + 1)
    def fc(mod, inp, o): total[0] += o.numel() * (mod.in_features + 1)
    for mod in model.modules():
        if isinstance(mod, torch.nn.Conv2d): mod.register_forward_hook(conv)
        if isinstance(mod, torch.nn.Linear): mod.register_forward_hook(fc)
    with torch.no_grad(): model(torch.zeros(1, 3, size, size))
    out.append(2 * total[0])
print(*out)`;
      const counted = execFileSync(PYTHON, ['-c', script, path.join(sharedDir(), 'anchors/article_resnet34.py')], {
        encoding: 'utf8',
      })
        .trim()
        .split(' ')
        .map(Number);
      const binding = loadNative();
      expect([
        binding.forwardFlops('article', 224),
        binding.forwardFlops('cifar', 32),
        binding.forwardFlops('cifar', 20),
      ]).toEqual(counted);
    },
  );
});
