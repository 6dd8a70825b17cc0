// SPDX-License-Identifier: MIT
// `libtorch-resnet eval` and `predict`: what a checkpoint or weights file scores and answers. Their flags are
// EVAL_SPECS' and PREDICT_SPECS'.
import type { Command } from 'commander';

import { EVAL_SPECS, PREDICT_SPECS, resolveEvalConfig, resolvePredictConfig } from '../config';
import { captureCallerStack } from '../errors';
import { runEvaluation } from '../evaluate';
import { runPrediction } from '../predict';
import { formatEvaluation, formatPercent } from '../progress';

import { addFlags, givenFlags } from './flags';
import { commandAction, eventSink, resolveFlags, runInterruptible } from './io';
import type { CliIo, SetExitCode } from './io';

async function evalCommand(opts: Record<string, unknown>, command: Command, io: CliIo): Promise<number> {
  const json = opts.json === true;
  const callerStack = captureCallerStack();
  const controller = new AbortController();
  const { renderer, onProgress } = eventSink(json, io);
  const input = { ...givenFlags(EVAL_SPECS, opts, command), signal: controller.signal, onProgress };
  const config = resolveFlags(EVAL_SPECS, () => resolveEvalConfig(input));
  return runInterruptible(io, controller, renderer, 'evaluation', undefined, async () => {
    const result = await runEvaluation(io.binding, config, callerStack);
    renderer?.stop();
    if (json) io.stdout.write(`${JSON.stringify({ type: 'result', ...result })}\n`);
    else io.stdout.write(formatEvaluation(result));
  });
}

async function predictCommand(images: string[], opts: Record<string, unknown>, command: Command, io: CliIo): Promise<number> {
  const json = opts.json === true;
  const callerStack = captureCallerStack();
  const input = { ...givenFlags(PREDICT_SPECS, opts, command), images };
  const config = resolveFlags(PREDICT_SPECS, () => resolvePredictConfig(input));
  return runInterruptible(io, new AbortController(), undefined, 'prediction', undefined, async () => {
    const predictions = await runPrediction(io.binding, config, callerStack);
    if (json) {
      io.stdout.write(`${JSON.stringify({ type: 'result', predictions })}\n`);
      return;
    }
    for (const p of predictions) {
      const ranked = p.top.map((t) => `${t.label} ${formatPercent(t.probability)}`).join(', ');
      io.stdout.write(`${p.image}: ${ranked}\n`);
    }
  });
}

/** eval and predict. */
export function addScoringCommands(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  const evalCmd = program
    .command('eval')
    .description('Score a checkpoint on the CIFAR-10 test split: accuracy, per-class accuracy, confusion matrix.');
  addFlags(evalCmd, EVAL_SPECS, ['checkpoint'])
    .option('--json', 'Print one JSON object per line: the events, then the result (type "result") last.')
    .action(commandAction(io, setExitCode, (opts: Record<string, unknown>, command: Command) => evalCommand(opts, command, io)));

  const predictCmd = program
    .command('predict')
    .description('Classify PNG or JPEG images with a checkpoint; prints the most probable classes of each.')
    .argument('<image...>', 'PNG or JPEG files');
  addFlags(predictCmd, PREDICT_SPECS, ['checkpoint'])
    .option('--json', 'Print one JSON object: { type: "result", predictions: [...] }.')
    .action(
      commandAction(io, setExitCode, (images: string[], opts: Record<string, unknown>, command: Command) =>
        predictCommand(images, opts, command, io),
      ),
    );
}
