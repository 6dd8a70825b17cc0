// SPDX-License-Identifier: MIT
// loadNative() when the binary cannot be loaded: the error names the LibTorch the binary was built against (read
// from its bytes) and says whether that LibTorch is still there. addonCandidates(): which binaries are tried, in
// which order (the fallback to a real prebuild is in test/native/model.test.ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-native-load-'));
  jest.resetModules();
});
afterEach(() => {
  delete process.env.LIBTORCH_RESNET_ADDON;
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Not an ELF file, so dlopen fails, but with the build record inside, as the real addon has it. */
function fakeAddon(libDir: string): string {
  const file = path.join(dir, 'torch_resnet.node');
  const record = `@@LIBTORCH_RESNET_BUILD{"libtorch":"9.8.7","libDir":"${libDir}"}@@`;
  fs.writeFileSync(file, Buffer.concat([Buffer.from([0x7f, 0x00, 0x01]), Buffer.from(`junk\0${record}\0more`)]));
  return file;
}

function loadError(file: string): Error & { code?: string } {
  process.env.LIBTORCH_RESNET_ADDON = file;
  // A fresh module: loadNative caches what it loaded.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { loadNative } = require('../../lib/native') as typeof import('../../lib/native');
  try {
    loadNative();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected loadNative() to throw');
}

test('a LibTorch that is gone: named, with where it was', () => {
  const file = fakeAddon(path.join(dir, 'gone', 'lib'));
  const error = loadError(file);
  expect(error.code).toBe('ERR_NATIVE_LOAD');
  expect(error.message).toContain(`${file} was built against LibTorch 9.8.7 in ${path.join(dir, 'gone', 'lib')}, which is no longer there.`);
  expect(error.message).toContain(`Tried:\n  - ${file} (explicit): `);
  expect(error.message).toContain('LIBTORCH=/path/to/libtorch npm rebuild libtorch-resnet');
  expect(error.message).toContain('npx libtorch-resnet doctor');
});

test('a LibTorch still in place: the hint points at the library search path instead', () => {
  const libDir = path.join(dir, 'lib');
  fs.mkdirSync(libDir);
  fs.writeFileSync(path.join(libDir, 'libtorch.so'), '');
  const error = loadError(fakeAddon(libDir));
  expect(error.message).toContain(`in ${libDir}, which is still there (another LibTorch may come first: check LD_LIBRARY_PATH)`);
});

test('a binary without the record: the general advice only', () => {
  const file = path.join(dir, 'other.node');
  fs.writeFileSync(file, 'not a shared object');
  const error = loadError(file);
  expect(error.code).toBe('ERR_NATIVE_LOAD');
  expect(error.message).not.toContain('was built against');
  expect(error.message).toContain('npm run setup');
});

test('readBuildInfo parses the record and ignores files without one', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { readBuildInfo } = require('../../lib/native') as typeof import('../../lib/native');
  const file = fakeAddon('/opt/libtorch/lib');
  expect(readBuildInfo(file)).toEqual({ file, libtorch: '9.8.7', libDir: '/opt/libtorch/lib' });
  expect(readBuildInfo(path.join(dir, 'missing.node'))).toBeUndefined();
});

/** A package root with the given files (fake binaries holding build records for the LibTorch in `libDirs`). */
function packageRoot(files: Record<string, string>): string {
  const root = path.join(dir, 'pkg');
  for (const [file, libDir] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), `junk @@LIBTORCH_RESNET_BUILD{"libtorch":"1.0.0","libDir":"${libDir}"}@@`);
  }
  return root;
}

test('candidates: the local build, then the prebuilds whose LibTorch is here, CUDA before CPU; others are skipped', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { addonCandidates } = require('../../lib/native') as typeof import('../../lib/native');
  const here = path.join(dir, 'libtorch', 'lib');
  fs.mkdirSync(here, { recursive: true });
  fs.writeFileSync(path.join(here, 'libtorch.so.1.13'), '');
  const gone = path.join(dir, 'gone');
  const platform = `prebuilds/${process.platform}-${process.arch}`;
  const root = packageRoot({
    [`${platform}/libtorch-resnet.torch-2_11_0-cuda.glibc.node`]: gone,
    [`${platform}/libtorch-resnet.torch-1_13_1-cpu.glibc.node`]: here,
    [`${platform}/libtorch-resnet.torch-2_6_0-cuda.glibc.node`]: here,
    [`${platform}/libtorch-resnet.torch-1_13_1-cpu.musl.node`]: here,
    [`${platform}/libtorch-resnet.torch-1_13_1-cpu.electron.abi1.node`]: here,
    [`${platform}/readme.txt`]: here,
    'prebuilds/sunos-mips/libtorch-resnet.torch-1_13_1-cpu.node': here,
    'build/Release/torch_resnet.node': gone,
  });
  const candidates = addonCandidates(root, {});
  expect(candidates.map((c) => [path.relative(root, c.file), c.origin])).toEqual([
    ['build/Release/torch_resnet.node', 'local'],
    [`${platform}/libtorch-resnet.torch-2_6_0-cuda.glibc.node`, 'prebuilt'],
    [`${platform}/libtorch-resnet.torch-1_13_1-cpu.glibc.node`, 'prebuilt'],
    [`${platform}/libtorch-resnet.torch-2_11_0-cuda.glibc.node`, 'prebuilt'],
  ]);
  expect(candidates[1]!.build).toMatchObject({ libtorch: '1.0.0', libDir: here });
  // An explicit file is the only one tried.
  expect(addonCandidates(root, { LIBTORCH_RESNET_ADDON: 'x.node' }).map((c) => c.origin)).toEqual(['explicit']);
});

test('none loads: the error lists every binary tried with its LibTorch; none at all: says where it looked', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { loadNative } = require('../../lib/native') as typeof import('../../lib/native');
  const platform = `prebuilds/${process.platform}-${process.arch}`;
  const gone = path.join(dir, 'gone');
  const root = packageRoot({
    'build/Release/torch_resnet.node': gone,
    [`${platform}/libtorch-resnet.torch-1_13_1-cpu.glibc.node`]: gone,
  });
  let message = '';
  try {
    loadNative(root);
  } catch (error) {
    message = (error as Error).message;
    expect((error as { code?: string }).code).toBe('ERR_NATIVE_LOAD');
  }
  const lines = message.split('\n');
  const tried = lines.filter((l) => l.startsWith('  - '));
  expect(tried).toEqual([
    expect.stringMatching(new RegExp(`^  - ${root}/build/Release/torch_resnet.node \\(local\\): .+`)),
    expect.stringMatching(new RegExp(`^  - ${root}/${platform}/libtorch-resnet.torch-1_13_1-cpu.glibc.node \\(prebuilt\\): .+`)),
  ]);
  expect(message.match(/built against LibTorch 1\.0\.0 in .*gone, which is no longer there\./g)).toHaveLength(2);

  fs.rmSync(root, { recursive: true });
  fs.mkdirSync(root);
  try {
    loadNative(root);
  } catch (error) {
    message = (error as Error).message;
  }
  expect(message).toContain(`There is no build (${root}/build/Release/torch_resnet.node) and no prebuilt binary for ${process.platform}-${process.arch}`);
});
