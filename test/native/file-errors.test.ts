// SPDX-License-Identifier: MIT
// File failures reach the caller with codes of their own, never ERR_NATIVE: a full disk (a small tmpfs, mounted
// when the tests run as root, as in CI), permission denied (a child running as uid 65534), a missing file, a
// damaged or foreign checkpoint, damaged data. After a failed checkpoint write the previous one is whole and no
// temporary file is left behind.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { evaluate, train } from '../../lib/index';
import type { TrainConfig } from '../../lib/index';
import { extractMini, tempDir, writeCifar } from '../fixtures/cifar';
import { IS_ROOT, describeAsRoot, useTmpfs } from '../fixtures/tmpfs';

const root = IS_ROOT;
let mini: string;
let work: string;

beforeAll(async () => {
  mini = await extractMini();
  work = tempDir('ltr-files-');
});

afterAll(() => {
  fs.rmSync(mini, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

const quick = (): TrainConfig => ({
  preset: 'cifar',
  imageSize: 8,
  epochs: 2,
  batchSize: 16,
  limitTrain: 40,
  limitTest: 20,
  validSplit: 0,
  device: 'cpu',
  threads: 2,
  dataDir: mini,
  download: false,
});

test('a missing checkpoint is ERR_FILE_NOT_FOUND, naming the path', async () => {
  const missing = path.join(work, 'nowhere', 'last.pt');
  const error = await evaluate({ checkpoint: missing, dataDir: mini, download: false }).catch((e) => e);
  expect(error).toMatchObject({ name: 'TorchError', code: 'ERR_FILE_NOT_FOUND' });
  expect(error.message).toContain(missing);
});

test('a damaged or foreign checkpoint is ERR_CHECKPOINT', async () => {
  const garbage = path.join(work, 'garbage.pt');
  fs.writeFileSync(garbage, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 0xff)));
  const error = await evaluate({ checkpoint: garbage, dataDir: mini, download: false }).catch((e) => e);
  expect(error).toMatchObject({ name: 'TorchError', code: 'ERR_CHECKPOINT' });
  expect(error.message).toMatch(/cannot be read: it is truncated, damaged or not a checkpoint/);
});

test('damaged CIFAR-10 data is ERR_DATA, naming the file', async () => {
  const dir = writeCifar(tempDir(), { train: 20, test: 10 });
  const file = path.join(dir, 'cifar-10-batches-bin', 'data_batch_3.bin');
  fs.truncateSync(file, 3073 + 5);
  const error = await train({ preset: 'cifar', imageSize: 8, epochs: 1, device: 'cpu', dataDir: dir, download: false })
    .catch((e) => e);
  fs.rmSync(dir, { recursive: true, force: true });
  expect(error).toMatchObject({ name: 'TorchError', code: 'ERR_DATA' });
  expect(error.message).toContain('data_batch_3.bin');
});

describeAsRoot('a full disk', () => {
  // Room for one checkpoint of the cifar network (about 170 MB with momentum) but not for a second beside it.
  const mount = useTmpfs('240m');

  test("a checkpoint that does not fit is ERR_DISK_FULL; last.pt keeps the epoch before, and no temporary is left", async () => {
    const runDir = path.join(mount(), 'run');
    const checkpoints: string[] = [];
    const error = await train({
      ...quick(),
      runDir,
      onProgress: (e) => e.type === 'checkpoint' && checkpoints.push(e.path),
    }).catch((e) => e);
    expect(error).toMatchObject({ name: 'TorchError', code: 'ERR_DISK_FULL' });
    expect(error.message).toMatch(/No space left on device; free space on that disk/);
    // Epoch 1's checkpoint was written; epoch 2's did not fit beside it.
    expect(checkpoints).toHaveLength(1);
    const dir = path.join(runDir, 'checkpoints');
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const kept = await evaluate({ checkpoint: path.join(dir, 'last.pt'), dataDir: mini, limitTest: 20, download: false });
    expect(kept.checkpoint.epochsDone).toBe(1);
  });
});

(root ? describe : describe.skip)('permission denied (a child running as uid 65534)', () => {
  test('a checkpoints folder it may not write to is ERR_PERMISSION, with what to do', () => {
    // The run folder is the child's to write (config.json, metrics.jsonl), its checkpoints/ folder root's alone.
    const runDir = path.join(work, 'perm-run');
    fs.mkdirSync(path.join(runDir, 'checkpoints'), { recursive: true, mode: 0o755 });
    fs.chmodSync(runDir, 0o777);
    for (const dir of [work, mini]) execFileSync('chmod', ['-R', 'a+rX', dir]);
    const script = [
      `const { train } = require(${JSON.stringify(path.resolve(__dirname, '../../dist/index.js'))});`,
      `train(${JSON.stringify({ ...quick(), epochs: 1, runDir })})`,
      '  .then(() => console.log(JSON.stringify({ ok: true })))',
      '  .catch((e) => console.log(JSON.stringify({ code: e.code, message: e.message })));',
    ].join('\n');
    const child = spawnSync(process.execPath, ['-e', script], {
      uid: 65534, gid: 65534, encoding: 'utf8', cwd: os.tmpdir(), env: { ...process.env, HOME: os.tmpdir() },
    });
    const out = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as { code?: string; message?: string };
    expect(out.code).toBe('ERR_PERMISSION');
    expect(out.message).toMatch(/Permission denied; change its permissions, or use a file or folder this user may/);
  });
});
