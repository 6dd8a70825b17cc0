// SPDX-License-Identifier: MIT
// Data-parallel training on c10d (Gloo, CPU, loopback), with real processes: the gradient step of 2 ranks against
// the single-process step it stands for, replicas that stay identical step by step, the launcher's done-when
// command, and ranks that die or hang ending the job in bounded time with an error that says so.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { extractMini, tempDir, PLAIN_SGD, PLAIN_SGD_FLAGS } from '../fixtures/cifar';

const ROOT = path.resolve(__dirname, '../..');
const BUILD = path.join(ROOT, 'build');
const CLI = path.join(ROOT, 'bin', 'libtorch-resnet.js');
const WORKER = path.join(ROOT, 'test', 'fixtures', 'distributed-train.js');

let mini: string;
let work: string;

beforeAll(async () => {
  mini = await extractMini();
  work = tempDir('ltr-distributed-');
});
afterAll(() => {
  fs.rmSync(mini, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Collects a child's output and resolves when it exits (or rejects after `limitSeconds`, killing it). */
function finished(child: ChildProcess, limitSeconds: number): Promise<Exit> {
  const started = Date.now();
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`still running after ${limitSeconds} s:\n${stdout}\n${stderr}`));
    }, limitSeconds * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolve({ code, signal, stdout, stderr, seconds: (Date.now() - started) / 1000 }));
    });
  });
}

/** `world` processes of `command`, each with torchrun's variables for its rank and one CPU thread. */
function startRanks(world: number, port: number, command: (rank: number) => [string, string[]]): ChildProcess[] {
  return Array.from({ length: world }, (_, rank) => {
    const [file, args] = command(rank);
    return spawn(file, args, {
      env: {
        ...process.env,
        WORLD_SIZE: String(world),
        RANK: String(rank),
        LOCAL_RANK: String(rank),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        OMP_NUM_THREADS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  });
}

/** Resolves with the first line of `child`'s stdout matching `pattern`. */
function lineMatching(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) {
        child.stdout!.off('data', onData);
        resolve(line);
      }
    };
    child.stdout!.on('data', onData);
  });
}

describe('the gradient step', () => {
  test.each(['contiguous', 'channels-last'])(
    "2 ranks' averaged step equals the single-process step on the whole batch (BatchNorm in eval mode; %s)",
    async (format) => {
    const port = await freePort();
    const ranks = startRanks(2, port, () => [
      path.join(BUILD, 'ddp_check'),
      ['--steps', '3', '--batch-size', '8', '--memory-format', format],
    ]);
    const exits = await Promise.all(ranks.map((r) => finished(r, 300)));
    const reports = exits.map((exit) => {
      expect(exit.stderr).toBe('');
      const match = /largest weight change ([\d.e+-]+), largest difference from the single-process steps ([\d.e+-]+), checksum ([\d.e+-]+)/.exec(
        exit.stdout,
      );
      expect(match).not.toBeNull();
      return { change: Number(match![1]), difference: Number(match![2]), checksum: match![3], code: exit.code };
    });
    for (const report of reports) {
      // The steps moved the weights well beyond the tolerance, so agreeing within it means something.
      expect(report.change).toBeGreaterThan(1e-3);
      expect(report.difference).toBeLessThanOrEqual(1e-5);
      expect(report.code).toBe(0);
    }
    // Both replicas hold the same weights, bit for bit.
    expect(reports[0]!.checksum).toBe(reports[1]!.checksum);
    },
  );
});

