// SPDX-License-Identifier: MIT
// The README's options table, generated from OPTION_SPECS so the docs cannot drift from what lib/config/ accepts.
import { flagNames } from './cli/flags';
import { OPTION_SPECS } from './config';

/** README markers between which `node scripts/readme-tables.mjs` writes the table. */
export const OPTIONS_START = '<!-- options:start -->';
export const OPTIONS_END = '<!-- options:end -->';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/**
 * The options table as Markdown: option, CLI flag, type, default, allowed values, description.
 *
 * @example
 * fs.writeFileSync('options.md', optionsTable());
 */
export function optionsTable(): string {
  const rows = OPTION_SPECS.map((spec) => {
    const flags = spec.cli ? flagNames(spec).map((f) => `\`${f}\``).join(', ') : '';
    return `| \`${spec.name}\` | ${flags} | ${spec.type} | ${cell(spec.defaultText)} | ${cell(spec.range)} | ${cell(spec.description)} |`;
  });
  return ['| option | CLI flag | type | default | allowed | what |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

/** `readme` with the text between the markers replaced by the current table. */
export function withOptionsTable(readme: string): string {
  const start = readme.indexOf(OPTIONS_START);
  const end = readme.indexOf(OPTIONS_END);
  if (start < 0 || end < start) throw new Error(`README lacks the ${OPTIONS_START} ... ${OPTIONS_END} markers`);
  return `${readme.slice(0, start + OPTIONS_START.length)}\n${optionsTable()}\n${readme.slice(end)}`;
}
