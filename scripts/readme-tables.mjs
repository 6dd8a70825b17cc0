#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Who runs it: a developer after changing an option in lib/config/ (after `npm run build:ts`). Rewrites the
// README's options table from OPTION_SPECS; test/unit/docs.test.ts fails while the README is out of date.
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const readmePath = new URL('../README.md', import.meta.url);
let docs;
try {
  docs = require('../dist/docs.js');
} catch {
  console.error('readme-tables: dist/docs.js is missing; run `npm run build:ts` first');
  process.exit(1);
}
fs.writeFileSync(readmePath, docs.withOptionsTable(fs.readFileSync(readmePath, 'utf8')));
console.log('readme-tables: README.md options table updated');
