// SPDX-License-Identifier: MIT
// `libtorch-resnet download`, `doctor` and `info`: the data and the machine. download's flags are DOWNLOAD_SPECS'.
import fs from 'node:fs';
import path from 'node:path';

import type { Command } from 'commander';

import { createApi } from '../api';
import { DOWNLOAD_SPECS, defaultDataDir, resolveDownloadCommand } from '../config';
import { prepareDataset } from '../dataset';
import { doctor, machineProbes } from '../doctor';
import { getBinding } from '../job';
import { formatCount } from '../progress';

import { addFlags, givenFlags } from './flags';
import { EXIT_FAILURE, EXIT_OK, commandAction, eventSink, resolveFlags, runInterruptible, runtimeErrorMessage } from './io';
import type { CliIo, SetExitCode } from './io';

/** This package's version, from its package.json. */
export function packageVersion(): string {
  // dist/cli/ and lib/cli/ both sit two levels below package.json.
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

async function downloadCommand(opts: Record<string, unknown>, command: Command, io: CliIo): Promise<number> {
  const json = opts.json === true;
  const { renderer, onProgress } = eventSink(json, io);
  const aliases = { 'download.url': '--url', 'download.md5': '--md5' };
  const config = resolveFlags(DOWNLOAD_SPECS, () => resolveDownloadCommand(givenFlags(DOWNLOAD_SPECS, opts, command)), aliases);
  const controller = new AbortController();
  return runInterruptible(io, controller, renderer, 'download', undefined, async () => {
    const dir = await prepareDataset(config.dataDir, {
      download: config.download,
      onProgress,
      signal: controller.signal,
    });
    renderer?.stop();
    if (json) io.stdout.write(`${JSON.stringify({ type: 'result', dataDir: dir })}\n`);
    else io.stdout.write(`CIFAR-10 is ready in ${dir}\n`);
  });
}

async function doctorCommand(opts: Record<string, unknown>, io: CliIo): Promise<number> {
  const report = await doctor({
    ...machineProbes(),
    loadBinding: () => {
      try {
        return getBinding(io.binding);
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error));
      }
    },
  });
  if (opts.json === true) {
    io.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    for (const check of report.checks) {
      io.stdout.write(`${check.ok ? 'ok     ' : 'PROBLEM'} ${check.name.padEnd(12)} ${check.detail}\n`);
      if (check.fix) io.stdout.write(`${' '.repeat(21)}fix: ${check.fix.replace(/\n/g, `\n${' '.repeat(26)}`)}\n`);
    }
    io.stdout.write(report.ok ? 'Everything needed is in place.\n' : 'Fix the problems above, then run doctor again.\n');
  }
  return report.ok ? EXIT_OK : EXIT_FAILURE;
}

async function infoCommand(opts: Record<string, unknown>, io: CliIo): Promise<number> {
  try {
    const about = await createApi(io.binding).info();
    if (opts.json === true) {
      io.stdout.write(`${JSON.stringify(about)}\n`);
      return EXIT_OK;
    }
    const toolkit = [
      about.cudaVersion && `CUDA ${about.cudaVersion}`,
      about.cudnnVersion && `cuDNN ${about.cudnnVersion}`,
    ].filter(Boolean);
    const cuda =
      (about.cudaAvailable ? `available, ${about.cudaDevices} device(s)` : 'not available') +
      (toolkit.length > 0 ? ` (built with ${toolkit.join(', ')})` : '');
    io.stdout.write(
      [
        `libtorch-resnet  ${packageVersion()}`,
        `LibTorch         ${about.libtorchVersion}`,
        `CUDA             ${cuda}`,
        `CPU threads      ${about.threads}`,
        `distributed      ${about.distributedBackends.length > 0 ? about.distributedBackends.join(', ') : 'none in this build'}`,
        `parameters       article ${formatCount(about.presets.article.parameters)}, ` +
          `cifar ${formatCount(about.presets.cifar.parameters)}`,
        `data folder      ${defaultDataDir()} (default)`,
        '',
      ].join('\n'),
    );
    return EXIT_OK;
  } catch (error) {
    io.stderr.write(runtimeErrorMessage(error));
    return EXIT_FAILURE;
  }
}

/** download, doctor and info. */
export function addMachineCommands(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  const downloadCmd = program
    .command('download')
    .description('Download, verify and extract CIFAR-10 into the data folder (nothing is fetched when it is there).');
  addFlags(downloadCmd, DOWNLOAD_SPECS)
    .option('--json', 'Print one JSON object per line: every download event, then the result (type "result") last.')
    .action(commandAction(io, setExitCode, (opts: Record<string, unknown>, command: Command) => downloadCommand(opts, command, io)));

  program
    .command('doctor')
    .description('Check Node, LibTorch, the addon, CUDA, threads, distributed backends and the data cache; each problem comes with its fix (exit 1 when there is one).')
    .option('--json', 'Print the report as JSON: { ok, checks: [{ name, ok, detail, fix? }] }.')
    .action(commandAction(io, setExitCode, (opts: Record<string, unknown>) => doctorCommand(opts, io)));

  program
    .command('info')
    .description('Show the LibTorch version, CUDA devices, CPU threads and parameter counts.')
    .option('--json', 'Print the result of info() as JSON.')
    .action(commandAction(io, setExitCode, (opts: Record<string, unknown>) => infoCommand(opts, io)));
}
