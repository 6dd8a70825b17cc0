#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Who runs it: a maintainer before `npm pack` / `npm publish` (as `npm run prebuild`, once per LibTorch to ship
// for), and .ci/run. Builds the release binary with node-gyp through prebuildify, against the LibTorch that
// lib/find-libtorch.js picks, into
//   prebuilds/<platform>-<arch>/libtorch-resnet.torch-<version>-<cpu|cuda>.<libc>.node
// The LibTorch tag keeps prebuilds for several LibTorch builds apart in one package; node-gyp-build ignores it and
// lib/native.ts orders by it. The build runs in a scratch copy of the sources, so cmake-js's build/ survives.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const prebuildify = require('prebuildify');
const { findLibtorch } = require('../lib/find-libtorch.js');

const root = path.resolve(__dirname, '..');

/** The prebuild's name before prebuildify's own tags: the package, then the LibTorch it links against. */
function prebuildName(libtorch) {
  return `libtorch-resnet.torch-${libtorch.version.replace(/\./g, '_')}-${libtorch.cuda ? 'cuda' : 'cpu'}`;
}

function main() {
  const libtorch = findLibtorch();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-prebuild-'));
  // What binding.gyp builds from in a packed package too: scripts/ is not among them.
  for (const entry of ['binding.gyp', 'package.json', 'native', 'lib/find-libtorch.js']) {
    fs.cpSync(path.join(root, entry), path.join(work, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(work, 'node_modules'));
  const name = prebuildName(libtorch);
  // node-gyp reads its --jobs from here; prebuildify passes no such flag.
  process.env.npm_config_jobs = process.env.npm_config_jobs || 'max';
  // Only the Node running this: N-API binaries work on later Node versions too, and node-gyp then uses this
  // Node's headers (npm's nodedir, or the download node-gyp would do anyway).
  prebuildify(
    {
      cwd: work,
      out: root,
      napi: true,
      strip: true,
      tagLibc: true,
      name,
      targets: [process.versions.node],
    },
    (err) => {
      fs.rmSync(work, { recursive: true, force: true });
      if (err) {
        process.stderr.write(`prebuild: ${err.message}\n`);
        process.exit(1);
      }
      const folder = path.join('prebuilds', `${process.platform}-${process.arch}`);
      const written = fs.readdirSync(path.join(root, folder)).find((f) => f.startsWith(`${name}.`));
      if (!written) {
        process.stderr.write(`prebuild: no ${name}.*.node was written to ${folder}\n`);
        process.exit(1);
      }
      const file = path.join(folder, written);
      process.stdout.write(`prebuild: ${file} (LibTorch ${libtorch.version}, ${libtorch.cuda ? 'CUDA' : 'CPU'})\n`);
    },
  );
}

module.exports = { prebuildName };

if (require.main === module) main();
