// SPDX-License-Identifier: MIT
// What a run leaves behind, through the real addon on the mini data: checkpoints that resume exactly, evaluate and
// predict from them, weights PyTorch loads, and a report that renders in a real browser.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';

import { evaluate, predict, train } from '../../lib/index';
import type { TrainConfig, TrainResult } from '../../lib/index';
import { RECORD_BYTES, extractMini, sharedDir, tempDir, PLAIN_SGD } from '../fixtures/cifar';
import { PYTHON, pythonHas } from '../fixtures/python';

const hasPyTorch = pythonHas('torch');
const CHROMIUM = process.env.LIBTORCH_RESNET_CHROMIUM ?? '/usr/bin/chromium';

let mini: string;
let work: string;
// One uninterrupted 2-epoch run, the reference for everything below.
let reference: TrainResult;
const options = (): TrainConfig => ({
  ...PLAIN_SGD,
  preset: 'cifar',
  imageSize: 16,
  epochs: 2,
  batchSize: 16,
  limitTrain: 96,
  limitTest: 48,
  validSplit: 0.25,
  lr: 0.05,
  seed: 3,
  threads: 2,
  logEvery: 1,
  device: 'cpu',
  dataDir: mini,
  download: false,
});

beforeAll(async () => {
  mini = await extractMini();
  work = tempDir('ltr-run-');
  reference = await train({ ...options(), runDir: path.join(work, 'reference') });
});
afterAll(() => {
  fs.rmSync(mini, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

// torch.load(checkpoint, weights_only=True), PyTorch 2.6's default. 1.13's weights-only loader knows no float
// opcode (BINFLOAT), so there the test checks what that loader refuses first: every global in data.pkl must be one
// it allows (no TorchScript type tags).
const LOAD_CHECKPOINT = [
  'import pickletools, zipfile',
  'def load_checkpoint(file):',
  "    if int(torch.__version__.split('.')[0]) >= 2: return torch.load(file, weights_only=True)",
  "    data = zipfile.ZipFile(file).read('archive/data.pkl')",
  "    found = {arg for op, arg, _ in pickletools.genops(data) if op.name == 'GLOBAL'}",
  "    allowed = {'collections OrderedDict', 'torch._utils _rebuild_tensor_v2'} | {'torch ' + s for s in ('FloatStorage', 'LongStorage', 'ByteStorage')}",
  "    assert found <= allowed, found - allowed",
  '    return torch.load(file)',
];

function sameRun(resumed: TrainResult): void {
  expect(resumed.epochs.map((e) => [e.epoch, e.trainLoss, e.validAccuracy])).toEqual(
    reference.epochs.map((e) => [e.epoch, e.trainLoss, e.validAccuracy]),
  );
  expect(resumed.testAccuracy).toBe(reference.testAccuracy);
  expect(resumed.confusionMatrix).toEqual(reference.confusionMatrix);
  // Same weights, bit for bit: the exports are byte-identical.
  const a = fs.readFileSync(reference.checkpoints!.weights);
  const b = fs.readFileSync(resumed.checkpoints!.weights);
  expect(b.equals(a)).toBe(true);
}

describe('the run folder', () => {
  test('holds config.json, metrics.jsonl with every event, result.json, report.html and the checkpoints', () => {
    const dir = reference.runDir!;
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'))).toMatchObject({
      preset: 'cifar',
      epochs: 2,
      batchSize: 16,
    });
    const events = fs
      .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events[0].type).toBe('trainBegin');
    expect(events.at(-1).type).toBe('trainEnd');
    const steps = Math.ceil(72 / 16);
    expect(events.filter((e) => e.type === 'batchEnd')).toHaveLength(2 * steps);
    expect(events.filter((e) => e.type === 'checkpoint').map((e) => e.epoch)).toEqual([1, 2]);
    const result = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));
    expect(result.testAccuracy).toBe(reference.testAccuracy);
    expect(result.epochs).toHaveLength(2);
    expect(reference.checkpoints).toEqual({
      last: path.join(dir, 'checkpoints', 'last.pt'),
      best: path.join(dir, 'checkpoints', 'best.pt'),
      weights: path.join(dir, 'checkpoints', 'weights.pt'),
    });
    for (const file of Object.values(reference.checkpoints!)) expect(fs.statSync(file).size).toBeGreaterThan(1e6);
    // No temporary file is left behind by the atomic writes.
    expect(fs.readdirSync(path.join(dir, 'checkpoints')).sort()).toEqual(['best.pt', 'last.pt', 'weights.pt']);
  });
});

