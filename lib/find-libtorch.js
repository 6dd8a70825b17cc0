// SPDX-License-Identifier: MIT
// Who runs it: CMakeLists.txt (cmake-js) and binding.gyp (node-gyp) at build time, install/check.js when a user's
// npm install builds from source, and lib/native.ts and lib/doctor.ts at run time; scripts/find-libtorch.js runs
// it for developers. It answers one question for all of them: which LibTorch to compile and link against. It never
// downloads. Plain JavaScript (JSDoc for the types), because the builds run it before any TypeScript is compiled.
//
// Order: $LIBTORCH (a LibTorch root: include/, lib/, share/cmake/Torch), $Torch_DIR (the folder holding
// TorchConfig.cmake), a Python torch install (torch.utils.cmake_prefix_path), the system's (Debian's libtorch-dev).
//
//   node lib/find-libtorch.js             human-readable answer
//   node lib/find-libtorch.js --json      everything, as JSON
//   node lib/find-libtorch.js --cmake-dir | --lib-dir | --include-dirs | --nccl-include-dir | --cuda-include-dir
//                             | --libs | --defines | --version
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

/**
 * A LibTorch a build can use.
 * @typedef {object} Libtorch
 * @property {string} source Where it was found: LIBTORCH, Torch_DIR, `python torch (<python>)` or system.
 * @property {string} root
 * @property {string} cmakeDir The folder holding TorchConfig.cmake.
 * @property {string} libDir
 * @property {string[]} includeDirs
 * @property {string} version
 * @property {boolean} cuda
 * @property {number} cxx11Abi The libstdc++ ABI it was built with (_GLIBCXX_USE_CXX11_ABI).
 * @property {boolean} gloo Whether gloo's headers are at hand (c10d's Gloo backend).
 * @property {string} ncclIncludeDir Where nccl.h is, on CUDA; '' when nowhere.
 * @property {string} cudaIncludeDir Where CUDA's runtime headers are when it can capture CUDA graphs; '' otherwise.
 */

/**
 * The answer of findLibtorch: the LibTorch, and the sources tried before the one that held it.
 * @typedef {Libtorch & { tried: string[] }} FoundLibtorch
 */

/**
 * What findLibtorch looks at instead of this machine's (tests use it).
 * @typedef {object} Where
 * @property {NodeJS.ProcessEnv} [env]
 * @property {string[]} [pythons]
 * @property {string[]} [systemCmakeDirs]
 */

const SYSTEM_CMAKE_DIRS = [
  '/usr/lib/x86_64-linux-gnu/cmake/Torch',
  '/usr/lib/aarch64-linux-gnu/cmake/Torch',
  '/usr/lib/cmake/Torch',
  '/usr/local/lib/cmake/Torch',
];

/**
 * LibTorch's version: from the header that defines it (1.13 and the zip: torch/csrc/api/include/torch/version.h;
 * recent wheels keep only a forwarding stub there and the numbers in torch/headeronly/version.h), else from
 * TorchConfigVersion.cmake. null when neither says.
 * @param {string} includeRoot
 * @param {string} cmakeDir
 * @returns {string | null}
 */
