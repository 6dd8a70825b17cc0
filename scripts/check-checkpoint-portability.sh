#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Who runs it: a developer, by hand; never CI (the first run downloads about 200 MB from Debian's mirror: the index,
# libtorch-dev and ~170 MB of runtime packages; unpacks about 800 MB; and keeps both CPU cores busy for ~5 minutes;
# later runs take about a minute and need ~600 MB in ${TMPDIR:-/tmp} for the checkpoints). What it does: proves
# that checkpoints written with Debian 12's LibTorch 1.13 load with LibTorch 2.x and back, on a machine that only
# has 1.13. It
#   1. runs scripts/compile-check-libtorch2.sh --suite <suite> on checkpoint_tool's sources, which fetches Debian
#      <suite>'s libtorch-dev into its private root (or reuses it) and checks that they compile against it;
#   2. with that script's private apt configuration (its own sources list, lists and empty dpkg status; the system's
#      apt state is neither read nor written), resolves and downloads the runtime closure of <suite>'s libtorchX.Y
#      (glibc, libstdc++, BLAS, MPI, ... of <suite>) and unpacks it with dpkg-deb -x (nothing is installed);
#   3. builds native/tools/checkpoint_tool against those headers and libraries with plain g++ (system g++ and
#      headers, linked with --allow-shlib-undefined because the newer libraries need the newer glibc/libstdc++), and
#      runs it through <suite>'s own dynamic loader with --library-path into the private root and --inhibit-cache;
#      `ld.so --list` must resolve every library inside the private root;
#   4. makes a small 1.13 checkpoint with build/train_main on the mini CIFAR-10 data (or takes CHECKPOINT.pt), then
#      checks three directions, printing every `checkpoint_tool inspect` JSON line and PASS/FAIL per direction:
#        1.13 -> 2.x          the 1.13 file, inspected by both tools;
#        2.x  -> 1.13         the file resaved by the 2.x tool, inspected by the 1.13 tool (and the 2.x tool);
#        2.x  -> 1.13 -> 2.x  that file resaved by the 1.13 tool, inspected by the 2.x tool (and the 1.13 tool).
#      writtenBy must name the writer's LibTorch; preset, epochsDone, step and the number of momentum buffers must
#      match; each tool must give bit-identical weight and momentum checksums for every file (a lost or changed
#      value changes them), and the two tools must agree to 1e-12 relative (their double sums may add in another
#      order). Exits non-zero on any mismatch or crash.
# The 1.13 tool is build/checkpoint_tool (`npx cmake-js compile --out build`). See shared/notes/libtorch-portability.md.
#
# Usage: scripts/check-checkpoint-portability.sh [--suite sid|trixie] [--data DIR] [--refresh] [--keep]
#                                               [--mirror URL] [CHECKPOINT.pt]
#   --suite S      Debian suite to take LibTorch 2.x from: sid (2.14, the default; env LIBTORCH_CHECK_SUITE) or
#                  trixie (2.6). sid gets --allow-expired-release (a frozen mirror's sid Release is past its
#                  Valid-Until; the signature is still checked).
#   --data DIR     folder holding cifar-10-batches-bin/ for train_main (default: the mini archive
#                  ${LIBTORCH_RESNET_SHARED:-../shared}/data/cifar-10-binary-mini.tar.gz, unpacked into the work dir).
#   --refresh      fetch libtorch-dev and the runtime packages again, and rebuild the 2.x tool.
#   --keep         keep the work dir (checkpoints of ~170 MB each) instead of deleting it.
#   --mirror URL   Debian mirror, passed on to compile-check-libtorch2.sh (env DEBIAN_MIRROR).
#   CHECKPOINT.pt  a checkpoint written by LibTorch 1.13 to use instead of training one.
# The private root is ${LIBTORCH_CHECK_CACHE:-$HOME/.cache/libtorch-resnet-compile-check}/<suite>: compile-check's
# root/ and apt/, plus runtime/ (~800 MB unpacked; the .debs are deleted after unpacking) and the 2.x
# checkpoint_tool; delete runtime/ to reclaim the space. Work files go to a mktemp dir under ${TMPDIR:-/tmp}.
set -euo pipefail

