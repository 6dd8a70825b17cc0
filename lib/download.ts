// SPDX-License-Identifier: MIT
// Fetches the CIFAR-10 archive: streamed to a temporary file while its md5 is computed, retried and resumed,
// renamed into place only once verified. The lock that keeps two processes from fetching at once lives in
// lock.ts (withLock, re-exported here).
// HTTP goes through Node's own http/https: undici 6 and 7 (the releases that run on Node 20) could kill the
// process with an uncatchable assertion when a server closed the connection while the body was paused under
// backpressure (issue 19, nodejs/undici#5360); test/unit/download-framing.test.ts guards against that.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { HttpsProxyAgent } from 'https-proxy-agent';

import { createAbortError, fileSystemCode } from './errors';

export { withLock } from './lock';
export type { LockOptions } from './lock';

/** The official CIFAR-10 binary version. */
export const OFFICIAL_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
/** The official archive's md5 (https://www.cs.toronto.edu/~kriz/cifar.html). */
export const OFFICIAL_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
/** Environment variables that override the archive's URL (or local path) and md5. */
export const URL_ENV = 'LIBTORCH_RESNET_CIFAR_URL';
export const MD5_ENV = 'LIBTORCH_RESNET_CIFAR_MD5';

/**
 * Where the archive comes from and the md5 it must have: an http(s) URL, a file: URL or an absolute path.
 *
 * @example
 * const source: DownloadSource = { url: 'http://mirror.local/cifar-10-binary.tar.gz', md5: OFFICIAL_MD5 };
 */
export interface DownloadSource {
  readonly url: string;
  readonly md5: string;
}

/**
 * Sent while the archive is fetched (or copied from a local path): bytes so far, the total (null when the server
 * does not say), the rate over this fetch and the estimated seconds left (null when unknown).
 *
 * @example
 * onProgress: (e) => { if (e.type === 'download') console.log(e.bytes, e.total, e.etaSeconds); }
 */
export interface DownloadEvent {
  readonly type: 'download';
  readonly bytes: number;
  readonly total: number | null;
  readonly bytesPerSecond: number;
  readonly etaSeconds: number | null;
}

/**
 * How a download is retried and reported; every field has a default, tests shorten the delays.
 *
 * @example
 * await downloadArchive(source, file, { retries: 2, backoffMs: () => 10, stallTimeoutMs: 500 });
 */
export interface DownloadOptions {
  /** Receives download events (at most every progressIntervalMs, and the last one). */
  onProgress?: ((event: DownloadEvent) => void) | undefined;
  /** Aborting it stops the download; it then rejects with an AbortError. */
  signal?: AbortSignal | undefined;
  /** Further attempts after the first (5). */
  retries?: number | undefined;
  /** Wait before retry `attempt` (1-based): 1 s, 2 s, 4 s ... up to 30 s by default. */
  backoffMs?: ((attempt: number) => number) | undefined;
  /** An attempt with no byte received for this long is dropped and retried (30000). */
  stallTimeoutMs?: number | undefined;
  /** The whole download, retries included, gives up after this long (2 hours). */
  totalTimeoutMs?: number | undefined;
  /** Minimum time between two progress events (200). */
  progressIntervalMs?: number | undefined;
  /**
   * The `http.Agent` for every request, http and https alike (so one that serves both, such as a proxy agent);
   * default: a CONNECT tunnel through HTTPS_PROXY / HTTP_PROXY unless NO_PROXY names the host, else a direct
   * connection, chosen per URL (see {@link proxyFor}).
   */
  agent?: http.Agent | undefined;
}

/**
 * A failed download. `code` is one of `ERR_DOWNLOAD_HTTP` (an HTTP error status, in `status`),
 * `ERR_DOWNLOAD_MD5` (wrong checksum), `ERR_DOWNLOAD_TIMEOUT` (stalled or too slow, retries spent),
 * `ERR_DOWNLOAD_NETWORK` (connection failures, retries spent), `ERR_DISK_FULL` (no space left for the archive),
 * `ERR_PERMISSION` (the data folder may not be written), `ERR_DOWNLOAD_FS` (another failure to write it, such as a
 * path through a file), `ERR_DOWNLOAD_TLS` (the server's certificate was not accepted: not retried) or
 * `ERR_DOWNLOAD_SOURCE` (a local source that cannot be read). The disk and permission codes are the ones
 * checkpoints and the run folder give.
 *
 * @example
 * try { await train(); } catch (err) { if (err instanceof DownloadError && err.code === 'ERR_DOWNLOAD_MD5') ... }
 */
