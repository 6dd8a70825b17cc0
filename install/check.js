#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Who runs it: npm, as this package's install script (package.json "install"), when a project installs or rebuilds
// libtorch-resnet. Never in a checkout: npm run setup installs with --ignore-scripts and builds with cmake-js itself.
// It lives in install/, not scripts/, because it ships: scripts/ is for developers and CI and is not packed.
//
// It keeps the install light: when a binary already loads (a local build, or a prebuild made for the LibTorch on
// this machine) it is used as it is. It builds from source with node-gyp only when none loads, or when the user
// asks (LIBTORCH or Torch_DIR set, or npm's --build-from-source), and then checks that the new build loads.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const say = (line) => process.stdout.write(`libtorch-resnet: ${line}\n`);

/**
 * Loads the addon as train() would, in a child process (a binary for another LibTorch may crash the process that
 * loads it), and builds the article's network to reach deep into LibTorch. Returns the loaded file or the error.
 */
function probe() {
  const script = `
    const native = require(${JSON.stringify(path.join(root, 'dist', 'native.js'))});
    const binding = native.loadNative();
    binding.parameterCount('article');
    const loaded = native.loadedAddon();
    process.stdout.write(JSON.stringify({ file: loaded.file, origin: loaded.origin, libtorch: binding.info().libtorchVersion }));
  `;
  const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: process.env });
  if (out.status === 0) return { ok: true, ...JSON.parse(out.stdout) };
  return { ok: false, error: (out.stderr || `exit ${out.status ?? out.signal}`).trim() };
}

/** node-gyp: the copy npm runs install scripts with, else one on the PATH. */
function nodeGypCommand() {
  const bundled = process.env.npm_config_node_gyp;
  if (bundled && fs.existsSync(bundled)) return [process.execPath, bundled];
  return ['node-gyp'];
}

function buildFromSource() {
  const found = spawnSync(process.execPath, [path.join(root, 'lib', 'find-libtorch.js')], { encoding: 'utf8' });
  if (found.status !== 0) {
    process.stderr.write(`libtorch-resnet: cannot build the native addon: ${found.stderr}`);
    return 1;
  }
  say(`building the native addon from source against ${found.stdout.trim()} (a few minutes)`);
  const [command, ...args] = nodeGypCommand();
  const build = spawnSync(command, [...args, 'rebuild', '--release', '--jobs=max'], { cwd: root, stdio: 'inherit' });
  if (build.error || build.status !== 0) {
    process.stderr.write(
      `libtorch-resnet: the node-gyp build failed (${build.error ? build.error.message : `exit ${build.status}`}).\n` +
        'It needs a C++20 compiler (g++ 10 or newer), make and Python 3; see the output above.\n',
    );
    return 1;
  }
  return 0;
}

function main() {
  // The published package ships neither tsconfig.json nor sources without dist/: this is a checkout, whose build
  // (cmake-js, into the same build/) is npm run setup's.
  if (fs.existsSync(path.join(root, 'tsconfig.json')) || !fs.existsSync(path.join(root, 'dist', 'native.js'))) {
    say('a source checkout: build it with npm run setup');
    return 0;
  }
  const env = process.env;
  const asked = env.LIBTORCH
    ? `LIBTORCH=${env.LIBTORCH}`
    : env.Torch_DIR
      ? `Torch_DIR=${env.Torch_DIR}`
      : env.npm_config_build_from_source === 'true'
        ? '--build-from-source'
        : '';
  if (!asked) {
    const loaded = probe();
    if (loaded.ok) {
      say(`using ${path.relative(root, loaded.file)} (${loaded.origin}, LibTorch ${loaded.libtorch})`);
      return 0;
    }
    say('no binary in the package loads here; building one');
    if (env.npm_config_loglevel === 'verbose') process.stderr.write(`${loaded.error}\n`);
  } else {
    say(`${asked}: building from source`);
  }
  const status = buildFromSource();
  if (status !== 0) return status;
  const built = probe();
  if (!built.ok) {
    process.stderr.write(`libtorch-resnet: the new build does not load:\n${built.error}\n`);
    return 1;
  }
  say(`built ${path.relative(root, built.file)} against LibTorch ${built.libtorch}`);
  return 0;
}

process.exitCode = main();
