#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Who runs it: a developer or user, once, as `npm run setup` (and .ci/run). Never part of a user's npm install.
# What it does, skipping whatever is already there: a C++ toolchain and CMake, a LibTorch (Debian's
# libtorch-dev when scripts/find-libtorch.js finds none), the npm packages, then the addon and the TypeScript.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: %s\n' "$*" >&2; exit 1; }

# Node 20.17 or newer (node-gyp 12 and the N-API version we build for).
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=17)?0:1)' \
  || fail "Node $(node --version) is too old; install Node 20.17 or newer"

# Debian/Ubuntu packages, installed only where missing.
apt_packages=()
command -v cmake >/dev/null || apt_packages+=(cmake)
command -v g++ >/dev/null || apt_packages+=(g++)
command -v make >/dev/null || apt_packages+=(make)
if ! node scripts/find-libtorch.js >/dev/null 2>&1; then
  if [ -n "${LIBTORCH:-}" ] || [ -n "${Torch_DIR:-}" ]; then
    node scripts/find-libtorch.js || true
    fail "LIBTORCH / Torch_DIR is set but holds no usable LibTorch; fix or unset it"
  fi
  apt_packages+=(libtorch-dev libgloo-dev)
elif [ "$(node -p 'require("./lib/find-libtorch.js").findLibtorch().source' 2>/dev/null)" = system ] \
  && [ ! -f /usr/include/gloo/config.h ]; then
  # Debian's LibTorch has c10d built in, but multi-process training (Gloo) also needs gloo's headers.
  apt_packages+=(libgloo-dev)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  command -v apt-get >/dev/null \
    || fail "missing: ${apt_packages[*]}; install them (or a LibTorch, then set LIBTORCH=/path/to/libtorch) and run again"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || fail "missing: ${apt_packages[*]}; run as root: apt-get install -y ${apt_packages[*]}"
    sudo=(sudo)
  fi
  say "installing ${apt_packages[*]} with apt-get"
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${apt_packages[@]}"
fi
say "$(node scripts/find-libtorch.js)"

# npm packages, exactly as locked.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  # --ignore-scripts: the install script is for users' projects (install/check.js); the build comes below.
  npm ci --no-audit --no-fund --ignore-scripts
fi

say "building the addon (cmake-js) and the TypeScript"
npm run build
say "done. Try: npx libtorch-resnet info"
