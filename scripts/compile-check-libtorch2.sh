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
# The mirror this machine's apt already uses, so the script reaches exactly what apt-get reaches.
system_mirror() {
  { cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true; } |
    sed -n -E 's#^URIs:[[:space:]]*([^[:space:]]+/debian)$#\1#p; s#^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+/debian)[[:space:]].*#\2#p' |
    head -n 1
}
mirror="${DEBIAN_MIRROR:-$(system_mirror)}"
keyring="/usr/share/keyrings/debian-archive-keyring.gpg"
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

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
for tool in apt-get dpkg-deb dpkg g++ node realpath; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
[[ -r "$keyring" ]] || { echo "missing $keyring (package debian-archive-keyring)" >&2; exit 2; }

cache="${LIBTORCH_CHECK_CACHE:-$HOME/.cache/libtorch-resnet-compile-check}/$suite"
aptdir="$cache/apt"
debdir="$cache/debs"
root="$cache/root"
stamp="$root/.libtorch-compile-check"
logdir="$cache/logs"
start=$SECONDS

# ---- 1. fetch libtorch-dev from <suite> into a private root ------------------------------------------------------
packages=(libtorch-dev "${extra_packages[@]}")
[ -n "$mirror" ] || { echo "compile-check: no Debian mirror in this machine's apt sources; pass --mirror URL" >&2; exit 2; }
want="suite=$suite mirror=$mirror packages=${packages[*]}"
if [[ $refresh -eq 1 || ! -f "$stamp" || "$(head -n1 "$stamp")" != "$want" ]]; then
  rm -rf "$aptdir" "$debdir" "$root"
  mkdir -p "$aptdir"/etc/apt.conf.d "$aptdir"/etc/preferences.d "$aptdir"/etc/sources.list.d \
    "$aptdir"/state/lists/partial "$aptdir"/cache/archives/partial "$aptdir"/log "$debdir" "$root"
  : > "$aptdir/state/status"   # an empty dpkg status: apt sees nothing installed, and the system's is never read
  echo "deb [signed-by=$keyring] $mirror $suite main" > "$aptdir/etc/sources.list"
  # APT_CONFIG is read before anything else, so pointing Dir::Etc::Parts/main at empty private files here also keeps
  # /etc/apt/apt.conf.d (its update hooks included) out of it. Every state, list, cache and log path is private.
  {
    echo "Dir::Etc \"$aptdir/etc/\";"
    echo "Dir::Etc::Parts \"$aptdir/etc/apt.conf.d/\";"
    echo "Dir::Etc::main \"$aptdir/etc/apt.conf\";"
    echo "Dir::Etc::SourceList \"$aptdir/etc/sources.list\";"
    echo "Dir::Etc::SourceParts \"$aptdir/etc/sources.list.d/\";"
    echo "Dir::Etc::Preferences \"$aptdir/etc/preferences\";"
    echo "Dir::Etc::PreferencesParts \"$aptdir/etc/preferences.d/\";"
    echo "Dir::State \"$aptdir/state/\";"
    echo "Dir::State::status \"$aptdir/state/status\";"
    echo "Dir::Cache \"$aptdir/cache/\";"
    echo "Dir::Log \"$aptdir/log/\";"
    echo "APT::Architecture \"$(dpkg --print-architecture)\";"
    echo "APT::Architectures { \"$(dpkg --print-architecture)\"; };"
    echo "Acquire::Languages \"none\";"
    if [[ $allow_expired -eq 1 ]]; then echo "Acquire::Check-Valid-Until \"false\";"; fi
    # As root, apt would hand the downloads to user _apt, who cannot write to a root-owned private folder.
    if [[ $EUID -eq 0 ]]; then echo "APT::Sandbox::User \"root\";"; fi
  } > "$aptdir/apt.conf"
  export APT_CONFIG="$aptdir/apt.conf"

  echo "== apt-get update ($suite, private state in $aptdir)"
  if ! apt-get -q update 2>&1 | tee "$aptdir/update.log" | grep -E '^(Get|Err|E:|W:|Fetched)'; then :; fi
  if grep -q '^E:' "$aptdir/update.log"; then
    if grep -q 'is expired' "$aptdir/update.log"; then
      echo "The $suite Release file is expired (frozen mirror?); rerun with --allow-expired-release." >&2
    fi
    echo "apt-get update failed; see $aptdir/update.log" >&2
    exit 3
  fi
  echo "== apt-get download ${packages[*]}"
  (cd "$debdir" && apt-get -q download "${packages[@]}") 2>&1 | grep -E '^(Get|Err|E:|W:|Fetched)' || true
  shopt -s nullglob
  debs=("$debdir"/*.deb)
  shopt -u nullglob
  if [[ ${#debs[@]} -ne ${#packages[@]} ]]; then
    echo "apt-get download failed (got ${#debs[@]} of ${#packages[@]} packages)" >&2
    exit 3
  fi
  for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$root"; done
  {
    echo "$want"
    for deb in "${debs[@]}"; do dpkg-deb -f "$deb" Package Version | paste -sd' '; done
  } > "$stamp"
  echo "downloaded: package $(du -ch "${debs[@]}" | tail -n1 | cut -f1) (index: see Fetched above)"
  # The index (~55 MB) and apt's binary caches (~80 MB) are not needed once the root is unpacked.
  rm -rf "$aptdir/state/lists" "$aptdir/cache"
else
  echo "== reusing $root (--refresh to fetch again)"
fi
sed -n '2,$p' "$stamp" | sed 's/^/   /'

inc="$root/usr/include"
[[ -f "$inc/torch/csrc/api/include/torch/version.h" ]] || { echo "no LibTorch headers in $inc" >&2; exit 3; }
# Ask the preprocessor (version.h moved its macros to torch/headeronly/ in 2.x).
torch_version="$(printf '#include <torch/version.h>\nTORCH_VERSION_MAJOR.TORCH_VERSION_MINOR.TORCH_VERSION_PATCH\n' |
  g++ -std=c++20 -E -P -x c++ -isystem "$inc" -isystem "$inc/torch/csrc/api/include" - | tail -n1 | tr -d ' ')"
[[ "$torch_version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "cannot read the LibTorch version from $inc" >&2; exit 3; }

# ---- 2. flags: what find_package(Torch) would add, plus the addon's own -------------------------------------------
# The literal INTERFACE_COMPILE_DEFINITIONS of the exported targets (USE_DISTRIBUTED, USE_C10D_GLOO, ...) and
# TORCH_CXX_FLAGS (-D_GLIBCXX_USE_CXX11_ABI=1 in some versions).
cmake_dir="$(dirname "$(find "$root/usr/lib" -name Caffe2Targets.cmake -print -quit 2>/dev/null || true)")"
torch_defs=()
if [[ -f "$cmake_dir/Caffe2Targets.cmake" ]]; then
  while IFS= read -r d; do [[ -n "$d" ]] && torch_defs+=("-D$d"); done < <(
    grep -ho 'INTERFACE_COMPILE_DEFINITIONS "[^"$]*"' "$cmake_dir/Caffe2Targets.cmake" |
      sed 's/^[^"]*"//; s/"$//' | tr ';' '\n' | sort -u)
fi
while IFS= read -r f; do [[ -n "$f" ]] && torch_defs+=("$f"); done < <(
  grep -ho 'set(TORCH_CXX_FLAGS "[^"]*")' "$cmake_dir/../Torch/TorchConfig.cmake" 2>/dev/null |
    sed 's/^[^"]*"//; s/")$//' | tr ' ' '\n' | sort -u)

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
allowed_pkg='^(libc6-dev|libstdc\+\+-[0-9]+-dev|libgcc-[0-9]+-dev|linux-libc-dev|nodejs|libnode-dev|libnode[0-9]+)(:[a-z0-9]+)?$'

if [[ ${#files[@]} -eq 0 ]]; then
  mapfile -t files < <(find native -name '*.cpp' | LC_ALL=C sort)
fi
mkdir -p "$logdir"
echo "== g++ -fsyntax-only against LibTorch $torch_version (Debian $suite), ${#files[@]} files, logs in $logdir"
echo "   torch defines: ${torch_defs[*]:-(none)}"

# Headers of one file that came from outside the private root, the project and node-addon-api, with the package
# that owns each; prints the offending ones (system LibTorch, other -dev packages, unowned files).
audit_headers() {
  local depfile="$1" srcpath sys=() p line pkgs path bad=0
  srcpath="$(realpath -s -m "$2")"
  while IFS= read -r p; do
    [[ -z "$p" || "$p" == *: ]] && continue
    [[ "$p" = /* ]] || p="$repo/$p"
    p="$(realpath -s -m "$p")"
    [[ "$p" == "$srcpath" ]] && continue
    case "$p" in "$root"/*|"$repo"/*|"$napi_dir"/*) continue ;; esac
    sys+=("$p")
  done < <(sed 's/\\$//' "$depfile" | tr ' ' '\n')
  [[ ${#sys[@]} -eq 0 ]] && return 0
  local owned
  owned="$(dpkg -S "${sys[@]}" 2>/dev/null || true)"
  declare -A seen=()
  while IFS= read -r line; do
    [[ -z "$line" || "$line" == diversion* ]] && continue
    pkgs="${line%%: /*}"; path="/${line#*: /}"
    seen["$path"]=1
    local ok=1 pkg
    IFS=', ' read -r -a pkg_list <<<"$pkgs"
    for pkg in "${pkg_list[@]}"; do [[ "$pkg" =~ $allowed_pkg ]] || ok=0; done
    if [[ $ok -eq 0 ]]; then echo "    system header from $pkgs: $path"; bad=1; fi
  done <<<"$owned"
  for p in "${sys[@]}"; do
    if [[ -z "${seen[$p]:-}" ]]; then echo "    system header owned by no package: $p"; bad=1; fi
  done
  return $bad
}

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
    if audit="$(audit_headers "$dep" "$src")"; then
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
