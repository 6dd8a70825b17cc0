// SPDX-License-Identifier: MIT
// The run folder written around a (fake) native run: what is in it after a run that completes, fails, or resumes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { NativeEvent } from '../../lib/native';
import { runDirError } from '../../lib/run-dir';
import { createApi } from '../../lib/api';
import { describeAsRoot, fillDisk, useTmpfs } from '../fixtures/tmpfs';
import { EVENTS, FakeBinding, makeDataDir, nativeError, rejection } from './fake-binding';

let dataDir: string;
let work: string;
beforeEach(() => {
  dataDir = makeDataDir();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-rundir-'));
});
afterEach(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

const lines = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

test('a completed run leaves config.json, metrics.jsonl, result.json and report.html', async () => {
  const runDir = path.join(work, 'a');
  const seen: string[] = [];
  const result = await createApi(new FakeBinding()).train({
    dataDir,
    runDir,
    preset: 'cifar',
    onProgress: (e) => void seen.push(e.type),
  });
  expect(result.runDir).toBe(runDir);
  expect(result.checkpoints).toEqual({
    last: path.join(runDir, 'checkpoints', 'last.pt'),
    best: path.join(runDir, 'checkpoints', 'best.pt'),
    weights: path.join(runDir, 'checkpoints', 'weights.pt'),
  });
  const config = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'));
  expect(config).toMatchObject({ preset: 'cifar', runDir, dataDir, epochs: 30, scheduler: 'onecycle' });
  expect(config).not.toHaveProperty('signal');
  expect(config).not.toHaveProperty('given');
  // Every event the listener saw but the per-step ones, in the same order, each stamped with the time.
  const metrics = lines(path.join(runDir, 'metrics.jsonl'));
  expect(metrics.map((e) => e.type)).toEqual(seen.filter((type) => type !== 'step'));
  expect(metrics).toHaveLength(EVENTS.filter((e) => e.type !== 'step').length + 2);
  for (const e of metrics) expect(Date.parse(String(e.time))).not.toBeNaN();
  expect(JSON.parse(fs.readFileSync(path.join(runDir, 'result.json'), 'utf8'))).toEqual(
    JSON.parse(JSON.stringify(result)),
  );
  const report = fs.readFileSync(path.join(runDir, 'report.html'), 'utf8');
  expect(report).toContain('<span class="status completed">completed</span>');
  expect(report).toContain('Test: 25.00% of 20 images');
});

test('metrics.jsonl leaves out the step events, which the listener still gets', async () => {
  const runDir = path.join(work, 'steps');
  const events = EVENTS.flatMap<NativeEvent>((event) =>
    event.type === 'batchEnd'
      ? [{ type: 'step', epoch: event.epoch, epochs: event.epochs, step: event.step, stepsPerEpoch: 2, seconds: event.step }, event]
      : [event],
  );
  const seen: string[] = [];
  await createApi(new FakeBinding({ events })).train({ dataDir, runDir, onProgress: (e) => void seen.push(e.type) });
  expect(seen.filter((type) => type === 'step')).toHaveLength(4);
  const metrics = lines(path.join(runDir, 'metrics.jsonl'));
  expect(metrics.filter((e) => e.type === 'step')).toEqual([]);
  expect(metrics.filter((e) => e.type === 'batchEnd')).toHaveLength(4);
  expect(metrics.map((e) => e.type)).toEqual(seen.filter((type) => type !== 'step'));
});

test('a failed run: report says so, no result.json, the error still reaches the caller', async () => {
  const runDir = path.join(work, 'b');
  const binding = new FakeBinding({ error: nativeError('boom', 'ERR_TORCH') });
  const error = await rejection(createApi(binding).train({ dataDir, runDir }));
  expect(error.message).toBe('boom');
  expect(fs.existsSync(path.join(runDir, 'result.json'))).toBe(false);
  expect(fs.readFileSync(path.join(runDir, 'report.html'), 'utf8')).toContain('status failed');
});

test('an aborted run: report says interrupted, the AbortError carries the checkpoint to resume from', async () => {
  const runDir = path.join(work, 'c');
  const controller = new AbortController();
  const error = await rejection(
    createApi(new FakeBinding()).train({
      dataDir,
      runDir,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.type === 'batchEnd') controller.abort();
      },
    }),
  );
  expect(error).toMatchObject({ name: 'AbortError', checkpoint: path.join(runDir, 'checkpoints', 'last.pt') });
  expect(fs.readFileSync(path.join(runDir, 'report.html'), 'utf8')).toContain('status interrupted');
});