suite="${LIBTORCH_CHECK_SUITE:-sid}"
data=""
refresh=0
keep=0
checkpoint=""
cc_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --suite) suite="$2"; shift 2 ;;
    --suite=*) suite="${1#*=}"; shift ;;
    --data) data="$2"; shift 2 ;;
    --data=*) data="${1#*=}"; shift ;;
    --mirror) cc_args+=(--mirror "$2"); shift 2 ;;
    --mirror=*) cc_args+=(--mirror "${1#*=}"); shift ;;
    --refresh) refresh=1; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    *) [[ -z "$checkpoint" ]] || { echo "only one CHECKPOINT.pt" >&2; exit 2; }; checkpoint="$(realpath "$1")"; shift ;;
  esac
done
[[ "$suite" =~ ^[a-z0-9.-]+$ ]] || { echo "bad suite name: $suite" >&2; exit 2; }
[[ "$suite" == sid ]] && cc_args+=(--allow-expired-release)
[[ $refresh -eq 1 ]] && cc_args+=(--refresh)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
for tool in apt-get dpkg-deb g++ node realpath; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
tool113="$repo/build/checkpoint_tool"
[[ -x "$tool113" ]] || { echo "missing $tool113; build it with: npx cmake-js compile --out build" >&2; exit 2; }
[[ -n "$checkpoint" || -x "$repo/build/train_main" ]] || { echo "missing build/train_main (npx cmake-js compile --out build)" >&2; exit 2; }
[[ -z "$checkpoint" || -f "$checkpoint" ]] || { echo "no such checkpoint: $checkpoint" >&2; exit 2; }

cache="${LIBTORCH_CHECK_CACHE:-$HOME/.cache/libtorch-resnet-compile-check}/$suite"
dev_root="$cache/root"              # compile-check's: libtorch-dev (headers, CMake files, .so links)
rt="$cache/runtime"                 # ours: libtorch-dev again plus libtorchX.Y's runtime closure
rt_debs="$cache/runtime-debs"
rt_stamp="$rt/.libtorch-portability-check"
tool2x="$cache/checkpoint_tool"
sources=(native/tools/checkpoint_tool.cpp native/core/checkpoint.cpp native/core/torch_file.cpp native/core/cifar10_dataset.cpp native/core/resnet34.cpp)
start=$SECONDS

# ---- 1. libtorch-dev of <suite>, and a compile check of the tool's sources, by compile-check-libtorch2.sh ---------
# Skipped (it takes ~2 minutes) while the 2.x tool is newer than its sources and the private roots.
if [[ $refresh -eq 0 && -x "$tool2x" && -f "$rt_stamp" && -f "$dev_root/.libtorch-compile-check" &&
      -z "$(find native/core native/tools/checkpoint_tool.cpp "$rt_stamp" -newer "$tool2x" -print -quit)" ]]; then
  echo "== $tool2x is up to date: compile check skipped"
else
  echo "== scripts/compile-check-libtorch2.sh --suite $suite ${cc_args[*]:+${cc_args[*]} }${sources[*]}"
  "$repo/scripts/compile-check-libtorch2.sh" --suite "$suite" "${cc_args[@]}" "${sources[@]}"
fi
dev_deb="$(find "$cache/debs" -name 'libtorch-dev_*.deb' -print -quit)"
[[ -f "$dev_deb" && -f "$cache/apt/apt.conf" ]] || { echo "compile-check left no libtorch-dev .deb or apt.conf in $cache" >&2; exit 3; }

