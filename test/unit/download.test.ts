// SPDX-License-Identifier: MIT
// Downloading CIFAR-10 against a loopback HTTP server that serves the real mini archive and broken variants.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

import { create } from 'tar';

import { resolveConfig } from '../../lib/config';
import { BATCH_FILES, COMPLETE_MARKER, LOCK_FILE, batchSizeProblem, prepareDataset } from '../../lib/dataset';
import type { PrepareDatasetOptions } from '../../lib/dataset';
import { DownloadError, OFFICIAL_MD5, OFFICIAL_URL, downloadArchive, proxyFor, withLock } from '../../lib/download';
import type { DownloadEvent } from '../../lib/download';
import { ProgressRenderer } from '../../lib/progress';
import { createApi } from '../../lib/api';
import { MINI_ARCHIVE, RECORD_BYTES, extractMini } from '../fixtures/cifar';
import { describeAsRoot, fillDisk, useTmpfs } from '../fixtures/tmpfs';
import { FakeBinding, rejection } from './fake-binding';

const MINI = fs.readFileSync(MINI_ARCHIVE());
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const MINI_MD5 = 'f3451f2b7114b716b8e8d6ac027c36ad';
const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');

// How the server answers one request; `n` counts requests from 1.
type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;
interface Seen {
  url: string;
  range: string | undefined;
}

let server: http.Server;
let base: string;
let handler: Handler;
let seen: Seen[];
let tmp: string;

/** Serves `body`, honouring a Range request with a 206 unless `ranges` is false. */
function serve(body: Buffer, req: http.IncomingMessage, res: http.ServerResponse, ranges = true): void {
  const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (ranges && match) {
    const from = Number(match[1]);
    res.writeHead(206, {
      'content-length': body.length - from,
      'content-range': `bytes ${from}-${body.length - 1}/${body.length}`,
    });
    res.end(body.subarray(from));
    return;
  }
  res.writeHead(200, { 'content-length': body.length, 'accept-ranges': ranges ? 'bytes' : 'none' });
  res.end(body);
}

