// SPDX-License-Identifier: MIT
// libtorch-resnet doctor: what this machine and this install offer, and for each problem found, the fix.
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';

import { defaultDataDir } from './config';
import { isDatasetReady } from './dataset';
import { findLibtorch } from './find-libtorch';
import { cudaVersionText, cudnnVersionText, loadedAddon, loadNative } from './native';
import type { AddonCandidate, NativeBinding, NativeInfo } from './native';

const execFileAsync = promisify(execFile);

/** One line of the report: what was looked at, what was found, and the fix when it is a problem. */
export interface DoctorCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly fix?: string;
}

export interface DoctorReport {
  /** Whether every check passed. */
  readonly ok: boolean;
  readonly checks: readonly DoctorCheck[];
}

/** What lib/find-libtorch.js answers (its --json). */
export interface FoundLibtorch {
  readonly source: string;
  readonly cmakeDir: string;
  readonly libDir: string;
  readonly version: string;
  readonly cuda: boolean;
  readonly cxx11Abi: number;
  readonly gloo: boolean;
}

/** Where doctor looks; tests replace them. */
export interface DoctorProbes {
  readonly nodeVersion: string;
  readonly env: NodeJS.ProcessEnv;
  /** The LibTorch a build would use, or the error that lists what was tried. */
  findLibtorch(): FoundLibtorch | Error;
  /** The addon, or the error loading it threw. */
  loadBinding(): NativeBinding | Error;
  /** Which binary loadBinding loaded (undefined when it did not, or does not tell). */
  loadedAddon(): AddonCandidate | undefined;
  /** GPU names nvidia-smi lists (empty without a driver). */
  gpuNames(): Promise<string[]>;
  dataReady(dir: string): Promise<boolean>;
}

function errorOf(run: () => unknown): Error | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** The probes of this machine. */
export function machineProbes(): DoctorProbes {
  return {
    nodeVersion: process.versions.node,
    env: process.env,
    findLibtorch: () => {
      let found: FoundLibtorch | undefined;
      const error = errorOf(() => (found = findLibtorch()));
      return error ?? found!;
    },
    loadBinding: () => {
      let binding: NativeBinding | undefined;
      return errorOf(() => (binding = loadNative())) ?? binding!;
    },
    loadedAddon,
    gpuNames: async () => {
      try {
        const { stdout } = await execFileAsync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader']);
        return stdout.split('\n').map((l) => l.trim()).filter(Boolean);
      } catch {
        return [];
      }
    },
    dataReady: (dir) => isDatasetReady(dir).catch(() => false),
  };
}

/** CUDA as the addon's LibTorch sees it, against the GPUs nvidia-smi lists. */
function cudaCheck(info: NativeInfo, gpus: string[]): DoctorCheck {
  const names = gpus.join(', ') || 'names unknown (no nvidia-smi)';
  if (info.cudaRuntimeVersion === 0) {
    return gpus.length === 0
      ? { name: 'cuda', ok: true, detail: 'none (training runs on the CPU)' }
      : {
          name: 'cuda',
          ok: false,
          detail: `this LibTorch has no CUDA, but nvidia-smi lists ${names}`,
          fix:
            'build against a CUDA LibTorch: pip install torch (a CUDA build), then npm rebuild libtorch-resnet ' +
            '(npm run build in a checkout); or unzip the CUDA LibTorch from pytorch.org and set LIBTORCH=/path/to/libtorch',
        };
  }
  const toolkit =
    `CUDA ${cudaVersionText(info.cudaRuntimeVersion)}, ` +
    (info.cudnnVersion > 0 ? `cuDNN ${cudnnVersionText(info.cudnnVersion)}` : 'no cuDNN');
  if (info.cudaAvailable) return { name: 'cuda', ok: true, detail: `${toolkit}; ${info.cudaDevices} device(s): ${names}` };
  // A CUDA LibTorch trains on the CPU where there is no GPU at all; that is a choice, not a fault.
  if (gpus.length === 0) return { name: 'cuda', ok: true, detail: `${toolkit}, but no GPU here (training runs on the CPU)` };
  return {
    name: 'cuda',
    ok: false,
    detail: `LibTorch has ${toolkit} but sees none of the GPUs nvidia-smi lists (${names})`,
    fix:
      `the driver may be too old for CUDA ${cudaVersionText(info.cudaRuntimeVersion)} (nvidia-smi shows the newest ` +
      'CUDA it supports), or CUDA_VISIBLE_DEVICES hides the GPUs',
  };
}