describe('resume continues the run exactly', () => {
  test.each([
    ['at the end of epoch 1', (e: { type: string; epoch?: number }) => e.type === 'epochEnd' && e.epoch === 1],
    [
      'in the middle of epoch 1',
      (e: { type: string; epoch?: number; step?: number }) => e.type === 'batchEnd' && e.epoch === 1 && e.step === 2,
    ],
  ])('stopped %s, then resumed: same metrics and weights as without the stop', async (_when, stopAt) => {
    const runDir = path.join(work, `stopped-${_when.replace(/\W+/g, '-')}`);
    const controller = new AbortController();
    const stopped = await train({
      ...options(),
      runDir,
      signal: controller.signal,
      onProgress: (e) => {
        if (stopAt(e as never)) controller.abort();
      },
    }).catch((error: Error & { checkpoint?: string }) => error);
    expect(stopped).toMatchObject({ name: 'AbortError', checkpoint: path.join(runDir, 'checkpoints', 'last.pt') });
    // The report is written for the interrupted run too.
    expect(fs.readFileSync(path.join(runDir, 'report.html'), 'utf8')).toContain('interrupted');

    const resumed = await train({ resume: path.join(runDir, 'checkpoints', 'last.pt'), threads: 2, download: false });
    expect(resumed.runDir).toBe(runDir);
    expect(resumed.resumedFrom!.epoch * 100 + resumed.resumedFrom!.step).toBeGreaterThan(0);
    sameRun(resumed);
    // One metrics.jsonl for the whole run: both trainBegin events, every epoch's epochEnd once.
    const events = fs
      .readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events.filter((e) => e.type === 'trainBegin')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'epochEnd').map((e) => e.epoch)).toEqual([1, 2]);
  });

  test('a resume that changes the network or the batches is refused, naming the option', async () => {
    const error = await train({ resume: reference.checkpoints!.last, batchSize: 32, download: false }).catch(
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toMatch(/^Cannot change batchSize when resuming: the checkpoint was trained with 16/);
  });

  test('a weights file or a file that is not a checkpoint is refused with what to pass instead', async () => {
    const error = await train({ resume: reference.checkpoints!.weights, download: false }).catch((e: Error) => e);
    expect(error).toMatchObject({ name: 'TorchError', code: 'ERR_CHECKPOINT' });
    expect((error as Error).message).toMatch(/^cannot resume from .*weights\.pt: a weights file holds no optimizer state.*resume from the run's checkpoints\/last\.pt/);
    const junk = path.join(work, 'junk.pt');
    fs.writeFileSync(junk, 'not a zip');
    const second = await train({ resume: junk, download: false }).catch((e: Error) => e);
    expect((second as Error).message).toMatch(/cannot be read: it is truncated, damaged or not a checkpoint/);
    if (!hasPyTorch) return;
    // A bare state dict, as Python's torch.save writes one: nothing says what network or input it is for.
    const bare = path.join(work, 'bare-state-dict.pt');
    execFileSync(PYTHON, ['-c', `import torch; torch.save(torch.load(${JSON.stringify(reference.checkpoints!.weights)}), ${JSON.stringify(bare)})`]);
    const third = await evaluate({ checkpoint: bare, dataDir: mini, limitTest: 8, threads: 2, download: false }).catch(
      (e: Error) => e,
    );
    expect(third).toMatchObject({ name: 'TorchError', code: 'ERR_CHECKPOINT' });
    expect((third as Error).message).toMatch(/holds weights with no description of them .*pass a checkpoint such as/);
  });
});