/** Sends the headers and the first half of `body`, then cuts the connection. */
function dropHalfway(body: Buffer, res: http.ServerResponse): void {
  res.writeHead(200, { 'content-length': body.length });
  // A clean close (FIN) after the half is flushed: the client always gets that half, then a short body.
  res.write(body.subarray(0, body.length >> 1), () => res.socket?.end());
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', range: req.headers.range });
    handler(req, res, seen.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen = [];
  handler = (req, res) => serve(MINI, req, res);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'libtorch-resnet-download-'));
});
afterEach(() => {
  server.closeAllConnections();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// Fast retries for every test: 10 ms backoff. The stall timeout is long enough that a loaded CI machine never
// trips it by accident (at 300 ms it did); the stall test sets its own.
const FAST = { retries: 3, backoffMs: () => 10, stallTimeoutMs: 3000, progressIntervalMs: 0 };
const STALL_MS = 500;

function options(url: string, sum = MINI_MD5, extra: Partial<PrepareDatasetOptions> = {}): PrepareDatasetOptions {
  return { download: { url, md5: sum }, downloadOptions: FAST, lockOptions: { pollMs: 10 }, ...extra };
}

function entries(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

describe('the download source', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  test('defaults to the official URL and md5 (no network)', () => {
    delete process.env.LIBTORCH_RESNET_CIFAR_URL;
    delete process.env.LIBTORCH_RESNET_CIFAR_MD5;
    expect(resolveConfig({}).download).toEqual({
      url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
      md5: 'c32a1d4ab5d03f1284b67883e8d87530',
    });
    expect([OFFICIAL_URL, OFFICIAL_MD5]).toEqual([
      'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
      'c32a1d4ab5d03f1284b67883e8d87530',
    ]);
    expect(resolveConfig({ download: {} }).download).toEqual(resolveConfig({ download: true }).download);
    expect(resolveConfig({ download: false }).download).toBe(false);
  });

  test('the environment overrides the defaults, and the option overrides the environment', () => {
    process.env.LIBTORCH_RESNET_CIFAR_URL = 'http://mirror.test/c.tar.gz';
    process.env.LIBTORCH_RESNET_CIFAR_MD5 = MINI_MD5.toUpperCase();
    expect(resolveConfig({}).download).toEqual({ url: 'http://mirror.test/c.tar.gz', md5: MINI_MD5 });
    expect(resolveConfig({ download: { url: 'https://other.test/x' } }).download).toEqual({
      url: 'https://other.test/x',
      md5: MINI_MD5,
    });
    expect(resolveConfig({ download: { md5: OFFICIAL_MD5 } }).download).toEqual({
      url: 'http://mirror.test/c.tar.gz',
      md5: OFFICIAL_MD5,
    });
  });

  test('a bad environment value is an error naming the variable', () => {
    process.env.LIBTORCH_RESNET_CIFAR_MD5 = 'nope';
    expect(() => resolveConfig({})).toThrow(
      "Expected md5 checksum of 32 hexadecimal digits for LIBTORCH_RESNET_CIFAR_MD5 but received 'nope' of type string",
    );
    process.env.LIBTORCH_RESNET_CIFAR_MD5 = '';
    process.env.LIBTORCH_RESNET_CIFAR_URL = 'gopher://x';
    expect(() => resolveConfig({})).toThrow(/for LIBTORCH_RESNET_CIFAR_URL but received 'gopher:\/\/x'/);
  });

  test('a path or a file: URL becomes an absolute path', () => {
    expect(resolveConfig({ download: { url: 'rel/c.tar.gz' } }).download).toMatchObject({
      url: path.resolve('rel/c.tar.gz'),
    });
    expect(resolveConfig({ download: { url: 'file:///srv/c.tar.gz' } }).download).toMatchObject({
      url: '/srv/c.tar.gz',
    });
  });
});

describe('download, verify, extract', () => {
  test('end to end: downloads once, extracts with a marker, and a second call fetches nothing', async () => {
    const events: DownloadEvent[] = [];
    const url = `${base}/cifar-10-binary.tar.gz`;
    await expect(prepareDataset(tmp, options(url, MINI_MD5, { onProgress: (e) => events.push(e) }))).resolves.toBe(tmp);

    expect(entries(tmp)).toEqual(['cifar-10-batches-bin', 'cifar-10-binary.tar.gz']);
    expect(md5(fs.readFileSync(path.join(tmp, 'cifar-10-binary.tar.gz')))).toBe(MINI_MD5);
    const batches = path.join(tmp, 'cifar-10-batches-bin');
    for (const name of BATCH_FILES) expect(fs.statSync(path.join(batches, name)).size).toBe(200 * RECORD_BYTES);
    expect(fs.existsSync(path.join(batches, COMPLETE_MARKER))).toBe(true);
    expect(seen).toEqual([{ url: '/cifar-10-binary.tar.gz', range: undefined }]);
    // Progress: bytes grow to the total, which the server told.
    expect(events.length).toBeGreaterThan(0);
    expect(events.at(-1)).toMatchObject({ type: 'download', bytes: MINI.length, total: MINI.length });
    for (let i = 1; i < events.length; i++) expect(events[i]!.bytes).toBeGreaterThanOrEqual(events[i - 1]!.bytes);

    await expect(prepareDataset(tmp, options(url))).resolves.toBe(tmp);
    expect(seen).toHaveLength(1);
  });

  test('train() downloads from the mirror in the environment and forwards download events', async () => {
    const saved = { ...process.env };
    process.env.LIBTORCH_RESNET_CIFAR_URL = `${base}/mirror.tar.gz`;
    process.env.LIBTORCH_RESNET_CIFAR_MD5 = MINI_MD5;
    try {
      const types: string[] = [];
      await createApi(new FakeBinding()).train({ dataDir: tmp, epochs: 1, onProgress: (e) => types.push(e.type) });
      expect(types[0]).toBe('download');
      expect(types).toContain('trainEnd');
      expect(types.indexOf('trainBegin')).toBeGreaterThan(types.lastIndexOf('download'));
      expect(seen).toHaveLength(1);
    } finally {
      process.env = saved;
    }
  });

  test('a local path and a file: URL are copied and verified the same way, without the network', async () => {
    await prepareDataset(tmp, options(MINI_ARCHIVE()));
    expect(entries(tmp)).toEqual(['cifar-10-batches-bin', 'cifar-10-binary.tar.gz']);
    const other = path.join(tmp, 'other');
    await prepareDataset(other, options(pathToFileURL(MINI_ARCHIVE()).href));
    expect(entries(other)).toEqual(['cifar-10-batches-bin', 'cifar-10-binary.tar.gz']);
    expect(seen).toHaveLength(0);
  });

  test('a local source that does not exist: ERR_DOWNLOAD_SOURCE naming it, nothing left', async () => {
    const missing = path.join(tmp, 'nowhere.tar.gz');
    const error = await rejection(prepareDataset(path.join(tmp, 'data'), options(missing)));
    expect(error.code).toBe('ERR_DOWNLOAD_SOURCE');
    expect(error.message).toContain(`cannot read the CIFAR-10 archive at ${missing}`);
    expect(entries(path.join(tmp, 'data'))).toEqual([]);
  });

  test('a cifar-10-batches-bin/ lacking files, without the marker, is redone when download is on', async () => {
    fs.mkdirSync(path.join(tmp, 'cifar-10-batches-bin'));
    fs.writeFileSync(path.join(tmp, 'cifar-10-batches-bin', 'data_batch_1.bin'), 'half');
    await prepareDataset(tmp, options(`${base}/c.tar.gz`));
    expect(fs.statSync(path.join(tmp, 'cifar-10-batches-bin', 'data_batch_1.bin')).size).toBe(200 * RECORD_BYTES);
    expect(fs.existsSync(path.join(tmp, 'cifar-10-batches-bin', COMPLETE_MARKER))).toBe(true);
  });
});

describe('faults', () => {
  test('connection dropped halfway: resumed with a Range request, the file is right', async () => {
    handler = (req, res, n) => (n === 1 ? dropHalfway(MINI, res) : serve(MINI, req, res));
    await prepareDataset(tmp, options(`${base}/c.tar.gz`));
    expect(seen).toHaveLength(2);
    expect(seen[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(md5(fs.readFileSync(path.join(tmp, 'cifar-10-binary.tar.gz')))).toBe(MINI_MD5);
  });

  test('a server that ignores Range: starts over, and the md5 is of the new bytes only', async () => {
    handler = (req, res, n) => (n === 1 ? dropHalfway(MINI, res) : serve(MINI, req, res, false));
    await prepareDataset(tmp, options(`${base}/c.tar.gz`));
    expect(seen).toHaveLength(2);
    expect(seen[1]!.range).toBeDefined();
    expect(md5(fs.readFileSync(path.join(tmp, 'cifar-10-binary.tar.gz')))).toBe(MINI_MD5);
  });

  test('a stall: the attempt is dropped after the stall timeout and retried', async () => {
    handler = (req, res, n) => {
      if (n > 1) return serve(MINI, req, res);
      res.writeHead(200, { 'content-length': MINI.length });
      res.write(MINI.subarray(0, 1000)); // then nothing
    };
    const started = Date.now();
    const stallFast = { downloadOptions: { ...FAST, stallTimeoutMs: STALL_MS } };
    await prepareDataset(tmp, options(`${base}/c.tar.gz`, MINI_MD5, stallFast));
    expect(seen).toHaveLength(2);
    expect(seen[1]!.range).toBe('bytes=1000-');
    expect(Date.now() - started).toBeLessThan(4000);
    expect(md5(fs.readFileSync(path.join(tmp, 'cifar-10-binary.tar.gz')))).toBe(MINI_MD5);
  });

  test('drops every time: gives up after the retries with ERR_DOWNLOAD_NETWORK, nothing left', async () => {
    handler = (_req, res) => dropHalfway(MINI, res);
    const error = await rejection(prepareDataset(tmp, options(`${base}/c.tar.gz`)));
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.code).toBe('ERR_DOWNLOAD_NETWORK');
    expect(error.message).toMatch(new RegExp(`^gave up downloading ${base}/c\\.tar\\.gz after 4 attempts`));
    expect(seen).toHaveLength(4);
    expect(entries(tmp)).toEqual([]);
  });

  test('always stalling: bounded by the total time, ERR_DOWNLOAD_TIMEOUT', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-length': MINI.length });
      res.write(MINI.subarray(0, 10));
    };
    const started = Date.now();
    const error = await rejection(
      prepareDataset(tmp, {
        ...options(`${base}/c.tar.gz`),
        downloadOptions: { ...FAST, retries: 100, stallTimeoutMs: 5000, totalTimeoutMs: 400 },
      }),
    );
    expect(error.code).toBe('ERR_DOWNLOAD_TIMEOUT');
    expect(error.message).toMatch(/^gave up downloading .* \(the limit\)/);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(entries(tmp)).toEqual([]);
  });

  test('wrong bytes: md5 error naming both sums, the file removed, the cache as it was', async () => {
    const wrong = Buffer.from(MINI);
    wrong[100] ^= 0xff;
    handler = (req, res) => serve(wrong, req, res);
    const error = await rejection(prepareDataset(tmp, options(`${base}/c.tar.gz`)));
    expect(error.code).toBe('ERR_DOWNLOAD_MD5');
    expect(error.message).toContain(`has md5 ${md5(wrong)}, expected ${MINI_MD5}`);
    expect(entries(tmp)).toEqual([]);
  });

  test('a truncated file (a complete short response): md5 error, nothing left', async () => {
    handler = (req, res) => serve(MINI.subarray(0, 5000), req, res);
    const error = await rejection(prepareDataset(tmp, options(`${base}/c.tar.gz`)));
    expect(error.code).toBe('ERR_DOWNLOAD_MD5');
    expect(error.message).toContain(`has md5 ${md5(MINI.subarray(0, 5000))}, expected ${MINI_MD5}`);
    expect(entries(tmp)).toEqual([]);
  });

  test.each([404, 403])('HTTP %i: an error naming the URL and the status, not retried', async (status) => {
    handler = (_req, res) => res.writeHead(status).end('no');
    const url = `${base}/missing.tar.gz`;
    const error = await rejection(prepareDataset(tmp, options(url)));
    expect(error.code).toBe('ERR_DOWNLOAD_HTTP');
    expect((error as unknown as DownloadError).status).toBe(status);
    expect(error.message).toContain(`downloading ${url} failed: the server answered HTTP ${status}`);
    expect(seen).toHaveLength(1);
    expect(entries(tmp)).toEqual([]);
  });

  test('HTTP 500: retried, then an error naming the URL and the status', async () => {
    handler = (_req, res) => res.writeHead(500).end('oops');
    const url = `${base}/c.tar.gz`;
    const error = await rejection(prepareDataset(tmp, options(url)));
    expect(error.code).toBe('ERR_DOWNLOAD_HTTP');
    expect(error.message).toContain(`downloading ${url} failed: the server answered HTTP 500`);
    expect(seen).toHaveLength(4);
    expect(entries(tmp)).toEqual([]);
  });

  test('HTTP 500 once, then the file: recovers', async () => {
    handler = (req, res, n) => (n === 1 ? res.writeHead(500).end() : serve(MINI, req, res));
    await prepareDataset(tmp, options(`${base}/c.tar.gz`));
    expect(seen).toHaveLength(2);
  });

  test('a valid gzip holding a broken tar: a clear error, nothing half-extracted', async () => {
    // The mini archive's tar, cut in the middle of a batch file, gzipped again: gzip is fine, tar is not.
    const tarBytes = gunzipSync(MINI);
    const broken = gzipSync(tarBytes.subarray(0, 700_000));
    handler = (req, res) => serve(broken, req, res);
    const error = await rejection(prepareDataset(tmp, options(`${base}/c.tar.gz`, md5(broken))));
    expect(error.code).toBe('ERR_DATA_ARCHIVE');
    expect(error.message).toContain(path.join(tmp, 'cifar-10-binary.tar.gz'));
    expect(entries(tmp)).toEqual(['cifar-10-binary.tar.gz']);
  });

  test('files of the wrong size: an error naming the file, nothing extracted', async () => {
    const staging = path.join(tmp, 'staging');
    const dir = path.join(staging, 'cifar-10-batches-bin');
    fs.mkdirSync(dir, { recursive: true });
    for (const name of BATCH_FILES) {
      fs.writeFileSync(path.join(dir, name), Buffer.alloc(name === 'data_batch_3.bin' ? 3000 : 2 * RECORD_BYTES));
    }
    const archive = path.join(tmp, 'odd.tar.gz');
    await create({ gzip: true, file: archive, cwd: staging }, ['cifar-10-batches-bin']);
    fs.rmSync(staging, { recursive: true });
    const bytes = fs.readFileSync(archive);
    fs.rmSync(archive);
    handler = (req, res) => serve(bytes, req, res);
    const data = path.join(tmp, 'data');
    const error = await rejection(prepareDataset(data, options(`${base}/c.tar.gz`, md5(bytes))));
    expect(error.code).toBe('ERR_DATA_ARCHIVE');
    expect(error.message).toContain(
      'cifar-10-batches-bin/data_batch_3.bin is 3000 bytes, expected a positive multiple of 3073',
    );
    expect(entries(data)).toEqual(['cifar-10-binary.tar.gz']);
  });

  test('the size rule: full-size (30,730,000 bytes) for a known full archive, whole records otherwise', async () => {
    const dir = await extractMini();
    try {
      const batches = path.join(dir, 'cifar-10-batches-bin');
      await expect(batchSizeProblem(batches, false)).resolves.toBeUndefined();
      await expect(batchSizeProblem(batches, true)).resolves.toBe('data_batch_1.bin is 614600 bytes, expected 30730000');
      fs.truncateSync(path.join(batches, 'data_batch_2.bin'), 100 * RECORD_BYTES);
      await expect(batchSizeProblem(batches, false)).resolves.toBe(
        'the training batches differ in size (614600, 307300, 614600, 614600, 614600 bytes), expected equal sizes',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a data folder under a regular file (ENOTDIR, as EACCES cannot be simulated as root): clear error', async () => {
    const file = path.join(tmp, 'file');
    fs.writeFileSync(file, 'x');
    const error = await rejection(prepareDataset(path.join(file, 'data'), options(`${base}/c.tar.gz`)));
    expect(error.code).toBe('ERR_DOWNLOAD_FS');
    expect(error.message).toContain(`cannot create the data folder ${path.join(file, 'data')}`);
    const direct = await rejection(
      downloadArchive({ url: `${base}/c.tar.gz`, md5: MINI_MD5 }, path.join(file, 'c.tar.gz'), FAST),
    );
    expect(direct.code).toBe('ERR_DOWNLOAD_FS');
    expect(direct.message).toContain('a part of that path is a file, not a folder');
    expect(entries(tmp)).toEqual(['file']);
    expect(seen).toHaveLength(0);
  });

  test('aborting the signal stops the download with an AbortError, nothing left', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-length': MINI.length });
      res.write(MINI.subarray(0, 10));
    };
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 100);
    const error = await rejection(
      prepareDataset(tmp, { ...options(`${base}/c.tar.gz`), signal: controller.signal }),
    );
    expect(error.name).toBe('AbortError');
    expect(entries(tmp)).toEqual([]);
  });
});

