#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Who runs it: .ci/run (and developers checking the release build). Builds the addon with node-gyp from
# binding.gyp in a scratch copy of the sources, so it does not clobber cmake-js's build/, and leaves the
# result in build-gyp/torch_resnet.node.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r binding.gyp package.json native scripts "$work/"
ln -s "$root/node_modules" "$work/node_modules"
(cd "$work" && npx --no-install node-gyp rebuild --jobs="$(nproc)")
mkdir -p build-gyp
cp "$work/build/Release/torch_resnet.node" build-gyp/
echo "build-gyp: build-gyp/torch_resnet.node"