# ---- 2. the runtime closure of libtorchX.Y, through compile-check's private apt configuration ----------------------
runtime_pkg="$(dpkg-deb -f "$dev_deb" Depends | tr ',' '\n' | sed -n -E 's/^ *(libtorch[0-9][0-9.]*) .*/\1/p' | head -n1)"
[[ -n "$runtime_pkg" ]] || { echo "cannot find the libtorchX.Y package in libtorch-dev's Depends" >&2; exit 3; }
want="suite=$suite dev=$(dpkg-deb -f "$dev_deb" Version) $(grep -m1 -o 'mirror=[^ ]*' "$dev_root/.libtorch-compile-check")"
if [[ $refresh -eq 1 || ! -f "$rt_stamp" || "$(head -n1 "$rt_stamp")" != "$want" ]]; then
  rm -rf "$rt" "$rt_debs" "$tool2x"
  mkdir -p "$rt" "$rt_debs"
  export APT_CONFIG="$cache/apt/apt.conf"
  mkdir -p "$cache/apt/state/lists/partial" "$cache/apt/cache/archives/partial"
  echo "== apt-get update ($suite, compile-check's private apt state in $cache/apt)"
  apt-get -q update > "$cache/apt/update-runtime.log" 2>&1 || true
  grep -E '^(Err|E:|W:|Fetched)' "$cache/apt/update-runtime.log" || true
  if grep -q '^E:' "$cache/apt/update-runtime.log"; then echo "apt-get update failed; see $cache/apt/update-runtime.log" >&2; exit 3; fi
  # With compile-check's empty dpkg status apt sees nothing installed, so a simulated install lists the whole
  # closure (libc6 and libstdc++6 of <suite> included). Recommends are left out.
  mapfile -t closure < <(apt-get -s -q install --no-install-recommends "$runtime_pkg" |
    sed -n -E 's/^Inst ([^ ]+) \(([^ ]+) .*/\1=\2/p')
  [[ ${#closure[@]} -gt 0 ]] || { echo "apt-get could not resolve $runtime_pkg's dependencies" >&2; exit 3; }
  echo "== apt-get download $runtime_pkg and ${#closure[@]} packages of its closure"
  (cd "$rt_debs" && apt-get -q download "${closure[@]}") 2>&1 | grep -E '^(Err|E:|W:|Fetched)' || true
  shopt -s nullglob; debs=("$rt_debs"/*.deb); shopt -u nullglob
  [[ ${#debs[@]} -eq ${#closure[@]} ]] || { echo "apt-get download failed (got ${#debs[@]} of ${#closure[@]})" >&2; exit 3; }
  echo "downloaded: $(du -ch "${debs[@]}" | tail -n1 | cut -f1) in ${#debs[@]} packages"
  for deb in "${debs[@]}" "$dev_deb"; do dpkg-deb -x "$deb" "$rt"; done
  { echo "$want"; printf '%s\n' "${closure[@]}"; } > "$rt_stamp"
  rm -rf "$rt_debs" "$cache/apt/state/lists" "$cache/apt/cache"
  unset APT_CONFIG
  echo "unpacked: $(du -sh "$rt" | cut -f1) in $rt"
else
  echo "== reusing $rt ($(($(wc -l < "$rt_stamp") - 1)) packages; --refresh to fetch again)"
fi

loader="$(find "$rt" -name 'ld-linux-x86-64.so.2' \( -type f -o -type l \) -print -quit)"
[[ -n "$loader" ]] || { echo "no ld-linux-x86-64.so.2 in $rt" >&2; exit 3; }
multiarch="$(gcc -dumpmachine)"
# The multiarch folder first, then usr/lib (libgloo0 puts libgloo.so.0 there), then every other folder below them
# with shared libraries (blas/ and lapack/, which update-alternatives would link into the multiarch folder, ...).
libdirs=()
for d in "$rt/usr/lib/$multiarch" "$rt/usr/lib"; do [[ -d "$d" ]] && libdirs+=("$d"); done
while IFS= read -r d; do
  [[ " ${libdirs[*]} " == *" $d "* ]] || libdirs+=("$d")
done < <(find "$rt/usr/lib" -name 'lib*.so.*' -printf '%h\n' | LC_ALL=C sort -u)
libpath="$(IFS=:; echo "${libdirs[*]}")"
run2x() { "$loader" --inhibit-cache --library-path "$libpath" "$tool2x" "$@"; }

# ---- 3. checkpoint_tool against LibTorch 2.x ----------------------------------------------------------------------
inc="$dev_root/usr/include"
cmake_dir="$(dirname "$(find "$dev_root/usr/lib" -name Caffe2Targets.cmake -print -quit)")"
# The same defines compile-check uses: what find_package(Torch) would add.
torch_defs=()
while IFS= read -r d; do [[ -n "$d" ]] && torch_defs+=("-D$d"); done < <(
  grep -ho 'INTERFACE_COMPILE_DEFINITIONS "[^"$]*"' "$cmake_dir/Caffe2Targets.cmake" | sed 's/^[^"]*"//; s/"$//' |
    tr ';' '\n' | sort -u)
while IFS= read -r f; do [[ -n "$f" ]] && torch_defs+=("$f"); done < <(
  grep -ho 'set(TORCH_CXX_FLAGS "[^"]*")' "$cmake_dir/../Torch/TorchConfig.cmake" 2>/dev/null | sed 's/^[^"]*"//; s/")$//' |
    tr ' ' '\n' | sort -u)
if [[ ! -x "$tool2x" || -n "$(find native/core native/tools/checkpoint_tool.cpp "$rt_stamp" -newer "$tool2x" -print -quit)" ]]; then
  objdir="$cache/obj"
  rm -rf "$objdir"; mkdir -p "$objdir"
  echo "== g++ checkpoint_tool against $runtime_pkg (${#sources[@]} files, 2 at a time)"
  t0=$SECONDS
  pids=()
  for src in "${sources[@]}"; do
    while [[ $(jobs -rp | wc -l) -ge 2 ]]; do wait -n || true; done
    g++ -std=c++20 -O1 -I native -isystem "$inc" -isystem "$inc/torch/csrc/api/include" "${torch_defs[@]}" \
      -c "$src" -o "$objdir/$(basename "$src" .cpp).o" > "$objdir/$(basename "$src" .cpp).log" 2>&1 &
    pids+=($!)
  done
  ok=1
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then ok=0; echo "FAIL compiling ${sources[$i]}:"; head -n 20 "$objdir/$(basename "${sources[$i]}" .cpp).log"; fi
  done
  [[ $ok -eq 1 ]] || exit 4
  # System g++/libstdc++/glibc satisfy the tool's own references; the 2.x libraries need <suite>'s newer glibc and
  # libstdc++, which only the private loader provides at run time, so their references are not checked here.
  g++ -o "$tool2x" "$objdir"/*.o -L"$rt/usr/lib/$multiarch" \
    -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 -Wl,--as-needed \
    -Wl,--allow-shlib-undefined -Wl,-rpath-link,"$libpath" -pthread
  rm -rf "$objdir"
  echo "   built $tool2x in $((SECONDS - t0))s"
fi
# Every library must come from the private root (the loader would otherwise fall back to the system's folders).
if ! libs="$("$loader" --inhibit-cache --library-path "$libpath" --list "$tool2x" 2>&1)"; then
  echo "$libs" >&2; echo "the 2.x tool does not load" >&2; exit 4
fi
outside="$(echo "$libs" | grep -v "=> $rt/" | grep -v -E '^\s*(linux-vdso|/.*ld-linux)' || true)"
if [[ -n "$outside" ]]; then echo "libraries from outside $rt:"; echo "$outside"; exit 4; fi
echo "   $(echo "$libs" | wc -l) libraries, all from $rt"

# ---- 4. the checks ------------------------------------------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/checkpoint-portability.XXXXXX")"
if [[ $keep -eq 1 ]]; then echo "== work dir (kept): $work"; else trap 'rm -rf "$work"' EXIT; fi
if [[ -z "$checkpoint" ]]; then
  if [[ -z "$data" ]]; then
    archive="${LIBTORCH_RESNET_SHARED:-$repo/../shared}/data/cifar-10-binary-mini.tar.gz"
    [[ -f "$archive" ]] || { echo "missing $archive; pass --data DIR or CHECKPOINT.pt" >&2; exit 2; }
    data="$work/data"; mkdir -p "$data"; tar xzf "$archive" -C "$data"
  fi
  echo "== build/train_main (LibTorch 1.13): 1 epoch on 64 images of 16x16 -> $work/ckp-113/last.pt"
  "$repo/build/train_main" "$data/cifar-10-batches-bin" --preset cifar --image-size 16 --epochs 1 --batch-size 16 \
    --limit-train 64 --limit-test 16 --checkpoint-dir "$work/ckp-113" > "$work/train.log" 2>&1 ||
    { cat "$work/train.log"; echo "train_main failed" >&2; exit 5; }
  checkpoint="$work/ckp-113/last.pt"
fi
v113="$("$tool113" inspect "$checkpoint" | jq -r .readBy)" || { echo "the 1.13 tool cannot inspect $checkpoint" >&2; exit 5; }
v2x="$(printf '#include <torch/version.h>\nTORCH_VERSION\n' |
  g++ -std=c++20 -E -P -x c++ -isystem "$inc" -isystem "$inc/torch/csrc/api/include" - | tail -n1 | tr -d '" ')"

# inspect NAME TOOL FILE: prints and keeps the JSON line (or the error) as $work/NAME.json.
inspect() {
  local name="$1" which="$2" file="$3" out rc=0
  if [[ "$which" == 113 ]]; then out="$("$tool113" inspect "$file" 2>&1)" || rc=$?; else out="$(run2x inspect "$file" 2>&1)" || rc=$?; fi
  if [[ $rc -ne 0 ]]; then out="{\"error\":$(jq -Rs . <<<"exit $rc: $out")}"; fi
  echo "$out" | tail -n1 > "$work/$name.json"
  printf '   %-9s %s\n' "$name" "$(cat "$work/$name.json")"
}
# resave TOOL IN OUT
resave() {
  local which="$1" rc=0
  if [[ "$which" == 113 ]]; then "$tool113" resave "$2" "$3" || rc=$?; else run2x resave "$2" "$3" || rc=$?; fi
  [[ $rc -eq 0 ]] || echo "   resave by $which failed (exit $rc)"
  return 0
}

echo "== LibTorch $v113 (build/checkpoint_tool) and $v2x ($tool2x), checkpoint $checkpoint"
inspect a113 113 "$checkpoint"
inspect a2x 2x "$checkpoint"
resave 2x "$checkpoint" "$work/resaved-by-2x.pt"
inspect b113 113 "$work/resaved-by-2x.pt"
inspect b2x 2x "$work/resaved-by-2x.pt"
resave 113 "$work/resaved-by-2x.pt" "$work/resaved-by-113.pt"
inspect c2x 2x "$work/resaved-by-113.pt"
inspect c113 113 "$work/resaved-by-113.pt"

# check DIRECTION WRITER REFERENCE113 REFERENCE2X NAME...: every NAME was written by WRITER, has the same metadata
# as the references, bit-identical checksums to the reference of its reader, and 1e-12 agreement across readers.
check() {
  local direction="$1" writer="$2"; shift 2
  if node -e '
    const fs = require("fs");
    const [dir, writer, v113, v2x, ...names] = process.argv.slice(1);
    const read = (n) => JSON.parse(fs.readFileSync(`${dir}/${n}.json`, "utf8"));
    const ref = { "113": read("a113"), "2x": read("a2x") };
    const problems = [];
    const close = (x, y) => Math.abs(x - y) <= 1e-12 * Math.max(Math.abs(x), Math.abs(y));
    for (const name of names) {
      const j = read(name);
      const reader = name.endsWith("113") ? "113" : "2x";
      if (j.error !== undefined) { problems.push(`${name}: ${j.error.trim()}`); continue; }
      if (j.readBy !== (reader === "113" ? v113 : v2x)) problems.push(`${name}: readBy ${j.readBy}`);
      if (j.writtenBy !== writer) problems.push(`${name}: writtenBy ${j.writtenBy}, expected ${writer}`);
      for (const k of ["preset", "epochsDone", "step", "momentumBuffers"])
        if (j[k] !== ref["113"][k]) problems.push(`${name}: ${k} ${j[k]} != ${ref["113"][k]}`);
      if (!(j.momentumBuffers > 0)) problems.push(`${name}: no momentum buffers`);
      for (const k of ["weights", "momentum"]) {
        const mine = ref[reader], other = ref[reader === "113" ? "2x" : "113"];
        if (mine.error === undefined && JSON.stringify(j[k]) !== JSON.stringify(mine[k]))
          problems.push(`${name}: ${k} ${JSON.stringify(j[k])} != ${JSON.stringify(mine[k])} (same reader, a${reader})`);
        if (other.error === undefined && !j[k].every((x, i) => close(x, other[k][i])))
          problems.push(`${name}: ${k} ${JSON.stringify(j[k])} vs ${JSON.stringify(other[k])} (other reader)`);
      }
    }
    for (const p of problems) console.log(`      ${p}`);
    process.exit(problems.length ? 1 : 0);
  ' "$work" "$writer" "$v113" "$v2x" "$@"; then
    printf 'PASS  %s\n' "$direction"
  else
    printf 'FAIL  %s\n' "$direction"; failed=$((failed + 1))
  fi
}
failed=0
check "$v113 -> $v2x: the 1.13 file read by both" "$v113" a113 a2x
check "$v2x -> $v113: resaved by $v2x, read by 1.13 (and $v2x)" "$v2x" b113 b2x
check "$v2x -> $v113 -> $v2x: that file resaved by 1.13, read by $v2x (and 1.13)" "$v113" c2x c113

echo "== $((3 - failed)) of 3 directions PASS, $((SECONDS - start))s (Debian $suite, LibTorch $v2x)"
[[ $failed -eq 0 ]]
