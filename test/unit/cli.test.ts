// SPDX-License-Identifier: MIT
// The CLI run in-process with a fake binding: flags, exit codes, --json output, Ctrl-C, info.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { PNG } from 'pngjs';

import { GENERATED_TRAIN_RECORDS } from '../../lib/bench';
import { run } from '../../lib/cli';
import type { CliIo } from '../../lib/cli';
import * as download from '../../lib/download';
import { useArchiveMirror } from '../fixtures/archive-mirror';
import { EVENTS, FakeBinding, makeDataDir, nativeError } from './fake-binding';

class Capture {
  chunks: string[] = [];
  isTTY = false;
  onWrite: ((chunk: string) => void) | undefined;
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    this.onWrite?.(chunk);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

interface Harness {
  io: CliIo;
  stdout: Capture;
  stderr: Capture;
  binding: FakeBinding;
  interrupt: () => void;
  listening: () => boolean;
}

function harness(binding = new FakeBinding()): Harness {
  const stdout = new Capture();
  const stderr = new Capture();
  let handler: (() => void) | undefined;
  const io: CliIo = {
    stdout,
    stderr,
    binding,
    onInterrupt(h) {
      handler = h;
      return () => {
        handler = undefined;
      };
    },
  };
  return {
    io,
    stdout,
    stderr,
    binding,
    interrupt: () => handler?.(),
    listening: () => handler !== undefined,
  };
}

let dataDir: string;
let workDir: string;
const startDir = process.cwd();
beforeEach(() => {
  dataDir = makeDataDir();
  // train's default run folder is ./runs/<timestamp>: keep it out of the repository.
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'libtorch-resnet-cli-'));
  process.chdir(workDir);
});
afterEach(() => {
  process.chdir(startDir);
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(workDir, { recursive: true, force: true });
});

describe('usage errors exit 2 with a message naming the flag', () => {
  test.each([
    [
      ['--batch-size', '0'],
      "error: option '--batch-size': Expected integer between 1 and 4096 for batchSize but received 0 of type number\n",
    ],
    [
      ['--batch-size', 'abc'],
      "error: option '--batch-size': Expected integer between 1 and 4096 for batchSize but received 'abc' of type string\n",
    ],
    [
      ['--lr', '0'],
      "error: option '--lr': Expected number greater than 0 and at most 10 for lr but received 0 of type number\n",
    ],
    [
      ['--epochs', '1.5'],
      "error: option '--epochs': Expected integer between 1 and 10000 for epochs but received 1.5 of type number\n",
    ],
    [
      ['--preset', 'resnet'],
      "error: option '--preset': Expected one of 'article', 'cifar' or 'torchvision' for preset but received 'resnet' of type string\n",
    ],
    [
      ['--device', 'gpu'],
      "error: option '--device': Expected one of 'auto', 'cpu', 'cuda' or 'cuda:N' (N a device index) for device " +
        "but received 'gpu' of type string\n",
    ],
    [
      ['--preset', 'article', '--image-size', '32'],
      "error: option '--image-size': Expected integer between 193 and 224 (preset 'article') for imageSize but " +
        "received 32 of type number; the article's network ends in AvgPool2d(7) + Linear(512), which needs a 7x7 " +
        "final feature map; use preset 'cifar' for smaller images\n",
    ],
    [
      ['--limit-train', 'NaN'],
      "error: option '--limit-train': Expected integer of at least 1 for limitTrain but received 'NaN' of type string\n",
    ],
    [
      ['--images', '/photos'],
      "error: option '--data-dir': dataDir is for CIFAR-10, and images replaces CIFAR-10 with your own folders; " +
        'leave dataDir out, or images out to train on CIFAR-10\n',
    ],
  ])('train %j', async (args, firstLine) => {
    const h = harness();
    const code = await run(['train', '--data-dir', dataDir, ...args], h.io);
    expect(code).toBe(2);
    expect(h.stderr.text).toBe(`${firstLine}Run 'libtorch-resnet train --help' for the options.\n`);
    expect(h.stdout.text).toBe('');
    expect(h.binding.started).toHaveLength(0);
  });

  test.each([
    [['train', '--epoch', '3'], /unknown option '--epoch'[\s\S]*Did you mean --epochs\?/],
    [['train', '--epochs'], /option '--epochs <n>' argument missing/],
    [['fit'], /unknown command 'fit'/],
    [[], /Usage: libtorch-resnet/],
  ])('%j', async (args, message) => {
    const h = harness();
    expect(await run(args, h.io)).toBe(2);
    expect(h.stderr.text).toMatch(message);
    expect(h.binding.started).toHaveLength(0);
  });
});

