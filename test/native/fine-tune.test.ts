// SPDX-License-Identifier: MIT
// Fine-tuning through the real addon, on the CPU, held against torchvision in Python: the 'torchvision' preset
// is torchvision's resnet34 (keys, shapes, parameter count, FLOPs, logits), init reads Python's
// torch.save(model.state_dict()) and our own files, replaces a classifier of another class count, and refuses
// files of another network; freeze 'backbone' leaves every backbone tensor (BatchNorm statistics too) as init had
// it; a resumed init run does not read its init file again.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { PNG } from 'pngjs';

import { predict, train } from '../../lib/index';
import { resolveConfig } from '../../lib/config';
import { loadNative } from '../../lib/native';
import { extractMini, tempDir } from '../fixtures/cifar';
import { PYTHON, pythonHas } from '../fixtures/python';

const hasTorchvision = pythonHas('torch', 'torchvision');
// CI installs Debian's python3-torch and python3-torchvision, so there this always runs.
const describePython = hasTorchvision || process.env.CI ? describe : describe.skip;

let dataDir: string;
let work: string;

beforeAll(async () => {
  dataDir = await extractMini();
  work = tempDir('ltr-finetune-');
});

afterAll(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

function python(script: string): string {
  return execFileSync(PYTHON, ['-c', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

/** A seeded random torchvision resnet34 with `classes` outputs and random BatchNorm statistics, saved as Python users save one. */
function saveTorchvision(file: string, classes: number, seed: number): void {
  python(
    [
      'import torch, torchvision',
      `torch.manual_seed(${seed})`,
      `m = torchvision.models.resnet34(num_classes=${classes})`,
      // Statistics a trained network would have, so that a copy that skipped them would show.
      'for mod in m.modules():',
      '    if isinstance(mod, torch.nn.BatchNorm2d):',
      '        mod.running_mean.uniform_(-0.1, 0.1); mod.running_var.uniform_(0.5, 1.5)',
      '        mod.weight.data.uniform_(0.5, 1.5); mod.bias.data.uniform_(-0.1, 0.1)',
      '        mod.num_batches_tracked.fill_(1234)',
      `torch.save(m.state_dict(), ${JSON.stringify(file)})`,
    ].join('\n'),
  );
}

/**
 * For every key of `a`'s state dict: whether `b` holds the same tensor exactly (both files read by torch.load).
 */
function sameTensors(a: string, b: string): Record<string, boolean> {
  return JSON.parse(
    python(
      [
        'import json, torch',
        `a = torch.load(${JSON.stringify(a)}); b = torch.load(${JSON.stringify(b)})`,
        'print(json.dumps({k: bool(k in b and b[k].shape == v.shape and torch.equal(b[k], v)) for k, v in a.items()}))',
      ].join('\n'),
    ),
  );
}

// A function: dataDir is known only once beforeAll has run.
const tiny = () => ({
  preset: 'torchvision' as const,
  imageSize: 32,
  epochs: 1,
  batchSize: 16,
  limitTrain: 48,
  limitTest: 16,
  validSplit: 0,
  threads: 2,
  dataDir,
  download: false as const,
});

describePython('the torchvision preset is torchvision.models.resnet34', () => {
  test('same state-dict keys (in the same order) and shapes, parameter count and FLOPs as torchvision', () => {
    const theirs = JSON.parse(
      python(
        [
          'import json, torch, torchvision',
          'm = torchvision.models.resnet34(num_classes=10)',
          'sd = m.state_dict()',
          'params = [k for k, _ in m.named_parameters()]',
          'buffers = [k for k, _ in m.named_buffers()]',
          // Multiply-adds of the convolutions and the classifier at 224 px, counted by hooks on the real modules.
          'macs = []',
          'def conv(mod, i, o): macs.append(o.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1])',
          'def lin(mod, i, o): macs.append(o.numel() * (mod.in_features + 1))',
          'for mod in m.modules():',
          '    if isinstance(mod, torch.nn.Conv2d): mod.register_forward_hook(conv)',
          '    if isinstance(mod, torch.nn.Linear): mod.register_forward_hook(lin)',
          'm.eval(); m(torch.zeros(1, 3, 224, 224))',
          'print(json.dumps({"shapes": {k: list(v.shape) for k, v in sd.items()}, "order": params + buffers,',
          '  "parameters": sum(p.numel() for p in m.parameters()), "flops": 2 * sum(macs)}))',
        ].join('\n'),
      ),
    ) as { shapes: Record<string, number[]>; order: string[]; parameters: number; flops: number };
    const native = loadNative();
    const ours = native.stateDictShapes('torchvision');
    expect(Object.keys(ours)).toEqual(theirs.order);
    for (const key of Object.keys(theirs.shapes)) expect([key, ours[key]]).toEqual([key, theirs.shapes[key]]);
    expect(native.parameterCount('torchvision')).toBe(theirs.parameters);
    expect(native.forwardFlops('torchvision', 224)).toBe(theirs.flops);
  });

  test('init from a Python state dict with freeze backbone: the backbone stays, and predict() gives torchvision\'s probabilities', async () => {
    const init = path.join(work, 'tv10.pt');
    saveTorchvision(init, 10, 1);
    const run = await train({
      ...tiny(),
      imageSize: 64,
      init,
      freeze: 'backbone',
      lr: 0.05,
      runDir: path.join(work, 'frozen'),
    });
    expect(run.init).toEqual({ from: init, headReplaced: false });
    const weights = run.checkpoints!.weights;
    // Every backbone tensor, BatchNorm's running statistics and batch counters included, is the file's; the
    // classifier trained.
    const same = sameTensors(init, weights);
    const backbone = Object.keys(same).filter((k) => !k.startsWith('fc.'));
    expect(backbone).toHaveLength(Object.keys(same).length - 2);
    expect(backbone.filter((k) => !same[k])).toEqual([]);
    expect([same['fc.weight'], same['fc.bias']]).toEqual([false, false]);

    // The same pixels through torchvision in Python, with the run's weights: scaled to [0, 1], resized
    // bilinearly to 64 px, ImageNet's normalisation, eval mode.
    const png = new PNG({ width: 32, height: 32 });
    for (let i = 0; i < png.data.length; i++) png.data[i] = i % 4 === 3 ? 255 : (i * 29 + 7) % 256;
    const file = path.join(work, 'image.png');
    fs.writeFileSync(file, PNG.sync.write(png));
    const rgb = Array.from(png.data).filter((_, i) => i % 4 !== 3);
    const theirs = JSON.parse(
      python(
        [
          'import json, torch, torchvision',
          'import torch.nn.functional as F',
          'm = torchvision.models.resnet34(num_classes=10)',
          `m.load_state_dict(torch.load(${JSON.stringify(weights)})); m.eval()`,
          `x = torch.tensor(${JSON.stringify(rgb)}, dtype=torch.float32).view(32, 32, 3).permute(2, 0, 1).unsqueeze(0) / 255`,
          'x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)',
          'x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)',
          'with torch.no_grad(): print(json.dumps(torch.softmax(m(x), 1)[0].tolist()))',
        ].join('\n'),
      ),
    ) as number[];
    const [ours] = await predict({ checkpoint: weights, images: [file], threads: 2 });
    ours!.probabilities.forEach((p, c) => expect(p).toBeCloseTo(theirs[c]!, 5));

    // The optimizer held the classifier alone: momentum for fc.weight and fc.bias (the last two parameters)
    // only, and its groups name only them, as torch.optim.SGD.state_dict() would for that optimizer.
    const optimizer = JSON.parse(
      python(
        [
          'import json, torch',
          `o = torch.load(${JSON.stringify(run.checkpoints!.last)})["optimizer"]`,
          'print(json.dumps({"state": sorted(o["state"].keys()), "groups": sorted(i for g in o["param_groups"] for i in g["params"])}))',
        ].join('\n'),
      ),
    ) as { state: number[]; groups: number[] };
    const count = Object.keys(same).length - backbone.filter((k) => /running_|num_batches/.test(k)).length;
    expect(optimizer).toEqual({ state: [count - 2, count - 1], groups: [count - 2, count - 1] });
  });

  test('freeze holds in the static (CUDA-graph) step too, and in a 2-process run', async () => {
    const init = path.join(work, 'tv10-static.pt');
    saveTorchvision(init, 10, 4);
    const run = await train({ ...tiny(), init, freeze: 'backbone', cudaGraph: true, runDir: path.join(work, 'static') });
    let same = sameTensors(init, run.checkpoints!.weights);
    expect(Object.keys(same).filter((k) => !k.startsWith('fc.') && !same[k])).toEqual([]);
    expect(same['fc.weight']).toBe(false);

    // Two ranks over Gloo, checking after every step that their weights agree (only fc's gradients are
    // all-reduced; a rank that updated a backbone tensor would diverge).
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = server.address() as net.AddressInfo;
        server.close(() => resolve(p));
      });
    });
    const worker = path.join(__dirname, '..', 'fixtures', 'distributed-train.js');
    const outputs = [0, 1].map((rank) => path.join(work, `ddp-${rank}.json`));
    const exits = await Promise.all(
      [0, 1].map((rank) => {
        // A validation split: a distributed run shards it, and sharding an empty one fails (another issue).
        const options = { ...tiny(), validSplit: 0.2, init, freeze: 'backbone', threads: 1, device: 'cpu', runDir: path.join(work, `ddp-${rank}`), distributed: { checkReplicas: true, timeoutSeconds: 60 } };
        const child = spawn(process.execPath, [worker, JSON.stringify(options), outputs[rank]!], {
          env: { ...process.env, WORLD_SIZE: '2', RANK: String(rank), LOCAL_RANK: String(rank), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), OMP_NUM_THREADS: '1' },
          stdio: 'ignore',
        });
        return new Promise<number | null>((resolve) => child.on('exit', resolve));
      }),
    );
    const [zero, one] = outputs.map((file) => JSON.parse(fs.readFileSync(file, 'utf8')));
    expect([zero.error, one.error]).toEqual([undefined, undefined]);
    expect(exits).toEqual([0, 0]);
    expect(zero.result.init).toEqual({ from: init, headReplaced: false });
    same = sameTensors(init, zero.result.checkpoints.weights);
    expect(Object.keys(same).filter((k) => !k.startsWith('fc.') && !same[k])).toEqual([]);
  });
});

