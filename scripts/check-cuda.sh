#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Who runs it: CI (.ci/run, right after npm run setup, as `npm run check:cuda`) and developers before sending CUDA
# code to a GPU machine. What it does: compiles the CUDA side of the native sources on a machine without a GPU or a
# CUDA LibTorch, so that CUDA-only C++ fails here rather than on the GPU. It fetches Debian sid contrib's
# libtorch-cuda-dev (LibTorch 2.6 built with CUDA: headers and CMake files, ~2.4 MB) into a private folder, with
# its own apt configuration, lists and dpkg status (scripts/lib/debian-fetch.sh; the system's apt state is neither
# read nor written, nothing is installed), then runs `g++ -std=c++20 -fsyntax-only -DLIBTORCH_RESNET_CUDA=1`
# against those headers and the CUDA toolkit's (/usr/local/cuda/include), with the defines LibTorch-CUDA's CMake
# config exports (USE_C10D_NCCL, USE_DISTRIBUTED, ...). Files: every native/core/cuda/*.cpp and every other
# native/**/*.cpp that includes a header under native/core/cuda/, directly or through project headers; none is an
# error. A sanity snippet (CUDAGraph, CUDAEvent, at::_fused_sgd_, the macro on) goes first, so that a broken
# environment is reported as such. This machine's toolkit has no cuBLAS/cuSPARSE/cuSOLVER headers, which
# ATen/cuda/CUDAContext.h includes: scripts/lib/cuda-stubs/ stands in for them (-idirafter; a real one wins).
# native/core/cuda/ files (and FILEs given by absolute path) get -Wall -Wextra -Werror: LibTorch's and CUDA's
# headers are warning-free under them; other native/core files -Wall -Wextra, as CMakeLists.txt. Every header a file pulls in is audited: it must come from the private root, the project, the
# CUDA toolkit, node-addon-api or a toolchain package, never from the system's LibTorch 1.13 (/usr/include/torch,
# ATen, c10). Prints OK/FAIL per file, 2 files at a time; exits non-zero if anything fails. Takes ~3 s to fetch
# (once; cached), ~25 s for the sanity snippet (once per environment; remembered) and 10-30 s a file, so about a
# minute for a handful of files. See shared/notes/cuda-compile-check.md.
#
# Usage: scripts/check-cuda.sh [--list] [--refresh] [--mirror URL] [--jobs N] [FILE.cpp...]
#   --list        print the files that would be checked (relative to the repository root) and exit; needs no fetch.
#   --refresh     fetch the index and the package again even if the private root is already there.
#   --mirror URL  Debian mirror (default: the first one this machine's apt sources name; env DEBIAN_MIRROR).
#   --jobs N      files compiled at a time (default 2; env CHECK_CUDA_JOBS).
#   FILE.cpp...   check these files instead (relative to the repository root, or absolute).
# Environment: CHECK_CUDA_ROOT (the repository to check; default: the one holding this script), CUDA_HOME (default
# /usr/local/cuda), LIBTORCH_CHECK_CACHE (the private root is ${LIBTORCH_CHECK_CACHE:-$HOME/.cache/
# libtorch-resnet-compile-check}/cuda-sid, ~50 MB with logs; delete it to reclaim the space).
# Exit status: 0 all OK, 1 a file failed, 2 bad usage or empty selection, 3 fetch or environment failure.
set -euo pipefail

scripts="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$scripts/lib/debian-fetch.sh"
. "$scripts/lib/compile-check.sh"

repo="$(cd "${CHECK_CUDA_ROOT:-$scripts/..}" && pwd)"
mirror="${DEBIAN_MIRROR:-$(debian_system_mirror)}"
jobs="${CHECK_CUDA_JOBS:-2}"
cuda_home="${CUDA_HOME:-/usr/local/cuda}"
list=0
refresh=0
files=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --list) list=1; shift ;;
    --refresh) refresh=1; shift ;;
    --mirror) mirror="$2"; shift 2 ;;
    --mirror=*) mirror="${1#*=}"; shift ;;
    --jobs) jobs="$2"; shift 2 ;;
    --jobs=*) jobs="${1#*=}"; shift ;;
    -h|--help) sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    *) files+=("$1"); shift ;;
  esac
done
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "bad --jobs: $jobs" >&2; exit 2; }
cd "$repo"

