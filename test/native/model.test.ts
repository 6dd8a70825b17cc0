// SPDX-License-Identifier: MIT
// The network itself, through the real addon: sizes, and state-dict names identical to the article's PyTorch model.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { info } from '../../lib/index';
import { loadNative, readBuildInfo } from '../../lib/native';
import { sharedDir } from '../fixtures/cifar';
import { PYTHON, pythonHas } from '../fixtures/python';

const ARTICLE_PARAMETERS = 21_298_314; // stated by the issue, from the article's model

const hasPyTorch = pythonHas('torch', 'torchvision');

function pythonStateDictShapes(preset: 'article' | 'cifar'): Record<string, number[]> {
  const anchors = path.join(sharedDir(), 'anchors');
  const script = [
    'import json, sys',
    `sys.path.insert(0, ${JSON.stringify(anchors)})`,
    'from article_resnet34 import ResNet, ResidualBlock',
    `m = ResNet(ResidualBlock, [3, 4, 6, 3], preset=${JSON.stringify(preset)})`,
    'print(json.dumps({k: list(v.shape) for k, v in m.state_dict().items()}))',
  ].join('\n');
  return JSON.parse(execFileSync(PYTHON, ['-c', script], { encoding: 'utf8' }));
}

describe('ResNet-34 presets', () => {
  const native = loadNative();

  test('article preset has exactly the article model parameter count', () => {
    expect(native.parameterCount('article')).toBe(ARTICLE_PARAMETERS);
  });

  test('cifar preset differs only by its 3x3 stem instead of the 7x7 one', () => {
    const stemDifference = (7 * 7 - 3 * 3) * 3 * 64;
    expect(native.parameterCount('cifar')).toBe(ARTICLE_PARAMETERS - stemDifference);
  });

  test('state-dict keys follow the article: conv1, layer0..layer3, downsample, fc', () => {
    const keys = Object.keys(native.stateDictShapes('article'));
    expect(keys).toEqual(expect.arrayContaining(['conv1.0.weight', 'conv1.0.bias', 'conv1.1.running_mean',
      'layer0.0.conv1.0.weight', 'layer1.0.downsample.0.weight', 'layer3.2.conv2.1.num_batches_tracked', 'fc.bias']));
    expect(keys.filter((k) => k.includes('downsample') && k.endsWith('.0.weight'))).toHaveLength(3);
    expect(native.stateDictShapes('article')['conv1.0.weight']).toEqual([64, 3, 7, 7]);
    expect(native.stateDictShapes('cifar')['conv1.0.weight']).toEqual([64, 3, 3, 3]);
  });

  test('info() reports LibTorch, threads and both presets', async () => {
    const i = await info();
    expect(i.libtorchVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(i.threads).toBeGreaterThanOrEqual(1);
    expect(typeof i.cudaAvailable).toBe('boolean');
    expect(i.cudaDevices).toBe(i.cudaAvailable ? expect.any(Number) : 0);
    expect(i.presets.article.parameters).toBe(ARTICLE_PARAMETERS);
    expect(i.presets.cifar.parameters).toBe(native.parameterCount('cifar'));
  });
});

// CI installs Debian's python3-torch, so there this always runs; elsewhere it needs /usr/bin/python3 with torch.
(hasPyTorch || process.env.CI ? describe : describe.skip)('state dict matches the PyTorch yardstick', () => {
  test.each(['article', 'cifar'] as const)('%s preset: same keys and shapes as article_resnet34.py', (preset) => {
    const ours = loadNative().stateDictShapes(preset);
    const theirs = pythonStateDictShapes(preset);
    expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
    for (const key of Object.keys(theirs)) expect([key, ours[key]]).toEqual([key, theirs[key]]);
  });
});

describe('the build record in the binary', () => {
  test("names the LibTorch the addon runs on, and the folder the build found it in", async () => {
    const file = path.resolve(__dirname, '../../build/Release/torch_resnet.node');
    const build = readBuildInfo(process.env.LIBTORCH_RESNET_ADDON ? path.resolve(process.env.LIBTORCH_RESNET_ADDON) : file);
    expect(build).toBeDefined();
    expect(build!.libtorch).toBe((await info()).libtorchVersion);
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const found = require('../../lib/find-libtorch.js').findLibtorch() as { libDir: string };
    expect(build!.libDir).toBe(found.libDir);
  });
});

describe('the loader', () => {
  test('falls back from a local build that does not load to a prebuild that does, and says which it took', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-loader-'));
    try {
      const real = path.resolve(__dirname, '../../build/Release/torch_resnet.node');
      const prebuilds = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
      fs.mkdirSync(path.join(root, 'build', 'Release'), { recursive: true });
      fs.mkdirSync(prebuilds, { recursive: true });
      // A local build for a LibTorch that is gone, and a prebuild that is the real addon under a prebuild's name.
      fs.writeFileSync(
        path.join(root, 'build', 'Release', 'torch_resnet.node'),
        '@@LIBTORCH_RESNET_BUILD{"libtorch":"9.9.9","libDir":"/gone/lib"}@@',
      );
      fs.copyFileSync(real, path.join(prebuilds, 'libtorch-resnet.torch-1_13_0-cpu.glibc.node'));
      const script = `
        const native = require(${JSON.stringify(path.resolve(__dirname, '../../dist/native.js'))});
        const binding = native.loadNative(${JSON.stringify(root)});
        const { file, origin } = native.loadedAddon();
        console.log(JSON.stringify({ file, origin, parameters: binding.parameterCount('article') }));
      `;
      const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, LIBTORCH_RESNET_ADDON: '' } }));
      expect(loaded).toEqual({
        file: path.join(prebuilds, 'libtorch-resnet.torch-1_13_0-cpu.glibc.node'),
        origin: 'prebuilt',
        parameters: ARTICLE_PARAMETERS,
      });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