export class DownloadError extends Error {
  readonly code: string;
  /** The URL (or path) downloaded from. */
  readonly url: string;
  /** The HTTP status, for ERR_DOWNLOAD_HTTP. */
  readonly status: number | undefined;

  constructor(code: string, message: string, url: string, options?: ErrorOptions & { status?: number }) {
    super(message, options);
    this.code = code;
    this.url = url;
    this.status = options?.status;
  }
}
Object.defineProperty(DownloadError.prototype, 'name', {
  value: 'DownloadError',
  configurable: true,
  enumerable: false,
  writable: true,
});

/** Whether `url` names a local file (a path or a file: URL) rather than an http(s) resource. */
export function isLocalSource(url: string): boolean {
  return !/^https?:\/\//i.test(url);
}

function localPath(url: string): string {
  return /^file:/i.test(url) ? fileURLToPath(url) : path.resolve(url);
}

const FS_HINT = 'free some space or give permission, or point dataDir (--data-dir) at another folder';

function fsError(err: unknown, where: string, url: string): DownloadError {
  const { syscall } = err as NodeJS.ErrnoException;
  // mkdir -p under a regular file says EEXIST: it means the same as ENOTDIR.
  const raw = (err as NodeJS.ErrnoException).code ?? 'unknown';
  const code = raw === 'EEXIST' && syscall === 'mkdir' ? 'ENOTDIR' : raw;
  const what =
    code === 'ENOSPC'
      ? 'no space left on the device'
      : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
        ? 'no permission to write there'
        : code === 'ENOTDIR'
          ? 'a part of that path is a file, not a folder'
          : (err as Error).message;
  return new DownloadError(
    fileSystemCode(err) ?? 'ERR_DOWNLOAD_FS',
    `cannot write the CIFAR-10 archive to ${where}: ${what} (${code}); ${FS_HINT}`,
    url,
    { cause: err },
  );
}

// Errors worth another attempt: connection drops, stalls, resets, and 5xx / 408 / 429 answers.
class RetryableError extends Error {
  constructor(
    message: string,
    readonly timeout: boolean,
    readonly final?: DownloadError,
  ) {
    super(message);
  }
}

// Error codes that mean "too slow" rather than "broken": our own stall watchdog, and the OS's connect timeout.
const NETWORK_TIMEOUT_CODES = new Set(['ERR_DOWNLOAD_STALL', 'ETIMEDOUT']);

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/**
 * The proxy a request for `url` goes through, from the environment, or undefined for a direct connection; the
 * rules of undici's EnvHttpProxyAgent, which this package used before: http URLs take `http_proxy` (else
 * `HTTP_PROXY`), https URLs `https_proxy` (else `HTTPS_PROXY`) and, when neither is set, the http proxy.
 * `no_proxy` (else `NO_PROXY`) lists hosts reached directly, split at commas or spaces: `*` for all, `host`
 * exactly, `.example.com` or `*.example.com` as a suffix, each with an optional `:port`.
 *
 * @example
 * proxyFor(new URL('https://www.cs.toronto.edu/x'), { HTTPS_PROXY: 'http://proxy:3128' }); // 'http://proxy:3128'
 */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const httpProxy = env.http_proxy ?? env.HTTP_PROXY;
  const httpsProxy = env.https_proxy ?? env.HTTPS_PROXY;
  const proxy = url.protocol === 'https:' ? httpsProxy || httpProxy : httpProxy;
  if (!proxy) return undefined;
  const noProxy = env.no_proxy ?? env.NO_PROXY ?? '';
  const entries = noProxy
    .split(/[,\s]/)
    .filter(Boolean)
    .map((entry) => {
      const parsed = /^(.+):(\d+)$/.exec(entry);
      return { host: (parsed ? parsed[1]! : entry).toLowerCase(), port: parsed ? Number(parsed[2]) : 0 };
    });
  if (entries.length === 0) return proxy;
  if (noProxy === '*') return undefined;
  // url.host keeps the brackets of an IPv6 address, as NO_PROXY entries write it.
  const host = url.host.replace(/:\d*$/, '').toLowerCase();
  const port = Number(url.port) || DEFAULT_PORTS[url.protocol] || 0;
  for (const entry of entries) {
    if (entry.port && entry.port !== port) continue;
    const direct = /^[.*]/.test(entry.host) ? host.endsWith(entry.host.replace(/^\*/, '')) : host === entry.host;
    if (direct) return undefined;
  }
  return proxy;
}

