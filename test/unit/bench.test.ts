// SPDX-License-Identifier: MIT
// The benchmark's bookkeeping on a fake addon and a fake yardstick: alternation, medians, ratio, options.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';


import {
  GENERATED_TEST_RECORDS,
  GENERATED_TRAIN_RECORDS,
  median,
  peakFor,
  reproduceCommand,
  runBenchmark,
  writeGeneratedCifar,
} from '../../lib/bench';
import type { BenchDataInfo } from '../../lib/bench';
import { defaultPeer, resolveBenchConfig } from '../../lib/config';
import * as download from '../../lib/download';
import { useArchiveMirror } from '../fixtures/archive-mirror';
import { FakeBinding, makeDataDir, rejection } from './fake-binding';

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
    cudaGraph: 'auto',
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

describe('cudaGraph and the step times', () => {
  test("the option reaches the addon as 'auto', 'on' or 'off'; the report says what ran and how long a step took", async () => {
    const cases: [boolean | 'auto' | undefined, string, boolean][] = [
      [undefined, 'auto', true],
      [true, 'on', true],
      [false, 'off', false],
    ];
    for (const [cudaGraph, native, captured] of cases) {
      const binding = new FakeBinding({ benchDevice: 'cuda:0' });
      const config = resolveBenchConfig({ dataDir, yardstick: false, rounds: 3, batchSize: 32, cudaGraph });
      const report = await runBenchmark(binding, config);
      expect(binding.benchmarks.map((o) => o.cudaGraph)).toEqual([native, native, native]);
      // The fake's steps take 32/10, 32/12 and 32/11 s; the medians are those of the 11 img/s round.
      const step = 32 / 11;
      expect(report.cudaGraph).toBe(captured);
      expect(report.cudaGraphOption).toBe(cudaGraph ?? 'auto');
      expect(report.gpuMsPerStep).toBeCloseTo(1000 * step * 0.9, 9);
      expect(report.hostMsPerStep).toBeCloseTo(1000 * step * (captured ? 0.05 : 0.8), 9);
      expect(report.peer).toBeNull();
      expect(report).not.toHaveProperty('peerSkipped');
    }
  });

  test('on the CPU the GPU time is not measured (null), the host time is', async () => {
    const report = await runBenchmark(new FakeBinding(), resolveBenchConfig({ dataDir, yardstick: false, rounds: 1, batchSize: 10 }));
    expect(report).toMatchObject({ cudaGraph: false, gpuMsPerStep: null });
    expect(report.hostMsPerStep).toBeCloseTo(800, 9);
  });

  test('reproduceCommand names --cuda-graph / --no-cuda-graph and --peer when they were used', async () => {
    const base = await runBenchmark(new FakeBinding(), resolveBenchConfig({ dataDir, yardstick: false, rounds: 1 }));
    expect(reproduceCommand(base)).not.toMatch(/cuda-graph|--peer/);
    const eager = await runBenchmark(new FakeBinding(), resolveBenchConfig({ dataDir, yardstick: false, rounds: 1, cudaGraph: false }));
    expect(reproduceCommand(eager)).toMatch(/ --no-cuda-graph$/);
    const on = await runBenchmark(new FakeBinding(), resolveBenchConfig({ dataDir, yardstick: false, rounds: 1, cudaGraph: true }));
    expect(reproduceCommand(on)).toMatch(/ --cuda-graph$/);
    const peer = await runBenchmark(
      new FakeBinding(),
      resolveBenchConfig({ dataDir, yardstick: false, rounds: 1, peer: path.join(work, 'missing.py'), peerCompile: 'reduce-overhead' }),
    );
    expect(reproduceCommand(peer)).toMatch(/ --peer --peer-compile reduce-overhead$/);
  });

  test('options: cudaGraph as for train(), peer a boolean or a path, peerCompile one of the modes', () => {
    expect(resolveBenchConfig({})).toMatchObject({ cudaGraph: 'auto', peer: false, peerCompile: 'max-autotune', peerTimeout: 0 });
    expect(() => resolveBenchConfig({ cudaGraph: 'off' })).toThrow(
      "Expected 'auto', true or false for cudaGraph but received 'off' of type string",
    );
    expect(resolveBenchConfig({ peer: 'peer.py' }).peer).toBe(path.resolve('peer.py'));
    expect(() => resolveBenchConfig({ peer: 3 })).toThrow(/^Expected boolean or path of pytorch_peer\.py for peer but received 3/);
    expect(() => resolveBenchConfig({ peerCompile: 'fast' })).toThrow(
      "Expected one of 'none', 'default', 'reduce-overhead' or 'max-autotune' for peerCompile but received 'fast' of type string",
    );
    expect(() => resolveBenchConfig({ peerTimeout: -1 })).toThrow(/for peerTimeout/);
  });

  test('peer: true finds the peer through LIBTORCH_RESNET_PEER, else beside the checkout', () => {
    expect(defaultPeer({ LIBTORCH_RESNET_PEER: 'x/peer.py' })).toBe(path.resolve('x/peer.py'));
    expect(defaultPeer({})).toBe(path.resolve(__dirname, '..', '..', '..', 'shared', 'anchors', 'pytorch_peer.py'));
    const saved = process.env.LIBTORCH_RESNET_PEER;
    process.env.LIBTORCH_RESNET_PEER = path.join(work, 'from-env.py');
    try {
      expect(resolveBenchConfig({ peer: true }).peer).toBe(path.join(work, 'from-env.py'));
    } finally {
      if (saved === undefined) delete process.env.LIBTORCH_RESNET_PEER;
      else process.env.LIBTORCH_RESNET_PEER = saved;
    }
  });
});

