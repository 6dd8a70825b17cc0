// SPDX-License-Identifier: MIT
// The installed CLI (bin/libtorch-resnet.js over dist/), run as a user runs it, against the real addon.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import jpeg from 'jpeg-js';

import { extractMini, MINI_ARCHIVE, tempDir, PLAIN_SGD_FLAGS } from '../fixtures/cifar';

const run = promisify(execFile);
const BIN = path.join(__dirname, '../../bin/libtorch-resnet.js');

let mini: string;
// The working folder of every CLI run: train's default run folder (./runs/<timestamp>) lands here.
let cwd: string;
beforeAll(async () => {
  mini = await extractMini();
  cwd = tempDir('ltr-cli-cwd-');
});
afterAll(() => {
  fs.rmSync(mini, { recursive: true, force: true });
  fs.rmSync(cwd, { recursive: true, force: true });
});

test('train --json prints only JSON lines: events, then the result last', async () => {
  const { stdout } = await run(process.execPath, [
    BIN, 'train', ...PLAIN_SGD_FLAGS, '--json', '--preset', 'cifar', '--image-size', '16', '--epochs', '1', '--batch-size', '16',
    '--limit-train', '64', '--limit-test', '32', '--log-every', '1', '--data-dir', mini,
  ], { cwd });
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
  const { stdout } = await run(process.execPath, [BIN, 'info', '--json'], { cwd });
  const info = JSON.parse(stdout);
  expect(info.libtorchVersion).toMatch(/^\d+\.\d+\.\d+/);
  expect(info.presets.article.parameters).toBe(21_298_314);
});

test('a bad flag value exits 2 naming the flag', async () => {
  const error = await run(process.execPath, [BIN, 'train', '--lr', '-1', '--data-dir', mini], { cwd }).catch((e) => e);
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
    const args = [BIN, 'train', ...PLAIN_SGD_FLAGS, '--json', '--epochs', '1', '--preset', 'cifar', '--image-size', '16',
      '--batch-size', '16', '--limit-train', '64', '--limit-test', '32'];
    const first = await run(process.execPath, args, { env, cwd });
    const firstLines = first.stdout.trim().split('\n').map((line) => JSON.parse(line));
    const downloads = firstLines.filter((l) => l.type === 'download');
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads[downloads.length - 1].bytes).toBe(archive.length);
    expect(firstLines[firstLines.length - 1]).toMatchObject({ type: 'result', testSize: 32 });
    expect(requests).toBe(1);

    const second = await run(process.execPath, args, { env, cwd });
    const secondLines = second.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(secondLines.some((l) => l.type === 'download')).toBe(false);
    expect(secondLines[secondLines.length - 1].type).toBe('result');
    expect(requests).toBe(1);
  } finally {
    server.close();
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

test('train, Ctrl-C, resume, eval and predict from the command line, with the run folder checked', async () => {
  const runDir = path.join(cwd, 'walkthrough');
  const trainArgs = [BIN, 'train', ...PLAIN_SGD_FLAGS, '--json', '--preset', 'cifar', '--image-size', '16', '--epochs', '2',
    '--batch-size', '16', '--limit-train', '96', '--limit-test', '48', '--log-every', '1', '--threads', '2',
    '--data-dir', mini, '--run-dir', runDir];

  // Train, and press Ctrl-C once during the second step
  const child = spawn(process.execPath, trainArgs, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let interrupted = false;
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (!interrupted && /"type":"batchEnd"[^\n]*"step":2/.test(stdout)) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(code).toBe(130);
  const last = path.join(runDir, 'checkpoints', 'last.pt');
  expect(stderr).toContain(`checkpoint saved: ${last}\nresume with: libtorch-resnet train --resume ${last}\n`);
  const stopEvents = stdout.trim().split('\n').map((line) => JSON.parse(line));
  expect(stopEvents.at(-1)).toMatchObject({ type: 'checkpoint', path: last, epoch: 0 });
  for (const file of ['config.json', 'metrics.jsonl', 'report.html', 'checkpoints/last.pt']) {
    expect(fs.existsSync(path.join(runDir, file))).toBe(true);
  }
  expect(fs.existsSync(path.join(runDir, 'result.json'))).toBe(false);

  // Resume: the same folder, all epochs in the result
  const resumed = await run(process.execPath, [BIN, 'train', '--json', '--resume', last, '--threads', '2'], { cwd });
  const result = JSON.parse(resumed.stdout.trim().split('\n').at(-1)!);
  expect(result).toMatchObject({ type: 'result', runDir, resumedFrom: { checkpoint: last, epoch: 0 } });
  expect(result.resumedFrom.step).toBeGreaterThanOrEqual(1);
  expect(result.epochs.map((e: { epoch: number }) => e.epoch)).toEqual([1, 2]);
  expect(JSON.parse(fs.readFileSync(path.join(runDir, 'result.json'), 'utf8')).testAccuracy).toBe(result.testAccuracy);
  expect(fs.readFileSync(path.join(runDir, 'report.html'), 'utf8')).toContain('completed');

  // Eval: the same test accuracy as the run's
  const evaluated = await run(process.execPath, [BIN, 'eval', '--checkpoint', last, '--data-dir', mini,
    '--limit-test', '48', '--threads', '2', '--json'], { cwd });
  const evalResult = JSON.parse(evaluated.stdout.trim().split('\n').at(-1)!);
  expect(evalResult.testAccuracy).toBe(result.testAccuracy);
  const evalText = await run(process.execPath, [BIN, 'eval', '--checkpoint', last, '--data-dir', mini,
    '--limit-test', '48', '--threads', '2'], { cwd });
  expect(evalText.stdout).toMatch(/^test accuracy: [\d.]+% on 48 images/m);
  expect(evalText.stdout).toContain('confusion matrix (rows: true class, columns: predicted):');

  // Predict: a JPEG made from a test image
  const rgba = Buffer.alloc(32 * 32 * 4, 255);
  const record = fs.readFileSync(path.join(mini, 'cifar-10-batches-bin', 'test_batch.bin')).subarray(1, 3073);
  for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) rgba[p * 4 + c] = record[c * 1024 + p]!;
  const image = path.join(cwd, 'picture.jpg');
  fs.writeFileSync(image, jpeg.encode({ width: 32, height: 32, data: rgba }, 90).data);
  const predicted = await run(process.execPath, [BIN, 'predict', '--checkpoint', last, image], { cwd });
  expect(predicted.stdout).toMatch(
    new RegExp(`^${image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (\\w+ [\\d.]+%, ){2}\\w+ [\\d.]+%\\n$`),
  );
  const missing = await run(process.execPath, [BIN, 'predict', '--checkpoint', last, path.join(cwd, 'nope.png')], {
    cwd,
  }).catch((e) => e);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/cannot read image .*nope\.png \(ENOENT\) \[ERR_INVALID_IMAGE\]/);
});