# ---- 1. the selection ---------------------------------------------------------------------------------------------
# A project include "X" in file F is F's folder/X if that exists, else native/X (-I native), as g++ resolves it;
# anything else (<...>, a missing file) is not the project's. Includes inside #if blocks count too.
cuda_dir="native/core/cuda"
# normalize PATH: PATH without . and .. components (lexically, as g++ names the file), no process started.
normalize() {
  local part out=()
  local IFS=/
  for part in $1; do
    case "$part" in
      ''|.) ;;
      ..) if [[ ${#out[@]} -gt 0 && "${out[-1]}" != .. ]]; then unset 'out[-1]'; else out+=(..); fi ;;
      *) out+=("$part") ;;
    esac
  done
  printf '%s' "${out[*]}"
}
declare -A includes=()   # file -> its resolved project includes, one a line (read once)
declare -A reaches=()    # file -> 1 once it is known to reach a header under native/core/cuda/
project_includes() {
  local file="$1" dir inc
  [[ -n "${includes[$file]+set}" ]] && return 0
  includes["$file"]=""
  dir="$(dirname "$file")"
  while IFS= read -r inc; do
    if [[ -f "$dir/$inc" ]]; then includes["$file"]+="$(normalize "$dir/$inc")"$'\n'
    elif [[ -f "native/$inc" ]]; then includes["$file"]+="$(normalize "native/$inc")"$'\n'
    fi
  done < <(sed -n -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/p' "$file")
}
# reaches_cuda FILE: whether FILE includes a header under native/core/cuda/, directly or through project headers.
# Depth-first with a visited set per question (include cycles end); only "yes" is remembered across questions, as a
# "no" found inside a cycle can be wrong for another entry point.
reaches_cuda() {
  local -A visited=()
  _reaches "$1"
}
_reaches() {
  local file="$1" target
  [[ -n "${reaches[$file]:-}" ]] && return 0
  [[ -n "${visited[$file]:-}" ]] && return 1
  visited["$file"]=1
  project_includes "$file"
  while IFS= read -r target; do
    [[ -z "$target" ]] && continue
    if [[ "$target" == "$cuda_dir"/* ]] || _reaches "$target"; then reaches["$file"]=1; return 0; fi
  done <<<"${includes[$file]}"
  return 1
}

if [[ ${#files[@]} -eq 0 ]]; then
  [[ -d native ]] || { echo "check-cuda: no native/ folder in $repo" >&2; exit 2; }
  while IFS= read -r src; do
    if [[ "$src" == "$cuda_dir"/* ]] || reaches_cuda "$src"; then files+=("$src"); fi
  done < <(find native -name '*.cpp' -type f | LC_ALL=C sort)
  if [[ ${#files[@]} -eq 0 ]]; then
    echo "check-cuda: nothing to check: no $cuda_dir/*.cpp, and no native/**/*.cpp includes a header under" \
      "$cuda_dir/ (directly or through project headers). CUDA-only code belongs in $cuda_dir/, inside" \
      "#if LIBTORCH_RESNET_CUDA blocks; if it moved, update scripts/check-cuda.sh." >&2
    exit 2
  fi
fi
if [[ $list -eq 1 ]]; then
  printf '%s\n' "${files[@]}"
  exit 0
fi
for i in "${!files[@]}"; do
  [[ -f "${files[$i]}" ]] || { echo "check-cuda: no such file: ${files[$i]}" >&2; exit 2; }
  # A file of this repository by its absolute path is checked as the repository's (same flags as relative).
  case "$(realpath -s "${files[$i]}")" in "$repo"/*) files[$i]="$(realpath -s --relative-to="$repo" "${files[$i]}")" ;; esac
done

# ---- 2. libtorch-cuda-dev from sid contrib into a private root ------------------------------------------------------
for tool in g++ realpath; do
  command -v "$tool" >/dev/null || { echo "check-cuda: missing tool: $tool" >&2; exit 3; }
done
start=$SECONDS
cache="${LIBTORCH_CHECK_CACHE:-$HOME/.cache/libtorch-resnet-compile-check}/cuda-sid"
root="$cache/root"
logdir="$cache/logs"
if ! debian_fetch "$cache" sid contrib "$mirror" retry "$refresh" libtorch-cuda-dev; then
  echo "check-cuda: could not fetch libtorch-cuda-dev from Debian sid contrib ($mirror). This machine needs HTTP" \
    "access to a Debian mirror (set DEBIAN_MIRROR or --mirror to use another one); rerun with --refresh to start" \
    "the fetch over." >&2
  exit 3
fi
inc="$root/usr/include"
[[ -f "$inc/ATen/cuda/CUDAGraph.h" ]] || { echo "check-cuda: no CUDA LibTorch headers in $inc; rerun with --refresh" >&2; exit 3; }
cuda_inc="$cuda_home/include"
[[ -f "$cuda_inc/cuda_runtime_api.h" ]] || {
  echo "check-cuda: no CUDA toolkit headers in $cuda_inc (set CUDA_HOME to the toolkit's folder)" >&2; exit 3; }
torch_version="$(printf '#include <torch/version.h>\nTORCH_VERSION_MAJOR.TORCH_VERSION_MINOR.TORCH_VERSION_PATCH\n' |
  g++ -std=c++20 -E -P -x c++ -isystem "$inc" -isystem "$inc/torch/csrc/api/include" - 2>/dev/null | tail -n1 | tr -d ' ')"

# ---- 3. flags: the CUDA build's ---------------------------------------------------------------------------------
torch_defs=()
while IFS= read -r d; do torch_defs+=("$d"); done < <(libtorch_cmake_defines "$root")
[[ " ${torch_defs[*]} " == *" -DUSE_C10D_NCCL "* ]] || {
  echo "check-cuda: $root's CMake config exports no torch_cuda defines (USE_C10D_NCCL): not a CUDA LibTorch?" >&2; exit 3; }
# -I native first (project headers only), then the private LibTorch root and the CUDA toolkit as -isystem (as CMake
# passes imported targets' includes): all are searched before /usr/include, so the 1.13 headers there cannot win.
# Last, with -idirafter, declaration stubs for the cuBLAS/cuSPARSE/cuSOLVER headers that ATen/cuda/CUDAContext.h
# (hence CUDAEvent.h) includes and that this machine's toolkit lacks; a real header, where there is one, wins.
stubs="$scripts/lib/cuda-stubs"
common=(-std=c++20 -fsyntax-only -DLIBTORCH_RESNET_CUDA=1 -I native -isystem "$inc"
  -isystem "$inc/torch/csrc/api/include" -isystem "$cuda_inc" -idirafter "$stubs" "${torch_defs[@]}")
napi=()
napi_dir=""
node_inc="/usr/include/node"
if printf '%s\n' "${files[@]}" | grep -q '^native/binding/'; then
  napi_dir="$(node -p "require('node-addon-api').include_dir")"
  [[ "$napi_dir" = /* ]] || napi_dir="$repo/$napi_dir"
  napi_dir="$(realpath -s "$napi_dir")"
  [[ -f "$node_inc/node_api.h" ]] || { echo "check-cuda: missing $node_inc/node_api.h (Node's headers)" >&2; exit 3; }
  napi=(-isystem "$napi_dir" -isystem "$node_inc" -DNAPI_VERSION=8 -DNODE_ADDON_API_CPP_EXCEPTIONS
    -DNODE_ADDON_API_CPP_EXCEPTIONS_ALL)
fi
# Headers may come from these folders (the toolkit both as named and as the link points).
allowed_dirs=("$root" "$repo" "$(realpath -s "$cuda_home")" "$(realpath "$cuda_home")" "$stubs")
[[ -n "$napi_dir" ]] && allowed_dirs+=("$napi_dir")
# The LibTorch and CUDA headers compile without a warning under -Wall -Wextra (they are -isystem), so a warning in
# native/core/cuda/ is the project's: an error there. The sanity snippet is held to the same, so a header change
# that breaks this reads "environment".
werror=(-Wall -Wextra -Werror)

rm -rf "$logdir"
mkdir -p "$logdir"
echo "== g++ -fsyntax-only, CUDA side, against LibTorch ${torch_version:-?} (Debian sid libtorch-cuda-dev) and $cuda_inc"
echo "   defines: -DLIBTORCH_RESNET_CUDA=1 ${torch_defs[*]}"
echo "   logs in $logdir"

# check_one SRC [LABEL]: compiles SRC, audits its headers; prints one result block (in one write, so that parallel
# checks do not interleave) and leaves SRC's status in $logdir/NAME.status.
check_one() {
  local src="$1" label="${2:-$1}" name log dep t0 flags=("${common[@]}") out audit warnings
  case "$src" in
    native/core/cuda/*|/*) flags+=("${werror[@]}") ;;   # (an absolute path: a probe outside the project)
    native/core/*) flags+=(-Wall -Wextra) ;;             # as CMakeLists.txt does for resnet_core
  esac
  case "$src" in native/binding/*) flags+=("${napi[@]}") ;; esac
  name="$(echo "${src#/}" | tr '/' '_')"
  log="$logdir/$name.log"
  dep="$logdir/$name.d"
  t0=$SECONDS
  if g++ "${flags[@]}" -MD -MF "$dep" "$src" > "$log" 2>&1; then
    if audit="$(audit_headers "$dep" "$src" "${allowed_dirs[@]}")"; then
      warnings="$(grep -c 'warning:' "$log" || true)"
      out="$(printf 'OK    %-44s %3ds%s' "$label" $((SECONDS - t0)) \
        "$([[ $warnings -gt 0 ]] && echo ", $warnings warning(s), see $log")")"
      echo ok > "$logdir/$name.status"
    else
      out="$(printf 'FAIL  %-44s %3ds (headers from outside the private root, the project and CUDA)\n%s' \
        "$label" $((SECONDS - t0)) "$audit")"
      echo fail > "$logdir/$name.status"
    fi
  else
    out="$(printf 'FAIL  %-44s %3ds (compile errors, full log: %s)\n%s' "$label" $((SECONDS - t0)) "$log" \
      "$(grep -E 'error|Error' "$log" | head -n 20 | sed 's/^/    /')")"
    echo fail > "$logdir/$name.status"
  fi
  printf '%s\n' "$out"
}

# ---- 4. the environment: a snippet that needs every piece, with the macro really on -------------------------------
sanity="$logdir/sanity_check_cuda.cpp"
cat > "$sanity" <<'EOF'
// scripts/check-cuda.sh's environment check: the CUDA LibTorch headers, the toolkit's, and the macro.
#if !LIBTORCH_RESNET_CUDA
#error "LIBTORCH_RESNET_CUDA is not on"
#endif
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <ATen/ops/_fused_sgd.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/torch.h>

void sanity(std::vector<at::Tensor> params, std::vector<at::Tensor> grads, std::vector<at::Tensor> momentum) {
  c10::cuda::CUDAStream stream = c10::cuda::getStreamFromPool();
  c10::cuda::CUDAStreamGuard guard(stream);
  at::cuda::CUDAGraph graph;
  graph.capture_begin();
  at::Tensor lr = torch::full({}, 0.1, torch::kCUDA);
  at::_fused_sgd_(params, grads, momentum, 5e-4, 0.9, lr, 0.0, true, false, false);
  graph.capture_end();
  graph.replay();
}
EOF
# Its verdict is remembered under a key of everything it depends on (headers, toolkit, stubs, compiler, flags),
# so a rerun in an unchanged environment skips its ~25 s.
sanity_key="$({ cat "$root/.libtorch-compile-check" "$sanity" "$cuda_inc/cuda.h" "$stubs"/*.h
  printf '%s\n' "${common[@]}" "${werror[@]}"; g++ --version; } | sha256sum | cut -d' ' -f1)"
sanity_ok="$cache/sanity-ok"
if [[ -f "$sanity_ok" && "$(head -n1 "$sanity_ok")" == "$sanity_key" ]]; then
  printf 'OK    %-44s   (passed before in this same environment)\n' "(environment: sanity snippet)"
else
  rm -f "$sanity_ok"
  check_one "$sanity" "(environment: sanity snippet)"
  if [[ "$(cat "$logdir/$(echo "${sanity#/}" | tr '/' '_').status" 2>/dev/null)" != ok ]]; then
    echo "== environment broken: the sanity snippet does not compile against $inc and $cuda_inc with the flags" \
      "above; no project file was checked. Try --refresh; if that does not help, the headers or the toolkit changed." >&2
    exit 3
  fi
  { echo "$sanity_key"
    sed 's/\\$//' "$logdir/$(echo "${sanity#/}" | tr '/' '_').d" | tr ' ' '\n' | sed -n "s#^$stubs/##p" | sort -u |
      paste -sd' '; } > "$sanity_ok"
fi
used_stubs="$(sed -n 2p "$sanity_ok")"
[[ -z "$used_stubs" ]] || echo "   note: $cuda_inc has no $used_stubs; declaration stubs from scripts/lib/cuda-stubs/" \
  "stand in (only the names LibTorch's headers use: calling cuBLAS/cuSPARSE/cuSOLVER is not checkable here)"

# ---- 5. the files, $jobs at a time -------------------------------------------------------------------------------
t_files=$SECONDS
running=0
for src in "${files[@]}"; do
  if [[ $running -ge $jobs ]]; then wait -n || true; running=$((running - 1)); fi
  check_one "$src" &
  running=$((running + 1))
done
wait || true

failed=()
for src in "${files[@]}"; do
  [[ "$(cat "$logdir/$(echo "${src#/}" | tr '/' '_').status" 2>/dev/null)" == ok ]] || failed+=("$src")
done
echo "== check:cuda (LibTorch ${torch_version:-?} CUDA headers): $(( ${#files[@]} - ${#failed[@]} )) OK," \
  "${#failed[@]} FAIL of ${#files[@]} file(s), $((SECONDS - t_files))s for the files, $((SECONDS - start))s in all"
[[ ${#failed[@]} -eq 0 ]] || { printf '   failed: %s\n' "${failed[@]}"; exit 1; }
