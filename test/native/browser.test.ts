// SPDX-License-Identifier: MIT
// examples/browser in headless Chromium: the page, served with onnxruntime-web's dist/ from loopback, loads a model
// exported from a real (tiny) run and classifies pictures given to its file input; each picture's top class and
// probabilities must be predict()'s, and the 32 px records it made, PyTorch's. The pictures are larger than,
// equal to and smaller than the record, so the page's own area averaging and interpolation are both exercised;
// the network takes 40 px, so the record's bilinear resize to the input size is too.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import { PNG } from 'pngjs';

import { exportModel, predict, train } from '../../lib/index';
import { PLAIN_SGD, extractMini, tempDir } from '../fixtures/cifar';
import { PYTHON, pythonHas } from '../fixtures/python';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createServer } = require('../../examples/browser/serve.cjs') as {
  createServer(options: { model?: string }): import('node:http').Server;
};

const CHROMIUM = process.env.LIBTORCH_RESNET_CHROMIUM ?? '/usr/bin/chromium';
const SIZES: [number, number][] = [[57, 43], [32, 32], [20, 24], [96, 96]];

/** A picture with smooth shapes and some noise (seeded), so averaging and rounding both matter. */
function writePicture(file: string, width: number, height: number, seed: number): string {
  const png = new PNG({ width, height });
  let state = seed;
  const noise = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) % 31) - 15;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      png.data[p] = Math.max(0, Math.min(255, 128 + 100 * Math.sin((x + seed) / 7) + noise()));
      png.data[p + 1] = Math.max(0, Math.min(255, (255 * y) / height + noise()));
      png.data[p + 2] = Math.max(0, Math.min(255, ((x * y + seed * 40) % 256) + noise()));
      png.data[p + 3] = 255;
    }
  }
  fs.writeFileSync(file, PNG.sync.write(png));
  return file;
}

// to_cifar_image in PyTorch: each picture's centre square, adaptive_avg_pool2d (or bilinear interpolation) to 32
// px, rounded: the page's records must be these, byte for byte.
function pythonRecords(pictures: string[]): number[][] {
  const script = [
    'import json, sys, numpy, torch',
    'from PIL import Image',
    'F = torch.nn.functional',
    'out = []',
    'for p in sys.argv[1:]:',
    "    x = torch.from_numpy(numpy.array(Image.open(p).convert('RGB'))).permute(2, 0, 1).unsqueeze(0).float()",
    '    h, w = x.shape[2:]; s = min(h, w); t, l = (h - s) // 2, (w - s) // 2',
    '    x = x[:, :, t:t + s, l:l + s]',
    '    if s > 32: x = F.adaptive_avg_pool2d(x, (32, 32))',
    "    elif s < 32: x = F.interpolate(x, size=(32, 32), mode='bilinear', align_corners=False)",
    '    out.append(x.round().clamp(0, 255).to(torch.uint8).flatten().tolist())',
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(execFileSync(PYTHON, ['-c', script, ...pictures], { encoding: 'utf8' })) as number[][];
}

(fs.existsSync(CHROMIUM) ? describe : describe.skip)(`examples/browser in headless Chromium (${CHROMIUM})`, () => {
  let mini: string;
  let work: string;
  afterAll(() => {
    fs.rmSync(mini, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  test("the page's top classes and probabilities are predict()'s", async () => {
    mini = await extractMini();
    work = tempDir('ltr-browser-');
    const result = await train({
      ...PLAIN_SGD, preset: 'cifar', imageSize: 40, epochs: 1, batchSize: 8, limitTrain: 16, limitTest: 8, validSplit: 0.5,
      flipTta: false, threads: 2, device: 'cpu', dataDir: mini, download: false, runDir: path.join(work, 'run'),
    });
    const model = path.join(work, 'model.onnx');
    await exportModel({ checkpoint: result.checkpoints!.weights, format: 'onnx', out: model });
    const pictures = SIZES.map(([w, h], i) => writePicture(path.join(work, `picture-${i}.png`), w, h, i + 1));
    const predictions = await predict({ checkpoint: result.checkpoints!.weights, images: pictures, flipTta: false, top: 1 });

    const server = createServer({ model });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('response', (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`));
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/?model=model.onnx`);
      await page.waitForSelector('body[data-model="ready"]', { timeout: 60_000 });
      await page.setInputFiles('#image', pictures);
      await page.waitForFunction(() => (window as unknown as { lastResults?: unknown[] }).lastResults?.length === 4, undefined, {
        timeout: 60_000,
      });
      const seen = (await page.evaluate(() => (window as unknown as { lastResults: unknown }).lastResults)) as {
        name: string;
        probabilities: number[];
        record: Record<string, number>;
        top: { label: string }[];
      }[];
      expect(errors).toEqual([]);
      expect(seen.map((s) => s.name)).toEqual(pictures.map((p) => path.basename(p)));
      seen.forEach((s, i) => {
        expect(s.top[0]!.label).toBe(predictions[i]!.top[0]!.label);
        s.probabilities.forEach((p, k) => expect(Math.abs(p - predictions[i]!.probabilities[k]!)).toBeLessThan(1e-4));
      });
      if (pythonHas('torch', 'PIL')) {
        const records = pythonRecords(pictures);
        seen.forEach((s, i) => expect(Object.values(s.record)).toEqual(records[i]));
      }
      const shown = await page.$$eval('table.result', (tables) => tables.map((t) => t.querySelector('tr')?.dataset.label));
      expect(shown).toEqual(predictions.map((p) => p.top[0]!.label));
    } finally {
      await browser.close();
      server.close();
    }
  });
});