describePython('init', () => {
  test("a 1000-class ImageNet state dict into a 10-class run gets a new seeded classifier and trains", async () => {
    const init = path.join(work, 'tv1000.pt');
    saveTorchvision(init, 1000, 2);
    const options = { ...tiny(), init, seed: 5, lr: 0.01 };
    const a = await train({ ...options, runDir: path.join(work, 'imagenet-a') });
    expect(a.init).toEqual({ from: init, headReplaced: true });
    expect(a.epochs).toHaveLength(1);
    expect(Number.isFinite(a.epochs[0]!.trainLoss)).toBe(true);
    const shapes = JSON.parse(
      python(`import json, torch; print(json.dumps({k: list(v.shape) for k, v in torch.load(${JSON.stringify(a.checkpoints!.weights)}).items()}))`),
    ) as Record<string, number[]>;
    expect([shapes['fc.weight'], shapes['fc.bias']]).toEqual([[10, 512], [10]]);
    // The new head comes from the run's seed: another run with it ends with the same weights.
    const b = await train({ ...options, runDir: path.join(work, 'imagenet-b') });
    expect(Object.values(sameTensors(a.checkpoints!.weights, b.checkpoints!.weights)).every(Boolean)).toBe(true);
  });

  test('init from our own checkpoint and weights file; a resumed init run never reads the init file again', async () => {
    const cifar = { ...tiny(), preset: 'cifar' as const, imageSize: 16 };
    const source = await train({ ...cifar, runDir: path.join(work, 'source') });
    const copy = path.join(work, 'source-last.pt');
    fs.copyFileSync(source.checkpoints!.last, copy);
    for (const init of [copy, source.checkpoints!.weights]) {
      const run = await train({ ...cifar, init, freeze: 'backbone', scheduler: 'constant', warmupEpochs: 0, runDir: path.join(work, `from-${path.basename(init)}`) });
      expect(run.init).toEqual({ from: init, headReplaced: false });
      const same = sameTensors(source.checkpoints!.weights, run.checkpoints!.weights);
      expect(Object.keys(same).filter((k) => !k.startsWith('fc.') && !same[k])).toEqual([]);
    }
    // Resume the run from `copy` for a second epoch, with the init file gone: the checkpoint holds the weights.
    const runDir = path.join(work, `from-${path.basename(copy)}`);
    fs.rmSync(copy);
    const resumed = await train({ resume: path.join(runDir, 'checkpoints', 'last.pt'), epochs: 2, dataDir, download: false, threads: 2 });
    expect(resumed.init).toBeUndefined();
    expect(resumed.resumedFrom).toMatchObject({ epoch: 1 });
    expect(resumed.epochs).toHaveLength(2);
    // Still frozen: the backbone is the source's after two epochs.
    const same = sameTensors(source.checkpoints!.weights, resumed.checkpoints!.weights);
    expect(Object.keys(same).filter((k) => !k.startsWith('fc.') && !same[k])).toEqual([]);
  });

  test('a file of another network, or not a state dict, is refused naming the file, the preset it fits and what to do', async () => {
    const torchvisionFile = path.join(work, 'tv-for-errors.pt');
    saveTorchvision(torchvisionFile, 10, 3);
    await expect(train({ ...tiny(), preset: 'cifar', imageSize: 16, init: torchvisionFile })).rejects.toThrow(
      new RegExp(
        `init file ${torchvisionFile} is a state dict of another network than preset 'cifar' builds .*` +
          "it fits preset 'torchvision': train with preset 'torchvision'",
      ),
    );
    const cifarRun = await train({ ...tiny(), preset: 'cifar', imageSize: 16, runDir: path.join(work, 'cifar-for-errors') });
    await expect(train({ ...tiny(), init: cifarRun.checkpoints!.last })).rejects.toThrow(
      /is a checkpoint of another network than preset 'torchvision' builds .*it fits preset 'cifar'/,
    );
    // A training script's own dict: a state dict among other things.
    const notAStateDict = path.join(work, 'training-dict.pt');
    python(`import torch; torch.save({'epoch': 3, 'fc.weight': torch.zeros(2)}, ${JSON.stringify(notAStateDict)})`);
    await expect(train({ ...tiny(), init: notAStateDict })).rejects.toThrow(/holds no state dict .*torch\.save\(model\.state_dict\(\), path\)/);
    await expect(train({ ...tiny(), init: path.join(work, 'missing.pt') })).rejects.toThrow(/init file .*missing\.pt does not exist/);
  });
});

describe('fine-tuning options are checked before anything runs', () => {
  test('init with resume, and freeze without init, are ConfigErrors naming the option', () => {
    expect(() => resolveConfig({ init: '/a.pt', resume: '/b.pt' })).toThrow(
      expect.objectContaining({ option: 'init', message: expect.stringMatching(/Cannot use init together with resume/) }),
    );
    expect(() => resolveConfig({ freeze: 'backbone' })).toThrow(
      expect.objectContaining({ option: 'freeze', message: expect.stringMatching(/freeze 'backbone' needs init/) }),
    );
    expect(() => resolveConfig({ freeze: 'head' })).toThrow(/Expected one of 'none' or 'backbone' for freeze/);
    expect(() => resolveConfig({ preset: 'torchvision', imageSize: 16 })).toThrow(
      /Expected integer between 32 and 512 \(preset 'torchvision'\) for imageSize/,
    );
    expect(resolveConfig({ preset: 'torchvision' })).toMatchObject({ imageSize: 224, freeze: 'none', init: undefined });
  });
});