/**
 * Checks Node, the LibTorch a build finds, the addon and the LibTorch it was built with, CUDA and the GPUs,
 * CPU threads, the distributed backends and the data cache; every problem comes with its fix.
 *
 * @example
 * const report = await doctor();
 * for (const c of report.checks) console.log(c.ok ? 'ok ' : 'bad', c.name, c.detail, c.fix ?? '');
 */
export async function doctor(probes: DoctorProbes = machineProbes()): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const add = (check: DoctorCheck) => checks.push(check);

  const [major, minor] = probes.nodeVersion.split('.').map(Number);
  const nodeOk = major! > 20 || (major === 20 && minor! >= 17);
  add({
    name: 'node',
    ok: nodeOk,
    detail: `Node ${probes.nodeVersion}`,
    ...(nodeOk ? {} : { fix: 'install Node 20.17 or newer' }),
  });

  const found = probes.findLibtorch();
  const binding = probes.loadBinding();
  if (found instanceof Error) {
    // A prebuilt binary needs LibTorch's libraries only, not the headers and CMake files a build looks for.
    add(
      binding instanceof Error
        ? { name: 'libtorch', ok: false, detail: 'no LibTorch found for building', fix: found.message.trim() }
        : { name: 'libtorch', ok: true, detail: 'none found for building (not needed while the addon below loads)' },
    );
  } else {
    add({
      name: 'libtorch',
      ok: true,
      detail:
        `LibTorch ${found.version} (${found.cuda ? 'CUDA' : 'CPU'}) from ${found.source}: ${found.libDir}; ` +
        `C++ ABI _GLIBCXX_USE_CXX11_ABI=${found.cxx11Abi}`,
    });
  }

  const gpus = await probes.gpuNames();
  if (binding instanceof Error) {
    add({
      name: 'addon',
      ok: false,
      detail: binding.message.split('\n')[0]!,
      fix:
        'in a checkout: npm run setup (builds the addon against the LibTorch above; installs one where none is ' +
        'found); where the package was installed: npm rebuild libtorch-resnet',
    });
  } else {
    const info = binding.info();
    const loaded = probes.loadedAddon();
    // Only a local build must match the LibTorch a rebuild would use; a prebuild that loads has its own.
    const sameVersion = found instanceof Error || loaded?.origin === 'prebuilt' || found.version === info.libtorchVersion;
    add({
      name: 'addon',
      ok: sameVersion,
      detail:
        `loads${loaded ? ` ${loaded.file} (${loaded.origin})` : ''}; built against LibTorch ${info.libtorchVersion}, ` +
        `_GLIBCXX_USE_CXX11_ABI=${info.cxx11Abi}`,
      ...(sameVersion
        ? {}
        : {
            fix:
              `the LibTorch a build would use now is ${(found as FoundLibtorch).version}: rebuild with npm run build ` +
              '(or set LIBTORCH to the LibTorch the addon was built with)',
          }),
    });
    add(cudaCheck(info, gpus));
    const omp = probes.env.OMP_NUM_THREADS;
    add({
      name: 'threads',
      ok: true,
      detail: `${info.threads} CPU threads by default (${omp ? `OMP_NUM_THREADS=${omp}` : `${os.availableParallelism()} cores`})`,
    });
    const backends = info.distributedBackends;
    const distributedOk = backends.length > 0;
    add({
      name: 'distributed',
      ok: distributedOk,
      detail: distributedOk ? `c10d backends: ${backends.join(', ')}` : 'no c10d backend in this build',
      ...(distributedOk
        ? {}
        : { fix: "for Gloo on Debian's LibTorch: sudo apt-get install libgloo-dev, then npm run build" }),
    });
  }

  const dataDir = defaultDataDir(probes.env);
  const ready = await probes.dataReady(dataDir);
  // Not a problem: train() downloads CIFAR-10 on first use.
  add({
    name: 'data',
    ok: true,
    detail: ready
      ? `${dataDir}: CIFAR-10 ready`
      : `${dataDir}: not there yet; train downloads it on first use, or run libtorch-resnet download --data-dir ${dataDir}`,
  });

  return { ok: checks.every((c) => c.ok), checks };
}
