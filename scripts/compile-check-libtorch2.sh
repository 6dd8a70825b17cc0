#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Who runs it: a developer, by hand; never CI (it downloads about 12 MB from Debian's mirror and keeps one CPU core
# busy for ~3 minutes). What it does: checks that the native sources compile against LibTorch 2.x on a machine that
# only has Debian 12's LibTorch 1.13. It fetches Debian <suite>'s libtorch-dev (trixie: 2.6, the default; sid: 2.14)
# into a private folder, with its own apt configuration, sources list, lists and dpkg status, so the system's apt
# state is neither read nor written; unpacks it with dpkg-deb -x (nothing is installed); then runs
# `g++ -std=c++20 -fsyntax-only` on every native/**/*.cpp against those headers, with the defines that
# find_package(Torch) and CMakeLists.txt would add, and prints OK/FAIL per file. Every header a file pulls in is
# audited: it must come from the private root, the project, node-addon-api, or a toolchain package (libc6-dev,
# libstdc++-N-dev, libgcc-N-dev, linux-libc-dev, nodejs's /usr/include/node). A header that resolved to the system's
# LibTorch 1.13 or to another system -dev package fails the file (fetch that package's <suite> version with
# --package). Exits non-zero if any file fails. See shared/notes/libtorch-portability.md.
#
# Usage: scripts/compile-check-libtorch2.sh [--suite trixie|sid|...] [--package PKG]... [--refresh]
#                                            [--allow-expired-release] [--mirror URL] [FILE.cpp...]
#   --suite S                 Debian suite to take libtorch-dev from (default: trixie; env LIBTORCH_CHECK_SUITE).
#   --package PKG             also unpack PKG from that suite; repeatable.
#   --refresh                 fetch the index and packages again even if the private root is already there.
#   --allow-expired-release   accept a Release file past its Valid-Until (sid on a frozen mirror needs it; the
#                             signature is still checked against debian-archive-keyring).
#   --mirror URL              Debian mirror (default: the first one this machine's apt sources name; env
#                             DEBIAN_MIRROR).
#   FILE.cpp...               check only these files, relative to the repository root (default: every .cpp
#                             under native/).
# The private root is ${LIBTORCH_CHECK_CACHE:-$HOME/.cache/libtorch-resnet-compile-check}/<suite> (about 55 MB,
# logs included); delete it to reclaim the space.
set -euo pipefail

suite="${LIBTORCH_CHECK_SUITE:-trixie}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$repo/scripts/lib/debian-fetch.sh"
. "$repo/scripts/lib/compile-check.sh"
mirror="${DEBIAN_MIRROR:-$(debian_system_mirror)}"
refresh=0
allow_expired=0
extra_packages=()
files=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --suite) suite="$2"; shift 2 ;;
    --suite=*) suite="${1#*=}"; shift ;;
    --package) extra_packages+=("$2"); shift 2 ;;
    --package=*) extra_packages+=("${1#*=}"); shift ;;
    --mirror) mirror="$2"; shift 2 ;;
    --mirror=*) mirror="${1#*=}"; shift ;;
    --refresh) refresh=1; shift ;;
    --allow-expired-release) allow_expired=1; shift ;;
    -h|--help) sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    *) files+=("$1"); shift ;;
  esac
done
[[ "$suite" =~ ^[a-z0-9.-]+$ ]] || { echo "bad suite name: $suite" >&2; exit 2; }

cd "$repo"
for tool in g++ node realpath; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done

cache="${LIBTORCH_CHECK_CACHE:-$HOME/.cache/libtorch-resnet-compile-check}/$suite"
root="$cache/root"
logdir="$cache/logs"
start=$SECONDS

# ---- 1. fetch libtorch-dev from <suite> into a private root ------------------------------------------------------
packages=(libtorch-dev "${extra_packages[@]}")
expired=fail
[[ $allow_expired -eq 1 ]] && expired=allow
debian_fetch "$cache" "$suite" main "$mirror" "$expired" "$refresh" "${packages[@]}" || exit 3