describe('train() on 2 processes', () => {
  test('every rank holds the same weights after every step, and reports the same metrics', async () => {
    const port = await freePort();
    const runDir = path.join(work, 'api-run');
    const options = (rank: number) =>
      JSON.stringify({
        ...PLAIN_SGD,
        preset: 'cifar',
        imageSize: 16,
        epochs: 2,
        batchSize: 8,
        limitTrain: 80,
        limitTest: 30,
        validSplit: 0.2,
        logEvery: 1,
        threads: 1,
        device: 'cpu',
        dataDir: mini,
        download: false,
        runDir: `${runDir}-${rank}`,
        // Merged with WORLD_SIZE, RANK, ... from the environment.
        distributed: { checkReplicas: true, timeoutSeconds: 60 },
      });
    const outputs = [0, 1].map((rank) => path.join(work, `api-rank${rank}.json`));
    const ranks = startRanks(2, port, (rank) => [process.execPath, [WORKER, options(rank), outputs[rank]!]]);
    const exits = await Promise.all(ranks.map((r) => finished(r, 300)));
    const [zero, one] = outputs.map((file) => JSON.parse(fs.readFileSync(file, 'utf8')));
    expect(zero.error).toBeUndefined();
    expect(one.error).toBeUndefined();
    expect(exits.map((e) => e.code)).toEqual([0, 0]);

    type Event = { type: string; step?: number; weightsChecksum?: number; worldSize?: number };
    const checksums = (events: Event[]) => events.filter((e) => e.type === 'batchEnd').map((e) => e.weightsChecksum);
    // 64 training records shared by 2 ranks in batches of 8: 4 steps per epoch, 2 epochs.
    expect(checksums(zero.events)).toHaveLength(8);
    expect(checksums(one.events)).toEqual(checksums(zero.events));
    expect(new Set(checksums(zero.events)).size).toBe(8); // every step changed the weights
    expect(zero.events.find((e: Event) => e.type === 'trainBegin')).toMatchObject({ worldSize: 2, rank: 0, trainSize: 64 });

    // Metrics are the whole job's: the same on both ranks, counted over all 30 test images.
    expect(one.result.testAccuracy).toBe(zero.result.testAccuracy);
    expect(one.result.confusionMatrix).toEqual(zero.result.confusionMatrix);
    expect(zero.result.confusionMatrix.flat().reduce((a: number, b: number) => a + b, 0)).toBe(30);
    expect(one.result.epochs).toEqual(
      zero.result.epochs.map((e: { seconds: number; imagesPerSecond: number }) => ({
        ...e,
        seconds: expect.any(Number),
        imagesPerSecond: expect.any(Number),
      })),
    );
    expect(zero.result).toMatchObject({ worldSize: 2, rank: 0, backend: 'gloo' });
    expect(one.result).toMatchObject({ worldSize: 2, rank: 1, backend: 'gloo' });

    // Only rank 0 writes a run folder and checkpoints.
    expect(zero.result.runDir).toBe(`${runDir}-0`);
    expect(fs.existsSync(path.join(`${runDir}-0`, 'checkpoints', 'last.pt'))).toBe(true);
    expect(one.result.runDir).toBeUndefined();
    expect(fs.existsSync(`${runDir}-1`)).toBe(false);
  });
});

