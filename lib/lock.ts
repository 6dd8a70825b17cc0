// SPDX-License-Identifier: MIT
// A cross-process lock file, so that processes sharing a data folder do not download or extract into it at once;
// apart from download.ts because it guards the whole folder, not a fetch.
import fsp from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';

import { createAbortError } from './errors';

/**
 * Options of {@link withLock}; the delays are there for tests.
 *
 * @example
 * await withLock(lockFile, work, { pollMs: 10 });
 */
export interface LockOptions {
  /** How often a waiting process looks again (250). */
  pollMs?: number;
  /** A lock not refreshed for this long is taken over (60000); the holder refreshes it every staleMs / 4. */
  staleMs?: number;
  signal?: AbortSignal | undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// Whether the lock at `file` belongs to nobody any more: its holder is gone (same host) or it went stale.
async function isStale(file: string, staleMs: number): Promise<boolean> {
  try {
    const [text, stat] = await Promise.all([fsp.readFile(file, 'utf8'), fsp.stat(file)]);
    if (Date.now() - stat.mtimeMs > staleMs) return true;
    const owner = JSON.parse(text) as { pid?: number; host?: string };
    return owner.host === os.hostname() && typeof owner.pid === 'number' && !pidAlive(owner.pid);
  } catch (err) {
    // Gone in between: not stale, just free. Half-written (JSON error): treat as held until it goes stale.
    return false;
  }
}

/**
 * Runs `work` holding an exclusive lock file (created with O_EXCL), so two processes sharing a cache do not both
 * download or extract; the second waits. A lock whose process is gone, or not refreshed for `staleMs`, is taken
 * over.
 *
 * @example
 * await withLock(path.join(dataDir, '.lock'), () => downloadArchive(source, archive));
 */
export async function withLock<T>(file: string, work: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const pollMs = options.pollMs ?? 250;
  const staleMs = options.staleMs ?? 60_000;
  // Acquire
  for (;;) {
    try {
      await fsp.writeFile(file, JSON.stringify({ pid: process.pid, host: os.hostname() }), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await isStale(file, staleMs)) {
      await fsp.rm(file, { force: true });
      continue;
    }
    if (options.signal?.aborted) throw createAbortError(options.signal.reason);
    await delay(pollMs);
  }
  // Hold, refreshing the lock's mtime
  const refresh = setInterval(() => {
    const now = new Date();
    fsp.utimes(file, now, now).catch(() => undefined);
  }, Math.max(10, staleMs / 4));
  refresh.unref?.();
  try {
    return await work();
  } finally {
    clearInterval(refresh);
    await fsp.rm(file, { force: true }).catch(() => undefined);
  }
}