describe('help and version exit 0', () => {
  test('train --help lists every option as a kebab-case flag', async () => {
    const h = harness();
    expect(await run(['train', '--help'], h.io)).toBe(0);
    for (const flag of [
      '--epochs <n>',
      '--lr <x>',
      '--batch-size <n>',
      '--momentum <x>',
      '--weight-decay <x>',
      '--valid-split <x>',
      '--seed <n>',
      '--preset <preset>',
      '--image-size <n>',
      '--device <device>',
      '--threads <n>',
      '--data-dir <dir>',
      '--no-download',
      '--limit-train <n>',
      '--limit-test <n>',
      '--log-every <n>',
      '--cuda-graph',
      '--no-cuda-graph',
      '--json',
    ]) {
      expect(h.stdout.text).toContain(flag);
    }
    expect(h.stdout.text.replace(/\s+/g, ' ')).toContain('(default: 64 (article), 512 (cifar), 64 (torchvision); 1–4096)');
    expect(h.stdout.text.replace(/\s+/g, ' ')).toContain(
      "Capture the training step in one CUDA graph: 'auto' does for single-process CUDA training",
    );
    expect(h.stdout.text.replace(/\s+/g, ' ')).toContain("(cudaGraph: false; neither flag: 'auto')");
    expect(h.stdout.text).not.toContain('--signal');
    expect(h.stdout.text).not.toContain('--on-progress');
  });

  test('--version prints the package version', async () => {
    const h = harness();
    expect(await run(['--version'], h.io)).toBe(0);
    const { version } = JSON.parse(fs.readFileSync(`${__dirname}/../../package.json`, 'utf8')) as { version: string };
    expect(h.stdout.text).toBe(`${version}\n`);
  });
});

