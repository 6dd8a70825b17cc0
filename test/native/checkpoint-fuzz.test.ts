// SPDX-License-Identifier: MIT
// Damaged checkpoints and weights files never crash the process: 220 copies of real ones, damaged from seeds (bits
// flipped in the zip's structures and in the pickle, random bytes anywhere, truncation followed by garbage, one bit
// of a tensor), each read by evaluate() in a child process that is started again only after a crash. Each must be
// refused with a code of its own or read; a changed tensor bit must always be refused, by the tensor checksum.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { train } from '../../lib/index';
import { PLAIN_SGD, extractMini, tempDir } from '../fixtures/cifar';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { KINDS, layout } = require('../fixtures/damaged-checkpoints.js') as {
  KINDS: string[];
  layout: (bytes: Buffer) => { tensors: unknown[]; pickle?: unknown };
};

const CHILD = path.join(__dirname, '..', 'fixtures', 'damaged-checkpoints.js');
const CASES_PER_FILE = 110;
// Codes that name what is wrong; ERR_NATIVE (an exception nobody classified) is not one.
const NAMED = new Set(['ERR_CHECKPOINT', 'ERR_FILE', 'ERR_FILE_NOT_FOUND']);

interface Case {
  id: number;
  file: string;
  kind: string;
  seed: number;
}
interface Outcome {
  id: number;
  outcome: 'read' | 'refused' | 'crashed';
  code?: string;
  message?: string;
  signal?: string | null;
}

let mini: string;
let work: string;
let files: { last: string; weights: string };

beforeAll(async () => {
  mini = await extractMini();
  work = tempDir('ltr-fuzz-');
  const result = await train({
    ...PLAIN_SGD,
    preset: 'cifar',
    imageSize: 16,
    epochs: 1,
    batchSize: 16,
    limitTrain: 32,
    limitTest: 16,
    validSplit: 0.25,
    threads: 2,
    device: 'cpu',
    dataDir: mini,
    download: false,
    runDir: path.join(work, 'run'),
  });
  files = { last: result.checkpoints!.last, weights: result.checkpoints!.weights };
});
afterAll(() => {
  fs.rmSync(mini, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

// Runs the cases in as few children as crashes allow: a child that dies takes only its case in hand with it.
async function readAll(cases: Case[], scratch: string): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let left = cases;
  while (left.length > 0) {
    const job = JSON.stringify({ cases: left, dataDir: mini, scratch });
    const child = spawn(process.execPath, [CHILD, job], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
      child.on('close', (c, s) => resolve([c, s])),
    );
    const done = out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Outcome);
    outcomes.push(...done);
    left = left.slice(done.length);
    if (left.length === 0) break;
    if (code === 2) throw new Error(`the fuzz child failed on its own: ${err}`);
    outcomes.push({ id: left[0]!.id, outcome: 'crashed', signal, message: err.slice(-2000) });
    left = left.slice(1);
  }
  return outcomes;
}

test(`${2 * CASES_PER_FILE} damaged checkpoints and weights files: none crashes, each is refused by name or read`, async () => {
  // The damage reaches where it is meant to: the files have the records the kinds aim at.
  for (const file of Object.values(files)) {
    const zip = layout(fs.readFileSync(file));
    expect(zip.pickle).toBeDefined();
    expect(zip.tensors.length).toBeGreaterThan(100);
  }
  const cases: Case[] = [];
  for (const [n, file] of [files.last, files.weights].entries())
    for (let i = 0; i < CASES_PER_FILE; i++) {
      const id = n * CASES_PER_FILE + i;
      cases.push({ id, file, kind: KINDS[i % KINDS.length]!, seed: 20261201 + id });
    }
  // Scratch in memory where there is a /dev/shm: each child keeps a copy of both files there (260 MB).
  const scratch = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'ltr-fuzz-'));
  let outcomes: Outcome[];
  try {
    // Two children at a time, one per core: reading a file is mostly waiting on memory.
    const halves = [cases.filter((_, i) => i % 2 === 0), cases.filter((_, i) => i % 2 === 1)];
    outcomes = (await Promise.all(halves.map((half) => readAll(half, scratch)))).flat();
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const byId = new Map(outcomes.map((o) => [o.id, o]));
  expect(byId.size).toBe(cases.length);

  const crashed = outcomes.filter((o) => o.outcome === 'crashed');
  expect(crashed).toEqual([]);
  const unnamed = outcomes.filter((o) => o.outcome === 'refused' && !NAMED.has(o.code!));
  expect(unnamed).toEqual([]);
  // A flipped tensor bit is never read as another model.
  const tensorCases = cases.filter((c) => c.kind === 'tensor-bits');
  for (const c of tensorCases) {
    expect(byId.get(c.id)).toMatchObject({ outcome: 'refused', code: 'ERR_CHECKPOINT' });
    expect(byId.get(c.id)!.message).toMatch(/do not match the checksum written with them/);
  }

  // What happened, by kind, for RELIABILITY.md.
  const tally: Record<string, Record<string, number>> = {};
  for (const c of cases) {
    const o = byId.get(c.id)!;
    const row = (tally[c.kind] ??= {});
    const key = o.outcome === 'refused' ? `refused ${o.code}` : o.outcome;
    row[key] = (row[key] ?? 0) + 1;
  }
  // eslint-disable-next-line no-console
  console.log(JSON.stringify({ fuzz: tally }));
});