// Node's own HTTP client, one connection per attempt (a retry never reuses a socket the server may be closing).
const directAgents = { http: new http.Agent({ keepAlive: false }), https: new https.Agent({ keepAlive: false }) };
const proxyAgents = new Map<string, http.Agent>();

function agentFor(url: URL, options: DownloadOptions): http.Agent {
  if (options.agent) return options.agent;
  const proxy = proxyFor(url);
  if (proxy === undefined) return url.protocol === 'https:' ? directAgents.https : directAgents.http;
  // Tunnelled with CONNECT for http and https URLs alike, as undici's ProxyAgent did; credentials in the proxy
  // URL become a Proxy-Authorization header.
  let agent = proxyAgents.get(proxy);
  if (!agent) {
    agent = new HttpsProxyAgent(proxy, { keepAlive: false });
    proxyAgents.set(proxy, agent);
  }
  return agent;
}

const REDIRECT_STATUSES = new Set([300, 301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/** A request in flight: its response once the headers are in, and the watchdog that drops it when it stalls. */
interface Exchange {
  readonly response: http.IncomingMessage;
  /** Restarts the stall timer: a byte was received or written. */
  touch(): void;
  /** Why the exchange was dropped by us (a stall), which trumps the error the dropped stream reports. */
  readonly failure: Error | undefined;
  /** Stops the watchdog, and drops the connection unless the body was read to its end. */
  close(): void;
}

function stallError(what: string, ms: number): Error {
  return Object.assign(new Error(`${what} for ${ms} ms`), { code: 'ERR_DOWNLOAD_STALL' });
}

/**
 * One GET with Node's http/https (redirects followed up to MAX_REDIRECTS; then the redirect itself is the answer,
 * as undici's maxRedirections did). Every error of the request and its response is listened to from the start,
 * so no server behaviour (a reset, a close mid-body, a close while the body is paused) can become an uncaught
 * exception; they reach the caller as a rejection here or as the body stream's error.
 */
function get(url: string, headers: http.OutgoingHttpHeaders, options: DownloadOptions, signal: AbortSignal): Promise<Exchange> {
  const stall = options.stallTimeoutMs ?? 30_000;
  return new Promise<Exchange>((resolve, reject) => {
    let failure: Error | undefined;
    let current: http.ClientRequest | undefined;
    let response: http.IncomingMessage | undefined;
    let settled = false;
    // One timer for the whole exchange: headers within `stall`, then no gap of `stall` between body chunks.
    // Destroying the response (not the request, which would dump the body's pending bytes and let it end
    // early) makes the body stream fail with this error.
    const timer = setTimeout(() => {
      failure = stallError(response ? 'no data received or written' : 'no response headers', stall);
      if (response) response.destroy(failure);
      else current?.destroy(failure);
      fail(failure);
    }, stall);
    const close = (): void => {
      clearTimeout(timer);
    };
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      close();
      reject(err);
    };
    const send = (target: URL, redirects: number): void => {
      if (signal.aborted) return fail(signal.reason as Error);
      const client = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : undefined;
      if (!client) return fail(new Error(`cannot follow a redirect to ${target.href} (not http or https)`));
      let req: http.ClientRequest;
      try {
        req = client.request(target, { method: 'GET', headers, agent: agentFor(target, options), signal });
      } catch (err) {
        return fail(err as Error);
      }
      current = req;
      // Kept for the request's whole life: after the response, its errors also reach the response stream.
      req.on('error', (err) => {
        if (req === current) fail(failure ?? err);
      });
      req.on('response', (res) => {
        // Before anyone reads the body, so that a close in between cannot throw; pipeline() sees the error too.
        res.on('error', () => undefined);
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (REDIRECT_STATUSES.has(status) && location && redirects < MAX_REDIRECTS) {
          res.resume();
          req.destroy();
          let next: URL;
          try {
            next = new URL(location, target);
          } catch {
            return fail(new Error(`the server redirected to an invalid URL: ${location}`));
          }
          return send(next, redirects + 1);
        }
        if (settled) return void req.destroy();
        settled = true;
        response = res;
        resolve({
          response: res,
          touch: () => void timer.refresh(),
          get failure() {
            return failure;
          },
          close: () => {
            close();
            if (!res.complete || !res.readableEnded) req.destroy();
          },
        });
      });
      req.end();
    };
    send(new URL(url), 0);
  });
}

/** Tracks bytes, the md5 and the rate, and sends throttled progress events. */
class Progress {
  hash = createHash('md5');
  bytes = 0;
  total: number | null = null;
  private readonly started = Date.now();
  private lastSent = 0;

  constructor(private readonly options: DownloadOptions) {}

  /** Starting over from byte 0 (the server ignored a Range request). */
  reset(): void {
    this.hash = createHash('md5');
    this.bytes = 0;
  }

  add(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.send(false);
  }

  send(force: boolean): void {
    const { onProgress } = this.options;
    if (!onProgress) return;
    const now = Date.now();
    if (!force && now - this.lastSent < (this.options.progressIntervalMs ?? 200)) return;
    this.lastSent = now;
    const seconds = (now - this.started) / 1000;
    const bytesPerSecond = seconds > 0 ? this.bytes / seconds : 0;
    const etaSeconds =
      this.total === null ? null : bytesPerSecond > 0 ? Math.max(0, (this.total - this.bytes) / bytesPerSecond) : null;
    onProgress({ type: 'download', bytes: this.bytes, total: this.total, bytesPerSecond, etaSeconds });
  }
}

/** A write to the temporary file failed (as opposed to the network). */
class FileWriteError extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

// Hashes, counts and writes each chunk, waiting for the file's 'drain' (backpressure reaches the source);
// `touch` is told of every chunk received and written.
function sink(file: fs.WriteStream, progress: Progress, touch: () => void = () => undefined): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      touch();
      if (file.errored) return callback(new FileWriteError(file.errored));
      progress.add(chunk);
      if (file.write(chunk)) return callback();
      const done = (err?: Error): void => {
        file.off('drain', onDrain);
        file.off('error', onError);
        touch();
        callback(err && new FileWriteError(err));
      };
      const onDrain = (): void => done();
      const onError = (err: Error): void => done(err);
      file.once('drain', onDrain);
      file.once('error', onError);
    },
  });
}

