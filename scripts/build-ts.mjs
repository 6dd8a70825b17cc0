#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Who runs it: npm run build:ts (and pretest, prepack). Compiles lib/ into dist/ with tsc, then deletes what dist/
// holds that this compile did not write: a module that moved (lib/config.ts became lib/config/) would otherwise
// stay behind as dist/config.js, which Node loads before dist/config/index.js. Nothing is deleted before tsc has
// written the new files, so tests reading dist/ meanwhile never find it empty.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const out = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json'), '--listEmittedFiles'], {
  encoding: 'utf8',
});
const emitted = new Set(
  out.stdout
    .split('\n')
    .filter((line) => line.startsWith('TSFILE: '))
    .map((line) => path.resolve(line.slice('TSFILE: '.length).trim())),
);
process.stdout.write(out.stdout.split('\n').filter((line) => line && !line.startsWith('TSFILE: ')).join('\n'));
process.stderr.write(out.stderr);
if (out.status !== 0) process.exit(out.status ?? 1);

let stale = 0;
for (const file of fs.readdirSync(dist, { recursive: true, encoding: 'utf8' })) {
  const full = path.join(dist, file);
  if (fs.statSync(full).isFile() && !emitted.has(full)) {
    fs.rmSync(full);
    stale += 1;
  }
}
if (stale > 0) process.stdout.write(`build:ts: removed ${stale} stale file(s) from dist/\n`);
