#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Who runs it: a developer measuring how fast train({ images }) decodes a folder of pictures into its cache (the
// figure BENCHMARKS.md quotes). What it does: extracts N CIFAR-10 JPEGs (from the image-folder copy of CIFAR-10,
// cifar-10-jpeg.tar.gz) into a temp folder, optionally enlarges them to photo-sized JPEGs (--source-side), then
// times prepareImages() from dist/ at each --side, first cold (decoding) and then warm (the cache found), and
// prints one JSON line per side:
//   npm run build:ts && node scripts/bench-decode.js [--count 2000] [--side 32,224] [--source-side 0] [ARCHIVE]
// Needs the TypeScript build (dist/) and tar on the PATH.
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function fail(message) {
  console.error(`bench-decode: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { count: 2000, sides: [32, 224], sourceSide: 0, archive: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--count') args.count = Number(argv[++i]);
    else if (a === '--side') args.sides = argv[++i].split(',').map(Number);
    else if (a === '--source-side') args.sourceSide = Number(argv[++i]);
    else if (!a.startsWith('--')) args.archive = a;
    else fail(`unknown flag ${a}; see the comment at the top of scripts/bench-decode.js`);
  }
  args.archive ??= process.env.LIBTORCH_RESNET_CIFAR_JPEG ?? path.resolve(root, '../shared/data/cifar-10-jpeg.tar.gz');
  if (!fs.existsSync(args.archive)) fail(`no archive at ${args.archive}; pass the path of cifar-10-jpeg.tar.gz`);
  if (!fs.existsSync(path.join(root, 'dist/image-cache.js'))) fail('dist/ is missing; run npm run build:ts first');
  return args;
}

/** The first `count` training JPEGs, spread over the ten classes, as an images folder. */
async function makeFolder(archive, count, sourceSide) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-bench-decode-'));
  const perClass = Math.ceil(count / 10);
  const digits = String(perClass - 1).length;
  execFileSync('tar', ['-xzf', archive, '-C', dir, '--wildcards', `cifar-10-jpeg/train/*/${'0'.repeat(4 - digits)}${'?'.repeat(digits)}.jpg`]);
  const images = path.join(dir, 'cifar-10-jpeg', 'train');
  let kept = 0;
  const sharp = require('sharp');
  for (const c of fs.readdirSync(images).sort()) {
    for (const name of fs.readdirSync(path.join(images, c)).sort()) {
      const file = path.join(images, c, name);
      if (Number(name.slice(0, 4)) >= perClass) fs.rmSync(file);
      else {
        kept++;
        // Photo-sized JPEGs: the CIFAR picture enlarged, so decoding and shrinking cost what a camera's file would.
        if (sourceSide > 0) {
          const bytes = await sharp(file).resize(sourceSide, Math.round(sourceSide * 0.75)).jpeg({ quality: 90 }).toBuffer();
          fs.writeFileSync(file, bytes);
        }
      }
    }
  }
  return { dir, images, kept };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { scanImageFolders } = require(path.join(root, 'dist/config/image-folders.js'));
  const { prepareImages } = require(path.join(root, 'dist/image-cache.js'));
  const { dir, images, kept } = await makeFolder(args.archive, args.count, args.sourceSide);
  try {
    for (const side of args.sides) {
      const layout = scanImageFolders(images);
      let start = process.hrtime.bigint();
      const prepared = await prepareImages(layout, side);
      const cold = Number(process.hrtime.bigint() - start) / 1e9;
      start = process.hrtime.bigint();
      let fromCache = true;
      await prepareImages(scanImageFolders(images), side, { onEvent: (e) => (fromCache &&= e.fromCache) });
      const warm = Number(process.hrtime.bigint() - start) / 1e9;
      const bytes = fs.statSync(prepared.train).size;
      console.log(
        JSON.stringify({
          images: kept,
          sourceSide: args.sourceSide || 32,
          side,
          decodeSeconds: +cold.toFixed(3),
          imagesPerSecond: Math.round(kept / cold),
          secondRunSeconds: +warm.toFixed(3),
          secondRunFromCache: fromCache,
          cacheBytes: bytes,
          bytesPerImage: Math.round(bytes / kept),
          uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE) || 4,
          cpus: os.availableParallelism(),
          node: process.version,
        }),
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => fail(error.stack ?? String(error)));