describe('train', () => {
  test('--json: one JSON object per line, the events and then the result; flags reach the addon', async () => {
    const h = harness();
    const code = await run(
      [
        'train',
        '--json',
        '--data-dir',
        dataDir,
        '--epochs',
        '2',
        '--preset',
        'cifar',
        '--limit-train',
        '512',
        '--lr',
        '0.05',
        '--valid-split',
        '0',
        '--device',
        'cpu',
        '--no-download',
      ],
      h.io,
    );
    expect(h.stderr.text).toBe('');
    expect(code).toBe(0);
    const lines = h.stdout.text.split('\n');
    expect(lines.pop()).toBe('');
    const objects = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    // The addon's events in order, with a checkpoint after every epoch (the run folder defaults to ./runs/...).
    const events = objects.slice(0, -1);
    expect(events.filter((e) => e.type !== 'checkpoint')).toEqual(EVENTS);
    const runDir = path.join(fs.realpathSync(workDir), 'runs');
    expect(events.filter((e) => e.type === 'checkpoint')).toEqual([1, 2].map((epoch) => expect.objectContaining({ epoch })));
    expect(String(events.find((e) => e.type === 'checkpoint')!.path).startsWith(runDir)).toBe(true);
    expect(objects.at(-1)).toMatchObject({ type: 'result', testAccuracy: 0.25, classes: expect.any(Array) });
    expect(h.binding.started[0]).toMatchObject({
      epochs: 2,
      preset: 'cifar',
      imageSize: 32,
      limitTrain: 512,
      limitTest: 0,
      lr: 0.05,
      validSplit: 0,
      device: 'cpu',
      dataDir,
      // The cifar preset's recipe fills in what the flags leave out.
      batchSize: 512,
      scheduler: 'onecycle',
      augment: 'crop-flip',
    });
    expect(h.listening()).toBe(false);
  });

  test('human output ends with the summary', async () => {
    const h = harness();
    expect(await run(['train', '--data-dir', dataDir], h.io)).toBe(0);
    expect(h.stdout.text).toContain('epoch 1/2 done: loss 2.2500, valid accuracy 10.00%');
    expect(h.stdout.text).toMatch(/epoch {2}train loss {2}valid acc/);
    expect(h.stdout.text).toContain('test accuracy: 25.00% on 20 images');
    expect(h.stdout.text).toMatch(/ {2}truck +0\.00%\n\nrun folder: .*\/runs\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\n/);
    expect(h.stdout.text).toMatch(/ {2}report: .*report\.html\n {2}checkpoints: .*last\.pt, .*best\.pt\n/);
    expect(h.stdout.text).toMatch(/ {2}weights for PyTorch: .*weights\.pt\n$/);
  });

  test('missing data: exit 1 with the message and its code, no stack', async () => {
    const h = harness();
    fs.rmSync(dataDir, { recursive: true });
    expect(await run(['train', '--data-dir', dataDir, '--json', '--no-download'], h.io)).toBe(1);
    expect(h.stderr.text).toMatch(/^libtorch-resnet: CIFAR-10 was not found in .* \[ERR_DATA_NOT_FOUND\]\n$/);
    expect(h.stderr.text).not.toContain('    at ');
    expect(h.stdout.text).toBe('');
  });

  test('--no-download reaches prepareDataset', async () => {
    const h = harness();
    fs.rmSync(dataDir, { recursive: true });
    expect(await run(['train', '--data-dir', dataDir, '--no-download'], h.io)).toBe(1);
    expect(h.stderr.text).toContain('Downloading is turned off (download: false).');
  });

  test('a native error: exit 1 with the message and the code', async () => {
    const h = harness(new FakeBinding({ error: nativeError('CUDA error: no kernel image', 'ERR_TORCH') }));
    expect(await run(['train', '--data-dir', dataDir], h.io)).toBe(1);
    expect(h.stderr.text).toBe('libtorch-resnet: CUDA error: no kernel image [ERR_TORCH]\n');
  });

  test('the addon failing to load: exit 1 with its message', async () => {
    const h = harness();
    const load = () => {
      throw Object.assign(new Error('the native addon could not be loaded (x)'), { code: 'ERR_NATIVE_LOAD' });
    };
    expect(await run(['train', '--data-dir', dataDir], { ...h.io, binding: load })).toBe(1);
    expect(h.stderr.text).toBe('libtorch-resnet: the native addon could not be loaded (x) [ERR_NATIVE_LOAD]\n');
  });

  test('Ctrl-C aborts the run: job cancelled, exit 130, no result line', async () => {
    const h = harness();
    h.stdout.onWrite = (chunk) => {
      if (chunk.includes('"batchEnd"')) h.interrupt();
    };
    expect(await run(['train', '--json', '--data-dir', dataDir], h.io)).toBe(130);
    expect(h.binding.cancelCalls).toBe(1);
    expect(h.stdout.text).not.toContain('"type":"result"');
    // trainBegin, epochBegin, batchEnd, then the checkpoint written on the way out.
    const lines = h.stdout.text.trim().split('\n').map((line) => JSON.parse(line) as { type: string; path?: string });
    expect(lines.map((l) => l.type)).toEqual(['trainBegin', 'epochBegin', 'batchEnd', 'checkpoint']);
    expect(h.stderr.text).toContain('Stopping after the current step');
    expect(h.stderr.text).toContain(
      `libtorch-resnet: training interrupted\ncheckpoint saved: ${lines[3]!.path}\n` +
        `resume with: libtorch-resnet train --resume ${lines[3]!.path}\n`,
    );
    expect(h.listening()).toBe(false);
  });

  test('--resume: the checkpoint is read first, its options fill in the rest, its run folder is reused', async () => {
    const h = harness();
    const runDir = path.join(workDir, 'runs', 'first');
    const checkpoint = path.join(runDir, 'checkpoints', 'last.pt');
    expect(await run(['train', '--resume', checkpoint, '--epochs', '3', '--data-dir', dataDir, '--json'], h.io)).toBe(0);
    expect(h.binding.checkpointsRead).toEqual([checkpoint]);
    expect(h.binding.started[0]).toMatchObject({
      epochs: 3,
      lr: 0.05,
      batchSize: 32,
      seed: 7,
      preset: 'cifar',
      imageSize: 16,
      limitTrain: 256,
      dataDir,
      checkpointDir: path.join(runDir, 'checkpoints'),
      resumeFrom: checkpoint,
    });
    const result = JSON.parse(h.stdout.text.trim().split('\n').at(-1)!);
    expect(result).toMatchObject({ runDir, resumedFrom: { checkpoint, epoch: 0, step: 0 } });
  });

  test('--resume from a checkpoint outside a run folder starts a new folder under ./runs', async () => {
    const h = harness();
    const checkpoint = path.join(workDir, 'copied.pt');
    expect(await run(['train', '--resume', checkpoint, '--data-dir', dataDir, '--json'], h.io)).toBe(0);
    expect(h.binding.started[0]!.resumeFrom).toBe(checkpoint);
    expect(path.dirname(path.dirname(h.binding.started[0]!.checkpointDir))).toBe(
      path.join(fs.realpathSync(workDir), 'runs'),
    );
  });

  test('--resume with another --batch-size: exit 2, nothing trained', async () => {
    const h = harness();
    const code = await run(['train', '--resume', 'runs/a/checkpoints/last.pt', '--batch-size', '64'], h.io);
    expect(code).toBe(2);
    expect(h.stderr.text).toMatch(/^error: Cannot change batchSize when resuming: the checkpoint was trained with 32/);
    expect(h.binding.started).toHaveLength(0);
  });

  test('each new run gets its own folder under ./runs', async () => {
    const h = harness();
    expect(await run(['train', '--data-dir', dataDir, '--json'], h.io)).toBe(0);
    expect(await run(['train', '--data-dir', dataDir, '--json'], h.io)).toBe(0);
    const dirs = h.binding.started.map((o) => path.dirname(o.checkpointDir));
    expect(new Set(dirs).size).toBe(2);
    for (const dir of dirs) {
      expect(path.dirname(dir)).toBe(path.join(fs.realpathSync(workDir), 'runs'));
      expect(fs.existsSync(path.join(dir, 'report.html'))).toBe(true);
    }
  });
});

