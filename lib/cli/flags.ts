// SPDX-License-Identifier: MIT
// Command-line flags made from a command's option specs: one spec, one flag (or a --flag / --no-flag pair), its
// help from the spec's description, default and range; and back from a config error to the flag that caused it.
import type { Command } from 'commander';
import { Option } from 'commander';

import type { AnySpec, ConfigError, OptionSpec, SpecTable } from '../config';

/** batchSize -> batch-size. */
export function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

// Flag values become numbers where they look like numbers; anything else goes to the resolver as it is, so that
// its message (naming the option and what is allowed) is the one the user sees.
export function parseNumberFlag(value: string): number | string {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value.trim()) ? Number(value) : value;
}

/**
 * The flags of an option. A boolean that defaults to true has only its --no- form; other booleans (whose
 * default may depend on the preset) have both.
 *
 * @example
 * flagNames(OPTION_SPECS.find((s) => s.name === 'flipTta')!); // ['--flip-tta', '--no-flip-tta']
 */
export function flagNames(spec: OptionSpec<string>): string[] {
  const flag = `--${kebabCase(spec.name)}`;
  if (spec.type !== 'boolean') return [flag];
  const negated = `--no-${kebabCase(spec.name)}`;
  return spec.default === true ? [negated] : [flag, negated];
}

function booleanOptions(spec: AnySpec): Option[] {
  const lower = `${spec.description.charAt(0).toLowerCase()}${spec.description.slice(1)}`;
  const names = flagNames(spec);
  return names.map((flag) =>
    !flag.startsWith('--no-')
      ? new Option(flag, `${spec.description} (default: ${spec.defaultText})`)
      : new Option(
          flag,
          names.length === 1
            ? `Don't ${lower}`
            : typeof spec.default === 'string'
              ? `The opposite of ${names[0]} (${spec.name}: false; neither flag: ${spec.defaultText})`
              : `The opposite of ${names[0]}`,
        ),
  );
}

/** The commander options of one spec; a `mandatory` one must be given. */
export function flagOptions(spec: AnySpec, mandatory = false): Option[] {
  if (spec.type === 'boolean') return booleanOptions(spec);
  const placeholder =
    spec.type === 'integer' ? 'n' : spec.type === 'number' ? 'x' : kebabCase(spec.name).split('-').pop()!;
  const given = mandatory ? 'required' : `default: ${spec.defaultText}`;
  const details = spec.range ? `${given}; ${spec.range}` : given;
  const option = new Option(spec.flag ?? `${flagNames(spec)[0]} <${placeholder}>`, `${spec.description} (${details})`);
  if (spec.type === 'integer' || spec.type === 'number') option.argParser(parseNumberFlag);
  if (mandatory) option.makeOptionMandatory();
  if (!spec.negatable) return [option];
  return [option, new Option(`--no-${kebabCase(spec.name)}`, `The opposite of ${flagNames(spec)[0]} (${spec.name}: false)`)];
}

/** Adds a flag for every spec of `specs` that has one, in the table's order; `mandatory` ones must be given. */
export function addFlags(command: Command, specs: SpecTable, mandatory: readonly string[] = []): Command {
  for (const spec of Object.values(specs)) {
    if (!spec.cli) continue;
    for (const option of flagOptions(spec, mandatory.includes(spec.name))) command.addOption(option);
  }
  return command;
}

/** The options given on the command line (not left to their defaults), under their spec names. */
export function givenFlags(specs: SpecTable, opts: Record<string, unknown>, command: Command): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const spec of Object.values(specs)) {
    if (spec.cli && command.getOptionValueSource(spec.name) === 'cli') input[spec.name] = opts[spec.name];
  }
  return input;
}

/**
 * The flag a config error is about: the flag of the option it names, when the command has one, else the flag
 * `aliases` gives for a nested option ('download.url' is `download --url`).
 */
export function flagOf(error: ConfigError, specs: SpecTable, aliases: Readonly<Record<string, string>> = {}): string | undefined {
  const option = error.option;
  if (option === undefined) return undefined;
  if (aliases[option] !== undefined) return aliases[option];
  const spec = specs[option];
  return spec?.cli ? flagNames(spec)[0]!.replace(/^--no-/, '--') : undefined;
}
