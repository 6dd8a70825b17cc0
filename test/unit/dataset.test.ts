// SPDX-License-Identifier: MIT
// prepareDataset: finding the batches, extracting a real archive, and saying what to do when there is nothing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { create } from 'tar';

import { BATCH_FILES, prepareDataset } from '../../lib/dataset';
import { MINI_ARCHIVE as miniArchive, RECORD_BYTES } from '../fixtures/cifar';
import { rejection } from './fake-binding';

const MINI_ARCHIVE = miniArchive();

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'libtorch-resnet-dataset-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function writeBatches(dir: string, files: readonly string[] = BATCH_FILES): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const name of files) fs.writeFileSync(path.join(dir, name), Buffer.alloc(RECORD_BYTES));
}

function entries(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

describe('prepareDataset finds extracted data', () => {
  test('dataDir/cifar-10-batches-bin with the six files', async () => {
    writeBatches(path.join(tmp, 'cifar-10-batches-bin'));
    await expect(prepareDataset(tmp, { download: false })).resolves.toBe(tmp);
  });

  test('the six files directly in dataDir', async () => {
    writeBatches(tmp);
    await expect(prepareDataset(tmp, { download: false })).resolves.toBe(tmp);
  });

  test('a relative dataDir comes back absolute', async () => {
    writeBatches(path.join(tmp, 'cifar-10-batches-bin'));
    const relative = path.relative(process.cwd(), tmp);
    await expect(prepareDataset(relative, { download: false })).resolves.toBe(tmp);
  });

  test('a cifar-10-batches-bin lacking files is an error naming them', async () => {
    writeBatches(path.join(tmp, 'cifar-10-batches-bin'), BATCH_FILES.filter((f) => f !== 'data_batch_3.bin'));
    const error = await rejection(prepareDataset(tmp, { download: false }));
    expect(error.code).toBe('ERR_DATA_INCOMPLETE');
    expect(error.message).toBe(
      `${path.join(tmp, 'cifar-10-batches-bin')} lacks data_batch_3.bin; delete that folder (an archive in ${tmp} ` +
        'is then extracted again) or copy the missing files into it',
    );
  });

  test('a folder (not a file) named like a batch does not count', async () => {
    writeBatches(tmp, BATCH_FILES.slice(0, 5));
    fs.mkdirSync(path.join(tmp, 'test_batch.bin'));
    expect((await rejection(prepareDataset(tmp, { download: false }))).code).toBe('ERR_DATA_NOT_FOUND');
  });
});

describe('prepareDataset extracts an archive', () => {
  test('the mini archive, into dataDir/cifar-10-batches-bin, leaving no temporary folder', async () => {
    fs.copyFileSync(MINI_ARCHIVE, path.join(tmp, 'cifar-10-binary-mini.tar.gz'));
    await expect(prepareDataset(tmp, { download: false })).resolves.toBe(tmp);

    expect(entries(tmp)).toEqual(['cifar-10-batches-bin', 'cifar-10-binary-mini.tar.gz']);
    const batches = path.join(tmp, 'cifar-10-batches-bin');
    for (const name of BATCH_FILES) {
      // The mini archive holds 200 records per file.
      expect([name, fs.statSync(path.join(batches, name)).size]).toEqual([name, 200 * RECORD_BYTES]);
    }
  });

  test('a second call uses the extracted folder and does not extract again', async () => {
    const archive = path.join(tmp, 'cifar-10-binary-mini.tar.gz');
    fs.copyFileSync(MINI_ARCHIVE, archive);
    await prepareDataset(tmp, { download: false });
    const marker = path.join(tmp, 'cifar-10-batches-bin', 'data_batch_1.bin');
    fs.writeFileSync(marker, 'kept');
    fs.rmSync(archive);
    await expect(prepareDataset(tmp, { download: false })).resolves.toBe(tmp);
    expect(fs.readFileSync(marker, 'utf8')).toBe('kept');
  });

  test('the full archive name is preferred to the mini one', async () => {
    // A full-named archive holding only the test batch: choosing it fails, so the error shows which was chosen.
    const staging = path.join(tmp, 'staging');
    writeBatches(path.join(staging, 'cifar-10-batches-bin'), ['test_batch.bin']);
    await create({ gzip: true, file: path.join(tmp, 'cifar-10-binary.tar.gz'), cwd: staging }, ['cifar-10-batches-bin']);
    fs.rmSync(staging, { recursive: true });
    fs.copyFileSync(MINI_ARCHIVE, path.join(tmp, 'cifar-10-binary-mini.tar.gz'));

    const error = await rejection(prepareDataset(tmp, { download: false }));
    expect(error.code).toBe('ERR_DATA_ARCHIVE');
    expect(error.message).toContain(path.join(tmp, 'cifar-10-binary.tar.gz'));
  });

  test('an archive missing batches is an error, and nothing half-extracted is left', async () => {
    const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'libtorch-resnet-staging-'));
    try {
      writeBatches(path.join(staging, 'cifar-10-batches-bin'), BATCH_FILES.slice(0, 4));
      await create({ gzip: true, file: path.join(tmp, 'cifar-10-binary.tar.gz'), cwd: staging }, [
        'cifar-10-batches-bin',
      ]);
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
    const error = await rejection(prepareDataset(tmp, { download: true }));
    expect(error.code).toBe('ERR_DATA_ARCHIVE');
    expect(error.message).toMatch(
      /does not hold cifar-10-batches-bin\/ with data_batch_5\.bin, test_batch\.bin; it is not the CIFAR-10 binary version/,
    );
    expect(entries(tmp)).toEqual(['cifar-10-binary.tar.gz']);
  });

  test('a damaged archive is an error, and nothing half-extracted is left', async () => {
    // The first half of a real archive: gzip ends early.
    const bytes = fs.readFileSync(MINI_ARCHIVE);
    fs.writeFileSync(path.join(tmp, 'cifar-10-binary.tar.gz'), bytes.subarray(0, bytes.length >> 1));
    const error = await rejection(prepareDataset(tmp, { download: false }));
    expect(error.code).toBe('ERR_DATA_ARCHIVE');
    expect(error.message).toMatch(/^cannot extract .*cifar-10-binary\.tar\.gz: .*the archive is damaged: delete it/);
    expect(entries(tmp)).toEqual(['cifar-10-binary.tar.gz']);
  });

  test('entries outside cifar-10-batches-bin/ are not extracted', async () => {
    const staging = path.join(tmp, 'staging');
    writeBatches(path.join(staging, 'cifar-10-batches-bin'));
    fs.writeFileSync(path.join(staging, 'stray.txt'), 'x');
    await create({ gzip: true, file: path.join(tmp, 'cifar-10-binary.tar.gz'), cwd: staging }, [
      'cifar-10-batches-bin',
      'stray.txt',
    ]);
    fs.rmSync(staging, { recursive: true });
    await prepareDataset(tmp, { download: false });
    expect(entries(tmp)).toEqual(['cifar-10-batches-bin', 'cifar-10-binary.tar.gz']);
  });
});

