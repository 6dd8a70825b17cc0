// SPDX-License-Identifier: MIT
// How a download's body is framed, with the server closing the connection right after the last byte while the
// download's write side lags (backpressure): close-delimited (HTTP/1.0, no Content-Length), Content-Length with
// `Connection: close`, and chunked. Issue 19: undici 6 crashed the process here (an uncatchable
// `assert(!this.paused)` in its HTTP/1 parser, nodejs/undici#5360) in about a third of the downloads.
// Also responses cut short in each length-framed form, and the original scenario: Python's http.server.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { DownloadError, downloadArchive } from '../../lib/download';
import type { DownloadOptions } from '../../lib/download';
import { MINI_ARCHIVE } from '../fixtures/cifar';
import { rejection } from './fake-binding';

const MINI = fs.readFileSync(MINI_ARCHIVE());
const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');
const MINI_MD5 = md5(MINI);
const RUNS = 50;

type Framing = 'close-delimited' | 'content-length' | 'chunked';

/**
 * The raw bytes of a response carrying `body` in `framing`. `cut` (bytes of the body actually sent) makes it a
 * response cut short: a Content-Length larger than what follows, or chunks without the final zero-size chunk.
 */
function response(framing: Framing, body: Buffer, cut?: number): Buffer[] {
  const sent = cut === undefined ? body : body.subarray(0, cut);
  if (framing === 'close-delimited') return [Buffer.from('HTTP/1.0 200 OK\r\nContent-Type: application/gzip\r\n\r\n'), sent];
  if (framing === 'content-length') {
    const head = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    return [Buffer.from(head), sent];
  }
  const parts: Buffer[] = [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n')];
  for (let at = 0; at < sent.length; at += 16_384) {
    const chunk = sent.subarray(at, at + 16_384);
    parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
  }
  if (cut === undefined) parts.push(Buffer.from('0\r\n\r\n'));
  return parts;
}

// A server on raw TCP, so that the framing is exactly what the test says: it reads the request head, writes the
// whole response and ends the connection (FIN) right after the last byte. `reply` picks the bytes per request.
let server: net.Server;
let port: number;
let reply: () => Buffer[];
/** Replaces the clean end (write everything, then FIN) when set. */
let rawEnding: ((socket: net.Socket, parts: Buffer[]) => void) | undefined;
let requests: number;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    const onData = (data: Buffer): void => {
      head += data.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      requests++;
      const parts = reply();
      if (rawEnding) return rawEnding(socket, parts);
      parts.forEach((part, i) => (i === parts.length - 1 ? socket.end(part) : socket.write(part)));
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

let tmp: string;
let restoreSlowDisk: (() => void) | undefined;
/** How often the slowed file made the download wait for 'drain', which pauses the response (backpressure). */
let drains = 0;
beforeEach(() => {
  requests = 0;
  drains = 0;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'libtorch-resnet-framing-'));
});
afterEach(() => {
  restoreSlowDisk?.();
  restoreSlowDisk = undefined;
  fs.rmSync(tmp, { recursive: true, force: true });
});

/**
 * Slows the download's write side: the temporary file it opens gets a 1 KiB highWaterMark (every body chunk
 * fills it, so the download waits for 'drain' and pauses the response) and each write lands a timer tick later.
 * The seam is `fs.createWriteStream`, which lib/download.ts opens the temporary file with.
 */
function slowDisk(): void {
  const real = fs.createWriteStream;
  const spy = jest.spyOn(fs, 'createWriteStream').mockImplementation((file, options) => {
    const stream = real(file, { ...(typeof options === 'object' ? options : {}), highWaterMark: 1024 });
    const write = stream._write.bind(stream);
    const writev = stream._writev?.bind(stream);
    stream._write = (chunk, encoding, callback) => void setTimeout(() => write(chunk, encoding, callback), 1);
    if (writev) stream._writev = (chunks, callback) => void setTimeout(() => writev(chunks, callback), 1);
    stream.on('drain', () => drains++);
    return stream;
  });
  restoreSlowDisk = () => spy.mockRestore();
}

// No retries: every one of the downloads must succeed at its first attempt.
const ONCE: DownloadOptions = { retries: 0, stallTimeoutMs: 10_000 };
const FAST: DownloadOptions = { retries: 3, backoffMs: () => 10, stallTimeoutMs: 5000 };