function torchVersion(includeRoot, cmakeDir) {
  for (const header of ['torch/csrc/api/include/torch/version.h', 'torch/version.h', 'torch/headeronly/version.h']) {
    let text;
    try {
      text = fs.readFileSync(path.join(includeRoot, header), 'utf8');
    } catch {
      continue;
    }
    const parts = ['MAJOR', 'MINOR', 'PATCH'].map((n) => (new RegExp(`TORCH_VERSION_${n}\\s+(\\d+)`).exec(text) || [])[1]);
    if (parts.every((p) => p !== undefined)) return parts.join('.');
  }
  try {
    const config = fs.readFileSync(path.join(cmakeDir, 'TorchConfigVersion.cmake'), 'utf8');
    return (/PACKAGE_VERSION\s+"(\d+\.\d+\.\d+)/.exec(config) || [])[1] ?? null;
  } catch {
    return null;
  }
}

/**
 * The LibTorch library in `libDir` (its file name), or null. A build links against the unversioned libtorch.so
 * (or .dylib); a binary already built needs only what the loader opens, which may be a versioned file (Debian's
 * libtorch.so.1.13). lib/native.ts asks the second question of the folder a binary was built against.
 * @param {string} libDir
 * @param {{ forLinking?: boolean }} [options]
 * @returns {string | null}
 */
function libtorchLibrary(libDir, { forLinking = false } = {}) {
  let names;
  try {
    names = fs.readdirSync(libDir);
  } catch {
    return null;
  }
  const pattern = forLinking ? /^libtorch\.(so|dylib)$/ : /^libtorch\.(so(\.[\d.]+)?|dylib)$/;
  return names.find((name) => pattern.test(name)) ?? null;
}

/**
 * A LibTorch laid out as the zip, a pip wheel or a Debian-style split install.
 * @param {string} source
 * @param {string} cmakeDir
 * @param {string} root
 * @param {string} includeRoot
 * @param {string} libDir
 * @returns {Libtorch | null}
 */
function describe(source, cmakeDir, root, includeRoot, libDir) {
  const linkable = libtorchLibrary(libDir, { forLinking: true }) !== null;
  if (!fs.existsSync(path.join(cmakeDir, 'TorchConfig.cmake')) || !linkable) return null;
  const version = torchVersion(includeRoot, cmakeDir);
  if (!version) return null;
  const cuda = fs.existsSync(path.join(libDir, 'libtorch_cuda.so'));
  // The libstdc++ ABI LibTorch was built with (TORCH_CXX_FLAGS); recent configs set none, meaning g++'s default, 1.
  const config = fs.readFileSync(path.join(cmakeDir, 'TorchConfig.cmake'), 'utf8');
  const cxx11Abi = Number((/_GLIBCXX_USE_CXX11_ABI=(\d)/.exec(config) || [])[1] ?? 1);
  // c10d's backends need headers LibTorch itself may not ship: gloo's (Debian's libgloo-dev; pip wheels have
  // none) and, on CUDA, nccl.h (pip's nvidia-nccl package beside torch, or a system install).
  const glooInclude = [includeRoot, '/usr/include', '/usr/local/include'].find((d) =>
    fs.existsSync(path.join(d, 'gloo/config.h')),
  );
  const ncclIncludeDir = cuda
    ? [path.resolve(root, '../nvidia/nccl/include'), '/usr/include', '/usr/local/cuda/include'].find((d) =>
        fs.existsSync(path.join(d, 'nccl.h')),
      )
    : undefined;
  // CUDA graphs (native/core/cuda/) need LibTorch 2.4 or newer with CUDA, and the CUDA runtime's headers: pip's
  // nvidia packages beside torch, or a CUDA toolkit.
  const [major, minor] = version.split('.').map(Number);
  const cudaIncludeDir =
    cuda && (major > 2 || (major === 2 && minor >= 4))
      ? [
          path.resolve(root, '../nvidia/cuda_runtime/include'),
          path.resolve(root, '../nvidia/cu13/include'),
          '/usr/local/cuda/include',
          '/usr/include',
        ].find((d) => fs.existsSync(path.join(d, 'cuda_runtime_api.h')))
      : undefined;
  return {
    source,
    root,
    cmakeDir,
    libDir,
    includeDirs: [includeRoot, path.join(includeRoot, 'torch/csrc/api/include')],
    version,
    cuda,
    cxx11Abi,
    gloo: glooInclude !== undefined,
    ncclIncludeDir: ncclIncludeDir ?? '',
    cudaIncludeDir: cudaIncludeDir ?? '',
  };
}

/**
 * @param {string} source
 * @param {string} root
 * @returns {Libtorch | null}
 */
function fromRoot(source, root) {
  return describe(source, path.join(root, 'share/cmake/Torch'), root, path.join(root, 'include'), path.join(root, 'lib'));
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @returns {Libtorch | null}
 */
function fromEnvLibtorch(env) {
  const root = env.LIBTORCH;
  return root ? fromRoot('LIBTORCH', path.resolve(root)) : null;
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @returns {Libtorch | null}
 */
function fromEnvTorchDir(env) {
  const dir = env.Torch_DIR;
  return dir ? fromRoot('Torch_DIR', path.resolve(dir, '../../..')) : null;
}

/**
 * @param {string[]} pythons
 * @returns {Libtorch | null}
 */
function fromPython(pythons) {
  for (const python of pythons) {
    try {
      const prefix = execFileSync(python, ['-c', 'import torch.utils; print(torch.utils.cmake_prefix_path)'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 60000,
      }).trim();
      // cmake_prefix_path is <torch>/share/cmake; Debian's python3-torch points at a folder that does not exist.
      const found = fromRoot(`python torch (${python})`, path.resolve(prefix, '../..'));
      if (found) return found;
    } catch {
      // No torch for this interpreter: try the next one.
    }
  }
  return null;
}

/**
 * @param {string[]} cmakeDirs
 * @returns {Libtorch | null}
 */
function fromSystem(cmakeDirs) {
  for (const cmakeDir of cmakeDirs) {
    const libDir = path.resolve(cmakeDir, '../..');
    // The prefix holding include/: /usr for /usr/lib/x86_64-linux-gnu and for /usr/lib.
    const prefix = libDir.replace(/\/lib(\/[^/]+-linux-gnu)?$/, '');
    const found = describe('system', cmakeDir, prefix, path.join(prefix, 'include'), libDir);
    if (found) return found;
  }
  return null;
}

/**
 * The LibTorch a build uses: the first source that holds one, in the order at the top of this file. An explicit
 * $LIBTORCH or $Torch_DIR that holds none is an error, never a reason to pick another LibTorch silently. Throws an
 * error listing what was tried and the commands that fix it. `where` replaces what is looked at (tests use it).
 * @param {Where} [where]
 * @returns {FoundLibtorch}
 */
function findLibtorch(where = {}) {
  const env = where.env ?? process.env;
  const pythons = where.pythons ?? ['python3', '/usr/bin/python3'];
  const systemCmakeDirs = where.systemCmakeDirs ?? SYSTEM_CMAKE_DIRS;
  /** @type {string[]} */
  const tried = [];
  /** @type {[string, () => Libtorch | null, string | undefined][]} */
  const sources = [
    ['$LIBTORCH', () => fromEnvLibtorch(env), env.LIBTORCH],
    ['$Torch_DIR', () => fromEnvTorchDir(env), env.Torch_DIR],
    ['python torch', () => fromPython(pythons), `torch.utils.cmake_prefix_path of ${pythons.join(', ')}`],
    ['system', () => fromSystem(systemCmakeDirs), systemCmakeDirs.join(', ')],
  ];
  for (const [name, find, looked] of sources) {
    const found = find();
    if (found) return { ...found, tried };
    tried.push(`${name}: ${looked ? `nothing usable at ${looked}` : 'not set'}`);
    if ((name === '$LIBTORCH' || name === '$Torch_DIR') && looked) break;
  }
  throw Object.assign(
    new Error(
      'No LibTorch found. Tried:\n' +
        tried.map((t) => `  - ${t}`).join('\n') +
        '\nFix it with one of:\n' +
        '  - Debian/Ubuntu (CPU): sudo apt-get install libtorch-dev libgloo-dev\n' +
        '  - pip torch (CPU or CUDA): pip install torch, then rebuild\n' +
        '  - the LibTorch zip from pytorch.org: unzip it and set LIBTORCH=/path/to/libtorch\n',
    ),
    { tried },
  );
}

/**
 * The command line (the flags at the top of this file): prints the answer on stdout, or what was tried on stderr.
 * @param {string[]} argv The arguments after the script's name.
 * @returns {number} The exit status.
 */
function main(argv) {
  /** @type {FoundLibtorch} */
  let lt;
  try {
    lt = findLibtorch();
  } catch (err) {
    process.stderr.write(`find-libtorch: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  /** @type {Record<string, (() => string) | undefined>} */
  const answers = {
    '--json': () => JSON.stringify(lt, null, 2),
    '--cmake-dir': () => lt.cmakeDir,
    '--lib-dir': () => lt.libDir,
    '--include-dirs': () =>
      [...lt.includeDirs, ...[lt.ncclIncludeDir, lt.cudaIncludeDir].filter(Boolean)].join(' '),
    '--nccl-include-dir': () => lt.ncclIncludeDir,
    // Where CUDA's runtime headers are when this LibTorch can capture CUDA graphs; empty when it cannot.
    '--cuda-include-dir': () => lt.cudaIncludeDir,
    '--libs': () =>
      [
        `-L${lt.libDir}`,
        `-Wl,-rpath,${lt.libDir}`,
        // LibTorch registers its CPU/CUDA kernels from static initialisers, so the linker must keep these.
        '-Wl,--no-as-needed',
        '-ltorch_cpu',
        ...(lt.cuda ? ['-ltorch_cuda', '-lc10_cuda'] : []),
        '-ltorch',
        '-Wl,--as-needed',
        '-lc10',
      ].join(' '),
    // What TorchConfig's targets give a CMake build: c10d, and the backends whose headers are at hand.
    '--defines': () =>
      [
        `_GLIBCXX_USE_CXX11_ABI=${lt.cxx11Abi}`,
        'USE_DISTRIBUTED',
        ...(lt.gloo ? ['USE_C10D_GLOO'] : []),
        ...(lt.ncclIncludeDir ? ['USE_C10D_NCCL'] : []),
        ...(lt.cudaIncludeDir ? ['LIBTORCH_RESNET_CUDA=1'] : []),
        // Recorded in the binary, for the error when it cannot load (CMakeLists.txt defines the same). gyp splits
        // this output as a shell would, so the single quotes keep the C string's double quotes (and any spaces).
        `'LIBTORCH_RESNET_LIB_DIR="${lt.libDir.replace(/'/g, "'\\''")}"'`,
      ].join(' '),
    '--version': () => lt.version,
  };
  const out = answers[argv[0] || ''];
  process.stdout.write(
    out ? `${out()}\n` : `LibTorch ${lt.version}${lt.cuda ? ' (CUDA)' : ' (CPU)'} from ${lt.source}: ${lt.cmakeDir}\n`,
  );
  return 0;
}

module.exports = { findLibtorch, libtorchLibrary, main };

if (require.main === module) process.exitCode = main(process.argv.slice(2));
