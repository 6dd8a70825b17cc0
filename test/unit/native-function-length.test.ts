// SPDX-License-Identifier: MIT
// No function in native/ is over 100 lines: small parts (an epoch, a step) are how the core stays readable. The
// scan is lexical: comments, strings and preprocessor lines are blanked, then every brace block that opens outside
// a function (at namespace or class scope) and is not itself a namespace, class, struct, union, enum or an
// initialiser is a function body, lambdas and local classes included.
import fs from 'node:fs';
import path from 'node:path';

const MAX_LINES = 100;
const ROOT = path.resolve(__dirname, '../..');

interface Body {
  readonly header: string;
  readonly line: number;
  readonly lines: number;
}

/** The source with comments, string and character literals and preprocessor lines blanked, line breaks kept. */
function blank(source: string): string {
  const noLiterals = source.replace(
    /R"([^(]*)\([\s\S]*?\)\1"|\/\/[^\n]*|\/\*[\s\S]*?\*\/|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'/g,
    (m) => m.replace(/[^\n]/g, ' '),
  );
  return noLiterals.replace(/^[ \t]*#.*(?:\\\n.*)*$/gm, (m) => m.replace(/[^\n]/g, ' '));
}

/** Every function body in `source` with its length in lines (the lines from its `{` to its `}`). */
export function functionBodies(source: string): Body[] {
  const text = blank(source);
  const bodies: Body[] = [];
  // Per open brace: whether it is a function body (everything inside is part of that function) and where it opened.
  const stack: { function: boolean; line: number; header: string }[] = [];
  let headerStart = 0;
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    else if (c === ';') headerStart = i + 1;
    else if (c === '{') {
      const header = text.slice(headerStart, i).replace(/\s+/g, ' ').trim();
      const inFunction = stack.some((b) => b.function);
      const scope = /\b(namespace|class|struct|union|enum)\b[^()]*$/.test(header) || /^extern\b/.test(header);
      const initialiser = /=\s*$/.test(header) || /=[^()]*$/.test(header);
      stack.push({ function: !inFunction && !scope && !initialiser, line, header });
      headerStart = i + 1;
    } else if (c === '}') {
      const open = stack.pop();
      if (open?.function && !stack.some((b) => b.function)) {
        bodies.push({ header: open.header.slice(-80), line: open.line, lines: line - open.line + 1 });
      }
      headerStart = i + 1;
    }
  }
  return bodies;
}

function sources(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(cpp|h)$/.test(f))
    .map((f) => path.join(dir, f));
}

describe('native function length', () => {
  test('the scan finds a long function and measures nested ones as one', () => {
    const body = (n: number) => Array.from({ length: n }, (_, k) => `  x += ${k}; // {`).join('\n');
    const source = [
      'namespace a {',
      'struct S { int f() const { return 1; } };',
      `void long_one() {\n${body(MAX_LINES)}\n  auto l = [&] { return "}"; };\n}`,
      'constexpr int table[] = {1, 2, 3};',
      `int short_one(int x) {\n${body(3)}\n}`,
      '}  // namespace a',
    ].join('\n');
    const found = functionBodies(source);
    expect(found.map((b) => b.lines)).toEqual([1, MAX_LINES + 3, 5]);
    expect(found.filter((b) => b.lines > MAX_LINES).map((b) => b.header)).toEqual(['void long_one()']);
  });

  test(`no function in native/ is over ${MAX_LINES} lines`, () => {
    const files = sources(path.join(ROOT, 'native'));
    expect(files.length).toBeGreaterThan(20);
    const long = files.flatMap((file) =>
      functionBodies(fs.readFileSync(file, 'utf8'))
        .filter((b) => b.lines > MAX_LINES)
        .map((b) => `${path.relative(ROOT, file)}:${b.line} ${b.header} (${b.lines} lines)`),
    );
    expect(long).toEqual([]);
  });
});
