// SPDX-License-Identifier: MIT
import fs from 'node:fs';
import path from 'node:path';

import { OPTION_SPECS } from '../../lib/config';
import { optionsTable, withOptionsTable } from '../../lib/docs';

describe('README options table', () => {
  test('has one row per option, with its flag and default', () => {
    const lines = optionsTable().split('\n');
    expect(lines).toHaveLength(OPTION_SPECS.length + 2);
    expect(lines).toContainEqual(expect.stringMatching(/^\| `batchSize` \| `--batch-size` \| integer \| 64 \(article\), 512 \(cifar\), 64 \(torchvision\) \| 1–4096 \|/));
    expect(lines).toContainEqual(expect.stringMatching(/^\| `download` \| `--no-download` \| boolean \| true \|/));
    expect(lines).toContainEqual(expect.stringMatching(/^\| `signal` \| {2}\| AbortSignal \|/));
  });

  test('the README holds the current table (run `node scripts/readme-tables.mjs` after changing an option)', () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    expect(withOptionsTable(readme)).toBe(readme);
  });

  test('refuses a README without the markers', () => {
    expect(() => withOptionsTable('# no markers')).toThrow(/markers/);
  });
});
