// SPDX-License-Identifier: MIT
// lib/find-libtorch.js on made-up LibTorch trees: the version wherever the layout keeps it, each source
// ($LIBTORCH, $Torch_DIR, Python torch, the system's) in its turn, and what it says when none holds a LibTorch;
// and scripts/find-libtorch.js, the developers' command, answering exactly as it does.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SCRIPT = path.resolve(__dirname, '../../lib/find-libtorch.js');
const DEVELOPER_SCRIPT = path.resolve(__dirname, '../../scripts/find-libtorch.js');

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

function find(libtorch: string, flag = '--json', script = SCRIPT) {
  return spawnSync(process.execPath, [script, flag], {
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

test('scripts/find-libtorch.js answers as lib/find-libtorch.js does, flag for flag, found or not', () => {
  const dir = tree({
    'include/torch/csrc/api/include/torch/version.h': define(2, 5, 1),
    'lib/libtorch_cuda.so': '',
    'include/gloo/config.h': '',
  });
  const flags = ['', '--json', '--cmake-dir', '--lib-dir', '--include-dirs', '--nccl-include-dir', '--cuda-include-dir', '--libs', '--defines', '--version'];
  for (const libtorch of [dir, path.join(root, 'nowhere')]) {
    for (const flag of flags) {
      const ours = find(libtorch, flag);
      const developers = find(libtorch, flag, DEVELOPER_SCRIPT);
      expect({ flag, status: developers.status, stdout: developers.stdout, stderr: developers.stderr }).toEqual({
        flag,
        status: ours.status,
        stdout: ours.stdout,
        stderr: ours.stderr,
      });
    }
  }
  expect(find(dir, '').stdout).toBe(`LibTorch 2.5.1 (CUDA) from LIBTORCH: ${path.join(dir, 'share/cmake/Torch')}\n`);
  expect(find(dir, '--defines', DEVELOPER_SCRIPT).stdout).toContain('USE_C10D_GLOO');
});

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { findLibtorch } = require(SCRIPT) as {
  findLibtorch(where?: { env?: NodeJS.ProcessEnv; pythons?: string[]; systemCmakeDirs?: string[] }): {
    source: string;
    root: string;
    libDir: string;
    version: string;
  };
};

/** A zip-layout LibTorch at root/<name> with version `v`. */
function libtorchAt(name: string, v: [number, number, number]): string {
  const at = path.join(root, name);
  for (const [file, text] of Object.entries({
    'share/cmake/Torch/TorchConfig.cmake': '# config\n',
    'lib/libtorch.so': '',
    'include/torch/csrc/api/include/torch/version.h': define(...v),
  })) {
    fs.mkdirSync(path.dirname(path.join(at, file)), { recursive: true });
    fs.writeFileSync(path.join(at, file), text);
  }
  return at;
}

/** A Debian-style split install under root/usr: lib/<triplet>/cmake/Torch and include/. */
function systemAt(v: [number, number, number]): string {
  const usr = path.join(root, 'usr');
  const cmakeDir = path.join(usr, 'lib/x86_64-linux-gnu/cmake/Torch');
  fs.mkdirSync(cmakeDir, { recursive: true });
  fs.writeFileSync(path.join(cmakeDir, 'TorchConfig.cmake'), '# config\n');
  fs.writeFileSync(path.join(usr, 'lib/x86_64-linux-gnu/libtorch.so'), '');
  fs.mkdirSync(path.join(usr, 'include/torch/csrc/api/include/torch'), { recursive: true });
  fs.writeFileSync(path.join(usr, 'include/torch/csrc/api/include/torch/version.h'), define(...v));
  return cmakeDir;
}

/** An executable standing in for python3: prints `prefix` as torch.utils.cmake_prefix_path, or fails. */
function fakePython(name: string, prefix: string | null): string {
  const file = path.join(root, name);
  fs.writeFileSync(file, prefix === null ? '#!/bin/sh\nexit 1\n' : `#!/bin/sh\necho '${prefix}'\n`, { mode: 0o755 });
  return file;
}

test('each source in its turn: $LIBTORCH, then $Torch_DIR, then Python torch, then the system', () => {
  const zip = libtorchAt('zip', [2, 5, 1]);
  const cmake = libtorchAt('cmake', [2, 4, 0]);
  const wheel = libtorchAt('site-packages/torch', [2, 11, 0]);
  const noTorch = fakePython('python-without-torch', null);
  const python = fakePython('python-with-torch', path.join(wheel, 'share/cmake'));
  const system = systemAt([1, 13, 1]);
  const where = { pythons: [noTorch, python], systemCmakeDirs: [path.join(root, 'nowhere'), system] };

  const all = { LIBTORCH: zip, Torch_DIR: path.join(cmake, 'share/cmake/Torch') };
  expect(findLibtorch({ ...where, env: all })).toMatchObject({ source: 'LIBTORCH', root: zip, version: '2.5.1' });
  expect(findLibtorch({ ...where, env: { Torch_DIR: all.Torch_DIR } })).toMatchObject({
    source: 'Torch_DIR',
    root: cmake,
    version: '2.4.0',
  });
  expect(findLibtorch({ ...where, env: {} })).toMatchObject({
    source: `python torch (${python})`,
    root: wheel,
    version: '2.11.0',
  });
  expect(findLibtorch({ ...where, env: {}, pythons: [noTorch] })).toMatchObject({
    source: 'system',
    root: path.join(root, 'usr'),
    libDir: path.join(root, 'usr/lib/x86_64-linux-gnu'),
    version: '1.13.1',
  });
});

test('none found: every source tried is listed, with the commands that fix it', () => {
  const noTorch = fakePython('python-without-torch', null);
  const nowhere = path.join(root, 'nowhere/cmake/Torch');
  let error: Error & { tried?: string[] } = new Error('did not throw');
  try {
    findLibtorch({ env: {}, pythons: [noTorch], systemCmakeDirs: [nowhere] });
  } catch (e) {
    error = e as Error & { tried?: string[] };
  }
  expect(error.tried).toEqual([
    '$LIBTORCH: not set',
    '$Torch_DIR: not set',
    `python torch: nothing usable at torch.utils.cmake_prefix_path of ${noTorch}`,
    `system: nothing usable at ${nowhere}`,
  ]);
  expect(error.message).toContain('sudo apt-get install libtorch-dev libgloo-dev');
  expect(error.message).toContain('pip install torch');
  expect(error.message).toContain('set LIBTORCH=/path/to/libtorch');
});

test('a $Torch_DIR that holds none is an error, though Python and the system have one', () => {
  const python = fakePython('python-with-torch', path.join(libtorchAt('wheel', [2, 11, 0]), 'share/cmake'));
  expect(() =>
    findLibtorch({ env: { Torch_DIR: path.join(root, 'typo') }, pythons: [python], systemCmakeDirs: [systemAt([1, 13, 1])] }),
  ).toThrow(`$Torch_DIR: nothing usable at ${path.join(root, 'typo')}`);
});