describe('transport: proxies, redirects, timeouts, the disk', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    jest.restoreAllMocks();
  });

  /** A CONNECT proxy on loopback that records each tunnel's target and Proxy-Authorization header. */
  async function connectProxy(): Promise<{ url: string; tunnels: { target: string; auth?: string }[]; close(): Promise<void> }> {
    const tunnels: { target: string; auth?: string }[] = [];
    const sockets = new Set<net.Socket>();
    const proxy = http.createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
      const target = req.url ?? '';
      tunnels.push({ target, auth: req.headers['proxy-authorization'] });
      const [host, port] = target.split(':');
      const upstream = net.connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => (client.destroy(), upstream.destroy()));
      }
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      tunnels,
      close: async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => proxy.close(resolve));
      },
    };
  }

  test('HTTP_PROXY: tunnelled with CONNECT, credentials as Basic auth; NO_PROXY and HTTPS_PROXY-only go direct', async () => {
    const proxy = await connectProxy();
    try {
      const target = base.replace('http://', '');
      const url = `${base}/c.tar.gz`;
      process.env.HTTP_PROXY = proxy.url.replace('http://', 'http://user:p%40ss@');
      delete process.env.http_proxy;
      delete process.env.NO_PROXY;
      delete process.env.no_proxy;
      await downloadArchive({ url, md5: MINI_MD5 }, path.join(tmp, 'a.tar.gz'), FAST);
      expect(proxy.tunnels).toEqual([{ target, auth: `Basic ${Buffer.from('user:p@ss').toString('base64')}` }]);
      expect(seen).toHaveLength(1);

      process.env.NO_PROXY = 'example.com, 127.0.0.1';
      await downloadArchive({ url, md5: MINI_MD5 }, path.join(tmp, 'b.tar.gz'), FAST);
      expect(proxy.tunnels).toHaveLength(1);

      delete process.env.HTTP_PROXY;
      delete process.env.NO_PROXY;
      process.env.HTTPS_PROXY = proxy.url;
      await downloadArchive({ url, md5: MINI_MD5 }, path.join(tmp, 'c.tar.gz'), FAST);
      expect(proxy.tunnels).toHaveLength(1);
      expect(seen).toHaveLength(3);
      for (const name of ['a', 'b', 'c']) expect(md5(fs.readFileSync(path.join(tmp, `${name}.tar.gz`)))).toBe(MINI_MD5);
    } finally {
      await proxy.close();
    }
  });

  test('a proxy that refuses: a retried failure, then an error, never a hang', async () => {
    process.env.HTTP_PROXY = 'http://127.0.0.1:1';
    delete process.env.http_proxy;
    delete process.env.NO_PROXY;
    delete process.env.no_proxy;
    const error = await rejection(downloadArchive({ url: `${base}/c.tar.gz`, md5: MINI_MD5 }, path.join(tmp, 'c.tar.gz'), FAST));
    expect(error.code).toBe('ERR_DOWNLOAD_NETWORK');
    expect(error.message).toMatch(/after 4 attempts .*ECONNREFUSED/);
    expect(seen).toHaveLength(0);
  });

  test.each<[Record<string, string>, string, string | undefined]>([
    [{ HTTPS_PROXY: 'http://s:1' }, 'http://a.test/', undefined],
    [{ HTTPS_PROXY: 'http://s:1' }, 'https://a.test/', 'http://s:1'],
    [{ HTTP_PROXY: 'http://h:1' }, 'https://a.test/', 'http://h:1'],
    [{ http_proxy: 'http://l:1', HTTP_PROXY: 'http://u:1' }, 'http://a.test/', 'http://l:1'],
    [{ HTTP_PROXY: 'http://h:1', NO_PROXY: '*' }, 'http://a.test/', undefined],
    [{ HTTP_PROXY: 'http://h:1', NO_PROXY: 'a.test' }, 'http://a.test/', undefined],
    [{ HTTP_PROXY: 'http://h:1', NO_PROXY: 'a.test' }, 'http://b.a.test/', 'http://h:1'],
    [{ HTTP_PROXY: 'http://h:1', NO_PROXY: '.a.test' }, 'http://b.a.test/', undefined],
    [{ HTTP_PROXY: 'http://h:1', NO_PROXY: '*.a.test' }, 'http://B.A.test/', undefined],
    [{ HTTP_PROXY: 'http://h:1', NO_PROXY: 'a.test:8080' }, 'http://a.test/', 'http://h:1'],
    [{ HTTP_PROXY: 'http://h:1', NO_PROXY: 'a.test:8080' }, 'http://a.test:8080/', undefined],
    [{ HTTP_PROXY: 'http://h:1', no_proxy: 'x.test', NO_PROXY: 'a.test' }, 'http://a.test/', 'http://h:1'],
    [{ HTTP_PROXY: 'http://h:1', NO_PROXY: 'x.test [::1]' }, 'http://[::1]:9/', undefined],
  ])('proxy rules (as undici EnvHttpProxyAgent): %j, %s -> %s', (env, url, expected) => {
    expect(proxyFor(new URL(url), env)).toBe(expected);
  });

  test('redirects: a relative and an absolute one are followed, keeping the Range; a loop stops after 5', async () => {
    handler = (req, res, n) => {
      if (req.url === '/r1') return void res.writeHead(302, { location: '/r2' }).end();
      if (req.url === '/r2') return void res.writeHead(301, { location: `${base}/c.tar.gz` }).end();
      if (req.url === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
      return n === 3 ? dropHalfway(MINI, res) : serve(MINI, req, res);
    };
    await downloadArchive({ url: `${base}/r1`, md5: MINI_MD5 }, path.join(tmp, 'c.tar.gz'), FAST);
    expect(seen.map((s) => s.url)).toEqual(['/r1', '/r2', '/c.tar.gz', '/r1', '/r2', '/c.tar.gz']);
    expect(seen[4]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(md5(fs.readFileSync(path.join(tmp, 'c.tar.gz')))).toBe(MINI_MD5);

    seen = [];
    const error = await rejection(downloadArchive({ url: `${base}/loop`, md5: MINI_MD5 }, path.join(tmp, 'd.tar.gz'), FAST));
    expect(error.code).toBe('ERR_DOWNLOAD_HTTP');
    expect((error as unknown as DownloadError).status).toBe(302);
    expect(seen).toHaveLength(6);
  });

  test('no response headers within the stall timeout: retried, then ERR_DOWNLOAD_TIMEOUT', async () => {
    handler = () => undefined; // never answers
    const error = await rejection(
      downloadArchive({ url: `${base}/c.tar.gz`, md5: MINI_MD5 }, path.join(tmp, 'c.tar.gz'), {
        ...FAST,
        retries: 1,
        stallTimeoutMs: 300,
      }),
    );
    expect(error.code).toBe('ERR_DOWNLOAD_TIMEOUT');
    expect(error.message).toContain('no response headers for 300 ms (ERR_DOWNLOAD_STALL)');
    expect(seen).toHaveLength(2);
    expect(entries(tmp)).toEqual([]);
  });

  test('the disk fails mid-download (ENOSPC from the file stream): ERR_DISK_FULL at once, not a hang or a retry', async () => {
    const real = fs.createWriteStream;
    jest.spyOn(fs, 'createWriteStream').mockImplementation((file, opts) => {
      const stream = real(file, opts as Parameters<typeof real>[1]);
      let written = 0;
      const write = stream._write.bind(stream);
      stream._write = (chunk: Buffer, encoding, callback) => {
        written += chunk.length;
        if (written < 100_000) return write(chunk, encoding, callback);
        callback(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' }));
      };
      stream._writev = undefined;
      return stream;
    });
    const error = await rejection(downloadArchive({ url: `${base}/c.tar.gz`, md5: MINI_MD5 }, path.join(tmp, 'c.tar.gz'), FAST));
    expect(error.code).toBe('ERR_DISK_FULL');
    expect(error.message).toContain('no space left on the device (ENOSPC)');
    expect(seen).toHaveLength(1);
    expect(entries(tmp)).toEqual([]);
  });
});

// A loopback https server with a certificate made for the test (openssl), so that TLS is on the path: the
// download through Node's https, and a certificate nobody vouches for.
(hasOpenssl ? describe : describe.skip)(`over https (${hasOpenssl ? 'a self-signed certificate' : 'skipped: no openssl'})`, () => {
  let tls: https.Server;
  let cert: Buffer;
  let origin: string;
  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')],
    { stdio: 'ignore' });
    cert = fs.readFileSync(path.join(dir, 'cert.pem'));
    const key = fs.readFileSync(path.join(dir, 'key.pem'));
    fs.rmSync(dir, { recursive: true, force: true });
    tls = https.createServer({ key, cert }, (req, res) => {
      seen.push({ url: req.url ?? '', range: req.headers.range });
      handler(req, res, seen.length);
    });
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    origin = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    tls.closeAllConnections();
    await new Promise((resolve) => tls.close(resolve));
  });

  test('a server whose certificate the agent trusts: downloaded and verified in one request', async () => {
    const agent = new https.Agent({ ca: cert });
    await downloadArchive({ url: `${origin}/c.tar.gz`, md5: MINI_MD5 }, path.join(tmp, 'c.tar.gz'), { ...FAST, agent });
    expect(md5(fs.readFileSync(path.join(tmp, 'c.tar.gz')))).toBe(MINI_MD5);
    expect(seen).toHaveLength(1);
    agent.destroy();
  });

  test('a certificate nobody vouches for: ERR_DOWNLOAD_TLS at once (not retried), saying what to do', async () => {
    const error = await rejection(downloadArchive({ url: `${origin}/c.tar.gz`, md5: MINI_MD5 }, path.join(tmp, 'c.tar.gz'), FAST));
    expect(error).toMatchObject({ name: 'DownloadError', code: 'ERR_DOWNLOAD_TLS' });
    expect(error.message).toMatch(/^the certificate of 127\.0\.0\.1:\d+ was not accepted: .*\(DEPTH_ZERO_SELF_SIGNED_CERT\)\. .*NODE_EXTRA_CA_CERTS/);
    // The handshake failed: the server never saw a request, and there was no second attempt.
    expect(seen).toHaveLength(0);
    expect(entries(tmp)).toEqual([]);
  });
});

