#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Who runs it: a developer checking that training on an images folder costs what training on CIFAR-10 costs
// (BENCHMARKS.md, "Image folders"). What it does: trains the cifar preset for a few epochs on the CPU, in turns,
// on N records of the binary mini CIFAR-10 archive and on N CIFAR-10 JPEGs as an images folder (decoded
// beforehand, so only the steps are timed), with the same options, and prints one JSON line per run with the
// epochs' training images/s (validation and test excluded), the median of them, and the process's CPU time per
// step of 64 (the whole run's, set-up included, over its steps):
//   npm run build:ts && node scripts/bench-folder-step.js [--images 512] [--epochs 3] [--rounds 2]
// Needs the addon (build/Release), dist/, tar, and ../shared/data (or $LIBTORCH_RESNET_SHARED/data).
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const shared = process.env.LIBTORCH_RESNET_SHARED ?? path.resolve(root, '../shared');

function option(argv, name, fallback) {
  const at = argv.indexOf(name);
  return at >= 0 ? Number(argv[at + 1]) : fallback;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main() {
  const argv = process.argv.slice(2);
  const n = option(argv, '--images', 512), epochs = option(argv, '--epochs', 3), rounds = option(argv, '--rounds', 2);
  const mini = path.join(shared, 'data/cifar-10-binary-mini.tar.gz');
  const jpegs = path.join(shared, 'data/cifar-10-jpeg.tar.gz');
  for (const file of [mini, jpegs]) if (!fs.existsSync(file)) throw new Error(`${file} is missing`);
  const { train } = require(path.join(root, 'dist/index.js'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-bench-step-'));
  try {
    execFileSync('tar', ['-xzf', mini, '-C', dir]);
    execFileSync('tar', ['-xzf', jpegs, '-C', dir, '--wildcards', 'cifar-10-jpeg/train/*/00??.jpg']);
    const images = path.join(dir, 'cifar-10-jpeg/train');
    // Same step for both: no validation or test beyond one record's worth, the batch and recipe of the preset.
    const common = { preset: 'cifar', epochs, batchSize: 64, validSplit: 0, limitTrain: n, limitTest: 1, device: 'cpu', logEvery: 1000 };
    const sources = {
      cifar10: { dataDir: dir, download: false },
      folder: { images },
    };
    // Decoded once beforehand: the decode is measured by bench-decode.js, not here.
    await train({ ...common, ...sources.folder, epochs: 1, limitTrain: 64 });
    for (let round = 0; round < rounds; round++) {
      for (const [name, source] of Object.entries(sources)) {
        // CPU time as well as wall time: other processes on the machine stretch the latter, far less the former.
        const cpuBefore = process.cpuUsage();
        const result = await train({ ...common, ...source });
        const cpu = process.cpuUsage(cpuBefore);
        const cpuMsPerStep = ((cpu.user + cpu.system) / 1000 / (epochs * result.trainSize)) * 64;
        const rates = result.epochs.map((e) => e.imagesPerSecond);
        console.log(
          JSON.stringify({
            data: name,
            round,
            trainSize: result.trainSize,
            classes: result.classes.length,
            epochImagesPerSecond: rates.map((r) => +r.toFixed(1)),
            medianImagesPerSecond: +median(rates).toFixed(1),
            msPerStep: +((64 / median(rates)) * 1000).toFixed(1),
            cpuMsPerStep: +cpuMsPerStep.toFixed(1),
            threads: result.threads,
            device: result.device,
            libtorch: result.libtorchVersion,
          }),
        );
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`bench-folder-step: ${error.stack ?? error}`);
  process.exit(1);
});
