#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Who runs it: .ci/run, after each build (cmake-js and node-gyp), to prove that build's .node loads without
// LD_LIBRARY_PATH, builds the article's network, trains a step and writes a checkpoint.  Usage: node scripts/smoke-addon.js FILE.node
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ARTICLE_PARAMETERS = 21298314;

function writeRandomCifar(dir, records) {
  const bytes = Buffer.alloc(records * 3073);
  for (let r = 0; r < records; r++) {
    bytes[r * 3073] = r % 10;
    for (let i = 1; i < 3073; i++) bytes[r * 3073 + i] = (r * 31 + i * 7) & 0xff;
  }
  for (const name of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch'])
    fs.writeFileSync(path.join(dir, `${name}.bin`), bytes);
}

async function main() {
  const file = path.resolve(process.argv[2] || '');
  const addon = require(file);
  const count = addon.parameterCount('article');
  if (count !== ARTICLE_PARAMETERS) throw new Error(`article preset has ${count} parameters, expected ${ARTICLE_PARAMETERS}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-smoke-'));
  writeRandomCifar(dir, 8);
  const options = {
    epochs: 1, lr: 0.01, batchSize: 4, momentum: 0.9, weightDecay: 0.001, validSplit: 0, seed: 1,
    // The cifar recipe's parts, so that the smoke step goes through all of them.
    decayNormAndBias: false, nesterov: true, scheduler: 'onecycle', warmupEpochs: 0.5, labelSmoothing: 0.1,
    augment: 'crop-flip', flipTta: true,
    preset: 'cifar', imageSize: 8, device: 'cpu', threads: 0, precision: 'fp32', memoryFormat: 'auto', dataDir: dir,
    limitTrain: 8, limitTest: 4, logEvery: 1,
    checkpointDir: path.join(dir, 'checkpoints'), resumeFrom: '',
  };
  return new Promise((resolve, reject) => {
    addon.startTraining(options, () => {}, (err, result) => {
      // A throw inside the addon's callback would only warn and exit 0: the outcome settles the promise instead.
      const files = result?.checkpoints;
      const saved = !err && files !== undefined && fs.existsSync(files.last) && fs.existsSync(files.weights);
      fs.rmSync(dir, { recursive: true, force: true });
      if (err) return reject(err);
      if (result.status !== 'completed' || !(result.epochs[0].trainLoss > 0)) {
        return reject(new Error(`bad result ${JSON.stringify(result)}`));
      }
      if (!saved) return reject(new Error(`no checkpoint written: ${JSON.stringify(result)}`));
      console.log(`smoke: ${path.relative(process.cwd(), file)} loads LibTorch ${addon.info().libtorchVersion}, ` +
        `article preset ${count} parameters, trained ${result.trainSize} images (loss ${result.epochs[0].trainLoss.toFixed(3)})`);
      resolve();
    });
  });
}

main().catch((error) => {
  console.error(`smoke: ${error.stack ?? error}`);
  process.exitCode = 1;
});
