// SPDX-License-Identifier: MIT
// `libtorch-resnet bench` (npm run bench): our training step timed against the article's PyTorch program and the
// plain-PyTorch peer. Its flags are BENCH_SPECS'.
import type { Command } from 'commander';

import { reproduceCommand, runBenchmark } from '../bench';
import { BENCH_SPECS, resolveBenchConfig } from '../config';
import { getBinding } from '../job';

import { addFlags, givenFlags } from './flags';
import { commandAction, resolveFlags, runInterruptible } from './io';
import type { CliIo, SetExitCode } from './io';

async function benchCommand(opts: Record<string, unknown>, command: Command, io: CliIo): Promise<number> {
  const json = opts.json === true;
  const config = resolveFlags(BENCH_SPECS, () => resolveBenchConfig(givenFlags(BENCH_SPECS, opts, command)));
  const log = (line: string) => void (json ? io.stderr : io.stdout).write(`${line}\n`);
  return runInterruptible(io, new AbortController(), undefined, 'benchmark', undefined, async () => {
    log(
      `timing ${config.rounds} x ${config.steps} training steps (after ${config.warmup} warm-up steps), ` +
        `preset ${config.preset} at ${config.imageSize} px, batch ${config.batchSize}, ${config.precision}, ` +
        `memory format ${config.memoryFormat}, cudaGraph ${config.cudaGraph === 'auto' ? "'auto'" : config.cudaGraph}`,
    );
    const report = await runBenchmark(
      getBinding(io.binding),
      config,
      (round, i) => {
        const yardstick = round.yardstick === null ? '' : `, yardstick ${round.yardstick.toFixed(2)} img/s`;
        log(`round ${i + 1}/${config.rounds}: ours ${round.ours.toFixed(2)} img/s${yardstick}`);
      },
      (data) =>
        log(
          data.data === 'generated'
            ? `data: generated, ${data.records} records (no CIFAR-10 at ${data.dataDir}; --download to fetch it)`
            : `data: CIFAR-10 at ${data.dataDir}`,
        ),
    );
    if (report.yardstickSkipped) log(`yardstick not run: ${report.yardstickSkipped}`);
    log(
      `ours ${report.ours.toFixed(2)} img/s` +
        (report.yardstick === null
          ? ''
          : `, yardstick ${report.yardstick.toFixed(2)} img/s (torch ${report.yardstickTorch}), ` +
            `ratio ${report.ratio!.toFixed(2)}x`) +
        ` on ${report.device}, ${report.threads} threads, LibTorch ${report.libtorchVersion}`,
    );
    log(
      `step: ${(report.gpuMsPerStep ?? (1000 * report.batchSize) / report.ours).toFixed(1)} ms` +
        `${report.gpuMsPerStep === null ? '' : ' on the GPU'}, host issues it in ${report.hostMsPerStep.toFixed(1)} ms ` +
        `(${report.cudaGraph ? 'captured in a CUDA graph' : 'eager'})`,
    );
    if (report.peer !== null) {
      if (report.peerSkipped) log(`peer not run: ${report.peerSkipped}`);
      else {
        const versus = (name: string, rate: number | null) =>
          rate === null ? '' : `, peer ${name} ${rate.toFixed(2)} img/s (ours ${(report.ours / rate).toFixed(2)}x)`;
        log(
          `ours ${report.ours.toFixed(2)} img/s${versus('eager', report.peer.eager)}` +
            `${versus(`compiled (${report.peer.mode})`, report.peer.compiled)}, peer on torch ${report.peer.torch}`,
        );
        if (report.peerCompiledSkipped) log(`peer compiled run: ${report.peerCompiledSkipped}`);
      }
    }
    log(
      `data path alone: ${report.dataBatchesPerSecond.toFixed(1)} batches/s, ` +
        `${(100 * report.dataFraction).toFixed(2)}% of a training step`,
    );
    log(
      `model FLOPs: ${report.trainGflopsPerImage.toFixed(2)} GFLOP per training image, ${report.tflops.toFixed(2)} TFLOP/s` +
        (report.mfu === null
          ? ' (no peak known for this device: pass --peak-tflops for the utilisation)'
          : `, MFU ${(100 * report.mfu).toFixed(1)}% of ${report.peakTflops} TFLOP/s (${report.peakSource})`) +
        (report.channelsLast ? ', channels-last' : ''),
    );
    log(`reproduce: ${reproduceCommand(report)}`);
    if (json) io.stdout.write(`${JSON.stringify(report)}\n`);
  });
}

export function addBenchCommand(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  const benchCmd = program
    .command('bench')
    .description("Time training steps against the article's PyTorch program on this machine (npm run bench).");
  addFlags(benchCmd, BENCH_SPECS)
    .option('--json', 'Print the report as one JSON object, the last line on stdout (progress goes to stderr).')
    .action(commandAction(io, setExitCode, (opts: Record<string, unknown>, command: Command) => benchCommand(opts, command, io)));
}