describeAsRoot('a real full disk', () => {
  const mount = useTmpfs('5m');
  afterEach(() => {
    for (const name of fs.readdirSync(mount())) fs.rmSync(path.join(mount(), name), { recursive: true, force: true });
  });

  test('the archive does not fit: ERR_DISK_FULL saying so, not retried, and no partial file left', async () => {
    // 1.5 MB free for a 3.4 MB archive.
    const filler = fillDisk(mount());
    fs.truncateSync(filler, fs.statSync(filler).size - 1.5 * 1024 * 1024);
    const dataDir = path.join(mount(), 'data');
    const error = await rejection(prepareDataset(dataDir, options(`${base}/c.tar.gz`)));
    expect(error).toMatchObject({ name: 'DownloadError', code: 'ERR_DISK_FULL' });
    expect(error.message).toMatch(/no space left on the device \(ENOSPC\); free some space/);
    expect(seen).toHaveLength(1);
    expect(entries(dataDir)).toEqual([]);
  });

  test('the archive fits but its batches do not: ERR_DISK_FULL (not "a damaged archive"), no half-extracted folder', async () => {
    // Room for the 3.4 MB archive, not for the 3.7 MB of batches beside it.
    const dataDir = path.join(mount(), 'data');
    const error = await rejection(prepareDataset(dataDir, options(`${base}/c.tar.gz`)));
    expect(error.code).toBe('ERR_DISK_FULL');
    expect(error.message).toMatch(/^cannot extract .*cifar-10-binary\.tar\.gz into .*: .*; free space on that disk/);
    // The archive is whole and checked: kept, so a second try after freeing space need not download it again.
    expect(entries(dataDir)).toEqual(['cifar-10-binary.tar.gz']);
    expect(md5(fs.readFileSync(path.join(dataDir, 'cifar-10-binary.tar.gz')))).toBe(MINI_MD5);
  });
});

