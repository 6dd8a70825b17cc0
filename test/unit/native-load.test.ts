// SPDX-License-Identifier: MIT
// loadNative() when the binary cannot be loaded: the error names the LibTorch the binary was built against (read
// from its bytes) and says whether that LibTorch is still there.
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
  expect(error.message).toContain('LIBTORCH=/path/to/libtorch npm run build');
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
