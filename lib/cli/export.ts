// SPDX-License-Identifier: MIT
// `libtorch-resnet export`: a checkpoint's network as an ONNX or safetensors file. Its flags are EXPORT_SPECS'.
import type { Command } from 'commander';

import { EXPORT_SPECS, resolveExportConfig } from '../config';
import { captureCallerStack } from '../errors';
import { runExport } from '../export';

import { addFlags, givenFlags } from './flags';
import { commandAction, resolveFlags, runInterruptible } from './io';
import type { CliIo, SetExitCode } from './io';

async function exportCommand(opts: Record<string, unknown>, command: Command, io: CliIo): Promise<number> {
  const json = opts.json === true;
  const callerStack = captureCallerStack();
  const config = resolveFlags(EXPORT_SPECS, () => resolveExportConfig(givenFlags(EXPORT_SPECS, opts, command)));
  return runInterruptible(io, new AbortController(), undefined, 'export', undefined, async () => {
    const result = await runExport(io.binding, config, callerStack);
    if (json) io.stdout.write(`${JSON.stringify({ type: 'result', ...result })}\n`);
    else {
      const what = `${result.preset} preset, ${result.imageSize} px, ${result.classes.length} classes`;
      io.stdout.write(`wrote ${result.out} (${result.format}, ${result.bytes} bytes; ${what})\n`);
    }
  });
}

/** export. */
export function addExportCommand(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  const exportCmd = program
    .command('export')
    .description('Write a checkpoint\'s network as an ONNX graph (normalisation inside) or as safetensors.');
  addFlags(exportCmd, EXPORT_SPECS, ['checkpoint', 'format', 'out'])
    .option('--json', 'Print one JSON object: { type: "result", out, format, bytes, preset, imageSize, classes }.')
    .action(
      commandAction(io, setExitCode, (opts: Record<string, unknown>, command: Command) => exportCommand(opts, command, io)),
    );
}
