// SPDX-License-Identifier: MIT
// An option spec: one row of a command's option table (type, default, range, description) and the check that
// reads its value. Each command has its own typed table; the README tables, the CLI flags and the resolvers all
// read from them, so an option is described once.
import { invalidParameter, readBoolean, readEnum, readInteger, readNumber, readObject, unknownKey } from './checks';
import type { OptionName } from './types';

/**
 * One row of the options table, machine-readable: README tables and CLI flags are generated from these.
 *
 * @example
 * for (const spec of OPTION_SPECS) console.log(`| ${spec.name} | ${spec.type} | ${spec.defaultText} | ${spec.range} |`);
 */
export interface OptionSpec<N extends string = OptionName> {
  readonly name: N;
  /** How the value is typed. */
  readonly type: 'integer' | 'number' | 'boolean' | 'string' | 'enum' | 'object' | 'AbortSignal' | 'function';
  /** The default value; undefined where it depends on other options or the environment (see defaultText). */
  readonly default: number | string | boolean | undefined;
  /** The default, as the README shows it. */
  readonly defaultText: string;
  /** Allowed values, short: '1–4096', '(0, 10]', "'article' | 'cifar'"; empty where any value of the type goes. */
  readonly range: string;
  /** What a valid value is, as error messages say it: 'integer between 1 and 4096'. */
  readonly expected: string;
  /** One line for the README and --help. */
  readonly description: string;
  /** Whether the command has a flag for it (the kebab-case of name). */
  readonly cli: boolean;
  /** Bounds of 'integer' and 'number' options. */
  readonly min?: number;
  readonly max?: number;
  /** Whether min / max themselves are excluded ('number' options). */
  readonly minExclusive?: boolean;
  readonly maxExclusive?: boolean;
  /** The values of 'enum' options. */
  readonly values?: readonly string[];
}

/**
 * A spec with its check: `read` turns a given value into the option's type, or throws a config error. `earlier`
 * holds the options read before it (see readOptions' `first`), for a check that depends on another option.
 */
