// SPDX-License-Identifier: MIT
// The installed CLI (bin/libtorch-resnet.js over dist/), run as a user runs it, against the real addon.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import { extractMini } from '../fixtures/cifar';

const run = promisify(execFile);
const BIN = path.join(__dirname, '../../bin/libtorch-resnet.js');

let mini: string;
beforeAll(async () => {
  mini = await extractMini();
});
afterAll(() => fs.rmSync(mini, { recursive: true, force: true }));

test('train --json prints only JSON lines: events, then the result last', async () => {
  const { stdout } = await run(process.execPath, [
    BIN, 'train', '--json', '--preset', 'cifar', '--image-size', '16', '--epochs', '1', '--batch-size', '16',
    '--limit-train', '64', '--limit-test', '32', '--log-every', '1', '--data-dir', mini,
  ]);
  const lines = stdout.trim().split('\n').map((line) => JSON.parse(line));
  expect(lines[0].type).toBe('trainBegin');
  const last = lines[lines.length - 1];
  expect(last.type).toBe('result');
  expect(last.testSize).toBe(32);
  expect(last.trainSize).toBe(58);
  expect(last.epochs).toHaveLength(1);
  expect(lines.filter((l) => l.type === 'batchEnd')).toHaveLength(Math.ceil(58 / 16));
});

test('info --json reports the LibTorch the addon was built with', async () => {
  const { stdout } = await run(process.execPath, [BIN, 'info', '--json']);
  const info = JSON.parse(stdout);
  expect(info.libtorchVersion).toMatch(/^\d+\.\d+\.\d+/);
  expect(info.presets.article.parameters).toBe(21_298_314);
});

test('a bad flag value exits 2 naming the flag', async () => {
  const error = await run(process.execPath, [BIN, 'train', '--lr', '-1', '--data-dir', mini]).catch((e) => e);
  expect(error.code).toBe(2);
  expect(error.stderr).toMatch(/--lr.*Expected number .* for lr but received -1/);
});
