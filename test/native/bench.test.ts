// SPDX-License-Identifier: MIT
// The benchmark through the real addon: it trains real steps on real images and times the data path alone.
import fs from 'node:fs';

import { runBenchmark } from '../../lib/bench';
import { resolveBenchConfig } from '../../lib/config';
import { loadNative } from '../../lib/native';
import { extractMini } from '../fixtures/cifar';

let mini: string;
beforeAll(async () => {
  mini = await extractMini();
});
afterAll(() => fs.rmSync(mini, { recursive: true, force: true }));

test('times training steps and the data path on the mini data (yardstick off)', async () => {
  const config = resolveBenchConfig({
    preset: 'cifar',
    imageSize: 8,
    batchSize: 8,
    steps: 2,
    warmup: 1,
    rounds: 2,
    threads: 2,
    device: 'cpu',
    dataDir: mini,
    download: false,
    yardstick: false,
  });
  const report = await runBenchmark(loadNative(), config);
  expect(report.rounds).toHaveLength(2);
  expect(report.ours).toBeGreaterThan(0);
  expect(report.dataBatchesPerSecond).toBeGreaterThan(0);
  // Making a batch is far cheaper than a training step of ResNet-34.
  expect(report.dataFraction).toBeGreaterThan(0);
  expect(report.dataFraction).toBeLessThan(0.5);
  expect(report).toMatchObject({ device: 'cpu', threads: 2, yardstick: null, batchSize: 8 });
});

test('a batch larger than the data is refused with the numbers', async () => {
  const config = resolveBenchConfig({ preset: 'cifar', batchSize: 4096, dataDir: mini, download: false, yardstick: false });
  await expect(runBenchmark(loadNative(), config)).rejects.toThrow(/needs at least one batch of 4096 .* has 1000/);
});
