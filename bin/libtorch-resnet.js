#!/usr/bin/env node
// SPDX-License-Identifier: MIT
require('../dist/cli').main();
