// SPDX-License-Identifier: MIT
// export's options, its CLI command and the files it writes, on a fake binding: the safetensors layout checked
// against the fake model's own numbers, the out folder checked before the model is read, atomic writes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { createApi } from '../../lib/api';
import { run } from '../../lib/cli';
import type { CliIo } from '../../lib/cli';
import { EXPORT_SPECS, resolveExportConfig } from '../../lib/config';
import { writeAtomically } from '../../lib/export';
import { FakeBinding, fakeModel } from './fake-binding';

let work: string;
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-export-unit-'));
});
afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

class Capture {
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

function cliIo(binding: FakeBinding): { io: CliIo; stdout: Capture; stderr: Capture } {
  const stdout = new Capture();
  const stderr = new Capture();
  return { io: { stdout, stderr, binding, onInterrupt: () => () => undefined } as unknown as CliIo, stdout, stderr };
}

describe('resolveExportConfig', () => {
  test('fills absolute paths and keeps the format', () => {
    expect(resolveExportConfig({ checkpoint: 'best.pt', format: 'onnx', out: 'm.onnx' })).toEqual({
      checkpoint: path.resolve('best.pt'),
      format: 'onnx',
      out: path.resolve('m.onnx'),
    });
  });

  test.each([
    [{ format: 'onnx', out: 'm.onnx' }, TypeError, /^Expected path of a checkpoint file for checkpoint but received undefined/],
    [{ checkpoint: 'b.pt', out: 'm.onnx' }, TypeError, /^Expected one of 'onnx', 'safetensors' for format but received undefined/],
    [{ checkpoint: 'b.pt', format: 'onnx' }, TypeError, /^Expected path of the file to write for out but received undefined/],
    [{ checkpoint: 'b.pt', format: 'pdf', out: 'm' }, TypeError, /for format but received 'pdf'/],
    [{ checkpoint: 'b.pt', format: 'onnx', out: '' }, TypeError, /^Expected non-empty string without null bytes for out/],
    [{ checkpoint: 'b.pt', format: 'onnx', out: 'm', outt: 1 }, Error, /outt/],
  ])('rejects %p', (input, type, message) => {
    let error: unknown;
    try {
      resolveExportConfig(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(message);
  });
});

describe('exportModel(): every option of the wrong type', () => {
  test.each(Object.keys(EXPORT_SPECS))('%s', async (name) => {
    const binding = new FakeBinding();
    const input = { checkpoint: 'w.pt', format: 'onnx', out: path.join(work, 'm.onnx'), [name]: 7 };
    const error = await createApi(binding).exportModel(input).catch((e: Error & { code?: string }) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(error).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringMatching(new RegExp(` for ${name} but received`)) });
    expect(binding.modelsRead).toEqual([]);
  });
});

describe('exportModel on a fake binding', () => {
  test('safetensors: the header names each tensor with its dtype, shape and byte range; the bytes are the model\'s', async () => {
    const binding = new FakeBinding();
    const out = path.join(work, 'm.safetensors');
    const result = await createApi(binding).exportModel({ checkpoint: 'w.pt', format: 'safetensors', out });
    const model = fakeModel();
    expect(binding.modelsRead).toEqual([path.resolve('w.pt')]);
    const blob = fs.readFileSync(out);
    expect(result).toEqual({ out, format: 'safetensors', bytes: blob.length, preset: 'cifar', imageSize: 32, classes: model.classes });
    const length = Number(blob.readBigUInt64LE(0));
    expect(length % 8).toBe(0);
    const header = JSON.parse(blob.subarray(8, 8 + length).toString());
    expect(header['fc.weight']).toEqual({ dtype: 'F32', shape: [3, 2], data_offsets: [0, 24] });
    expect(header['bn.num_batches_tracked']).toEqual({ dtype: 'I64', shape: [], data_offsets: [24, 32] });
    expect(JSON.parse(header.__metadata__.classes)).toEqual(model.classes);
    expect(header.__metadata__).toMatchObject({ preset: 'cifar', imageSize: '32', mean: '[0.4914,0.4822,0.4465]' });
    const data = blob.subarray(8 + length);
    const weights = model.tensors[0]!.data as Float32Array;
    weights.forEach((w, i) => expect(data.readFloatLE(i * 4)).toBe(w));
    expect(data.readBigInt64LE(24)).toBe(7n);
    expect(data.length).toBe(32);
  });

  test('a missing out folder is refused before the model is read; an out that is a folder too', async () => {
    const binding = new FakeBinding();
    const api = createApi(binding);
    const missing = path.join(work, 'nope', 'm.onnx');
    await expect(api.exportModel({ checkpoint: 'w.pt', format: 'onnx', out: missing })).rejects.toMatchObject({
      name: 'TorchError',
      code: 'ERR_FILE_NOT_FOUND',
      message: `folder ${path.join(work, 'nope')} for out does not exist; create it first or write elsewhere`,
    });
    await expect(api.exportModel({ checkpoint: 'w.pt', format: 'onnx', out: work })).rejects.toMatchObject({
      code: 'ERR_FILE',
      message: expect.stringContaining('is a folder; give the path of a file'),
    });
    expect(binding.modelsRead).toEqual([]);
    // The caller's stack: it points at this file, not at lib/export.ts.
    const error = await api.exportModel({ checkpoint: 'w.pt', format: 'onnx', out: missing }).catch((e: Error) => e);
    expect((error as Error).stack!.split('\n')[1]).toContain('export.test.ts');
  });

  test("the addon's failure to read the checkpoint rejects with its code", async () => {
    const failure = Object.assign(new Error('checkpoint w.pt does not exist'), { code: 'ERR_FILE_NOT_FOUND' });
    const api = createApi(new FakeBinding({ model: failure }));
    await expect(api.exportModel({ checkpoint: 'w.pt', format: 'onnx', out: path.join(work, 'm.onnx') })).rejects.toMatchObject({
      name: 'TorchError',
      code: 'ERR_FILE_NOT_FOUND',
    });
    expect(fs.readdirSync(work)).toEqual([]);
  });
});

describe('writeAtomically', () => {
  test('replaces an existing file and leaves no temporary beside it', () => {
    const out = path.join(work, 'm.bin');
    fs.writeFileSync(out, 'old');
    writeAtomically(out, Buffer.from('new'));
    expect(fs.readFileSync(out, 'utf8')).toBe('new');
    expect(fs.readdirSync(work)).toEqual(['m.bin']);
  });

  test('a write that fails removes its temporary and says what to do', () => {
    const out = path.join(work, 'gone', 'm.bin');
    expect(() => writeAtomically(out, Buffer.from('x'))).toThrow(/^cannot write .*m\.bin \(ENOENT\); check the path$/);
  });
});

describe('libtorch-resnet export', () => {
  test('writes the file and prints what it wrote; --json gives the result', async () => {
    const out = path.join(work, 'm.safetensors');
    const h = cliIo(new FakeBinding());
    expect(await run(['export', '--checkpoint', 'w.pt', '--format', 'safetensors', '--out', out], h.io)).toBe(0);
    expect(h.stdout.text).toBe(`wrote ${out} (safetensors, ${fs.statSync(out).size} bytes; cifar preset, 32 px, 10 classes)\n`);
    const j = cliIo(new FakeBinding());
    expect(await run(['export', '--checkpoint', 'w.pt', '--format', 'safetensors', '--out', out, '--json'], j.io)).toBe(0);
    expect(JSON.parse(j.stdout.text)).toMatchObject({ type: 'result', out, format: 'safetensors', preset: 'cifar' });
  });

  test.each([
    [['--checkpoint', 'w.pt', '--format', 'onnx'], /required option '--out <file>' not specified/],
    [['--checkpoint', 'w.pt', '--format', 'pdf', '--out', 'm'], /--format.*'pdf'/],
  ])('%p is a usage error', async (flags, message) => {
    const h = cliIo(new FakeBinding());
    expect(await run(['export', ...flags], h.io)).toBe(2);
    expect(h.stderr.text).toMatch(message);
  });
});

describe("README's Export section", () => {
  test('its options table names exactly the options EXPORT_SPECS checks, with the formats it takes', () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Export\n'), readme.indexOf('\n## ', readme.indexOf('## Export\n') + 1));
    const rows = [...section.matchAll(/^\| `(\w+)` \| (\w+) \| [^|]+ \| (.+) \|$/gm)];
    expect(rows.map((r) => r[1])).toEqual(Object.keys(EXPORT_SPECS));
    expect(rows.map((r) => r[2])).toEqual(Object.values(EXPORT_SPECS).map((s) => s.type));
    expect(rows.find((r) => r[1] === 'format')![3]).toBe(EXPORT_SPECS.format.range.replace(/'(\w+)'/g, '`\'$1\'`').replace(/\|/g, '\\|'));
  });
});