/** `libtorch-resnet launch --nproc-per-node 2 -- train ...args`. */
function launchTrain(args: string[]): ChildProcess {
  return spawn(process.execPath, [CLI, 'launch', '--nproc-per-node', '2', '--', 'train', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('libtorch-resnet launch', () => {
  test("the issue's command: 2 workers train one epoch and the result says worldSize 2", async () => {
    const runDir = path.join(work, 'launch-run');
    const child = launchTrain([
      '--epochs', '1', '--preset', 'cifar', '--limit-train', '512', '--limit-test', '128', '--json',
      '--data-dir', mini, '--run-dir', runDir,
    ]);
    const exit = await finished(child, 900);
    expect(exit.code).toBe(0);
    // stdout is rank 0's JSON lines, nothing else.
    const lines = exit.stdout.trim().split('\n').map((line) => JSON.parse(line));
    const result = lines.at(-1);
    expect(result).toMatchObject({ type: 'result', worldSize: 2, rank: 0, backend: 'gloo', trainSize: 461, testSize: 128 });
    expect(result.confusionMatrix.flat().reduce((a: number, b: number) => a + b, 0)).toBe(128);
    // The cifar recipe's batch of 512 per rank covers each rank's 231 records in one step.
    expect(lines.find((e) => e.type === 'trainBegin')).toMatchObject({ worldSize: 2, stepsPerEpoch: 1 });
    expect(exit.stderr).toMatch(/launch: starting 2 workers/);
    expect(JSON.parse(fs.readFileSync(path.join(runDir, 'result.json'), 'utf8'))).toMatchObject({ worldSize: 2, rank: 0 });
  });

  test('a worker killed mid-run ends the job: the launcher names the rank and exits non-zero', async () => {
    const child = launchTrain([
      ...PLAIN_SGD_FLAGS, '--epochs', '20', '--preset', 'cifar', '--image-size', '16', '--batch-size', '8', '--limit-train', '400',
      '--log-every', '1', '--json', '--data-dir', mini, '--run-dir', path.join(work, 'killed-run'),
    ]);
    const exited = finished(child, 300);
    await lineMatching(child, /"type":"batchEnd"/);
    // Rank 1 by its environment, among the launcher's children.
    const workers = fs
      .readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    const rankOf = (pid: number) => /(?:^|\0)RANK=(\d+)/.exec(fs.readFileSync(`/proc/${pid}/environ`, 'latin1'))?.[1];
    const victim = workers.find((pid) => rankOf(pid) === '1')!;
    const survivor = workers.find((pid) => rankOf(pid) === '0')!;
    expect(victim).toBeGreaterThan(0);
    const killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    const exit = await exited;
    expect((Date.now() - killedAt) / 1000).toBeLessThan(60);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain(`launch: rank 1 (pid ${victim}) was killed by SIGKILL`);
    // The other worker was stopped, not left behind.
    expect(fs.existsSync(`/proc/${survivor}`)).toBe(false);
  });
});

describe('Ctrl-C and resume', () => {
  test('an interrupted 2-process run stops every rank at the same step, and the same launch with --resume finishes it', async () => {
    const runDir = path.join(work, 'interrupted-run');
    const args = [
      ...PLAIN_SGD_FLAGS, '--epochs', '2', '--preset', 'cifar', '--image-size', '16', '--batch-size', '8', '--limit-train', '160',
      '--limit-test', '40', '--log-every', '1', '--json', '--data-dir', mini, '--run-dir', runDir,
    ];
    const child = launchTrain(args);
    const exited = finished(child, 300);
    await lineMatching(child, /"type":"batchEnd".*"step":3,/);
    child.kill('SIGINT');
    const stopped = await exited;
    expect(stopped.code).toBe(130);
    const events = stopped.stdout.trim().split('\n').map((line) => JSON.parse(line));
    const checkpoint = events.find((e) => e.type === 'checkpoint');
    expect(checkpoint).toMatchObject({ epoch: 0, path: path.join(runDir, 'checkpoints', 'last.pt') });
    expect(checkpoint.step).toBeGreaterThanOrEqual(3);
    // Both ranks took part in the stop: neither failed or was killed.
    expect(stopped.stderr).not.toMatch(/exited with code [1-9]|was killed by/);

    const resumed = await finished(launchTrain([...args, '--resume', checkpoint.path]), 300);
    expect(resumed.code).toBe(0);
    const lines = resumed.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines.find((e) => e.type === 'trainBegin')).toMatchObject({ worldSize: 2, startEpoch: 0, startStep: checkpoint.step });
    const result = lines.at(-1);
    expect(result).toMatchObject({ type: 'result', worldSize: 2, resumedFrom: { step: checkpoint.step } });
    expect(result.epochs).toHaveLength(2);
    expect(Number.isFinite(result.epochs[0].trainLoss)).toBe(true);
  });
});

describe('a rank that dies or hangs, without a launcher', () => {
  const trainMain = (extra: string[]) => (): [string, string[]] => [
    path.join(BUILD, 'train_main'),
    [mini, '--preset', 'cifar', '--image-size', '16', '--batch-size', '8', '--epochs', '20', '--limit-train', '400',
      '--log-every', '1', ...extra],
  ];

  test('the survivor of a killed rank fails at its next collective, saying what was being done', async () => {
    const port = await freePort();
    const [zero, one] = startRanks(2, port, trainMain(['--timeout', '120']));
    const exits = [finished(zero!, 300), finished(one!, 300)];
    await lineMatching(zero!, /epoch 1 step 1\//);
    const killedAt = Date.now();
    one!.kill('SIGKILL');
    const exit = await exits[0]!;
    await exits[1]!.catch(() => undefined);
    // Gloo sees the closed connection at once; far below the 120 s timeout.
    expect((Date.now() - killedAt) / 1000).toBeLessThan(60);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/distributed training failed during the .+: .+\nAnother rank most likely died/);
  });

  test('a rank that stops answering (SIGSTOP) ends the others after the timeout', async () => {
    const port = await freePort();
    const [zero, one] = startRanks(2, port, trainMain(['--timeout', '10']));
    const exits = [finished(zero!, 300), finished(one!, 300)];
    await lineMatching(zero!, /epoch 1 step 1\//);
    const stoppedAt = Date.now();
    one!.kill('SIGSTOP');
    try {
      const exit = await exits[0]!;
      const waited = (Date.now() - stoppedAt) / 1000;
      expect(exit.code).toBe(1);
      expect(exit.stderr).toMatch(/distributed training failed during the .+: .*Timed out.*\n.*\(the timeout is 10 s\)/);
      expect(waited).toBeGreaterThanOrEqual(5);
      expect(waited).toBeLessThan(60);
    } finally {
      one!.kill('SIGKILL');
      await exits[1]!.catch(() => undefined);
    }
  });
});
