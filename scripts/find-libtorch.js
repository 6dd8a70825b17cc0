#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Who runs it: developers, scripts/setup.sh, scripts/gpu-check.sh and .ci/run. The lookup itself is
// lib/find-libtorch.js, which the package ships and the builds run (a packed package has no scripts/); this keeps
// `node scripts/find-libtorch.js [--json | --cmake-dir | ...]` working where developers expect it.
'use strict';

const finder = require('../lib/find-libtorch.js');

module.exports = finder;

if (require.main === module) process.exitCode = finder.main(process.argv.slice(2));
