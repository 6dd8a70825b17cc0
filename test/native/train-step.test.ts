// SPDX-License-Identifier: MIT
// The static-buffer training step (native/core/train_step.h), which CUDA captures in a graph, run on the CPU
// without capture: the same batches, the same arithmetic and the same checkpoints as the eager step, bit for bit.
// That is what makes the captured step's logic (buffers filled before each step, the epoch's shorter last batch
// taken eagerly, sums read back every logEvery steps, exact resume) testable without a GPU.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { train } from '../../lib/index';
import type { TrainConfig, TrainEvent, TrainResult } from '../../lib/index';
import { extractMini, tempDir } from '../fixtures/cifar';

let dataDir: string;
let work: string;

beforeAll(async () => {
  dataDir = await extractMini();
  work = tempDir('ltr-step-');
});

afterAll(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

// Every part of the cifar recipe, and 297 training images in batches of 32: nine full batches through the static
// step and a last one of 9 through the eager one, every epoch.
const recipe = (): TrainConfig => ({
  preset: 'cifar',
  imageSize: 16,
  epochs: 2,
  batchSize: 32,
  lr: 0.05,
  momentum: 0.9,
  weightDecay: 5e-4,
  decayNormAndBias: false,
  nesterov: true,
  scheduler: 'onecycle',
  warmupEpochs: 0.5,
  labelSmoothing: 0.1,
  augment: 'crop-flip',
  flipTta: false,
  precision: 'fp32',
  limitTrain: 330,
  limitTest: 100,
  seed: 11,
  logEvery: 1,
  device: 'cpu',
  threads: 2,
  dataDir,
  download: false,
});

interface Run {
  readonly result: TrainResult;
  readonly losses: number[];
  readonly weights: string;
}

async function run(name: string, config: TrainConfig, signalAfterStep?: number): Promise<Run> {
  const losses: number[] = [];
  const controller = new AbortController();
  const onProgress = (e: TrainEvent) => {
    if (e.type !== 'batchEnd') return;
    losses.push(e.loss);
    if (signalAfterStep !== undefined && losses.length === signalAfterStep) controller.abort();
  };
  let result: TrainResult;
  try {
    result = await train({ ...config, runDir: path.join(work, name), onProgress, signal: controller.signal });
  } catch (error) {
    if (signalAfterStep === undefined) throw error;
    return { result: undefined as unknown as TrainResult, losses, weights: '' };
  }
  const weights = crypto.createHash('sha256').update(fs.readFileSync(result.checkpoints!.weights)).digest('hex');
  return { result, losses, weights };
}

describe('the static-buffer step on the CPU', () => {
  let eager: Run;

  beforeAll(async () => {
    eager = await run('eager', { ...recipe(), cudaGraph: false });
  });

  test('takes the same steps as the eager one, bit for bit, and says it captured nothing', async () => {
    const fixed = await run('static', { ...recipe(), cudaGraph: true });
    expect(eager.losses).toHaveLength(20);
    expect(fixed.losses).toEqual(eager.losses);
    expect(fixed.weights).toBe(eager.weights);
    expect(fixed.result.confusionMatrix).toEqual(eager.result.confusionMatrix);
    expect(fixed.result.cudaGraph).toBe(false);
    expect(eager.result.cudaGraph).toBe(false);
    // The check can tell runs apart: another seed gives other losses and other weights.
    const other = await run('static-other-seed', { ...recipe(), cudaGraph: true, seed: 12 });
    expect(other.losses).not.toEqual(eager.losses);
    expect(other.weights).not.toBe(eager.weights);
  });

  test("'auto' on the CPU is the eager step", async () => {
    const auto = await run('auto', { ...recipe(), cudaGraph: 'auto' });
    expect(auto.losses).toEqual(eager.losses);
    expect(auto.result.cudaGraph).toBe(false);
  });

  test('stopped mid-epoch and resumed, it ends where the eager run did', async () => {
    const config = { ...recipe(), cudaGraph: true };
    const stopped = await run('resumed', config, 14);
    expect(stopped.losses.length).toBeGreaterThanOrEqual(14);
    const last = path.join(work, 'resumed', 'checkpoints', 'last.pt');
    expect(fs.existsSync(last)).toBe(true);
    const resumed = await run('resumed', { ...config, resume: last });
    // It stopped in the second epoch (ten steps an epoch), after the 14th step reached JS.
    const from = resumed.result.resumedFrom!;
    expect(from.epoch * 10 + from.step).toBeGreaterThanOrEqual(14);
    expect(from.epoch * 10 + from.step).toBeLessThan(20);
    expect(resumed.weights).toBe(eager.weights);
  });

  test('every epoch reports its validation time apart from its training time, and the run its test time', () => {
    for (const epoch of eager.result.epochs) {
      expect(epoch.validSeconds).toBeGreaterThan(0);
      expect(epoch.validSeconds).toBeLessThan(epoch.seconds + epoch.validSeconds);
    }
    expect(eager.result.testSeconds).toBeGreaterThan(0);
    expect(eager.result.testSeconds).toBeLessThan(eager.result.seconds);
  });
});
