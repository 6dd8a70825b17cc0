#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Who runs it: .ci/run. Fails when CMakeLists.txt and binding.gyp stop compiling the same sources with the
// same N-API defines, when a .cpp under native/core or native/binding is missing from either, or when either
// needs a file from scripts/, which the package leaves out.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const cmake = fs.readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8');
const gyp = fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8');

const onDisk = ['native/core', 'native/binding'].flatMap((dir) =>
  fs
    .readdirSync(path.join(root, dir), { recursive: true })
    .filter((f) => f.endsWith('.cpp'))
    .map((f) => `${dir}/${f}`),
);
const inCmake = new Set(cmake.match(/native\/(?:core|binding)\/[\w/]+\.cpp/g) ?? []);
const inGyp = new Set(gyp.match(/native\/(?:core|binding)\/[\w/]+\.cpp/g) ?? []);
const defines = ['NAPI_VERSION=8', 'NODE_ADDON_API_CPP_EXCEPTIONS', 'NODE_ADDON_API_CPP_EXCEPTIONS_ALL'];

const problems = [];
for (const file of onDisk) {
  if (!inCmake.has(file)) problems.push(`${file} is not compiled by CMakeLists.txt`);
  if (!inGyp.has(file)) problems.push(`${file} is not compiled by binding.gyp`);
}
for (const file of new Set([...inCmake, ...inGyp])) {
  if (!onDisk.includes(file)) problems.push(`${file} is named in a build file but does not exist`);
}
for (const define of defines) {
  const word = new RegExp(`(^|[\\s"(])${define}($|[\\s")])`, 'm');
  if (!word.test(cmake)) problems.push(`CMakeLists.txt does not define ${define}`);
  if (!word.test(gyp)) problems.push(`binding.gyp does not define ${define}`);
}
// Both ask the lookup the package ships: a packed package, which has no scripts/, builds from source with either.
for (const [name, text] of [['CMakeLists.txt', cmake], ['binding.gyp', gyp]]) {
  if (!/lib\/find-libtorch\.js/.test(text)) problems.push(`${name} does not ask lib/find-libtorch.js which LibTorch`);
  if (/scripts\//.test(text.replace(/^\s*#.*$/gm, ''))) problems.push(`${name} runs something from scripts/, which the package leaves out`);
}
// The build record lib/native.ts reads from a binary that cannot load (native/binding/addon.cpp).
const finder = fs.readFileSync(path.join(root, 'lib', 'find-libtorch.js'), 'utf8');
if (!/LIBTORCH_RESNET_LIB_DIR=/.test(cmake)) problems.push('CMakeLists.txt does not define LIBTORCH_RESNET_LIB_DIR');
if (!/LIBTORCH_RESNET_LIB_DIR=/.test(finder)) problems.push('find-libtorch.js --defines does not give binding.gyp LIBTORCH_RESNET_LIB_DIR');
if (!/CMAKE_CXX_STANDARD 20/.test(cmake) || !/-std=c\+\+20/.test(gyp)) problems.push('both builds must use C++20');

if (problems.length) {
  console.error(`check-build-files: the builds drift apart:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`check-build-files: ${onDisk.length} sources and ${defines.length} defines agree`);
