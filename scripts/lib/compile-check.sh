# SPDX-License-Identifier: MIT
# Sourced by scripts/compile-check-libtorch2.sh and scripts/check-cuda.sh: the compile flags an unpacked LibTorch's
# CMake config would add, and the audit of where each header a file pulled in came from.

# libtorch_cmake_defines ROOT: prints, one a line, what find_package(Torch) would add to a consumer's compile line
# for the LibTorch unpacked under ROOT: the literal INTERFACE_COMPILE_DEFINITIONS of every target exported in
# Caffe2Targets.cmake (torch_cpu, torch_cuda, c10_cuda, ...; the $<TARGET_PROPERTY:...> forwarders of the *_library
# targets only repeat those), as -DNAME, and TORCH_CXX_FLAGS from TorchConfig.cmake (-D_GLIBCXX_USE_CXX11_ABI=1).
libtorch_cmake_defines() {
  local root="$1" targets cmake_dir
  targets="$(find "$root/usr/lib" -name Caffe2Targets.cmake -print -quit 2>/dev/null || true)"
  [[ -n "$targets" ]] || return 0
  cmake_dir="$(dirname "$targets")"
  grep -ho 'INTERFACE_COMPILE_DEFINITIONS "[^"$]*"' "$targets" |
    sed 's/^[^"]*"//; s/"$//' | tr ';' '\n' | sed '/^$/d; s/^/-D/' | sort -u
  grep -ho 'set(TORCH_CXX_FLAGS "[^"]*")' "$cmake_dir/../Torch/TorchConfig.cmake" 2>/dev/null |
    sed 's/^[^"]*"//; s/")$//' | tr ' ' '\n' | sed '/^$/d' | sort -u
}

# Packages whose headers any compile may use: libc, libstdc++, libgcc, the kernel's, and Node's.
audit_allowed_pkg='^(libc6-dev|libstdc\+\+-[0-9]+-dev|libgcc-[0-9]+-dev|linux-libc-dev|nodejs|libnode-dev|libnode[0-9]+)(:[a-z0-9]+)?$'

# audit_headers DEPFILE SRC ALLOWED_DIR...: the headers in DEPFILE (g++ -MD) from outside the ALLOWED_DIRs (the
# private LibTorch root, the repository, node-addon-api, ...) must belong to a package matching $audit_allowed_pkg.
# Prints each one that does not (the system's LibTorch 1.13, another -dev package, a file no package owns) and
# returns 1 if there is one. Relative paths in DEPFILE are taken relative to the current directory.
audit_headers() {
  local depfile="$1" srcpath sys=() p line pkgs path bad=0
  srcpath="$(realpath -s -m "$2")"
  shift 2
  # One realpath for all (a LibTorch file pulls in ~5000 headers; a process each would take a minute or more).
  mapfile -t sys < <(sed 's/\\$//' "$depfile" | tr ' ' '\n' | grep -v -e '^$' -e ':$' |
    awk -v pwd="$PWD" '{ if (substr($0, 1, 1) != "/") $0 = pwd "/" $0; print }' |
    xargs -r -d '\n' realpath -s -m -- |
    awk -v src="$srcpath" -v dirs="$(printf '%s\n' "$@")" '
      BEGIN { n = split(dirs, allowed, "\n") }
      $0 == src { next }
      { for (i = 1; i <= n; i++) { d = allowed[i]; sub(/\/$/, "", d)
          if (d != "" && substr($0, 1, length(d) + 1) == d "/") next }
        print }')
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
    for pkg in "${pkg_list[@]}"; do [[ "$pkg" =~ $audit_allowed_pkg ]] || ok=0; done
    if [[ $ok -eq 0 ]]; then echo "    system header from $pkgs: $path"; bad=1; fi
  done <<<"$owned"
  for p in "${sys[@]}"; do
    if [[ -z "${seen[$p]:-}" ]]; then echo "    system header owned by no package: $p"; bad=1; fi
  done
  return $bad
}
