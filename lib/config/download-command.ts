// SPDX-License-Identifier: MIT
// `libtorch-resnet download`'s options: the data folder, and where the archive comes from (download.ts reads both
// fields as train()'s download option does).
import { MD5_ENV, URL_ENV } from '../download';
import type { DownloadSource } from '../download';

import { MD5_EXPECTED, URL_EXPECTED, readMd5, readUrl, resolveDownload } from './download';
import { readOptions, spec } from './spec';
import { TRAIN_SPECS, defaultDataDir } from './train-options';

/** `libtorch-resnet download`'s options: the data folder, and where the archive comes from. */
export const DOWNLOAD_SPECS = Object.freeze({
  dataDir: { ...TRAIN_SPECS.dataDir, description: 'Folder to put CIFAR-10 in.' },
  url: spec(
    {
      name: 'url',
      type: 'string',
      default: undefined,
      defaultText: `$${URL_ENV}, else the official archive`,
      range: '',
      expected: URL_EXPECTED,
      description: 'Where to fetch the archive: http(s) URL, file: URL or path.',
      cli: true,
    },
    (value) => readUrl(value, 'download.url'),
  ),
  md5: spec(
    {
      name: 'md5',
      type: 'string',
      default: undefined,
      defaultText: `$${MD5_ENV}, else the official archive's`,
      range: '',
      expected: MD5_EXPECTED,
      description: "The archive's md5.",
      cli: true,
    },
    (value) => readMd5(value, 'download.md5'),
  ),
});

/**
 * Checks `libtorch-resnet download`'s options: the data folder and the archive's source.
 *
 * @example
 * resolveDownloadCommand({ url: 'file:///mirror/cifar-10-binary.tar.gz' }).download.url; // '/mirror/cifar-10-binary.tar.gz'
 */
export function resolveDownloadCommand(input: unknown): { readonly dataDir: string; readonly download: DownloadSource } {
  const { values } = readOptions(DOWNLOAD_SPECS, input, { allowUndefined: true });
  const download = resolveDownload({ url: values.url, md5: values.md5 }) as DownloadSource;
  return Object.freeze({ dataDir: values.dataDir ?? defaultDataDir(), download });
}
