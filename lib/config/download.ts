// SPDX-License-Identifier: MIT
// The download option: false, or where the CIFAR-10 archive comes from and its md5, each from the option, else the
// environment, else the official archive. train(), evaluate(), the benchmark and `libtorch-resnet download` share it.
import { fileURLToPath } from 'node:url';
import path from 'node:path';

import { MD5_ENV, OFFICIAL_MD5, OFFICIAL_URL, URL_ENV } from '../download';
import type { DownloadSource } from '../download';

import { configError, invalidParameter } from './checks';

export const URL_EXPECTED = 'http:, https: or file: URL, or a file path';
export const MD5_EXPECTED = 'md5 checksum of 32 hexadecimal digits';

// An http(s) URL is kept as it is; a file: URL or a path becomes an absolute path.
export function readUrl(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', name, URL_EXPECTED, value);
  if (value === '' || value.includes('\0')) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', name, URL_EXPECTED, value);
  }
  // A scheme of two or more letters: a URL (one letter is a Windows drive).
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]+):/.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined) return path.resolve(value);
  if (scheme === 'http' || scheme === 'https') {
    if (!URL.canParse(value)) throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', name, URL_EXPECTED, value);
    return value;
  }
  if (scheme === 'file') {
    try {
      return fileURLToPath(value);
    } catch {
      throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', name, URL_EXPECTED, value);
    }
  }
  throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', name, URL_EXPECTED, value);
}

export function readMd5(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', name, MD5_EXPECTED, value);
  if (!/^[0-9a-fA-F]{32}$/.test(value)) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_VALUE', name, MD5_EXPECTED, value);
  }
  return value.toLowerCase();
}

/**
 * The download option resolved: false, or the source, each field from the option, else the environment
 * ($LIBTORCH_RESNET_CIFAR_URL, $LIBTORCH_RESNET_CIFAR_MD5), else the official archive.
 *
 * @example
 * resolveDownload(true, {}); // { url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz', md5: 'c32a...' }
 */
export function resolveDownload(value: unknown, env: NodeJS.ProcessEnv = process.env): false | DownloadSource {
  if (value === false) return false;
  if (value !== true && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw invalidParameter(TypeError, 'ERR_INVALID_ARG_TYPE', 'download', 'boolean or object { url?: string, md5?: string }', value);
  }
  const given = (value === true ? {} : value) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (key !== 'url' && key !== 'md5') {
      const message = `Unknown option 'download.${key}'; download takes url and md5`;
      throw configError(TypeError, 'ERR_INVALID_ARG_VALUE', `download.${key}`, message);
    }
  }
  const url =
    given.url !== undefined
      ? readUrl(given.url, 'download.url')
      : env[URL_ENV]
        ? readUrl(env[URL_ENV], URL_ENV)
        : OFFICIAL_URL;
  const md5 =
    given.md5 !== undefined
      ? readMd5(given.md5, 'download.md5')
      : env[MD5_ENV]
        ? readMd5(env[MD5_ENV], MD5_ENV)
        : OFFICIAL_MD5;
  return Object.freeze({ url, md5 });
}