export interface Spec<N extends string, T> extends OptionSpec<N> {
  readonly read: (value: unknown, earlier: Readonly<Record<string, unknown>>) => T;
  /** For an option that must be given: what the error for its absence says is expected. */
  readonly required?: string;
  /** The CLI flag's syntax where the type's default one does not fit: '--peer [file]'. */
  readonly flag?: string;
  /** Whether a flag with a value also has a --no- form ('--no-yardstick'). */
  readonly negatable?: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySpec = Spec<string, any>;
export type SpecTable = { readonly [name: string]: AnySpec };

/** The values an options object gave, each read by its spec; options left out (or undefined) are absent. */
export type ReadValues<S extends SpecTable> = { -readonly [K in keyof S]?: ReturnType<S[K]['read']> };

/**
 * Reads an options object against a command's table: unknown keys are refused with a "did you mean", then each
 * option in turn, `first` ones first, then the rest in table order: a required one left out is refused (with
 * `absentFirst`, before any value is read), a given value goes through its spec's check. An option set to
 * undefined counts as left out.
 *
 * @example
 * const { values, given } = readOptions(TRAIN_SPECS, { epochs: 3 }); // values.epochs === 3, given ['epochs']
 */
export function readOptions<S extends SpecTable>(
  specs: S,
  input: unknown,
  {
    allowUndefined = false,
    first = [],
    absentFirst = false,
  }: { allowUndefined?: boolean; first?: readonly (keyof S & string)[]; absentFirst?: boolean } = {},
): { values: ReadValues<S>; given: (keyof S & string)[] } {
  const object = readObject(input, allowUndefined);
  const names = Object.keys(specs);
  for (const key of Object.keys(object)) if (!names.includes(key)) throw unknownKey(key, names);
  const absent = (name: string) => object[name] === undefined && specs[name]!.required !== undefined;
  const missing = absentFirst ? names.find(absent) : undefined;
  if (missing !== undefined) throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', missing, specs[missing]!.required!, undefined);
  const values: Record<string, unknown> = {};
  for (const name of [...first, ...names.filter((n) => !first.includes(n))]) {
    const spec = specs[name]!;
    if (object[name] !== undefined) values[name] = spec.read(object[name], values);
    else if (spec.required !== undefined) throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', name, spec.required, undefined);
  }
  return { values: values as ReadValues<S>, given: names.filter((name) => object[name] !== undefined) };
}

/** A spec whose check is `read`, with its text fields as given. */
export function spec<N extends string, T>(
  fields: OptionSpec<N> & Partial<Spec<N, T>>,
  read: (value: unknown, earlier: Readonly<Record<string, unknown>>) => T,
): Spec<N, T> {
  return { ...fields, read };
}

export function integerSpec<N extends string>(
  name: N,
  min: number,
  max: number,
  def: number | undefined,
  description: string,
  extra: Partial<Omit<OptionSpec<N>, 'name'>> = {},
): Spec<N, number> {
  const unbounded = max === Number.MAX_SAFE_INTEGER;
  const fields: OptionSpec<N> = {
    name,
    type: 'integer',
    default: def,
    defaultText: def === undefined ? 'all' : String(def),
    range: unbounded ? `≥ ${min}` : `${min}–${max}`,
    expected: unbounded ? `integer of at least ${min}` : `integer between ${min} and ${max}`,
    description,
    cli: true,
    min,
    max,
    ...extra,
  };
  return spec(fields, (value) => readInteger(value, fields));
}

export function numberSpec<N extends string>(
  name: N,
  bounds: { min: number; max: number; minExclusive?: boolean; maxExclusive?: boolean },
  def: number | undefined,
  description: string,
): Spec<N, number> {
  const minExclusive = bounds.minExclusive ?? false;
  const maxExclusive = bounds.maxExclusive ?? false;
  const lower = minExclusive ? `greater than ${bounds.min}` : `at least ${bounds.min}`;
  const upper = maxExclusive ? `less than ${bounds.max}` : `at most ${bounds.max}`;
  const fields: OptionSpec<N> = {
    name,
    type: 'number',
    default: def,
    defaultText: String(def),
    range: `${minExclusive ? '(' : '['}${bounds.min}, ${bounds.max}${maxExclusive ? ')' : ']'}`,
    expected:
      minExclusive || maxExclusive
        ? `number ${lower} and ${upper}`
        : `number between ${bounds.min} and ${bounds.max}`,
    description,
    cli: true,
    min: bounds.min,
    max: bounds.max,
    minExclusive,
    maxExclusive,
  };
  return spec(fields, (value) => readNumber(value, fields));
}

export function booleanSpec<N extends string>(
  name: N,
  def: boolean | undefined,
  defaultText: string,
  description: string,
): Spec<N, boolean> {
  const fields: OptionSpec<N> = {
    name,
    type: 'boolean',
    default: def,
    defaultText,
    range: 'true | false',
    expected: 'boolean',
    description,
    cli: true,
  };
  return spec(fields, (value) => readBoolean(value, fields));
}

/** The values of an enumeration as error messages list them: one of 'a', 'b' or 'c'. */
export function oneOf(values: readonly string[]): string {
  return `one of ${values.slice(0, -1).map((v) => `'${v}'`).join(', ')} or '${values[values.length - 1]}'`;
}

export function enumSpec<N extends string, V extends string>(
  name: N,
  values: readonly V[],
  def: V | undefined,
  defaultText: string,
  description: string,
): Spec<N, V> {
  const fields: OptionSpec<N> = {
    name,
    type: 'enum',
    default: def,
    defaultText,
    range: values.map((v) => `'${v}'`).join(' | '),
    expected: oneOf(values),
    description,
    cli: true,
    values,
  };
  return spec(fields, (value) => readEnum<V>(value, fields));
}