describe('evaluate and predict from a checkpoint', () => {
  test.each([
    ['the final checkpoint', 'last', 'checkpoint'],
    ['weights.pt (from what it says of itself)', 'weights', 'weights'],
  ] as const)('evaluate on %s: scored exactly as the run scored itself', async (_what, file, kind) => {
    const result = await evaluate({
      checkpoint: reference.checkpoints![file],
      dataDir: mini,
      limitTest: 48,
      threads: 2,
      download: false,
    });
    expect(result.testAccuracy).toBe(reference.testAccuracy);
    expect(result.confusionMatrix).toEqual(reference.confusionMatrix);
    expect(result.classes).toEqual(reference.classes);
    expect(result.checkpoint).toMatchObject({ kind, preset: 'cifar', imageSize: 16, epochsDone: 2 });
  });

  // Test record i of the mini data as RGB bytes.
  function testImage(i: number): { width: number; height: number; data: Buffer } {
    const bytes = fs.readFileSync(path.join(mini, 'cifar-10-batches-bin', 'test_batch.bin'));
    const record = bytes.subarray(i * RECORD_BYTES + 1, (i + 1) * RECORD_BYTES);
    const data = Buffer.alloc(32 * 32 * 3);
    for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) data[p * 3 + c] = record[c * 1024 + p]!;
    return { width: 32, height: 32, data };
  }
  function png(image: { width: number; height: number; data: Buffer }, scale = 1): Buffer {
    const out = new PNG({ width: image.width * scale, height: image.height * scale });
    for (let y = 0; y < out.height; y++) {
      for (let x = 0; x < out.width; x++) {
        const src = (Math.floor(y / scale) * image.width + Math.floor(x / scale)) * 3;
        const dst = (y * out.width + x) * 4;
        out.data[dst] = image.data[src]!;
        out.data[dst + 1] = image.data[src + 1]!;
        out.data[dst + 2] = image.data[src + 2]!;
        out.data[dst + 3] = 255;
      }
    }
    return PNG.sync.write(out);
  }

  test('predict from weights.pt gives what it gives from last.pt', async () => {
    const file = path.join(work, 'weights-predict.png');
    fs.writeFileSync(file, png(testImage(2)));
    const [a] = await predict({ checkpoint: reference.checkpoints!.last, images: [file], threads: 2 });
    const [b] = await predict({ checkpoint: reference.checkpoints!.weights, images: [file], threads: 2 });
    expect(b!.probabilities).toEqual(a!.probabilities);
    expect(b!.top.map((t) => t.label)).toEqual(a!.top.map((t) => t.label));
  });

  test('predict: PNG and JPEG files, the same picture at 2x gives the same answer, top classes sorted', async () => {
    const image = testImage(0);
    const files = [path.join(work, 'a.png'), path.join(work, 'a-2x.png'), path.join(work, 'a.jpg')];
    fs.writeFileSync(files[0]!, png(image));
    fs.writeFileSync(files[1]!, png(image, 2));
    const rgba = Buffer.alloc(32 * 32 * 4, 255);
    for (let p = 0; p < 1024; p++) image.data.copy(rgba, p * 4, p * 3, p * 3 + 3);
    fs.writeFileSync(files[2]!, jpeg.encode({ width: 32, height: 32, data: rgba }, 95).data);

    const [a, a2x, aJpeg] = await predict({ checkpoint: reference.checkpoints!.last, images: files, threads: 2 });
    for (const p of [a!, a2x!, aJpeg!]) {
      expect(p.probabilities).toHaveLength(10);
      expect(p.probabilities.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 6);
      expect(p.top).toHaveLength(3);
      expect(p.top[0]!.probability).toBeGreaterThanOrEqual(p.top[1]!.probability);
      expect(p.top[0]!.probability).toBe(Math.max(...p.probabilities));
    }
    // Averaging a 2x nearest-neighbour enlargement back to 32 px restores the very same pixels.
    a2x!.probabilities.forEach((q, i) => expect(q).toBeCloseTo(a!.probabilities[i]!, 6));
    // JPEG is lossy: close, not equal.
    aJpeg!.probabilities.forEach((q, i) => expect(Math.abs(q - a!.probabilities[i]!)).toBeLessThan(0.1));
  });

  (hasPyTorch || process.env.CI ? test : test.skip)(
    'PyTorch loads weights.pt into the article program\'s model and gives the same probabilities as predict',
    async () => {
      const image = testImage(1);
      const file = path.join(work, 'b.png');
      fs.writeFileSync(file, png(image));
      const [ours] = await predict({ checkpoint: reference.checkpoints!.last, images: [file], threads: 2 });
      const script = [
        'import json, sys, torch',
        'import torch.nn.functional as F',
        ...LOAD_CHECKPOINT,
        `sys.path.insert(0, ${JSON.stringify(path.join(sharedDir(), 'anchors'))})`,
        'from article_resnet34 import ResNet, ResidualBlock',
        "m = ResNet(ResidualBlock, [3, 4, 6, 3], preset='cifar')",
        // weights_only=True: PyTorch 2.6's default, which refuses any global it does not know.
        `m.load_state_dict(torch.load(${JSON.stringify(reference.checkpoints!.weights)}, weights_only=True))`,
        'm.eval()',
        // The checkpoint itself is a torch.load-able dict whose optimizer part fits torch.optim.SGD.
        `ck = load_checkpoint(${JSON.stringify(reference.checkpoints!.last)})`,
        'opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)',
        "opt.load_state_dict(ck['optimizer'])",
        "assert all(opt.state[p]['momentum_buffer'].shape == p.shape for p in m.parameters())",
        `x = torch.tensor(list(bytes.fromhex(${JSON.stringify(image.data.toString('hex'))})), dtype=torch.float32)`,
        'x = x.view(32, 32, 3).permute(2, 0, 1).unsqueeze(0) / 255',
        "x = F.interpolate(x, size=(16, 16), mode='bilinear', align_corners=False)",
        'mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)',
        'std = torch.tensor([0.2023, 0.1994, 0.2010]).view(1, 3, 1, 1)',
        'with torch.no_grad(): p = torch.softmax(m((x - mean) / std), 1)[0]',
        "print(json.dumps({'p': p.tolist(), 'epochs': len(ck['history']['train_loss'])}))",
      ].join('\n');
      const python = JSON.parse(execFileSync(PYTHON, ['-c', script], { encoding: 'utf8' }));
      expect(python.epochs).toBe(2);
      expect(python.p).toHaveLength(10);
      (python.p as number[]).forEach((q, i) => expect(q).toBeCloseTo(ours!.probabilities[i]!, 4));
    },
  );

  (hasPyTorch || process.env.CI ? test : test.skip)(
    "Python reads what weights.pt says it is with zipfile and pickle, and recomputes both files' tensor checksums",
    () => {
      const script = [
        'import json, pickle, zipfile, torch',
        ...LOAD_CHECKPOINT,
        'P = 2**31 - 1',
        // The checksum as checkpoint.h defines it, written again from that definition.
        'def checksum(tensors):',
        '    total = 0',
        '    for k, t in enumerate(tensors):',
        '        raw = bytearray(t.contiguous().numpy().tobytes()); raw += bytes(-len(raw) % 4)',
        '        if not raw: continue',
        '        w = torch.frombuffer(raw, dtype=torch.int32).to(torch.int64) & 0xFFFFFFFF',
        '        c = int(((w % P) * torch.arange(1, len(w) + 1) % P).sum()) % P',
        '        total = (total + c * (k + 1)) % P',
        '    return total',
        `card = pickle.loads(zipfile.ZipFile(${JSON.stringify(reference.checkpoints!.weights)}).read('archive/libtorch_resnet.pkl'))`,
        `sd = torch.load(${JSON.stringify(reference.checkpoints!.weights)}, weights_only=True)`,
        `ck = load_checkpoint(${JSON.stringify(reference.checkpoints!.last)})`,
        "covered = list(ck['model'].values()) + [s['momentum_buffer'] for s in ck['optimizer']['state'].values()]",
        "covered += [t for t in (ck['rng']['shuffle'], ck['rng']['torch_cpu']) if t is not None]",
        "print(json.dumps({'card': {k: v for k, v in card.items() if k != 'tensor_checksum'},",
        "  'weights': [card['tensor_checksum'], checksum(list(sd.values()))],",
        "  'checkpoint': [ck['tensor_checksum'], checksum(covered)]}))",
      ].join('\n');
      const python = JSON.parse(execFileSync(PYTHON, ['-c', script], { encoding: 'utf8' }));
      expect(python.card).toMatchObject({
        format: 'libtorch-resnet.weights',
        preset: 'cifar',
        image_size: 16,
        classes: [...reference.classes],
        precision: 'fp32',
        epochs: 2,
      });
      (python.card.mean as number[]).forEach((m, i) => expect(m).toBeCloseTo([0.4914, 0.4822, 0.4465][i]!, 6));
      (python.card.std as number[]).forEach((s, i) => expect(s).toBeCloseTo([0.2023, 0.1994, 0.201][i]!, 6));
      expect(python.weights[0]).toBeGreaterThan(0);
      expect(python.weights[1]).toBe(python.weights[0]);
      expect(python.checkpoint[1]).toBe(python.checkpoint[0]);
    },
  );
});

