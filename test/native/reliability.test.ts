// SPDX-License-Identifier: MIT
// Bad input, faults and resources, through the real addon: every failure is a clear error, the last checkpoint stays
// whole, and the process lives on. RELIABILITY.md lists these cases and their numbers.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { evaluate, train } from '../../lib/index';
import type { TrainConfig } from '../../lib/index';
import { loadNative } from '../../lib/native';
import type { NativeCheckpointInfo } from '../../lib/native';
import { RECORD_BYTES, extractMini, tempDir, PLAIN_SGD, PLAIN_SGD_MAIN_FLAGS } from '../fixtures/cifar';

const ROOT = path.resolve(__dirname, '../..');
const TRAIN_MAIN = path.join(ROOT, 'build', 'train_main');

let mini: string;
let work: string;
// Small and fast: 8 px images through the cifar network.
const tiny = (extra: TrainConfig = {}): TrainConfig => ({
  ...PLAIN_SGD,
  preset: 'cifar',
  imageSize: 8,
  epochs: 1,
  batchSize: 16,
  limitTrain: 64,
  limitTest: 16,
  validSplit: 0.25,
  threads: 2,
  device: 'cpu',
  dataDir: mini,
  download: false,
  ...extra,
});

function readCheckpoint(file: string): Promise<NativeCheckpointInfo> {
  return new Promise((resolve, reject) =>
    loadNative().readCheckpoint(file, (error, info) => (error ? reject(error) : resolve(info!))),
  );
}

/** A copy of the mini data whose `file` (in cifar-10-batches-bin/) `damage` has changed. */
function damagedCopy(name: string, damage: (file: string) => void): string {
  const dir = path.join(work, `data-${name}`);
  fs.cpSync(path.join(mini, 'cifar-10-batches-bin'), path.join(dir, 'cifar-10-batches-bin'), { recursive: true });
  damage(path.join(dir, 'cifar-10-batches-bin'));
  return dir;
}