test('a resumed run appends to the same metrics.jsonl and keeps earlier step curves in the report', async () => {
  const runDir = path.join(work, 'd');
  await createApi(new FakeBinding()).train({ dataDir, runDir });
  const before = lines(path.join(runDir, 'metrics.jsonl')).length;
  const binding = new FakeBinding();
  const result = await createApi(binding).train({ resume: path.join(runDir, 'checkpoints', 'last.pt'), dataDir });
  expect(binding.checkpointsRead).toEqual([path.join(runDir, 'checkpoints', 'last.pt')]);
  expect(result.runDir).toBe(runDir);
  const metrics = lines(path.join(runDir, 'metrics.jsonl'));
  expect(metrics.length).toBeGreaterThan(before);
  expect(metrics.filter((e) => e.type === 'trainBegin')).toHaveLength(2);
  const report = fs.readFileSync(path.join(runDir, 'report.html'), 'utf8');
  // Step points from the first run (up to the checkpoint's epoch + 1) plus the second's.
  const points = /data-series="per logged step" points="([^"]*)"/.exec(report)![1]!.split(' ');
  expect(points.length).toBeGreaterThan(4);
});

test('a checkpoint that cannot be read rejects before anything is written or trained', async () => {
  const binding = new FakeBinding({ checkpoint: nativeError('checkpoint x does not exist', 'ERR_TORCH') });
  const error = await rejection(createApi(binding).train({ resume: path.join(work, 'x', 'checkpoints', 'last.pt'), dataDir }));
  expect(error).toMatchObject({ name: 'TorchError', message: 'checkpoint x does not exist' });
  expect(binding.started).toHaveLength(0);
  expect(fs.existsSync(path.join(work, 'x'))).toBe(false);
});

test('a run folder that already holds a run is refused unless resuming, before anything is trained', async () => {
  const runDir = path.join(work, 'e');
  await createApi(new FakeBinding()).train({ dataDir, runDir });
  const binding = new FakeBinding();
  const error = await rejection(createApi(binding).train({ dataDir, runDir }));
  expect(error).toMatchObject({ code: 'ERR_RUN_DIR_EXISTS' });
  expect(error.message).toContain(`resume it (resume: ${path.join(runDir, 'checkpoints', 'last.pt')})`);
  expect(binding.started).toHaveLength(0);
});

// A full disk (a tmpfs, mounted when the tests run as root, as in CI) and a folder that may not be written: the
// run folder's own files fail with the codes checkpoints get, and leave no temporary behind.
describeAsRoot('run folder write failures', () => {
  const mount = useTmpfs('256k');

  test('a full disk: config.json is ERR_DISK_FULL, saying so, and nothing half-written is left', async () => {
    const runDir = path.join(mount(), 'run');
    fs.mkdirSync(path.join(runDir, 'checkpoints'), { recursive: true });
    fillDisk(mount());
    const binding = new FakeBinding();
    const error = await createApi(binding).train({ dataDir, runDir, preset: 'cifar' }).catch((e: Error & { code?: string }) => e);
    expect(error).toMatchObject({ code: 'ERR_DISK_FULL' });
    expect((error as Error).message).toMatch(/config\.json: no space left on the device; free space on that disk/);
    expect(fs.readdirSync(runDir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(binding.started).toHaveLength(0);
  });
});

test('runDirError names a permission problem and keeps other errors as they are', () => {
  const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
  expect(runDirError(denied, '/r/config.json')).toMatchObject({
    code: 'ERR_PERMISSION',
    message: expect.stringMatching(/^cannot write \/r\/config\.json: permission denied; change the folder's permissions/),
  });
  const other = Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
  expect(runDirError(other, '/r/config.json')).toBe(other);
});