async function openTemp(temp: string, flags: string, url: string): Promise<fs.WriteStream> {
  const stream = fs.createWriteStream(temp, { flags });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err) => reject(fsError(err, temp, url)));
  });
  return stream;
}

async function closeStream(stream: fs.WriteStream, temp: string, url: string): Promise<void> {
  if (stream.closed) return;
  await new Promise<void>((resolve, reject) => {
    stream.end((err?: Error | null) => (err ? reject(fsError(err, temp, url)) : resolve()));
  });
}

// One HTTP attempt: appends to `temp` from progress.bytes on (a Range request) or from 0.
async function attempt(
  url: string,
  temp: string,
  progress: Progress,
  options: DownloadOptions,
  signal: AbortSignal,
): Promise<void> {
  const from = progress.bytes;
  let exchange: Exchange;
  try {
    exchange = await get(url, from > 0 ? { range: `bytes=${from}-` } : {}, options, signal);
  } catch (err) {
    throw classifyNetworkError(err, signal, url);
  }
  try {
    await receive(url, temp, progress, exchange, signal);
  } finally {
    exchange.close();
  }
}

async function receive(
  url: string,
  temp: string,
  progress: Progress,
  exchange: Exchange,
  signal: AbortSignal,
): Promise<void> {
  const from = progress.bytes;
  const { response: body } = exchange;
  const statusCode = body.statusCode ?? 0;
  const { headers } = body;
  if (statusCode >= 400 || (statusCode !== 200 && statusCode !== 206)) {
    body.resume();
    const error = new DownloadError(
      'ERR_DOWNLOAD_HTTP',
      `downloading ${url} failed: the server answered HTTP ${statusCode}; check the URL (download.url, or ` +
        `${URL_ENV}), or put the archive in the data folder yourself`,
      url,
      { status: statusCode },
    );
    if (statusCode >= 500 || statusCode === 408 || statusCode === 429) {
      throw new RetryableError(`HTTP ${statusCode}`, false, error);
    }
    throw error;
  }
  // A 200 to a Range request (or a 206 from elsewhere) means starting over.
  const range = /^bytes (\d+)-\d+\/(\d+|\*)/.exec(String(headers['content-range'] ?? ''));
  const resumed = statusCode === 206 && range !== null && Number(range[1]) === from;
  if (!resumed) progress.reset();
  const length = Number(headers['content-length']);
  if (resumed && range![2] !== '*') progress.total = Number(range![2]);
  else progress.total = Number.isFinite(length) ? length + progress.bytes : progress.total;
  const file = await openTemp(temp, resumed ? 'a' : 'w', url);
  try {
    await pipeline(body, sink(file, progress, exchange.touch), { signal });
    // A body that ended without its framing's end (fewer bytes than Content-Length, no last chunk) errors in
    // Node's parser; this is the second line of defence, so that only a complete message counts.
    if (!body.complete) throw new Error('the connection closed before the response was complete');
  } catch (err) {
    // Every byte counted (and hashed) has been handed to the file stream; flush them before the next attempt
    // resumes after them. Destroying the stream would drop writes still queued, leaving a hole that the
    // streaming md5 (of the bytes received, not of the file) could not see.
    await closeStream(file, temp, url).catch(() => file.destroy());
    const onDisk = await fsp.stat(temp).then((s) => s.size, () => -1);
    if (onDisk !== progress.bytes) progress.reset();
    if (err instanceof DownloadError) throw err;
    if (err instanceof FileWriteError) throw fsError(err.cause, temp, url);
    if (exchange.failure || signal.aborted || body.complete) {
      throw classifyNetworkError(exchange.failure ?? err, signal, url);
    }
    // Node's parser saw the connection end before the framing's end: fewer bytes than Content-Length, or a
    // chunked body without its last chunk (Node says "aborted", ECONNRESET).
    const code = (err as { code?: string }).code ?? 'network error';
    const of = progress.total === null ? '' : ` of ${progress.total}`;
    throw new RetryableError(
      `the connection closed before the whole response arrived, after ${progress.bytes}${of} bytes (${code})`,
      false,
    );
  }
  await closeStream(file, temp, url);
  if (progress.total !== null && progress.bytes < progress.total) {
    throw new RetryableError(`the connection closed after ${progress.bytes} of ${progress.total} bytes`, false);
  }
}