describe.each<Framing>(['close-delimited', 'content-length', 'chunked'])('a %s body', (framing) => {
  test(`${RUNS} downloads in a row with a slow disk and the server closing after the last byte: all verified, no crash`, async () => {
    slowDisk();
    reply = () => response(framing, MINI);
    const started = Date.now();
    for (let run = 0; run < RUNS; run++) {
      const file = path.join(tmp, `c${run}.tar.gz`);
      await downloadArchive({ url: `http://127.0.0.1:${port}/cifar-10-binary.tar.gz`, md5: MINI_MD5 }, file, ONCE);
      expect(fs.statSync(file).size).toBe(MINI.length);
      fs.rmSync(file);
    }
    expect(requests).toBe(RUNS);
    // The write side really was slowed: every file went through the stub, and the download waited for the
    // disk many times a file (3.4 MB in chunks of at most 64 KiB: over 50 waits each).
    expect(fs.createWriteStream).toHaveBeenCalledTimes(RUNS);
    expect(drains).toBeGreaterThan(RUNS * 50);
    console.log(`${framing}: ${RUNS} downloads in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 60_000);
});

describe.each<Framing>(['content-length', 'chunked'])('a %s body cut short', (framing) => {
  test('is a retried network error, then a clear failure; never a success, even when the md5 fits the cut bytes', async () => {
    slowDisk();
    const cut = MINI.length >> 1;
    reply = () => response(framing, MINI, cut);
    const url = `http://127.0.0.1:${port}/c.tar.gz`;
    // The md5 the short body has: if the download took the cut response for a whole one, it would pass.
    const error = await rejection(downloadArchive({ url, md5: md5(MINI.subarray(0, cut)) }, path.join(tmp, 'c.tar.gz'), FAST));
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.code).toBe('ERR_DOWNLOAD_NETWORK');
    expect(error.message).toMatch(new RegExp(`^gave up downloading ${url.replace(/\./g, '\\.')} after 4 attempts`));
    expect(error.message).toContain('the connection closed before the whole response arrived');
    expect(requests).toBe(4);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});

describe('a server that resets or drops the connection in any framing', () => {
  const endings = {
    // A TCP reset (RST) halfway through the body.
    'reset halfway': (socket: net.Socket, parts: Buffer[]) => {
      const all = Buffer.concat(parts);
      socket.write(all.subarray(0, all.length >> 1), () => socket.resetAndDestroy());
    },
    // Everything written, then the socket destroyed at once (bytes still queued may be lost).
    'destroyed after the write': (socket: net.Socket, parts: Buffer[]) => {
      socket.write(Buffer.concat(parts));
      socket.destroy();
    },
  };
  test.each(Object.keys(endings) as (keyof typeof endings)[])(
    '%s: each download succeeds verified or fails with a DownloadError, never a crash (3 framings x 5)',
    async (ending) => {
      slowDisk();
      const outcomes: string[] = [];
      for (const framing of ['close-delimited', 'content-length', 'chunked'] as Framing[]) {
        for (let run = 0; run < 5; run++) {
          reply = () => response(framing, MINI);
          rawEnding = endings[ending];
          const file = path.join(tmp, 'c.tar.gz');
          try {
            await downloadArchive({ url: `http://127.0.0.1:${port}/c.tar.gz`, md5: MINI_MD5 }, file, ONCE);
            expect(fs.statSync(file).size).toBe(MINI.length);
            fs.rmSync(file);
            outcomes.push('ok');
          } catch (err) {
            expect(err).toBeInstanceOf(DownloadError);
            outcomes.push((err as DownloadError).code);
          }
        }
      }
      rawEnding = undefined;
      expect(outcomes).toHaveLength(15);
      expect(fs.readdirSync(tmp)).toEqual([]);
    },
    30_000,
  );
});

/** Debian's python3 (or the first on PATH), when it runs. */
function findPython(): string | undefined {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(candidate, ['-c', 'import http.server'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}
const PYTHON = findPython();

describe('the original crash scenario: python3 -m http.server (HTTP/1.0, closes after the body)', () => {
  let python: ChildProcess | undefined;
  afterEach(() => {
    python?.kill();
    python = undefined;
  });

  (PYTHON ? test : test.skip)(
    `10 downloads in a row of the real archive, all verified${PYTHON ? '' : ' (skipped: no python3 on this machine)'}`,
    async () => {
      const root = path.join(tmp, 'www');
      fs.mkdirSync(root);
      fs.copyFileSync(MINI_ARCHIVE(), path.join(root, 'cifar-10-binary.tar.gz'));
      const child = spawn(PYTHON!, ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', root], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      python = child;
      // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
      const pyPort = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (data: Buffer) => {
          out += data.toString();
          const match = / port (\d+)/.exec(out);
          if (match) resolve(Number(match[1]));
        });
        child.once('exit', (code) => reject(new Error(`python3 -m http.server exited (${code}): ${out}`)));
      });
      const url = `http://127.0.0.1:${pyPort}/cifar-10-binary.tar.gz`;
      for (let run = 0; run < 10; run++) {
        const file = path.join(tmp, `c${run}.tar.gz`);
        await downloadArchive({ url, md5: MINI_MD5 }, file, ONCE);
        expect(fs.statSync(file).size).toBe(MINI.length);
        fs.rmSync(file);
      }
    },
    30_000,
  );
});
