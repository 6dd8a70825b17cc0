#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the native integration tests against an AddressSanitizer + UndefinedBehaviorSanitizer build of the addon.
# Who runs it: a developer, by hand (about 15 minutes on 2 cores: a separate build into build-asan/, then the
# tests at a sanitizer's pace). Node itself is not instrumented, so the sanitizer runtimes are preloaded into it;
# leak checking is off because V8 and LibTorch keep allocations for the life of the process on purpose.
#
#   scripts/sanitize.sh [JEST_PATH_PATTERN]   default: train|run|precision|reliability|bench|cli
set -euo pipefail
cd "$(dirname "$0")/.."
pattern=${1:-'train|run|precision|reliability|bench|cli'}

npx cmake-js compile --out build-asan --CDLIBTORCH_RESNET_SANITIZE=ON >build-asan.log 2>&1 ||
  { tail -30 build-asan.log; exit 1; }
npx tsc -p tsconfig.json

asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
export LIBTORCH_RESNET_ADDON=$PWD/build-asan/Release/torch_resnet.node
export LD_PRELOAD="$asan $ubsan"
# container-overflow reports need every std:: container user instrumented; LibTorch's are not.
export ASAN_OPTIONS=detect_leaks=0:detect_container_overflow=0:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Chromium (the report test) does not start with the sanitizer runtimes preloaded; it runs no native code of ours.
export LIBTORCH_RESNET_CHROMIUM=/nonexistent-under-sanitizers
npx jest --selectProjects native --testPathPatterns "$pattern" --runInBand 2>&1 | tee sanitize.log
# A report (ASan's "ERROR: AddressSanitizer" or UBSan's "runtime error:") fails the run even where jest passed.
if grep -E "ERROR: AddressSanitizer|runtime error:" sanitize.log; then
  echo "sanitize: reports above"
  exit 1
fi
echo "sanitize: no reports"