describe('prepareDataset without data', () => {
  test('says where it looked and how to get the data (download off)', async () => {
    const error = await rejection(prepareDataset(tmp, { download: false }));
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('ERR_DATA_NOT_FOUND');
    expect(error.message).toBe(
      `CIFAR-10 was not found in ${tmp}: looked for ${path.join(tmp, 'cifar-10-batches-bin')}/ holding ` +
        'data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin, ' +
        `for those files in ${tmp} itself, and for an archive ${path.join(tmp, 'cifar-10-binary.tar.gz')} or ` +
        `${path.join(tmp, 'cifar-10-binary-mini.tar.gz')}. Downloading is turned off (download: false). To get the ` +
        'data, put the official CIFAR-10 binary version, cifar-10-binary.tar.gz ' +
        `(https://www.cs.toronto.edu/~kriz/cifar.html), in ${tmp}, or point dataDir (--data-dir, or ` +
        'LIBTORCH_RESNET_DATA) at a folder that holds it.',
    );
  });

  test('a dataDir that does not exist, download off: not created', async () => {
    const missing = path.join(tmp, 'nope');
    const error = await rejection(prepareDataset(missing, { download: false }));
    expect(error.code).toBe('ERR_DATA_NOT_FOUND');
    expect(error.message).toContain(`CIFAR-10 was not found in ${missing}:`);
    expect(fs.existsSync(missing)).toBe(false);
  });
});
