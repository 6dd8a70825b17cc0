// SPDX-License-Identifier: MIT
// The libtorch-resnet command: train (and launch, its multi-process form), eval, predict, export, bench, download, doctor
// and info, one file per group of commands beside this one. Every command's flags come from its option specs in
// lib/config/ (flags.ts makes them), and every config error is a usage error (io.ts's commandAction: exit 2).
import { Command, CommanderError } from 'commander';

import { addBenchCommand } from './bench';
import { addExportCommand } from './export';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, defaultIo, runtimeErrorMessage } from './io';
import type { CliIo, SetExitCode } from './io';
import { addMachineCommands, packageVersion } from './machine';
import { addScoringCommands } from './scoring';
import { addTrainCommands } from './train';

export { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE } from './io';
export type { CliIo } from './io';
export { flagNames, kebabCase } from './flags';
export { defaultRunDir } from './train';

function buildProgram(io: CliIo, setExitCode: SetExitCode): Command {
  const program = new Command();
  program
    .name('libtorch-resnet')
    .description('Train ResNet-34 on CIFAR-10 with LibTorch, on a CUDA GPU or every CPU core.')
    .version(packageVersion(), '-V, --version')
    // Options after a subcommand are that subcommand's, so launch can pass train's flags through.
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError("(run 'libtorch-resnet --help' for usage)")
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
    });

  addTrainCommands(program, io, setExitCode);
  addScoringCommands(program, io, setExitCode);
  addExportCommand(program, io, setExitCode);
  addBenchCommand(program, io, setExitCode);
  addMachineCommands(program, io, setExitCode);
  return program;
}

/**
 * Runs the CLI on `argv` (the arguments after the script name) and resolves with the exit code:
 * 0 done, 1 runtime error, 2 usage error, 130 interrupted.
 *
 * @example
 * const code = await run(['train', '--epochs', '1', '--preset', 'cifar', '--json']);
 */
export async function run(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const fullIo: CliIo = { ...defaultIo(), ...io };
  let exitCode = EXIT_OK;
  const program = buildProgram(fullIo, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    // Commander has already printed its message (unknown option, missing argument, --help, --version).
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    fullIo.stderr.write(runtimeErrorMessage(error));
    return EXIT_FAILURE;
  }
  return exitCode;
}

/**
 * Entry point of bin/libtorch-resnet.js: runs the CLI on process.argv and sets process.exitCode.
 *
 * @example
 * require('libtorch-resnet/dist/cli').main();
 */
export function main(): void {
  void run(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
