// SPDX-License-Identifier: MIT
// scripts/check-cuda.sh --list on made-up trees (CHECK_CUDA_ROOT): which native sources `npm run check:cuda`
// compiles for the CUDA side (native/core/cuda/*.cpp and every .cpp that reaches a header there through project
// includes), and that a tree with none is an error rather than a silent pass. Nothing is fetched or compiled.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SCRIPT = path.resolve(__dirname, '../../scripts/check-cuda.sh');

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-check-cuda-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** Writes `files` (path relative to the tree's root -> text) into the tree. */
function tree(files: Record<string, string>): void {
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text);
  }
}

function list() {
  const result = spawnSync('bash', [SCRIPT, '--list'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, CHECK_CUDA_ROOT: root },
  });
  return { ...result, files: result.stdout.split('\n').filter((line) => line !== '') };
}

describe('scripts/check-cuda.sh --list', () => {
  test('native/core/cuda/*.cpp and the sources that include a header there, directly or through a header', () => {
    tree({
      'native/core/cuda/a.cpp': '#include "a.h"\nint a() { return 1; }\n',
      'native/core/cuda/a.h': '#pragma once\n#if LIBTORCH_RESNET_CUDA\n#include <ATen/cuda/CUDAGraph.h>\n#endif\n',
      'native/core/b.cpp': '#include "cuda/a.h"\n',
      'native/core/c.h': '#pragma once\n#include "cuda/a.h"\n',
      'native/core/d.cpp': '#include "c.h"\n',
      'native/core/e.cpp': 'int e() { return 0; }\n',
    });
    const result = list();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.files).toEqual(['native/core/b.cpp', 'native/core/cuda/a.cpp', 'native/core/d.cpp']);
  });

  test('includes relative to native/ or through ../, not <...> ones, comments, or a missing file; cycles end', () => {
    tree({
      'native/core/cuda/graph.h': '#pragma once\n',
      // x.h and y.h include each other; only x.h reaches the CUDA header. Asked first through x.h, y.h must not be
      // remembered as "no" (it is "yes" through x.h).
      'native/core/x.h': '#pragma once\n#include "y.h"\n#include "./cuda/../cuda/graph.h"\n',
      'native/core/y.h': '#pragma once\n#include "x.h"\n',
      'native/core/cycle1.cpp': '#include "x.h"\n',
      'native/core/cycle2.cpp': '#include "y.h"\n',
      'native/core/plain.h': '#pragma once\n#include "options.h"\n',
      'native/core/angle.cpp': '#include <cuda/graph.h>\n#include "plain.h"\n',
      'native/core/commented.cpp': '// #include "cuda/graph.h"\n#include "nowhere/cuda/graph.h"\n',
      'native/binding/up.cpp': '#include "../core/cuda/graph.h"\n',
      'native/tools/rooted.cpp': '  #  include "core/cuda/graph.h" // the CUDA side\n',
      'native/tools/not.cpp': '#include "core/plain.h"\n',
    });
    const result = list();
    expect(result.status).toBe(0);
    expect(result.files).toEqual([
      'native/binding/up.cpp',
      'native/core/cycle1.cpp',
      'native/core/cycle2.cpp',
      'native/tools/rooted.cpp',
    ]);
  });

  test('an empty selection fails and says why', () => {
    tree({
      'native/core/e.cpp': 'int e() { return 0; }\n',
      'native/core/cuda_mode.h': '#pragma once\n', // named like it, but not under native/core/cuda/
      'native/core/f.cpp': '#include "cuda_mode.h"\n',
    });
    const result = list();
    expect(result.status).not.toBe(0);
    expect(result.files).toEqual([]);
    expect(result.stderr).toContain('nothing to check');
    expect(result.stderr).toContain('native/core/cuda/');
  });
});
