// SPDX-License-Identifier: MIT
// The package as users get it: `npm pack`, then `npm install ./libtorch-resnet-<version>.tgz` into an empty
// project. The prebuilt binary in the tarball loads without a compiler run; require and import both train;
// the bin and the type declarations work; and where no binary in the package loads, npm rebuilds from source.
import { spawnSync } from 'node:child_process';
import type { SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';

import { extractMini, tempDir } from '../fixtures/cifar';

const ROOT = path.resolve(__dirname, '../..');
const PLATFORM = `${process.platform}-${process.arch}`;
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { findLibtorch } = require('../../lib/find-libtorch.js');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { prebuildName } = require('../../scripts/prebuild.js');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const VERSION: string = require('../../package.json').version;

/** The environment without the outer `npm test`'s npm_* variables, which an inner npm would read as its config. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return { ...env, ...extra };
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()): SpawnSyncReturns<string> {
  const out = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (out.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${out.status ?? out.signal}:\n${out.stdout}\n${out.stderr}`);
  }
  return out;
}

/** What a consumer's script prints: the result of a few training steps, as JSON on the last line. */
function trainedResult(out: SpawnSyncReturns<string>): { trainSize: number; testAccuracy: number; epochs: { trainLoss: number }[] } {
  return JSON.parse(out.stdout.trim().split('\n').pop()!);
}

const TRAIN_OPTIONS = (dataDir: string) => ({
  epochs: 1,
  preset: 'cifar',
  batchSize: 8,
  limitTrain: 32,
  limitTest: 16,
  validSplit: 0,
  threads: 2,
  dataDir,
});

let work: string;
let tarball: string;
let project: string;
let installed: string;
let installLog: string;
let dataDir: string;

beforeAll(async () => {
  work = tempDir('ltr-package-');
  dataDir = await extractMini();
  // The tarball carries the prebuild for this machine's LibTorch; make it where the checkout has none yet
  // (.ci/run makes it before the tests).
  const prebuild = path.join(ROOT, 'prebuilds', PLATFORM);
  const name = prebuildName(findLibtorch());
  if (!fs.existsSync(prebuild) || !fs.readdirSync(prebuild).some((f) => f.startsWith(`${name}.`))) {
    run(process.execPath, [path.join(ROOT, 'scripts', 'prebuild.js')], ROOT);
  }
  const packed = run('npm', ['pack', '--json', '--pack-destination', work], ROOT);
  tarball = path.join(work, JSON.parse(packed.stdout)[0].filename);

  project = path.join(work, 'consumer');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  // From npm's cache: the dependencies are the ones the checkout's own npm ci fetched.
  const install = run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', tarball], project);
  installLog = install.stdout + install.stderr;
  installed = path.join(project, 'node_modules', 'libtorch-resnet');
}, 900_000);

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('the tarball holds the compiled API, its types, the bin, the install hook, the sources to rebuild and the prebuild, and no tests or scripts/', async () => {
  const files: string[] = [];
  await tar.t({ file: tarball, onReadEntry: (e) => files.push(e.path.replace(/^package\//, '')) });
  expect(path.basename(tarball)).toBe(`libtorch-resnet-${VERSION}.tgz`);
  for (const file of [
    'dist/index.js',
    'dist/index.d.ts',
    'dist/native.js',
    'bin/libtorch-resnet.js',
    'install/check.js',
    'lib/find-libtorch.js',
    'dist/find-libtorch.js',
    'binding.gyp',
    'CMakeLists.txt',
    'native/core/trainer.cpp',
    'native/binding/addon.cpp',
  ]) {
    expect(files).toContain(file);
  }
  expect(files.filter((f) => f.startsWith(`prebuilds/${PLATFORM}/libtorch-resnet.torch-`))).not.toHaveLength(0);
  // scripts/ is for developers and CI: nothing the package runs, installs or builds with may live there.
  expect(files.filter((f) => /^(test|scripts|\.ci|build|node_modules)\//.test(f))).toEqual([]);
});

test('install takes the prebuilt binary: no compiler runs', () => {
  expect(installLog).toMatch(new RegExp(`libtorch-resnet: using prebuilds/${PLATFORM}/libtorch-resnet\\.torch-\\S+ \\(prebuilt, LibTorch `));
  expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
});

test('CommonJS require trains a few steps', () => {
  const script = `
    const { train } = require('libtorch-resnet');
    train(${JSON.stringify(TRAIN_OPTIONS(dataDir))}).then((r) => console.log(JSON.stringify(r)));
  `;
  const result = trainedResult(run(process.execPath, ['-e', script], project));
  expect(result).toMatchObject({ trainSize: 32, testSize: 16, epochs: [{ epoch: 1 }] });
  expect(result.epochs[0]!.trainLoss).toBeGreaterThan(0);
});

test('ESM import trains a few steps', () => {
  const script = `
    import { train, CIFAR10_CLASSES } from 'libtorch-resnet';
    if (CIFAR10_CLASSES.length !== 10) throw new Error('named exports are missing');
    const r = await train(${JSON.stringify(TRAIN_OPTIONS(dataDir))});
    console.log(JSON.stringify(r));
  `;
  const result = trainedResult(run(process.execPath, ['--input-type=module', '-e', script], project));
  expect(result).toMatchObject({ trainSize: 32, testSize: 16, epochs: [{ epoch: 1 }] });
  expect(result.testAccuracy).toBeGreaterThanOrEqual(0);
});

test('the bin runs: info and doctor name the prebuilt binary', () => {
  const bin = path.join(project, 'node_modules', '.bin', 'libtorch-resnet');
  const about = JSON.parse(run(bin, ['info', '--json'], project).stdout);
  expect(about.libtorchVersion).toBe(findLibtorch().version);
  const doctor = spawnSync(bin, ['doctor', '--json'], { cwd: project, env: cleanEnv(), encoding: 'utf8' });
  const addon = JSON.parse(doctor.stdout).checks.find((c: { name: string }) => c.name === 'addon');
  expect(addon).toMatchObject({ ok: true, detail: expect.stringMatching(/^loads \S+\/prebuilds\/\S+ \(prebuilt\)/) });
});

test('the type declarations ship: a TypeScript consumer compiles, and a wrong option does not', () => {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const compile = (body: string) => {
    fs.writeFileSync(path.join(project, 'consumer.ts'), `import { train, type TrainResult } from 'libtorch-resnet';\n${body}\n`);
    return spawnSync(
      process.execPath,
      [tsc, '--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--skipLibCheck', 'false',
        '--typeRoots', path.join(ROOT, 'node_modules', '@types'), '--types', 'node', 'consumer.ts'],
      { cwd: project, encoding: 'utf8' },
    );
  };
  const good = compile('export const run = async (): Promise<TrainResult> => train({ epochs: 2, lr: 0.01 });');
  expect(good.stdout + good.stderr).toBe('');
  expect(good.status).toBe(0);
  const bad = compile("export const run = () => train({ epochs: 'two' });");
  expect(bad.status).not.toBe(0);
  expect(bad.stdout).toMatch(/consumer\.ts.*Type 'string' is not assignable to type 'number'/);
});

test('where no binary in the package loads, npm rebuild builds one from source, and it trains', () => {
  fs.rmSync(path.join(installed, 'prebuilds'), { recursive: true });
  const rebuild = run('npm', ['rebuild', '--foreground-scripts', 'libtorch-resnet'], project);
  const log = rebuild.stdout + rebuild.stderr;
  expect(log).toContain('libtorch-resnet: no binary in the package loads here; building one');
  expect(log).toMatch(/libtorch-resnet: built build\/Release\/torch_resnet\.node against LibTorch /);
  const script = `
    const { train } = require('libtorch-resnet');
    train(${JSON.stringify({ ...TRAIN_OPTIONS(dataDir), limitTrain: 8 })}).then((r) => console.log(JSON.stringify(r)));
  `;
  expect(trainedResult(run(process.execPath, ['-e', script], project))).toMatchObject({ trainSize: 8, epochs: [{ epoch: 1 }] });
}, 900_000);
