#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Who runs it: a developer, around a change to the training loop that must not change its arithmetic. What it does:
// trains a few short CPU runs through the addon (the article's plain SGD, the cifar recipe with every part on,
// the same recipe stopped mid-epoch and resumed) on the real mini CIFAR-10 archive, and prints every step's loss,
// each epoch's loss and validation accuracy, the test confusion matrix and a hash of the final weights file, all
// exactly (17 significant digits). Two builds agree bit for bit when their outputs are identical:
//   node scripts/loss-trace.js build/Release/torch_resnet.node [--cuda-graph on|off|auto] > after.json
//   diff before.json after.json
// About 2 minutes on 2 cores.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tar = require('tar');

const shared = process.env.LIBTORCH_RESNET_SHARED ?? path.resolve(__dirname, '../../shared');

function exact(x) {
  return typeof x === 'number' ? Number(x.toPrecision(17)) : x;
}

function run(addon, options) {
  const trace = { steps: [], epochs: [] };
  return new Promise((resolve, reject) => {
    let stopAfter = options.stopAfterStep;
    delete options.stopAfterStep;
    let handle;
    const onEvent = (e) => {
      if (e.type === 'batchEnd') {
        trace.steps.push([e.epoch, e.step, exact(e.loss), exact(e.accuracy), exact(e.lr)]);
        if (stopAfter !== undefined && e.epoch === stopAfter[0] && e.step === stopAfter[1]) {
          stopAfter = undefined;
          handle.cancel();
        }
      } else if (e.type === 'epochEnd') {
        trace.epochs.push([e.epoch, exact(e.trainLoss), exact(e.validAccuracy)]);
      }
    };
    handle = addon.startTraining(options, onEvent, (err, result) => {
      if (err) return reject(err);
      trace.status = result.status;
      if (result.status === 'completed') {
        trace.confusion = result.confusionMatrix;
        trace.weightsSha256 = crypto.createHash('sha256').update(fs.readFileSync(result.checkpoints.weights)).digest('hex');
      }
      resolve(trace);
    });
  });
}

async function main() {
  const file = path.resolve(process.argv[2] || 'build/Release/torch_resnet.node');
  const flag = process.argv.indexOf('--cuda-graph');
  const cudaGraph = flag > 0 ? process.argv[flag + 1] : undefined;
  const addon = require(file);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-trace-'));
  await tar.x({ file: path.join(shared, 'data/cifar-10-binary-mini.tar.gz'), cwd: dir });
  const base = {
    epochs: 2, lr: 0.01, batchSize: 32, momentum: 0.9, weightDecay: 0.001, validSplit: 0.1, seed: 7,
    decayNormAndBias: true, nesterov: false, scheduler: 'constant', warmupEpochs: 0, labelSmoothing: 0,
    augment: 'none', flipTta: false, preset: 'cifar', imageSize: 16, device: 'cpu', threads: 2, precision: 'fp32',
    memoryFormat: 'auto', dataDir: dir, limitTrain: 330, limitTest: 100, logEvery: 1, checkpointDir: '', resumeFrom: '',
    ...(cudaGraph ? { cudaGraph } : {}),
  };
  const recipe = {
    ...base, lr: 0.05, nesterov: true, decayNormAndBias: false, scheduler: 'onecycle', warmupEpochs: 0.5,
    labelSmoothing: 0.1, augment: 'crop-flip', flipTta: true, weightDecay: 5e-4,
  };
  const out = {};
  out.plain = await run(addon, { ...base, checkpointDir: path.join(dir, 'plain') });
  out.recipe = await run(addon, { ...recipe, checkpointDir: path.join(dir, 'recipe') });
  // Stopped in the middle of epoch 2 (its checkpoint holds the exact position), then resumed to the end.
  const resumed = path.join(dir, 'resumed');
  const stopped = await run(addon, { ...recipe, checkpointDir: resumed, stopAfterStep: [2, 4] });
  const rest = await run(addon, { ...recipe, checkpointDir: resumed, resumeFrom: path.join(resumed, 'last.pt') });
  // Where the stop lands depends on when the cancel reaches the loop; the steps before the resume point and the
  // steps after it do not.
  const [epoch, step] = rest.steps[0];
  const before = stopped.steps.filter(([e, s]) => e < epoch || (e === epoch && s < step));
  out.recipeStoppedAndResumed = { ...rest, steps: [...before, ...rest.steps] };
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify(out, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
