// SPDX-License-Identifier: MIT
// The benchmark's bookkeeping on a fake addon and a fake yardstick: alternation, medians, ratio, options.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { median, peakFor, reproduceCommand, runBenchmark } from '../../lib/bench';
import { resolveBenchConfig } from '../../lib/config';
import { FakeBinding, makeDataDir } from './fake-binding';

let dataDir: string;
let work: string;
let python: string;
let yardstick: string;
beforeEach(() => {
  dataDir = makeDataDir();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-bench-'));
  // A stand-in for Python: `-c ...` (the import check) succeeds; a run prints the yardstick's JSON line, with its
  // arguments, and logs each call so the order of calls can be checked.
  python = path.join(work, 'python');
  fs.writeFileSync(
    python,
    '#!/bin/sh\n[ "$1" = "-c" ] && exit 0\necho yardstick >> "$(dirname "$0")/calls"\n' +
      'echo "Epoch noise"\necho "{\\"torch\\": \\"1.13.0a0\\", \\"images_per_second\\": 5, \\"threads\\": 2, \\"args\\": \\"$*\\"}"\n',
  );
  fs.chmodSync(python, 0o755);
  yardstick = path.join(work, 'article_resnet34.py');
  fs.writeFileSync(yardstick, '');
});
afterEach(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

test('median', () => {
  expect(median([3, 1, 2])).toBe(2);
  expect(median([4, 1, 2, 3])).toBe(2.5);
});

test('ours and the yardstick alternate; medians and their ratio are reported', async () => {
  const binding = new FakeBinding();
  const config = resolveBenchConfig({ preset: 'cifar', batchSize: 32, steps: 4, rounds: 3, dataDir, python, yardstick });
  const heard: number[] = [];
  const report = await runBenchmark(binding, config, (_round, i) => heard.push(i));
  expect(heard).toEqual([0, 1, 2]);
  expect(report.rounds).toEqual([
    { ours: 10, yardstick: 5 },
    { ours: 12, yardstick: 5 },
    { ours: 11, yardstick: 5 },
  ]);
  expect(report).toMatchObject({ ours: 11, yardstick: 5, ratio: 2.2, yardstickTorch: '1.13.0a0', threads: 2 });
  expect(fs.readFileSync(path.join(work, 'calls'), 'utf8')).toBe('yardstick\n'.repeat(3));
  expect(binding.benchmarks[0]).toEqual({
    preset: 'cifar',
    imageSize: 32,
    batchSize: 32,
    steps: 4,
    warmup: 3,
    device: 'auto',
    threads: 0,
    precision: 'fp32',
    memoryFormat: 'auto',
    dataDir,
  });
  expect(reproduceCommand(report)).toBe(
    'npm run bench -- --device cpu --preset cifar --batch-size 32 --precision fp32 --memory-format contiguous ' +
      '--steps 4 --rounds 3 --threads 2',
  );
  // On the CPU there is no peak to measure against; the FLOPs are still reported.
  expect(report).toMatchObject({ gpu: null, peakTflops: null, mfu: null, trainGflopsPerImage: 3, channelsLast: false });
  expect(report.tflops).toBeCloseTo((3e9 * 11) / 1e12, 12);
});

test('without a usable yardstick, ours is still timed and the reason given', async () => {
  const missing = resolveBenchConfig({ dataDir, python, yardstick: path.join(work, 'nope.py'), rounds: 1 });
  const report = await runBenchmark(new FakeBinding(), missing);
  expect(report).toMatchObject({ ours: 10, yardstick: null, ratio: null });
  expect(report.yardstickSkipped).toMatch(/nope\.py not found/);
  const noTorch = resolveBenchConfig({ dataDir, python: '/bin/false', yardstick, rounds: 1 });
  expect((await runBenchmark(new FakeBinding(), noTorch)).yardstickSkipped).toMatch(/cannot import torch/);
  const off = resolveBenchConfig({ dataDir, yardstick: false, rounds: 1 });
  expect((await runBenchmark(new FakeBinding(), off)).yardstickSkipped).toBe('turned off (--no-yardstick)');
});

test('peaks come from the datasheet table by GPU name and precision', () => {
  expect(peakFor('NVIDIA H100 80GB HBM3', 'bf16')).toBe(989.4);
  expect(peakFor('NVIDIA H100 80GB HBM3', 'fp32')).toBe(494.7);
  expect(peakFor('NVIDIA H100 PCIe', 'fp16')).toBe(756);
  expect(peakFor('NVIDIA H200', 'tf32')).toBe(494.7);
  expect(peakFor('Some Future GPU', 'bf16')).toBeUndefined();
});

test('options are checked like train()\'s', () => {
  expect(() => resolveBenchConfig({ steps: 0 })).toThrow(/^Expected integer between 1 and 100000 for steps/);
  expect(() => resolveBenchConfig({ preset: 'article', imageSize: 32 })).toThrow(/for imageSize/);
  expect(() => resolveBenchConfig({ precision: 'int8' })).toThrow(/for precision but received 'int8'/);
  expect(() => resolveBenchConfig({ memoryFormat: 'nhwc' })).toThrow(/one of 'auto', 'contiguous' or 'channels-last' for memoryFormat/);
  expect(() => resolveBenchConfig({ peakTflops: 0 })).toThrow(/for peakTflops/);
  expect(resolveBenchConfig({ precision: 'bf16', memoryFormat: 'channels-last', yardstickWorkers: 8, peakTflops: 989 }))
    .toMatchObject({ precision: 'bf16', memoryFormat: 'channels-last', yardstickWorkers: 8, peakTflops: 989 });
  expect(() => resolveBenchConfig({ step: 3 })).toThrow(/did you mean 'steps'\?/);
  expect(resolveBenchConfig({ preset: 'cifar' })).toMatchObject({ imageSize: 32, steps: 10, warmup: 3, rounds: 3 });
});