describe('train --cuda-graph', () => {
  test.each([
    [[], 'auto'],
    [['--cuda-graph'], 'on'],
    [['--no-cuda-graph'], 'off'],
    [['--no-cuda-graph', '--cuda-graph'], 'on'],
  ])('%j reaches the addon as %p', async (flags, native) => {
    const h = harness();
    expect(await run(['train', '--data-dir', dataDir, '--json', ...flags], h.io)).toBe(0);
    expect(h.binding.started[0]!.cudaGraph).toBe(native);
  });

  test('--cuda-graph under a distributed environment: exit 2 naming the flag, nothing trained', async () => {
    const h = harness();
    const saved = { ...process.env };
    Object.assign(process.env, { WORLD_SIZE: '2', RANK: '1', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500' });
    try {
      expect(await run(['train', '--data-dir', dataDir, '--cuda-graph'], h.io)).toBe(2);
    } finally {
      for (const name of ['WORLD_SIZE', 'RANK', 'MASTER_ADDR', 'MASTER_PORT']) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
    expect(h.stderr.text).toMatch(/^error: option '--cuda-graph': Expected 'auto' or false in a distributed run for cudaGraph/);
    expect(h.binding.started).toHaveLength(0);
  });

  test('--json: the result says whether the step was captured, the test time and each epoch\'s validation time', async () => {
    const h = harness();
    expect(await run(['train', '--data-dir', dataDir, '--json', '--device', 'cuda'], h.io)).toBe(0);
    const objects = h.stdout.text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(objects.filter((e) => e.type === 'epochEnd').map((e) => e.validSeconds)).toEqual([0.5, 0.1]);
    const result = objects.at(-1)!;
    // The fake captures on a CUDA device with 'auto'.
    expect(result).toMatchObject({ type: 'result', cudaGraph: true, testSeconds: 0.2 });
    expect((result.epochs as { validSeconds: number }[]).map((e) => e.validSeconds)).toEqual([0.5, 0.1]);
    const eager = harness();
    expect(await run(['train', '--data-dir', dataDir, '--json', '--device', 'cuda', '--no-cuda-graph'], eager.io)).toBe(0);
    expect(JSON.parse(eager.stdout.text.trim().split('\n').at(-1)!)).toMatchObject({ cudaGraph: false });
  });

  test('the human summary: validation time per epoch and its share, whether the step was captured, the test time', async () => {
    const h = harness();
    expect(await run(['train', '--data-dir', dataDir, '--device', 'cuda'], h.io)).toBe(0);
    expect(h.stdout.text).toContain('epoch 1/2 done: loss 2.2500, valid accuracy 10.00%, 1.5s, 105 img/s, validation 500ms (25% of the epoch)');
    expect(h.stdout.text).toMatch(/epoch {2}train loss {2}valid acc {2}time {2}valid time {2}images\/s/);
    // 0.6 s of validation in 3.5 s of epochs.
    expect(h.stdout.text).toContain('training step: captured in a CUDA graph; validation 600ms (17% of the epochs)');
    expect(h.stdout.text).toContain('test accuracy: 25.00% on 20 images in 200ms (3.2s in all, cpu, 4 threads)');
    // The run report shows the validation times too.
    const report = fs.readFileSync(path.join(h.stdout.text.match(/run folder: (.*)\n/)![1]!, 'report.html'), 'utf8');
    expect(report).toContain('<th>validation time</th>');
    expect(report).toContain('<td>0.5 s</td>');
    expect(report).toContain('of 20 images (0.2 s)</h2>');
    expect(report).toContain('<td>captured in a CUDA graph</td>');
  });
});

describe('bench', () => {
  let work: string;
  let python: string;
  let peer: string;
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-cli-bench-'));
    python = path.join(work, 'python');
    fs.writeFileSync(python, `#!/bin/sh\n[ "$1" = "-c" ] && exit 0\nexec "${process.execPath}" "$@"\n`);
    fs.chmodSync(python, 0o755);
    peer = path.join(work, 'peer.js');
    fs.writeFileSync(
      peer,
      "const a = process.argv; const c = a[a.indexOf('--compile') + 1];\n" +
        "console.log(JSON.stringify({ torch: '2.11.0', images_per_second: c === 'none' ? 5 : 22 }));\n",
    );
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  test('--no-cuda-graph and --peer: the addon hears the option; the output has the step times and the peer', async () => {
    const h = harness(new FakeBinding({ benchDevice: 'cuda:0' }));
    const argv = ['bench', '--data-dir', dataDir, '--no-yardstick', '--rounds', '1', '--batch-size', '10', '--python', python];
    expect(await run([...argv, '--no-cuda-graph', '--peer', peer, '--peer-compile', 'reduce-overhead'], h.io)).toBe(0);
    expect(h.stderr.text).toBe('');
    expect(h.binding.benchmarks[0]!.cudaGraph).toBe('off');
    // 10 images at 10 img/s: a 1 s step, 90% of it measured on the GPU, 80% of it issuing (eager).
    expect(h.stdout.text).toContain('step: 900.0 ms on the GPU, host issues it in 800.0 ms (eager)');
    expect(h.stdout.text).toContain(
      'ours 10.00 img/s, peer eager 5.00 img/s (ours 2.00x), peer compiled (reduce-overhead) 22.00 img/s (ours 0.45x), peer on torch 2.11.0',
    );
    expect(h.stdout.text).toMatch(/reproduce: .* --no-cuda-graph --peer --peer-compile reduce-overhead\n/);

    const j = harness(new FakeBinding({ benchDevice: 'cuda:0' }));
    expect(await run([...argv, '--peer', peer, '--json'], j.io)).toBe(0);
    expect(j.binding.benchmarks[0]!.cudaGraph).toBe('auto');
    const report = JSON.parse(j.stdout.text.trim().split('\n').at(-1)!);
    expect(report).toMatchObject({
      cudaGraph: true,
      peer: { eager: 5, compiled: 22, mode: 'max-autotune', torch: '2.11.0' },
    });
    expect(report.hostMsPerStep).toBeCloseTo(50, 9);
    expect(report.gpuMsPerStep).toBeCloseTo(900, 9);
    expect(j.stderr.text).toContain('host issues it in 50.0 ms (captured in a CUDA graph)');
  });

  test('without --peer there is no peer; a failing one is reported and the benchmark still succeeds', async () => {
    const h = harness();
    const argv = ['bench', '--data-dir', dataDir, '--no-yardstick', '--rounds', '1', '--python', python, '--json'];
    expect(await run(argv, h.io)).toBe(0);
    expect(JSON.parse(h.stdout.text.trim().split('\n').at(-1)!)).toMatchObject({ peer: null, gpuMsPerStep: null });
    fs.writeFileSync(peer, "process.stderr.write('ImportError: no module named torch\\n'); process.exit(1);\n");
    const f = harness();
    expect(await run([...argv.slice(0, -1), '--peer', peer], f.io)).toBe(0);
    expect(f.stdout.text).toContain('peer not run: eager run failed: ImportError: no module named torch');
    expect(f.stdout.text).toMatch(/^ours 10\.00 img\/s on cpu/m);
  });

  describe('data: CIFAR-10, generated records without it, --download', () => {
    const ENV = ['XDG_CACHE_HOME', 'LIBTORCH_RESNET_DATA', 'LIBTORCH_RESNET_CIFAR_URL', 'LIBTORCH_RESNET_CIFAR_MD5'];
    let saved: Record<string, string | undefined>;
    let defaultDir: string;
    const mirror = useArchiveMirror();
    let downloadSpy: jest.SpyInstance;
    beforeEach(() => {
      saved = Object.fromEntries(ENV.map((name) => [name, process.env[name]]));
      // The default data folder, $XDG_CACHE_HOME/libtorch-resnet, does not exist.
      delete process.env.LIBTORCH_RESNET_DATA;
      process.env.XDG_CACHE_HOME = path.join(work, 'cache');
      defaultDir = path.join(work, 'cache', 'libtorch-resnet');
      process.env.LIBTORCH_RESNET_CIFAR_URL = mirror.url('cifar.tar.gz');
      process.env.LIBTORCH_RESNET_CIFAR_MD5 = mirror.md5();
      mirror.requests.length = 0;
      downloadSpy = jest.spyOn(download, 'downloadArchive');
    });
    afterEach(() => {
      downloadSpy.mockRestore();
      for (const name of ENV) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    });
    const lastJson = (h: Harness) => JSON.parse(h.stdout.text.trim().split('\n').at(-1)!) as Record<string, unknown>;

    // Writes generated records of the full size: seconds on a loaded 2-core machine, past jest's 5 s default.
    test('no CIFAR-10 and no --data-dir: generated records, said in the output and the JSON; nothing downloaded', async () => {
      const h = harness();
      expect(await run(['bench', '--no-yardstick', '--rounds', '1'], h.io)).toBe(0);
      expect(h.stderr.text).toBe('');
      expect(h.stdout.text).toContain(
        `\ndata: generated, ${GENERATED_TRAIN_RECORDS} records (no CIFAR-10 at ${defaultDir}; --download to fetch it)\n` +
          'round 1/1: ours 10.00 img/s\n',
      );
      const generated = h.binding.benchmarks[0]!.dataDir;
      expect(generated).not.toBe(defaultDir);
      expect(fs.existsSync(generated)).toBe(false);

      const j = harness();
      expect(await run(['bench', '--no-yardstick', '--rounds', '1', '--json'], j.io)).toBe(0);
      expect(lastJson(j)).toMatchObject({ data: 'generated', generatedRecords: GENERATED_TRAIN_RECORDS });
      expect(j.stderr.text).toContain(`data: generated, ${GENERATED_TRAIN_RECORDS} records (no CIFAR-10 at ${defaultDir};`);
      expect(fs.existsSync(defaultDir)).toBe(false);
      expect(downloadSpy).not.toHaveBeenCalled();
      expect(mirror.requests).toEqual([]);
    }, 30_000);

    test('--data-dir with CIFAR-10: data cifar-10; an empty --data-dir fails with a message and exit 1', async () => {
      const h = harness();
      expect(await run(['bench', '--data-dir', dataDir, '--no-yardstick', '--rounds', '1', '--json'], h.io)).toBe(0);
      expect(lastJson(h).data).toBe('cifar-10');
      expect(lastJson(h)).not.toHaveProperty('generatedRecords');
      expect(h.stderr.text).toContain(`data: CIFAR-10 at ${dataDir}\n`);
      expect(h.binding.benchmarks[0]!.dataDir).toBe(dataDir);

      const empty = fs.mkdtempSync(path.join(work, 'empty-'));
      const e = harness();
      expect(await run(['bench', '--data-dir', empty, '--no-yardstick', '--rounds', '1'], e.io)).toBe(1);
      expect(e.stderr.text).toMatch(
        new RegExp(`^libtorch-resnet: no CIFAR-10 to benchmark on in ${empty}, the folder chosen by dataDir \\(--data-dir\\).*` +
          'Pass --download .* \\[ERR_DATA_NOT_FOUND\\]\n$'),
      );
      expect(e.binding.benchmarks).toHaveLength(0);
      expect(mirror.requests).toEqual([]);
    });

    test('--download fetches CIFAR-10 into the data folder and times on it', async () => {
      const h = harness();
      expect(await run(['bench', '--download', '--no-yardstick', '--rounds', '1', '--json'], h.io)).toBe(0);
      expect(mirror.requests).toEqual(['/cifar.tar.gz']);
      expect(downloadSpy).toHaveBeenCalledTimes(1);
      expect(lastJson(h).data).toBe('cifar-10');
      expect(h.binding.benchmarks[0]!.dataDir).toBe(defaultDir);
      expect(fs.existsSync(path.join(defaultDir, 'cifar-10-batches-bin', 'test_batch.bin'))).toBe(true);
    });
  });

  test('a bad --peer-compile or --cuda-graph value is a usage error', async () => {
    const h = harness();
    expect(await run(['bench', '--data-dir', dataDir, '--peer-compile', 'fast'], h.io)).toBe(2);
    expect(h.stderr.text).toMatch(/^error: option '--peer-compile': Expected one of 'none', 'default', 'reduce-overhead' or 'max-autotune'/);
    expect(h.binding.benchmarks).toHaveLength(0);
  });
});

describe('eval and predict', () => {
  test('eval prints accuracy, the per-class table and the confusion matrix', async () => {
    const h = harness();
    expect(await run(['eval', '--checkpoint', 'best.pt', '--data-dir', dataDir, '--limit-test', '20'], h.io)).toBe(0);
    expect(h.binding.evaluations[0]).toMatchObject({ checkpoint: path.resolve('best.pt'), limitTest: 20, batchSize: 64 });
    expect(h.stdout.text).toMatch(/^test accuracy: 25\.00% on 20 images/m);
    expect(h.stdout.text).toMatch(/^ {2}airplane +50\.00%$/m);
    expect(h.stdout.text).toMatch(/^ {2}truck( +0){9} +1$/m);
  });

  test("--flip-tta and --no-flip-tta reach eval and predict; without either the checkpoint's setting holds", async () => {
    const image = path.join(workDir, 'tta.png');
    fs.writeFileSync(image, PNG.sync.write(new PNG({ width: 2, height: 2 })));
    const cases: [string[], boolean | null][] = [[[], null], [['--flip-tta'], true], [['--no-flip-tta'], false]];
    for (const [flags, expected] of cases) {
      const h = harness();
      expect(await run(['eval', '--checkpoint', 'best.pt', '--data-dir', dataDir, ...flags], h.io)).toBe(0);
      expect(h.binding.evaluations[0]!.flipTta).toBe(expected);
      // The fake checkpoint was trained without it: null scores plainly.
      expect(h.stdout.text.includes('20 images with their mirror images')).toBe(expected === true);
      const p = harness();
      expect(await run(['predict', '--checkpoint', 'best.pt', image, ...flags], p.io)).toBe(0);
      expect(p.binding.predictions[0]!.options.flipTta).toBe(expected);
    }
  });

  test('eval without --checkpoint, or with a bad value: exit 2 naming the flag', async () => {
    const h = harness();
    expect(await run(['eval', '--data-dir', dataDir], h.io)).toBe(2);
    expect(h.stderr.text).toMatch(/required option '--checkpoint <file>' not specified/);
    const h2 = harness();
    expect(await run(['eval', '--checkpoint', 'a.pt', '--limit-test', '0'], h2.io)).toBe(2);
    expect(h2.stderr.text).toMatch(/^error: option '--limit-test': Expected integer of at least 1 for limitTest/);
    expect(h2.binding.evaluations).toHaveLength(0);
  });

  test('predict prints the top classes of each image; --json gives them all', async () => {
    const image = path.join(workDir, 'one.png');
    fs.writeFileSync(image, PNG.sync.write(new PNG({ width: 2, height: 2 })));
    const h = harness();
    expect(await run(['predict', '--checkpoint', 'best.pt', image, image, '--top', '2'], h.io)).toBe(0);
    expect(h.stdout.text).toBe(`${image}: cat 50.00%, bird 10.00%\n`.repeat(2));
    expect(h.binding.predictions[0]!.images).toHaveLength(2);
    expect(h.binding.predictions[0]!.images[0]).toMatchObject({ width: 2, height: 2 });
    const j = harness();
    expect(await run(['predict', '--checkpoint', 'best.pt', image, '--json'], j.io)).toBe(0);
    const out = JSON.parse(j.stdout.text);
    expect(out.predictions[0].top.map((t: { label: string }) => t.label)).toEqual(['cat', 'bird', 'dog']);
    expect(out.predictions[0].probabilities).toHaveLength(10);
  });

  test('predict: --top out of range exits 2; an unreadable image exits 1 naming it', async () => {
    const h = harness();
    expect(await run(['predict', '--checkpoint', 'best.pt', 'x.png', '--top', '11'], h.io)).toBe(2);
    expect(h.stderr.text).toMatch(/^error: option '--top': Expected integer between 1 and 10 for top/);
    const h2 = harness();
    expect(await run(['predict', '--checkpoint', 'best.pt', 'missing.png'], h2.io)).toBe(1);
    expect(h2.stderr.text).toMatch(/cannot read image .*missing\.png \(ENOENT\) \[ERR_INVALID_IMAGE\]/);
  });
});

describe('info', () => {
  test('--json prints what info() returns', async () => {
    const h = harness();
    expect(await run(['info', '--json'], h.io)).toBe(0);
    expect(JSON.parse(h.stdout.text)).toEqual({
      libtorchVersion: '1.13.1',
      cudaAvailable: false,
      cudaDevices: 0,
      threads: 8,
      distributedBackends: ['gloo'],
      cudaVersion: '',
      cudnnVersion: '',
      presets: {
        article: { parameters: 21298314 },
        cifar: { parameters: 21282122 },
        torchvision: { parameters: 21289802 },
      },
    });
  });

  test('human output', async () => {
    const h = harness();
    expect(await run(['info'], h.io)).toBe(0);
    expect(h.stdout.text).toMatch(/^LibTorch +1\.13\.1$/m);
    expect(h.stdout.text).toMatch(/^CUDA +not available$/m);
    expect(h.stdout.text).toMatch(/^parameters +article 21,298,314, cifar 21,282,122$/m);
  });

  test('a native exception: exit 1', async () => {
    const binding = new FakeBinding();
    binding.infoError = nativeError('broken', 'ERR_TORCH');
    const h = harness(binding);
    expect(await run(['info'], h.io)).toBe(1);
    expect(h.stderr.text).toBe('libtorch-resnet: broken [ERR_TORCH]\n');
  });
});
