// SPDX-License-Identifier: MIT
// The installed CLI (bin/libtorch-resnet.js over dist/), run as a user runs it, against the real addon.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { extractMini, MINI_ARCHIVE, tempDir } from '../fixtures/cifar';

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

test('train from an empty cache downloads from a mirror (env), verifies, extracts and trains; again: no download', async () => {
  const archive = fs.readFileSync(MINI_ARCHIVE());
  const md5 = createHash('md5').update(archive).digest('hex');
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests += 1;
    res.writeHead(200, { 'content-length': archive.length, 'content-type': 'application/gzip' });
    res.end(archive);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cache = tempDir('ltr-cache-');
  try {
    const { port } = server.address() as AddressInfo;
    const env = {
      ...process.env,
      LIBTORCH_RESNET_DATA: cache,
      LIBTORCH_RESNET_CIFAR_URL: `http://127.0.0.1:${port}/cifar-10-binary.tar.gz`,
      LIBTORCH_RESNET_CIFAR_MD5: md5,
    };
    const args = [BIN, 'train', '--json', '--epochs', '1', '--preset', 'cifar', '--image-size', '16',
      '--limit-train', '64', '--limit-test', '32'];
    const first = await run(process.execPath, args, { env });
    const firstLines = first.stdout.trim().split('\n').map((line) => JSON.parse(line));
    const downloads = firstLines.filter((l) => l.type === 'download');
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads[downloads.length - 1].bytes).toBe(archive.length);
    expect(firstLines[firstLines.length - 1]).toMatchObject({ type: 'result', testSize: 32 });
    expect(requests).toBe(1);

    const second = await run(process.execPath, args, { env });
    const secondLines = second.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(secondLines.some((l) => l.type === 'download')).toBe(false);
    expect(secondLines[secondLines.length - 1].type).toBe('result');
    expect(requests).toBe(1);
  } finally {
    server.close();
    fs.rmSync(cache, { recursive: true, force: true });
  }
});
