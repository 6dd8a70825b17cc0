// SPDX-License-Identifier: MIT
// A field added on one side only fails here, before any build: the keys native/binding/convert.cpp reads against
// the TypeScript declarations in lib/native.ts that say what JS passes, and the training options a checkpoint
// stores (native/core/checkpoint.cpp) against the options struct (native/core/options.h) and against what it reads
// back. A lexical reading of the sources, as native-function-length.test.ts does.
import fs from 'node:fs';
import path from 'node:path';

import ts from 'typescript';

const ROOT = path.resolve(__dirname, '../..');
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** The body of the C++ function whose signature line starts with `signature`, by brace matching. */
export function cppBody(source: string, signature: string): string {
  const at = source.indexOf(signature);
  if (at < 0) throw new Error(`no function ${signature}`);
  const open = source.indexOf('{', at);
  let depth = 0;
  for (let i = open; i < source.length; i++) {
    if (source[i] === '{') depth++;
    if (source[i] === '}' && --depth === 0) return source.slice(open, i + 1);
  }
  throw new Error(`unbalanced braces after ${signature}`);
}

/** String literals passed as keys of the object `object`: get_int(o, "key"), o.Get("key"). */
export function keysRead(body: string, object: string): string[] {
  const keys = new Set<string>();
  for (const m of body.matchAll(new RegExp(`\\b${object}, "(\\w+)"|\\b${object}\\.Get\\("(\\w+)"\\)`, 'g')))
    keys.add(m[1] ?? m[2]!);
  return [...keys].sort();
}

/** The property names of an exported interface in a TypeScript file. */
export function interfaceKeys(file: string, name: string): string[] {
  const source = ts.createSourceFile(file, read(file), ts.ScriptTarget.Latest, true);
  const found = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name);
  if (!found) throw new Error(`no interface ${name} in ${file}`);
  return found.members
    .filter(ts.isPropertySignature)
    .map((m) => m.name.getText(source))
    .sort();
}

const convert = read('native/binding/convert.cpp');
// Keys a helper reads on the caller's behalf, where the function passes the whole object on.
const helpers: Record<string, string[]> = {
  'get_cuda_graph(o)': keysRead(cppBody(convert, 'core::CudaGraph get_cuda_graph('), 'o'),
};
const withHelpers = (body: string, keys: string[]): string[] =>
  [...new Set([...keys, ...Object.entries(helpers).flatMap(([call, k]) => (body.includes(call) ? k : []))])].sort();

describe('the options JS passes and the binding reads are the same fields', () => {
  test.each([
    ['core::TrainOptions to_train_options(', 'NativeTrainOptions', 'o'],
    ['core::EvalOptions to_eval_options(', 'NativeEvalOptions', 'o'],
    ['core::PredictOptions to_predict_options(', 'NativePredictOptions', 'o'],
    ['core::BenchOptions to_bench_options(', 'NativeBenchOptions', 'o'],
  ])('%s reads exactly the keys of %s', (signature, declaration, object) => {
    const body = cppBody(convert, signature);
    expect(withHelpers(body, keysRead(body, object))).toEqual(interfaceKeys('lib/native.ts', declaration));
  });

  test('the distributed options too', () => {
    const body = cppBody(convert, 'core::TrainOptions to_train_options(');
    expect(keysRead(body, 'd')).toEqual(interfaceKeys('lib/native.ts', 'NativeDistributedOptions'));
  });
});

describe("a checkpoint's options are the options struct's", () => {
  const checkpoint = read('native/core/checkpoint.cpp');
  const written = cppBody(checkpoint, 'GenericDict options_dict(');
  const readBack = cppBody(checkpoint, 'TrainOptions read_options(');
  // Fields a checkpoint does not keep, and why.
  const NOT_STORED: Record<string, string> = {
    cuda_graph: 'a per-run choice; a resume may switch it',
    checkpoint_dir: 'where this run writes, not what it trained',
    resume_from: 'where this run started, not what it trained',
    images_train_cache: "derived from images_dir's files: a resume looks the caches up again",
    images_valid_cache: "derived from images_dir's files: a resume looks the caches up again",
    images_test_cache: "derived from images_dir's files: a resume looks the caches up again",
  };

  test('every field of TrainOptions is written, or listed here as not stored, with why', () => {
    const options = read('native/core/options.h');
    const struct = cppBody(options, 'struct TrainOptions');
    const fields = [...struct.matchAll(/^ {2}[\w:<>]+ (\w+)(?: = [^;]+)?;/gm)].map((m) => m[1]!);
    expect(fields.length).toBeGreaterThan(25);
    const storedFields = new Set([...written.matchAll(/\bo\.(\w+)/g)].map((m) => m[1]!));
    const missing = fields.filter((f) => !storedFields.has(f) && !(f in NOT_STORED));
    expect(missing).toEqual([]);
    // And nothing listed as not stored is stored after all.
    expect(Object.keys(NOT_STORED).filter((f) => storedFields.has(f))).toEqual([]);
  });

  test('read_options reads back every key options_dict writes, and no other', () => {
    const keysWritten = [...written.matchAll(/d\.insert\("(\w+)"/g)].map((m) => m[1]!).sort();
    // Keys read through r.<reader>("key"...), plus the one image_size(r) reads.
    const keysRead = new Set([...readBack.matchAll(/\br\.\w+\("(\w+)"/g)].map((m) => m[1]!));
    if (readBack.includes('image_size(r)')) keysRead.add('image_size');
    expect([...keysRead].sort()).toEqual(keysWritten);
  });
});

describe('what readModel gives is what lib/native.ts declares', () => {
  const body = cppBody(convert, 'Napi::Object to_js(Napi::Env env, const core::ModelContents& m)');
  const setOn = (object: string) => [...new Set([...body.matchAll(new RegExp(`\\b${object}\\.Set\\("(\\w+)"`, 'g'))].map((m) => m[1]!))].sort();

  test('the model object has exactly the keys of NativeModel', () => {
    expect(setOn('o')).toEqual(interfaceKeys('lib/native.ts', 'NativeModel'));
  });

  test('each tensor has name, shape, dtype and data', () => {
    expect(setOn('entry')).toEqual(['data', 'dtype', 'name', 'shape']);
  });
});