describe('two processes sharing a cache', () => {
  test('concurrent calls: one downloads, the other waits and uses its result', async () => {
    const url = `${base}/c.tar.gz`;
    const [a, b] = await Promise.all([prepareDataset(tmp, options(url)), prepareDataset(tmp, options(url))]);
    expect([a, b]).toEqual([tmp, tmp]);
    expect(seen).toHaveLength(1);
    expect(entries(tmp)).toEqual(['cifar-10-batches-bin', 'cifar-10-binary.tar.gz']);
  });

  test('a lock left by a process that is gone is taken over', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    fs.writeFileSync(path.join(tmp, LOCK_FILE), JSON.stringify({ pid: dead, host: os.hostname() }));
    await prepareDataset(tmp, options(`${base}/c.tar.gz`));
    expect(entries(tmp)).toEqual(['cifar-10-batches-bin', 'cifar-10-binary.tar.gz']);
  });

  test('a live lock makes the second wait until it is released', async () => {
    const lock = path.join(tmp, 'l');
    const order: string[] = [];
    let release!: () => void;
    const first = withLock(lock, () => new Promise<void>((resolve) => (release = resolve)).then(() => void order.push('first')), { pollMs: 5 });
    await new Promise((r) => setTimeout(r, 20));
    const second = withLock(lock, async () => void order.push('second'), { pollMs: 5 });
    await new Promise((r) => setTimeout(r, 50));
    expect(order).toEqual([]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
    expect(fs.existsSync(lock)).toBe(false);
  });
});

describe('drawing download progress', () => {
  const event = (bytes: number): DownloadEvent => ({
    type: 'download',
    bytes,
    total: 1000,
    bytesPerSecond: 100,
    etaSeconds: (1000 - bytes) / 100,
  });

  test('plain lines (not a terminal): one per tenth of the way', () => {
    let text = '';
    const renderer = new ProgressRenderer({ write: (s: string) => (text += s), isTTY: false });
    for (let b = 0; b <= 1000; b += 50) renderer.onProgress(event(b));
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(11);
    expect(lines[5]).toBe('downloading CIFAR-10: 500 B of 1000 B (50%), 100 B/s, ETA 5.0s');
  });
});