beforeAll(async () => {
  mini = await extractMini();
  work = tempDir('ltr-reliability-');
});
afterAll(() => {
  fs.rmSync(mini, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

describe('malformed data: an error naming the file and the problem', () => {
  const cases: [string, (dir: string) => void, RegExp][] = [
    [
      'a batch file of the wrong size',
      (dir) => fs.appendFileSync(path.join(dir, 'data_batch_1.bin'), Buffer.alloc(5)),
      /data_batch_1\.bin has \d+ bytes, not a whole number of 3073-byte records/,
    ],
    [
      'a record cut short',
      (dir) => {
        const file = path.join(dir, 'test_batch.bin');
        fs.truncateSync(file, fs.statSync(file).size - 1000);
      },
      /test_batch\.bin has \d+ bytes, not a whole number of 3073-byte records; the file is damaged/,
    ],
    ['a missing file', (dir) => fs.rmSync(path.join(dir, 'data_batch_4.bin')), /lacks data_batch_4\.bin; delete that folder/],
    [
      'a folder where a file should be',
      (dir) => {
        fs.rmSync(path.join(dir, 'data_batch_2.bin'));
        fs.mkdirSync(path.join(dir, 'data_batch_2.bin'));
      },
      /lacks data_batch_2\.bin; delete that folder/,
    ],
    [
      'a label out of range',
      (dir) => {
        const file = path.join(dir, 'data_batch_1.bin');
        const bytes = fs.readFileSync(file);
        bytes[5 * RECORD_BYTES] = 12;
        fs.writeFileSync(file, bytes);
      },
      /has a label above 9; the files are damaged/,
    ],
  ];
  test.each(cases)('%s', async (name, damage, message) => {
    const dir = damagedCopy(name.replace(/\W+/g, '-'), damage);
    await expect(train(tiny({ dataDir: dir, limitTrain: undefined }))).rejects.toThrow(message);
  });

  test('an unreadable file (checked as an unprivileged user: root reads everything)', () => {
    const dir = damagedCopy('unreadable', (d) => fs.chmodSync(path.join(d, 'data_batch_1.bin'), 0o000));
    fs.chmodSync(work, 0o755);
    // A child process that cannot read the file: the same code path a user without permission takes.
    const child = spawnSync(
      process.execPath,
      [
        '-e',
        `require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))})
           .train(${JSON.stringify(tiny({ dataDir: dir, limitTrain: undefined }))})
           .then(() => { console.log('trained'); process.exit(0); }, (e) => { console.log(e.code + ': ' + e.message); process.exit(1); });`,
      ],
      { encoding: 'utf8', ...(process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}), env: { ...process.env, HOME: work } },
    );
    expect(child.status).toBe(1);
    expect(child.stdout).toMatch(/cannot read CIFAR-10 file .*data_batch_1\.bin|permission denied.*data_batch_1\.bin/i);
  });
});

describe('checkpoints that cannot be used: a clear error, the process alive', () => {
  let good: string;
  beforeAll(async () => {
    const result = await train(tiny({ runDir: path.join(work, 'good') }));
    good = result.checkpoints!.last;
  });

  test('a truncated checkpoint', async () => {
    const cut = path.join(work, 'truncated.pt');
    fs.writeFileSync(cut, fs.readFileSync(good).subarray(0, 1_000_000));
    await expect(evaluate({ checkpoint: cut, dataDir: mini, download: false, limitTest: 16 })).rejects.toThrow(
      /cannot be read: it is truncated, damaged or not a checkpoint/,
    );
    // Still alive and able to work: the good one evaluates.
    expect((await evaluate({ checkpoint: good, dataDir: mini, download: false, limitTest: 16 })).testSize).toBe(16);
  });

  test('a file that is not a checkpoint at all', async () => {
    const png = path.join(work, 'picture.pt');
    fs.writeFileSync(png, Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
    await expect(evaluate({ checkpoint: png, dataDir: mini, download: false })).rejects.toThrow(
      /cannot be read: it is truncated, damaged or not a checkpoint/,
    );
  });

  test('a resume that names the other preset is refused before any native work', async () => {
    await expect(train({ resume: good, preset: 'article', download: false })).rejects.toThrow(
      /^Cannot change preset when resuming: the checkpoint was trained with 'cifar'/,
    );
  });
});

describe('shapes and devices that cannot work: what to change', () => {
  test('a batch larger than the training split: one smaller batch an epoch, as a DataLoader gives', async () => {
    const steps: number[] = [];
    const result = await train(tiny({ batchSize: 512, onProgress: (e) => e.type === 'trainBegin' && steps.push(e.stepsPerEpoch) }));
    expect(steps).toEqual([1]);
    expect(result.trainSize).toBe(48);
    expect(result.epochs[0]!.trainLoss).toBeGreaterThan(0);
  });

  test('a CUDA device that does not exist', async () => {
    const cuda = loadNative().info();
    const error = await train(tiny({ device: 'cuda:7' })).catch((e: Error) => e);
    expect((error as Error).message).toMatch(
      cuda.cudaAvailable ? /only \d+ CUDA device\(s\) are visible; use cuda:0/ : /sees no CUDA device; use device: 'cpu' or 'auto'/,
    );
  });
});

describe('faults', () => {
  test('a loss that becomes NaN or infinite stops the run naming epoch and step; the last good checkpoint stays', async () => {
    // lr 10 with weightDecay 1 multiplies the weights by about -9 a step: float32 overflows in epoch 4.
    const runDir = path.join(work, 'diverged');
    const error = await train(tiny({ lr: 10, weightDecay: 1, epochs: 40, logEvery: 100, runDir })).catch(
      (e: Error & { code?: string }) => e,
    );
    expect(error).toMatchObject({ name: 'TorchError', code: 'ERR_NON_FINITE_LOSS' });
    expect((error as Error).message).toMatch(
      /^the training loss became (NaN|infinite) at epoch [2-9], step [1-3]; training stopped and no checkpoint was written for it\. Lower lr \(now 10\); the last checkpoint holds the last good epoch$/,
    );
    const failedEpoch = Number(/at epoch (\d+)/.exec((error as Error).message)![1]);
    // last.pt is the epoch before, finite, and resumable.
    const last = await readCheckpoint(path.join(runDir, 'checkpoints', 'last.pt'));
    expect(last.epochsDone).toBe(failedEpoch - 1);
    expect(last.history.every((e) => Number.isFinite(e.trainLoss))).toBe(true);
    // The run folder says what happened.
    expect(fs.readFileSync(path.join(runDir, 'report.html'), 'utf8')).toContain('failed');
  });

  (fs.existsSync(TRAIN_MAIN) ? test : test.skip)(
    'kill -9 while checkpoints are written, 12 times at random moments: last.pt always loads, and resumes',
    async () => {
      const dir = path.join(work, 'killed');
      // A tiny run whose time is mostly checkpoint writing (170 MB each epoch), so the kills land during writes.
      // Plain SGD at a constant rate: the resume below may then train for more epochs.
      const args = [mini, '--preset', 'cifar', '--image-size', '8', '--epochs', '1000', '--limit-train', '32',
        '--limit-test', '16', '--batch-size', '16', '--threads', '1', '--checkpoint-dir', dir, ...PLAIN_SGD_MAIN_FLAGS];
      let seed = 12345;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const epochsSeen: number[] = [];
      const delays: number[] = [];
      let midWrite = 0;
      for (let i = 0; i < 12; i++) {
        const resume = fs.existsSync(path.join(dir, 'last.pt')) ? ['--resume', path.join(dir, 'last.pt')] : [];
        const child = spawn(TRAIN_MAIN, [...args, ...resume], { stdio: ['ignore', 'pipe', 'ignore'] });
        const exited = new Promise((r) => child.once('exit', r));
        // Every other run is killed only after it has written one checkpoint, so the run makes progress however
        // slow this machine's disk is; the rest are killed at any moment, loading and resuming included.
        if (i % 2 === 1) {
          await new Promise<void>((r) => {
            let text = '';
            const onData = (chunk: Buffer) => {
              text += chunk.toString();
              if (!/^checkpoint /m.test(text)) return;
              child.stdout!.off('data', onData);
              r();
            };
            child.stdout!.on('data', onData);
            child.once('exit', () => r());
          });
        }
        child.stdout!.resume();
        delays.push(Math.round(1500 + 2500 * random()));
        await new Promise((r) => setTimeout(r, delays.at(-1)));
        child.kill('SIGKILL');
        await exited;
        // A kill that landed mid-write left a half-written temporary beside last.pt (the next start sweeps it).
        if (fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.includes('.tmp-'))) midWrite += 1;
        if (!fs.existsSync(path.join(dir, 'last.pt'))) continue;
        const info = await readCheckpoint(path.join(dir, 'last.pt'));
        epochsSeen.push(info.epochsDone);
      }
      console.log(
        `kill -9 after (ms): ${delays.join(', ')}; epochs in last.pt after each: ${epochsSeen.join(', ')}; ` +
          `kills that landed mid-write: ${midWrite}`,
      );
      // Progress was kept across kills, and the checkpoint after the last kill loads and trains on.
      expect(epochsSeen.length).toBeGreaterThan(3);
      expect(epochsSeen.at(-1)!).toBeGreaterThan(epochsSeen[0]!);
      const last = await readCheckpoint(path.join(dir, 'last.pt'));
      const resumed = await train({ resume: path.join(dir, 'last.pt'), epochs: last.epochsDone + 1, dataDir: mini,
        download: false, threads: 2, runDir: path.join(work, 'killed-resumed') });
      expect(resumed.epochs.at(-1)!.epoch).toBe(last.epochsDone + 1);
      // The core tool resumes in place too, and sweeps the half-written temporaries the kills left.
      const final = [...args, '--resume', path.join(dir, 'last.pt')];
      final[final.indexOf('--epochs') + 1] = String(last.epochsDone + 1);
      expect(spawnSync(TRAIN_MAIN, final, { stdio: 'ignore' }).status).toBe(0);
      expect((await readCheckpoint(path.join(dir, 'last.pt'))).epochsDone).toBe(last.epochsDone + 1);
      expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    },
  );
});

describe('resources', () => {
  test('two train() calls at once: the second is refused (ERR_BUSY), the first unharmed, the next one runs', async () => {
    // The second starts once the first is known to run: both take the slot on a pool thread, and with both queued
    // at once either thread can reach it first.
    let running!: () => void;
    const begun = new Promise<void>((resolve) => (running = resolve));
    const first = train(tiny({ epochs: 2, onProgress: () => running() }));
    await begun;
    const second = await train(tiny()).catch((e: Error & { code?: string }) => e);
    expect(second).toMatchObject({ code: 'ERR_BUSY' });
    expect((second as Error).message).toMatch(/another training run or benchmark is going in this process/);
    const done = await first;
    expect(done.epochs).toHaveLength(2);
    // Its result is the run's own: the same as a run of its own.
    const alone = await train(tiny({ epochs: 2 }));
    expect(alone.epochs.map((e) => e.trainLoss)).toEqual(done.epochs.map((e) => e.trainLoss));
  });

  test('training after a failed run works: the failure released everything', async () => {
    await expect(train(tiny({ lr: 10, weightDecay: 1, epochs: 40, logEvery: 100 }))).rejects.toMatchObject({
      code: 'ERR_NON_FINITE_LOSS',
    });
    expect((await train(tiny())).epochs).toHaveLength(1);
  });

  test('runs in a row hold their memory: resident size stays within 64 MB after the first', async () => {
    const rss: number[] = [];
    for (let i = 0; i < 4; i++) {
      await train(tiny({ epochs: 1, runDir: path.join(work, `memory-${i}`) }));
      rss.push(process.memoryUsage().rss);
    }
    const growth = Math.max(...rss.slice(1)) - rss[0]!;
    console.log(`resident memory after each run (MB): ${rss.map((b) => (b / 2 ** 20).toFixed(0)).join(', ')}`);
    expect(growth).toBeLessThan(64 * 2 ** 20);
  });

  test('the event loop stays responsive during training: p99 delay under 50 ms, no stall over 250 ms', async () => {
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    await train(tiny({ epochs: 3, logEvery: 1, runDir: path.join(work, 'event-loop') }));
    histogram.disable();
    const worstMs = histogram.max / 1e6;
    const p99Ms = histogram.percentile(99) / 1e6;
    console.log(`event loop delay during training: max ${worstMs.toFixed(1)} ms, p99 ${p99Ms.toFixed(1)} ms`);
    // The training runs on other threads; what reaches the loop is event delivery and the run folder's writes.
    // The worst single delay is 15 ms on an idle 2-core machine but was 67 ms in CI, where another jest worker
    // trains at the same time and the OS scheduler decides; the tail and the stall bound are what this code owns.
    expect(p99Ms).toBeLessThan(50);
    expect(worstMs).toBeLessThan(250);
  });
});
