// SPDX-License-Identifier: MIT
// scripts/find-libtorch.js on made-up LibTorch trees: the version wherever the layout keeps it, and what it says
// when $LIBTORCH holds none.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SCRIPT = path.resolve(__dirname, '../../scripts/find-libtorch.js');

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-find-libtorch-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** A LibTorch root (zip layout) with `files` written relative to it. */
function tree(files: Record<string, string>): string {
  const all: Record<string, string> = {
    'share/cmake/Torch/TorchConfig.cmake': '# config\n',
    'lib/libtorch.so': '',
    ...files,
  };
  for (const [file, text] of Object.entries(all)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text);
  }
  return root;
}

function find(libtorch: string, flag = '--json') {
  return spawnSync(process.execPath, [SCRIPT, flag], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, LIBTORCH: libtorch },
  });
}

const define = (major: number, minor: number, patch: number) =>
  `#define TORCH_VERSION_MAJOR ${major}\n#define TORCH_VERSION_MINOR ${minor}\n#define TORCH_VERSION_PATCH ${patch}\n`;

test('the version from the API header (1.13, the zip)', () => {
  const out = find(tree({ 'include/torch/csrc/api/include/torch/version.h': define(1, 13, 0) }));
  expect(out.status).toBe(0);
  expect(JSON.parse(out.stdout)).toMatchObject({ source: 'LIBTORCH', version: '1.13.0', cuda: false });
});

test("a recent wheel's forwarding stub is skipped for torch/headeronly/version.h", () => {
  const dir = tree({
    'include/torch/csrc/api/include/torch/version.h': '#include <torch/headeronly/version.h>\n',
    'include/torch/headeronly/version.h': define(2, 11, 0),
    'lib/libtorch_cuda.so': '',
  });
  expect(find(dir, '--version').stdout.trim()).toBe('2.11.0');
  expect(JSON.parse(find(dir).stdout)).toMatchObject({ version: '2.11.0', cuda: true });
});

test('TorchConfigVersion.cmake when no header says', () => {
  const dir = tree({ 'share/cmake/Torch/TorchConfigVersion.cmake': 'set(PACKAGE_VERSION "2.6.0")\n' });
  expect(find(dir, '--version').stdout.trim()).toBe('2.6.0');
});

test('$LIBTORCH without a LibTorch: an error listing what was tried and the fixes, nothing picked instead', () => {
  const out = find(path.join(root, 'nowhere'));
  expect(out.status).toBe(1);
  expect(out.stdout).toBe('');
  expect(out.stderr).toContain(`$LIBTORCH: nothing usable at ${path.join(root, 'nowhere')}`);
  expect(out.stderr).toContain('sudo apt-get install libtorch-dev libgloo-dev');
  expect(out.stderr).toContain('set LIBTORCH=/path/to/libtorch');
});