// Certificate failures (OpenSSL's verify codes, Node's host name check): another attempt meets the same
// certificate, so they are not retried.
const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

// What a failed attempt's network error means: left as it is once `signal` is aborted; a final ERR_DOWNLOAD_TLS
// DownloadError (not retried) for a certificate that was not accepted; else a RetryableError, marked a timeout
// for a stall or a connect timeout.
function classifyNetworkError(err: unknown, signal: AbortSignal, url: string): Error {
  if (signal.aborted) return err as Error;
  const code = (err as { code?: string }).code ?? '';
  if (CERTIFICATE_CODES.has(code))
    return new DownloadError(
      'ERR_DOWNLOAD_TLS',
      `the certificate of ${new URL(url).host} was not accepted: ${(err as Error).message} (${code}). Behind a ` +
        'proxy or firewall that inspects TLS, start Node with NODE_EXTRA_CA_CERTS=<its CA file>; or use a mirror ' +
        `(download.url, or ${URL_ENV})`,
      url,
      { cause: err },
    );
  return new RetryableError(`${(err as Error).message} (${code || 'network error'})`, NETWORK_TIMEOUT_CODES.has(code));
}

async function fetchHttp(url: string, temp: string, progress: Progress, options: DownloadOptions): Promise<void> {
  const retries = options.retries ?? 5;
  const backoff = options.backoffMs ?? ((n: number) => Math.min(30_000, 1000 * 2 ** (n - 1)));
  const totalMs = options.totalTimeoutMs ?? 2 * 3600_000;
  const started = Date.now();
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), totalMs);
  timer.unref?.();
  const signals = [deadline.signal, ...(options.signal ? [options.signal] : [])];
  const signal = AbortSignal.any(signals);
  let lastTimeout = false;
  try {
    for (let n = 0; ; n++) {
      try {
        await attempt(url, temp, progress, options, signal);
        return;
      } catch (err) {
        if (options.signal?.aborted) throw createAbortError(options.signal.reason);
        const elapsed = ((Date.now() - started) / 1000).toFixed(1);
        if (deadline.signal.aborted) {
          throw new DownloadError(
            'ERR_DOWNLOAD_TIMEOUT',
            `gave up downloading ${url} after ${elapsed}s (the limit) and ${n + 1} attempt(s), at ` +
              `${progress.bytes} bytes; try again later, or use a mirror (download.url, or ${URL_ENV})`,
            url,
            { cause: err },
          );
        }
        if (!(err instanceof RetryableError)) throw err;
        lastTimeout = err.timeout;
        if (n >= retries) {
          if (err.final) throw err.final;
          throw new DownloadError(
            lastTimeout ? 'ERR_DOWNLOAD_TIMEOUT' : 'ERR_DOWNLOAD_NETWORK',
            `gave up downloading ${url} after ${n + 1} attempts (${elapsed}s), at ${progress.bytes} bytes: ` +
              `${err.message}; try again later, or use a mirror (download.url, or ${URL_ENV})`,
            url,
            { cause: err },
          );
        }
        await delay(backoff(n + 1), undefined, { signal }).catch(() => undefined);
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

async function copyLocal(url: string, temp: string, progress: Progress): Promise<void> {
  const from = localPath(url);
  let size: number;
  try {
    size = (await fsp.stat(from)).size;
  } catch (err) {
    throw new DownloadError(
      'ERR_DOWNLOAD_SOURCE',
      `cannot read the CIFAR-10 archive at ${from}: ${(err as Error).message}; check download.url (or ${URL_ENV})`,
      url,
      { cause: err },
    );
  }
  progress.total = size;
  const file = await openTemp(temp, 'w', url);
  try {
    await pipeline(fs.createReadStream(from), sink(file, progress));
  } catch (err) {
    file.destroy();
    throw fsError(err, temp, url);
  }
  await closeStream(file, temp, url);
}

/**
 * Fetches `source.url` (http, https, a file: URL or a path) into `destination`: streamed to a temporary file in
 * the same folder while its md5 is computed, retried with backoff and resumed with a Range request where the
 * server allows, renamed to `destination` only when the md5 is `source.md5`. On failure no file is left behind.
 * Rejects with a {@link DownloadError}, or an AbortError when `options.signal` is aborted.
 *
 * @example
 * await downloadArchive({ url: OFFICIAL_URL, md5: OFFICIAL_MD5 }, '/data/cifar-10-binary.tar.gz', {
 *   onProgress: (e) => console.log(e.bytes, e.total),
 * });
 */
export async function downloadArchive(
  source: DownloadSource,
  destination: string,
  options: DownloadOptions = {},
): Promise<void> {
  const { url, md5 } = source;
  const dir = path.dirname(destination);
  try {
    await fsp.mkdir(dir, { recursive: true });
  } catch (err) {
    throw fsError(err, dir, url);
  }
  const temp = path.join(dir, `.${path.basename(destination)}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
  const progress = new Progress(options);
  let done = false;
  try {
    // Fetch
    if (isLocalSource(url)) await copyLocal(url, temp, progress);
    else await fetchHttp(url, temp, progress, options);
    progress.send(true);
    // Verify
    const actual = progress.hash.digest('hex');
    if (actual !== md5.toLowerCase()) {
      throw new DownloadError(
        'ERR_DOWNLOAD_MD5',
        `the file downloaded from ${url} has md5 ${actual}, expected ${md5.toLowerCase()} (${progress.bytes} ` +
          `bytes); it was removed. The download was damaged, or the mirror holds another file: set download.md5 ` +
          `(or ${MD5_ENV}) to the md5 of the archive you mean`,
        url,
      );
    }
    // Move into place
    try {
      await fsp.rename(temp, destination);
    } catch (err) {
      throw fsError(err, destination, url);
    }
    done = true;
  } finally {
    if (!done) await fsp.rm(temp, { force: true }).catch(() => undefined);
  }
}