(fs.existsSync(CHROMIUM) || process.env.CI ? describe : describe.skip)('report.html in headless Chromium', () => {
  test('renders offline with both curves, the per-class table and a 10x10 heat map', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const requests: string[] = [];
      const errors: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) requests.push(r.url());
      });
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`file://${path.join(reference.runDir!, 'report.html')}`);
      const seen = await page.evaluate(() => {
        const box = (sel: string) => document.querySelector(sel)?.getBoundingClientRect();
        const size = (sel: string) => {
          const b = box(sel);
          return b ? [Math.round(b.width), Math.round(b.height)] : null;
        };
        return {
          loss: size('#loss-chart'),
          accuracy: size('#accuracy-chart'),
          confusion: size('#confusion'),
          lossMarkers: document.querySelectorAll('#loss-chart circle').length,
          validMarkers: document.querySelectorAll('#accuracy-chart circle').length,
          lossPoints: document
            .querySelector('#loss-chart polyline[data-series="per logged step"]')
            ?.getAttribute('points')
            ?.split(' ').length,
          cells: document.querySelectorAll('#confusion rect.cell').length,
          perClassRows: document.querySelectorAll('#per-class tbody tr').length,
          epochRows: document.querySelectorAll('#epochs tbody tr').length,
          title: document.querySelector('h1')?.textContent,
        };
      });
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      for (const chart of [seen.loss, seen.accuracy, seen.confusion]) {
        expect(chart![0]).toBeGreaterThan(300);
        expect(chart![1]).toBeGreaterThan(200);
      }
      expect(seen.lossMarkers).toBe(2);
      expect(seen.validMarkers).toBe(2);
      expect(seen.lossPoints).toBe(2 * Math.ceil(72 / 16));
      expect(seen.cells).toBe(100);
      expect(seen.perClassRows).toBe(10);
      expect(seen.epochRows).toBe(2);
      expect(seen.title).toBe('reference');
      if (process.env.LIBTORCH_RESNET_SCREENSHOT) {
        await page.screenshot({ path: process.env.LIBTORCH_RESNET_SCREENSHOT, fullPage: true });
      }
    } finally {
      await browser.close();
    }
  });
});
