// SPDX-License-Identifier: MIT
// lib/ keeps the shape issue 20 gave it: no file over 700 lines, no function over 100 (small parts, each with one
// job), and nothing loaded from scripts/, which is for developers and CI alone. Functions are found with the
// TypeScript parser: declarations, methods, accessors, constructors, arrow functions and function expressions.
import fs from 'node:fs';
import path from 'node:path';

import ts from 'typescript';

const LIB = path.resolve(__dirname, '../../lib');
const MAX_FILE_LINES = 700;
const MAX_FUNCTION_LINES = 100;

function libFiles(): string[] {
  return fs
    .readdirSync(LIB, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|js)$/.test(f))
    .sort();
}

/** Every function in `source` with its length in lines, from its first line to its last. */
export function functionLengths(file: string, source: string): { name: string; line: number; lines: number }[] {
  const parsed = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true);
  const found: { name: string; line: number; lines: number }[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body !== undefined) {
      const start = parsed.getLineAndCharacterOfPosition(node.getStart(parsed)).line;
      const end = parsed.getLineAndCharacterOfPosition(node.getEnd()).line;
      const name = (node as ts.FunctionLikeDeclaration).name?.getText(parsed) ?? '<anonymous>';
      found.push({ name, line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(parsed);
  return found;
}

test('the scan finds functions, nested ones included, with their lengths', () => {
  const source = ['function outer() {', '  const inner = () => {', '    return 1;', '  };', '  return inner();', '}', ''];
  expect(functionLengths('x.ts', source.join('\n'))).toEqual([
    { name: 'outer', line: 1, lines: 6 },
    { name: '<anonymous>', line: 2, lines: 3 },
  ]);
});

/** A file's lines, a final newline ending the last line rather than starting another. */
function lineCount(source: string): number {
  return source.replace(/\n$/, '').split('\n').length;
}

/** The string literals in `source` that name a path under scripts/ (or the folder itself), with their lines. */
export function scriptsPaths(file: string, source: string): string[] {
  const parsed = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isStringLiteralLike(node) && /(^|[\\/])scripts([\\/]|$)/.test(node.text)) {
      found.push(`${file}:${parsed.getLineAndCharacterOfPosition(node.getStart(parsed)).line + 1}: '${node.text}'`);
    }
    ts.forEachChild(node, visit);
  };
  visit(parsed);
  return found;
}

test('the scripts/ scan finds a path however it is built, and not a comment', () => {
  const source = [
    "require('../scripts/find-libtorch.js');",
    "const p = path.join(__dirname, '..', 'scripts', 'x.js');",
    '// scripts/setup.sh is for developers',
    "import('./scripts/y');",
  ].join('\n');
  expect(scriptsPaths('x.ts', source)).toEqual([
    "x.ts:1: '../scripts/find-libtorch.js'",
    "x.ts:2: 'scripts'",
    "x.ts:4: './scripts/y'",
  ]);
  expect(lineCount('a\nb\n')).toBe(2);
});

test.each(libFiles())('lib/%s: at most 700 lines, no function over 100', (file) => {
  const source = fs.readFileSync(path.join(LIB, file), 'utf8');
  expect([file, lineCount(source) <= MAX_FILE_LINES]).toEqual([file, true]);
  const long = functionLengths(file, source).filter((f) => f.lines > MAX_FUNCTION_LINES);
  expect(long).toEqual([]);
});

test('lib/ loads nothing from scripts/: no string in it names a path there', () => {
  const paths = libFiles().flatMap((file) => scriptsPaths(file, fs.readFileSync(path.join(LIB, file), 'utf8')));
  expect(paths).toEqual([]);
});