describe('--peer', () => {
  let peerPython: string;
  let peer: string;
  let calls: string;
  beforeEach(() => {
    // A Python that answers the import check and runs the script under Node, so the peer can be a Node script.
    peerPython = path.join(work, 'peer-python');
    fs.writeFileSync(peerPython, `#!/bin/sh\n[ "$1" = "-c" ] && exit 0\nexec "${process.execPath}" "$@"\n`);
    fs.chmodSync(peerPython, 0o755);
    calls = path.join(work, 'peer-calls');
    // Like pytorch_peer.py: noise, then one JSON line whose speed depends on --compile. A file fail-<mode> beside it
    // makes the run with that --compile fail with a Python-like traceback on stderr.
    peer = path.join(work, 'pytorch_peer.py');
    fs.writeFileSync(
      peer,
      `const fs = require('node:fs');
const args = process.argv.slice(1);
const arg = (name) => args[args.indexOf(name) + 1];
fs.appendFileSync(${JSON.stringify(calls)}, JSON.stringify(args) + '\\n');
const compile = arg('--compile');
if (fs.existsSync(${JSON.stringify(work)} + '/fail-' + compile)) {
  process.stderr.write('Traceback (most recent call last):\\n  File "pytorch_peer.py"\\ntorch._dynamo.exc.BackendCompilerFailed: ' + compile + ' broke\\n\\n');
  process.exit(1);
}
const rates = { none: 7, default: 8, 'reduce-overhead': 9, 'max-autotune': 13 };
console.log('W0101 inductor noise');
console.log(JSON.stringify({ program: 'pytorch_peer.py', torch: '2.11.0+cu130', compile, images_per_second: rates[compile] }));
`,
    );
  });
  const peerCalls = () =>
    fs.existsSync(calls)
      ? fs.readFileSync(calls, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as string[])
      : [];
  const argOf = (args: string[], name: string) => args[args.indexOf(name) + 1];

  test('on CUDA: eager and compiled, once for all rounds, at the settings ours ran with', async () => {
    const binding = new FakeBinding({ benchDevice: 'cuda:0' });
    const config = resolveBenchConfig({
      dataDir, python: peerPython, yardstick: false, peer, rounds: 3, preset: 'cifar', batchSize: 16, steps: 4, warmup: 2,
      precision: 'bf16', threads: 5,
    });
    const report = await runBenchmark(binding, config);
    expect(binding.benchmarks).toHaveLength(3);
    const runs = peerCalls();
    expect(runs.map((args) => argOf(args, '--compile'))).toEqual(['none', 'max-autotune']);
    for (const args of runs) {
      expect(args[0]).toBe(peer);
      expect({
        data: argOf(args, '--data'), preset: argOf(args, '--preset'), imageSize: argOf(args, '--image-size'),
        batchSize: argOf(args, '--batch-size'), precision: argOf(args, '--precision'), steps: argOf(args, '--bench-steps'),
        warmup: argOf(args, '--warmup'), device: argOf(args, '--device'), threads: argOf(args, '--threads'),
      }).toEqual({
        // The device and thread count ours used (the fake reports 2 threads whatever was asked).
        data: dataDir, preset: 'cifar', imageSize: '32', batchSize: '16', precision: 'bf16', steps: '4', warmup: '2',
        device: 'cuda:0', threads: '2',
      });
    }
    expect(report.peer).toEqual({ eager: 7, compiled: 13, mode: 'max-autotune', torch: '2.11.0+cu130' });
    expect(report).not.toHaveProperty('peerSkipped');
    expect(report).not.toHaveProperty('peerCompiledSkipped');
    expect(report.ours).toBe(11);
  });

  test("--peer-compile picks the mode; 'none' runs the eager peer only", async () => {
    const config = (peerCompile: string) =>
      resolveBenchConfig({ dataDir, python: peerPython, yardstick: false, peer, rounds: 1, peerCompile });
    const reduce = await runBenchmark(new FakeBinding({ benchDevice: 'cuda:0' }), config('reduce-overhead'));
    expect(reduce.peer).toMatchObject({ eager: 7, compiled: 9, mode: 'reduce-overhead' });
    fs.rmSync(calls);
    const none = await runBenchmark(new FakeBinding({ benchDevice: 'cuda:0' }), config('none'));
    expect(peerCalls().map((args) => argOf(args, '--compile'))).toEqual(['none']);
    expect(none.peer).toEqual({ eager: 7, compiled: null, mode: 'none', torch: '2.11.0+cu130' });
    expect(none.peerCompiledSkipped).toBe('turned off (--peer-compile none)');
  });

  test('on the CPU only the eager peer runs', async () => {
    const report = await runBenchmark(
      new FakeBinding(),
      resolveBenchConfig({ dataDir, python: peerPython, yardstick: false, peer, rounds: 2 }),
    );
    expect(peerCalls().map((args) => [argOf(args, '--compile'), argOf(args, '--device')])).toEqual([['none', 'cpu']]);
    expect(report.peer).toMatchObject({ eager: 7, compiled: null, mode: 'max-autotune' });
    expect(report.peerCompiledSkipped).toMatch(/CPU/);
  });

  test('a failing peer is recorded as skipped with its last stderr line; our numbers stay', async () => {
    fs.writeFileSync(path.join(work, 'fail-none'), '');
    const config = resolveBenchConfig({ dataDir, python: peerPython, yardstick: false, peer, rounds: 3 });
    const report = await runBenchmark(new FakeBinding({ benchDevice: 'cuda:0' }), config);
    expect(report).toMatchObject({ ours: 11, cudaGraph: true, peer: { eager: null, compiled: null, torch: '' } });
    expect(report.peerSkipped).toBe('eager run failed: torch._dynamo.exc.BackendCompilerFailed: none broke');
    // Without an eager number there is nothing to compare a compiled one with: it is not tried.
    expect(peerCalls()).toHaveLength(1);

    fs.rmSync(path.join(work, 'fail-none'));
    fs.writeFileSync(path.join(work, 'fail-max-autotune'), '');
    const compiledFails = await runBenchmark(new FakeBinding({ benchDevice: 'cuda:0' }), config);
    expect(compiledFails.peer).toMatchObject({ eager: 7, compiled: null });
    expect(compiledFails).not.toHaveProperty('peerSkipped');
    expect(compiledFails.peerCompiledSkipped).toBe(
      'compiled run failed: torch._dynamo.exc.BackendCompilerFailed: max-autotune broke',
    );
  });

  test('a peer that prints no JSON, or runs past --peer-timeout, is skipped too', async () => {
    fs.writeFileSync(peer, "console.log('no json here');\n");
    const noJson = await runBenchmark(
      new FakeBinding(),
      resolveBenchConfig({ dataDir, python: peerPython, yardstick: false, peer, rounds: 1 }),
    );
    expect(noJson.peerSkipped).toMatch(/^eager run failed: printed no JSON result line/);
    fs.writeFileSync(peer, 'setTimeout(() => {}, 20000);\n');
    const slow = await runBenchmark(
      new FakeBinding(),
      resolveBenchConfig({ dataDir, python: peerPython, yardstick: false, peer, rounds: 1, peerTimeout: 1 }),
    );
    expect(slow.peerSkipped).toBe('eager run failed: stopped after 1 s (--peer-timeout)');
  });

  test('skipped before it runs: tf32 and fp16, a missing file, a Python without torch', async () => {
    for (const precision of ['tf32', 'fp16']) {
      const report = await runBenchmark(
        new FakeBinding(),
        resolveBenchConfig({ dataDir, python: peerPython, yardstick: false, peer, rounds: 1, precision }),
      );
      expect(report.peer).toEqual({ eager: null, compiled: null, mode: 'max-autotune', torch: '' });
      expect(report.peerSkipped).toBe(`the peer runs fp32 or bf16 only, not ${precision}`);
    }
    const missing = await runBenchmark(
      new FakeBinding(),
      resolveBenchConfig({ dataDir, python: peerPython, yardstick: false, peer: path.join(work, 'nope.py'), rounds: 1 }),
    );
    expect(missing.peerSkipped).toMatch(/nope\.py not found/);
    const noTorch = await runBenchmark(
      new FakeBinding(),
      resolveBenchConfig({ dataDir, python: '/bin/false', yardstick: false, peer, rounds: 1 }),
    );
    expect(noTorch.peerSkipped).toMatch(/cannot import numpy, torch/);
    expect(peerCalls()).toHaveLength(0);
  });
});