inc="$root/usr/include"
[[ -f "$inc/torch/csrc/api/include/torch/version.h" ]] || { echo "no LibTorch headers in $inc" >&2; exit 3; }
# Ask the preprocessor (version.h moved its macros to torch/headeronly/ in 2.x).
torch_version="$(printf '#include <torch/version.h>\nTORCH_VERSION_MAJOR.TORCH_VERSION_MINOR.TORCH_VERSION_PATCH\n' |
  g++ -std=c++20 -E -P -x c++ -isystem "$inc" -isystem "$inc/torch/csrc/api/include" - | tail -n1 | tr -d ' ')"
[[ "$torch_version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "cannot read the LibTorch version from $inc" >&2; exit 3; }

# ---- 2. flags: what find_package(Torch) would add, plus the addon's own -------------------------------------------
# The literal INTERFACE_COMPILE_DEFINITIONS of the exported targets (USE_DISTRIBUTED, USE_C10D_GLOO, ...) and
# TORCH_CXX_FLAGS (-D_GLIBCXX_USE_CXX11_ABI=1 in some versions).
torch_defs=()
while IFS= read -r d; do torch_defs+=("$d"); done < <(libtorch_cmake_defines "$root")

napi_dir="$(node -p "require('node-addon-api').include_dir")"
[[ "$napi_dir" = /* ]] || napi_dir="$repo/$napi_dir"
napi_dir="$(realpath -s "$napi_dir")"
node_inc="/usr/include/node"
[[ -f "$node_inc/node_api.h" ]] || { echo "missing $node_inc/node_api.h (Node's headers)" >&2; exit 2; }

# -I native first (project headers only), then the private LibTorch root as -isystem (as CMake passes an imported
# target's includes): both are searched before the standard /usr/include, so the 1.13 headers there cannot win.
# No -nostdinc++: libstdc++ and libc must come from the system (g++'s own); the header audit below checks that
# nothing else does.
common=(-std=c++20 -fsyntax-only -I native -isystem "$inc" -isystem "$inc/torch/csrc/api/include" "${torch_defs[@]}")
napi=(-isystem "$napi_dir" -isystem "$node_inc" -DNAPI_VERSION=8 -DNODE_ADDON_API_CPP_EXCEPTIONS
  -DNODE_ADDON_API_CPP_EXCEPTIONS_ALL)

if [[ ${#files[@]} -eq 0 ]]; then
  mapfile -t files < <(find native -name '*.cpp' | LC_ALL=C sort)
fi
mkdir -p "$logdir"
echo "== g++ -fsyntax-only against LibTorch $torch_version (Debian $suite), ${#files[@]} files, logs in $logdir"
echo "   torch defines: ${torch_defs[*]:-(none)}"

failed=()
for src in "${files[@]}"; do
  flags=("${common[@]}")
  case "$src" in native/core/*) flags+=(-Wall -Wextra) ;; esac   # as CMakeLists.txt does for resnet_core
  case "$src" in native/binding/*) flags+=("${napi[@]}") ;; esac
  name="$(echo "$src" | tr '/' '_')"
  log="$logdir/$name.log"
  dep="$logdir/$name.d"
  t0=$SECONDS
  if g++ "${flags[@]}" -MD -MF "$dep" "$src" > "$log" 2>&1; then
    if audit="$(audit_headers "$dep" "$src" "$root" "$repo" "$napi_dir")"; then
      warnings="$(grep -c 'warning:' "$log" || true)"
      printf 'OK    %-40s %3ds%s\n' "$src" $((SECONDS - t0)) "$([[ $warnings -gt 0 ]] && echo ", $warnings warning(s), see $log")"
    else
      printf 'FAIL  %-40s %3ds (headers from outside the private root)\n' "$src" $((SECONDS - t0))
      echo "$audit"
      failed+=("$src")
    fi
  else
    printf 'FAIL  %-40s %3ds (compile errors, full log: %s)\n' "$src" $((SECONDS - t0)) "$log"
    grep -E 'error' "$log" | head -n 20 | sed 's/^/    /'
    failed+=("$src")
  fi
done

echo "== LibTorch $torch_version (Debian $suite): $(( ${#files[@]} - ${#failed[@]} )) OK, ${#failed[@]} FAIL, $((SECONDS - start))s"
[[ ${#failed[@]} -eq 0 ]]