describe('data: CIFAR-10, or generated records without it; a download only when asked', () => {
  const BATCHES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];
  const ENV = ['XDG_CACHE_HOME', 'LIBTORCH_RESNET_DATA', 'LIBTORCH_RESNET_CIFAR_URL', 'LIBTORCH_RESNET_CIFAR_MD5'];
  let savedEnv: Record<string, string | undefined>;
  let cache: string;
  let defaultDir: string;
  const mirror = useArchiveMirror();
  let downloadSpy: jest.SpyInstance;
  /** A Python stand-in for the yardstick and the peer: logs "<script> <--data> <bytes of its data_batch_1.bin>". */
  let dataPython: string;
  let peer: string;

  beforeEach(() => {
    savedEnv = Object.fromEntries(ENV.map((name) => [name, process.env[name]]));
    cache = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-bench-cache-'));
    // The default data folder: $XDG_CACHE_HOME/libtorch-resnet, here absent (no CIFAR-10 on this machine).
    delete process.env.LIBTORCH_RESNET_DATA;
    process.env.XDG_CACHE_HOME = cache;
    defaultDir = path.join(cache, 'libtorch-resnet');
    // Were anything to download, it would come from here.
    process.env.LIBTORCH_RESNET_CIFAR_URL = mirror.url();
    process.env.LIBTORCH_RESNET_CIFAR_MD5 = mirror.md5();
    mirror.requests.length = 0;
    downloadSpy = jest.spyOn(download, 'downloadArchive');
    dataPython = path.join(work, 'data-python');
    fs.writeFileSync(
      dataPython,
      '#!/bin/sh\n[ "$1" = "-c" ] && exit 0\n' +
        'echo "$(basename "$1") $3 $(wc -c < "$3/cifar-10-batches-bin/data_batch_1.bin")" >> "$(dirname "$0")/data-calls"\n' +
        'echo "{\\"torch\\": \\"1.13.0a0\\", \\"images_per_second\\": 5, \\"threads\\": 2}"\n',
    );
    fs.chmodSync(dataPython, 0o755);
    peer = path.join(work, 'pytorch_peer.py');
    fs.writeFileSync(peer, '');
  });
  afterEach(() => {
    downloadSpy.mockRestore();
    for (const name of ENV) {
      if (savedEnv[name] === undefined) delete process.env[name];
      else process.env[name] = savedEnv[name];
    }
    fs.rmSync(cache, { recursive: true, force: true });
  });
  const dataCalls = () => fs.readFileSync(path.join(work, 'data-calls'), 'utf8').trim().split('\n');

  // Writes generated records of the full size: seconds on a loaded 2-core machine, past jest's 5 s default.
  test('no CIFAR-10 in the default folder: ours, the yardstick and the peer run on generated records; nothing is downloaded', async () => {
    const seen: { dataDir: string; files: [string, number][]; first: Buffer }[] = [];
    const binding = new FakeBinding({
      onBenchmark: (options) => {
        const batches = path.join(options.dataDir, 'cifar-10-batches-bin');
        seen.push({
          dataDir: options.dataDir,
          files: fs.readdirSync(batches).sort().map((name) => [name, fs.statSync(path.join(batches, name)).size]),
          first: fs.readFileSync(path.join(batches, 'data_batch_1.bin')),
        });
      },
    });
    const heard: BenchDataInfo[] = [];
    const config = resolveBenchConfig({ python: dataPython, yardstick, peer, rounds: 2, batchSize: 8 });
    expect(config).toMatchObject({ dataDir: defaultDir, dataDirGiven: false, download: false });
    const report = await runBenchmark(binding, config, undefined, (info) => heard.push(info));

    expect(GENERATED_TRAIN_RECORDS).toBeGreaterThanOrEqual(4096); // what the native benchmark reads
    expect(heard).toEqual([{ data: 'generated', dataDir: defaultDir, records: GENERATED_TRAIN_RECORDS }]);
    expect(report).toMatchObject({ data: 'generated', generatedRecords: GENERATED_TRAIN_RECORDS, ours: 11, yardstick: 5 });
    // The official layout: five equal training batches and a test batch, whole 3073-byte records.
    expect(seen).toHaveLength(2);
    const generated = seen[0]!.dataDir;
    expect(generated).not.toBe(defaultDir);
    expect(seen[1]!.dataDir).toBe(generated);
    expect(seen[0]!.files).toEqual(
      BATCHES.map((name) => [name, (name === 'test_batch.bin' ? GENERATED_TEST_RECORDS : GENERATED_TRAIN_RECORDS / 5) * 3073]),
    );
    // Labels 0-9 in every record's first byte; pixels that vary, not a constant.
    const records = seen[0]!.first;
    const labels = new Set<number>();
    for (let r = 0; r < records.length / 3073; r++) labels.add(records[r * 3073]!);
    expect([...labels].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(new Set(records.subarray(1, 3073)).size).toBeGreaterThan(32);
    // The yardstick (each round) and the peer (once) read the same folder, while it is there.
    const batchBytes = String((GENERATED_TRAIN_RECORDS / 5) * 3073);
    expect(dataCalls()).toEqual([
      `article_resnet34.py ${generated} ${batchBytes}`,
      `article_resnet34.py ${generated} ${batchBytes}`,
      `pytorch_peer.py ${generated} ${batchBytes}`,
    ]);
    expect(report.peer).toMatchObject({ eager: 5 });
    // Removed afterwards; the default folder is left as it was; no download was tried.
    expect(fs.existsSync(generated)).toBe(false);
    expect(fs.existsSync(defaultDir)).toBe(false);
    expect(downloadSpy).not.toHaveBeenCalled();
    expect(mirror.requests).toEqual([]);
  }, 30_000);

  // Writes generated records of the full size: seconds on a loaded 2-core machine, past jest's 5 s default.
  test('generated records are the same on every run; the folder is removed when the benchmark fails too', async () => {
    const a = fs.mkdtempSync(path.join(work, 'a-'));
    const b = fs.mkdtempSync(path.join(work, 'b-'));
    await writeGeneratedCifar(a, { trainRecords: 10, testRecords: 3, seed: 1 });
    await writeGeneratedCifar(b, { trainRecords: 10, testRecords: 3, seed: 1 });
    for (const name of BATCHES) {
      expect(fs.readFileSync(path.join(a, 'cifar-10-batches-bin', name))).toEqual(
        fs.readFileSync(path.join(b, 'cifar-10-batches-bin', name)),
      );
    }
    await writeGeneratedCifar(b, { trainRecords: 10, testRecords: 3, seed: 2 });
    expect(fs.readFileSync(path.join(a, 'cifar-10-batches-bin', 'data_batch_1.bin'))).not.toEqual(
      fs.readFileSync(path.join(b, 'cifar-10-batches-bin', 'data_batch_1.bin')),
    );
    await expect(writeGeneratedCifar(b, { trainRecords: 12, testRecords: 3, seed: 1 })).rejects.toThrow(/multiple of 5/);

    let generated = '';
    const failing = new FakeBinding({
      onBenchmark: (options) => {
        generated = options.dataDir;
        throw new Error('addon failed');
      },
    });
    await expect(runBenchmark(failing, resolveBenchConfig({ yardstick: false, rounds: 1 }))).rejects.toThrow('addon failed');
    expect(generated).not.toBe('');
    expect(fs.existsSync(generated)).toBe(false);
  }, 30_000);

  test('CIFAR-10 present: data cifar-10, and the addon, the yardstick and the peer get that folder', async () => {
    // Given explicitly (batch files, as makeDataDir writes them).
    const binding = new FakeBinding();
    const report = await runBenchmark(binding, resolveBenchConfig({ dataDir, yardstick: false, rounds: 1 }));
    expect(report.data).toBe('cifar-10');
    expect(report).not.toHaveProperty('generatedRecords');
    expect(binding.benchmarks[0]!.dataDir).toBe(dataDir);
    // In the default folder, in the real layout.
    await writeGeneratedCifar(defaultDir, { trainRecords: 5, testRecords: 1, seed: 3 });
    const heard: BenchDataInfo[] = [];
    const inDefault = new FakeBinding();
    const found = await runBenchmark(
      inDefault,
      resolveBenchConfig({ python: dataPython, yardstick, peer, rounds: 1 }),
      undefined,
      (info) => heard.push(info),
    );
    expect(heard).toEqual([{ data: 'cifar-10', dataDir: defaultDir }]);
    expect(found.data).toBe('cifar-10');
    expect(inDefault.benchmarks[0]!.dataDir).toBe(defaultDir);
    expect(dataCalls()).toEqual([`article_resnet34.py ${defaultDir} 3073`, `pytorch_peer.py ${defaultDir} 3073`]);
    expect(fs.existsSync(path.join(defaultDir, 'cifar-10-batches-bin', 'data_batch_1.bin'))).toBe(true);
    expect(downloadSpy).not.toHaveBeenCalled();
    expect(mirror.requests).toEqual([]);
  });

  test('a chosen data folder without CIFAR-10 fails with a message, generates nothing and downloads nothing', async () => {
    const empty = fs.mkdtempSync(path.join(work, 'empty-'));
    const binding = new FakeBinding();
    const error = await rejection(runBenchmark(binding, resolveBenchConfig({ dataDir: empty, yardstick: false, rounds: 1 })));
    expect(error.code).toBe('ERR_DATA_NOT_FOUND');
    expect(error.message).toMatch(new RegExp(`^no CIFAR-10 to benchmark on in ${empty}, the folder chosen by dataDir \\(--data-dir\\)`));
    expect(error.message).toMatch(/Pass --download \(download: true\) to fetch it there/);
    // $LIBTORCH_RESNET_DATA chooses a folder as much as --data-dir does.
    process.env.LIBTORCH_RESNET_DATA = empty;
    const fromEnv = resolveBenchConfig({ yardstick: false, rounds: 1 });
    expect(fromEnv).toMatchObject({ dataDir: empty, dataDirGiven: true });
    expect((await rejection(runBenchmark(binding, fromEnv))).message).toMatch(/chosen by \$LIBTORCH_RESNET_DATA/);
    expect(binding.benchmarks).toHaveLength(0);
    expect(fs.readdirSync(empty)).toEqual([]);
    expect(downloadSpy).not.toHaveBeenCalled();
    expect(mirror.requests).toEqual([]);
  });

  test('download: true (--download) still downloads into the data folder, and times on it', async () => {
    expect(resolveBenchConfig({}).download).toBe(false);
    const config = resolveBenchConfig({ download: true, yardstick: false, rounds: 1 });
    expect(config.download).toEqual({ url: process.env.LIBTORCH_RESNET_CIFAR_URL, md5: mirror.md5() });
    const binding = new FakeBinding();
    const report = await runBenchmark(binding, config);
    expect(mirror.requests).toEqual(['/cifar-10-binary.tar.gz']);
    expect(downloadSpy).toHaveBeenCalledTimes(1);
    expect(report.data).toBe('cifar-10');
    expect(binding.benchmarks[0]!.dataDir).toBe(defaultDir);
    expect(fs.statSync(path.join(defaultDir, 'cifar-10-batches-bin', 'data_batch_5.bin')).size).toBe(10 * 3073);
    // Into a chosen empty folder as well.
    const chosen = fs.mkdtempSync(path.join(work, 'chosen-'));
    const into = new FakeBinding();
    expect((await runBenchmark(into, resolveBenchConfig({ dataDir: chosen, download: true, yardstick: false, rounds: 1 }))).data)
      .toBe('cifar-10');
    expect(into.benchmarks[0]!.dataDir).toBe(chosen);
    expect(mirror.requests).toHaveLength(2);
  });
});
