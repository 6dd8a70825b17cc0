// SPDX-License-Identifier: MIT
// The launcher with a stand-in worker (test/fixtures/launch/worker.js): environment, output, failures, interrupts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { run } from '../../lib/cli';
import type { CliIo } from '../../lib/cli';
import { isNonZeroRankWorker, launch, startLaunch } from '../../lib/launch';
import type { LaunchOptions, LaunchResult } from '../../lib/launch';
import { FakeBinding, makeDataDir } from './fake-binding';

const WORKER = [process.execPath, path.join(__dirname, '..', 'fixtures', 'launch', 'worker.js')] as const;
const ROOT = path.join(__dirname, '..', '..');

class Capture {
  chunks: string[] = [];
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

let stdout: Capture;
let stderr: Capture;
let tmp: string;
beforeEach(() => {
  stdout = new Capture();
  stderr = new Capture();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'libtorch-resnet-launch-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** launch() with the stand-in worker, rank i doing behaviours[i]. */
function launchFixture(behaviours: string[], options: Partial<LaunchOptions> = {}): Promise<LaunchResult> {
  return launch({ nprocPerNode: behaviours.length, args: behaviours, worker: WORKER, stdout, stderr, ...options });
}

/** The JSON lines each rank printed, from stdout (rank 0) and the labelled lines on stderr (the others). */
function printedEnv(): Record<string, Record<string, string | undefined>> {
  const byRank: Record<string, Record<string, string | undefined>> = {};
  for (const line of stdout.text.split('\n').filter(Boolean)) byRank['0'] = JSON.parse(line);
  for (const match of stderr.text.matchAll(/^\[rank (\d+)\] (\{.*\})$/gm)) byRank[match[1]!] = JSON.parse(match[2]!);
  return byRank;
}

describe("workers get torchrun's environment", () => {
  test('node 1 of 2, two workers each: ranks 2 and 3 of 4, port 29500, base env kept, RANK replaced', async () => {
    const env = { PATH: process.env.PATH, FROM_BASE: 'kept', RANK: '99' };
    const result = await launchFixture(['', '', 'env', 'env'], { nprocPerNode: 2, nnodes: 2, nodeRank: 1, env });
    expect(result).toEqual({
      exitCode: 0,
      workers: [
        { rank: 2, localRank: 0, pid: expect.any(Number), code: 0, signal: null },
        { rank: 3, localRank: 1, pid: expect.any(Number), code: 0, signal: null },
      ],
    });
    const threads = String(Math.max(1, Math.floor(os.availableParallelism() / 2)));
    const common = { WORLD_SIZE: '4', LOCAL_WORLD_SIZE: '2', GROUP_RANK: '1', MASTER_ADDR: '127.0.0.1' };
    // Rank 0 is on the other node: everything here is labelled on stderr, and stdout stays empty.
    expect(stdout.text).toBe('');
    expect(printedEnv()).toEqual({
      '2': { ...common, RANK: '2', LOCAL_RANK: '0', MASTER_PORT: '29500', OMP_NUM_THREADS: threads, FROM_BASE: 'kept' },
      '3': { ...common, RANK: '3', LOCAL_RANK: '1', MASTER_PORT: '29500', OMP_NUM_THREADS: threads, FROM_BASE: 'kept' },
    });
    expect(stderr.text.split('\n')[0]).toBe(
      'launch: starting 2 workers (ranks 2-3 of 4) with MASTER_ADDR=127.0.0.1 MASTER_PORT=29500',
    );
  });

  test('one node: a free port picked, the same for every worker; OMP_NUM_THREADS from the base env kept', async () => {
    const env = { PATH: process.env.PATH, OMP_NUM_THREADS: '3' };
    const result = await launchFixture(['env', 'env', 'env'], { env });
    expect(result.exitCode).toBe(0);
    const port = /MASTER_PORT=(\d+)\n/.exec(stderr.text)?.[1];
    expect(Number(port)).toBeGreaterThan(0);
    const printed = printedEnv();
    expect(Object.keys(printed).sort()).toEqual(['0', '1', '2']);
    for (const [rank, vars] of Object.entries(printed)) {
      expect(vars).toMatchObject({ RANK: rank, LOCAL_RANK: rank, WORLD_SIZE: '3', MASTER_PORT: port });
      expect(vars.OMP_NUM_THREADS).toBe('3');
    }
  });

  test('OMP_NUM_THREADS shares the cores out, never below 1; masterAddr and masterPort as given', async () => {
    const env = { PATH: process.env.PATH };
    const behaviours = Array.from({ length: 4 }, () => 'env');
    const result = await launchFixture(behaviours, { env, masterAddr: 'localhost', masterPort: 23456 });
    expect(result.exitCode).toBe(0);
    const threads = String(Math.max(1, Math.floor(os.availableParallelism() / 4)));
    for (const vars of Object.values(printedEnv())) {
      expect(vars).toMatchObject({ MASTER_ADDR: 'localhost', MASTER_PORT: '23456', OMP_NUM_THREADS: threads });
    }
    expect(stderr.text).toContain(
      'launch: starting 4 workers (ranks 0-3 of 4) with MASTER_ADDR=localhost MASTER_PORT=23456\n',
    );
  });
});

describe('output', () => {
  test("rank 0's stdout passes unchanged, its stderr unlabelled; other ranks' lines are labelled on stderr", async () => {
    expect((await launchFixture(['output', 'output'])).exitCode).toBe(0);
    expect(stdout.text).toBe('out 1 of rank 0\nout 2 é\n');
    // Whole lines only, so rank 0's unfinished last line cannot run into another rank's.
    const lines = stderr.text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.shift()).toMatch(/^launch: starting 2 workers \(ranks 0-1 of 2\) /);
    expect(lines.filter((line) => !line.startsWith('[rank 1] '))).toEqual(['err of rank 0', 'partial']);
    expect(lines.filter((line) => line.startsWith('[rank 1] ')).sort()).toEqual(
      ['[rank 1] out 1 of rank 1', '[rank 1] out 2 é', '[rank 1] err of rank 1', '[rank 1] partial'].sort(),
    );
    expect(stderr.text).toContain('[rank 1] partial\n');
  });
});

describe('a failed worker stops the job', () => {
  test('exit code 3: the other worker gets SIGTERM, exit code 1, the failure named', async () => {
    const ready = path.join(tmp, 'ready');
    const started = Date.now();
    const result = await launchFixture([`sleep:${ready}`, `exit:3:${ready}`]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result.exitCode).toBe(1);
    expect(result.failed).toEqual({ rank: 1, localRank: 1, pid: expect.any(Number), code: 3, signal: null });
    expect(result.message).toBe(`rank 1 (pid ${result.failed!.pid}) exited with code 3`);
    expect(stderr.text).toContain(`launch: ${result.message}\nlaunch: stopping the other workers\n`);
    // The sleeper was stopped, not left to finish: it is gone and never wrote its file.
    const sleeper = result.workers[0]!;
    expect(sleeper).toMatchObject({ rank: 0, code: null, signal: 'SIGTERM' });
    expect(isAlive(sleeper.pid!)).toBe(false);
    expect(fs.existsSync(`${ready}.done`)).toBe(false);
    expect(stderr.text.match(/exited with|was killed/g)).toHaveLength(1);
  });

  test('killed by a signal', async () => {
    const ready = path.join(tmp, 'ready');
    const result = await launchFixture([`sleep:${ready}`, `sigkill:${ready}`]);
    expect(result.exitCode).toBe(1);
    expect(result.failed).toMatchObject({ rank: 1, code: null, signal: 'SIGKILL' });
    expect(result.message).toMatch(/^rank 1 \(pid \d+\) was killed by SIGKILL$/);
    expect(stderr.text).toContain(`launch: ${result.message}\n`);
  });

  test('a worker that ignores SIGTERM gets SIGKILL after graceSeconds', async () => {
    const ready = path.join(tmp, 'ready');
    const started = Date.now();
    const result = await launchFixture([`ignore-term:${ready}`, `exit:3:${ready}`], { graceSeconds: 0.3 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(result).toMatchObject({ exitCode: 1, failed: { rank: 1, code: 3 } });
    expect(result.workers[0]).toMatchObject({ rank: 0, code: null, signal: 'SIGKILL' });
  });

  test('a worker program that cannot be started', async () => {
    const worker = [path.join(tmp, 'missing')];
    const result = await launch({ nprocPerNode: 1, args: ['train'], worker, stdout, stderr });
    expect(result.exitCode).toBe(1);
    expect(result.failed).toEqual({ rank: 0, localRank: 0, pid: undefined, code: null, signal: null });
    expect(result.message).toBe(`rank 0 could not be started: spawn ${path.join(tmp, 'missing')} ENOENT`);
    expect(stderr.text).toContain(`launch: ${result.message}\n`);
  });

  test('no process exit listener is left behind', async () => {
    const before = process.listenerCount('exit');
    await launchFixture(['exit:1']);
    expect(process.listenerCount('exit')).toBe(before);
  });
});

describe('interrupts', () => {
  const bothReady = () => stdout.text.includes('ready\n') && stderr.text.includes('[rank 1] ready\n');

  test('aborting the signal sends SIGINT to every worker; exit code 130, not a failure', async () => {
    const controller = new AbortController();
    const exitListeners = process.listenerCount('exit');
    const pending = launchFixture(['trap-int', 'trap-int'], { signal: controller.signal });
    await waitFor(bothReady, 'both workers to be ready');
    // While workers run, the launcher's exit would SIGKILL them.
    expect(process.listenerCount('exit')).toBe(exitListeners + 1);
    controller.abort();
    const result = await pending;
    expect(result).toEqual({
      exitCode: 130,
      workers: [0, 1].map((rank) => ({ rank, localRank: rank, pid: expect.any(Number), code: 130, signal: null })),
    });
    expect(stdout.text).toBe('ready\ngot SIGINT\n');
    expect(stderr.text).toContain('[rank 1] got SIGINT\n');
    expect(stderr.text).not.toContain('exited with');
  });

  test('kill() after interrupt() ends workers that ignore SIGINT', async () => {
    const job = startLaunch({ nprocPerNode: 2, args: ['ignore-int', 'ignore-int'], worker: WORKER, stdout, stderr });
    await waitFor(bothReady, 'both workers to be ready');
    job.interrupt();
    await new Promise((resolve) => setTimeout(resolve, 100));
    job.kill();
    const result = await job.result;
    expect(result.exitCode).toBe(130);
    expect(result.failed).toBeUndefined();
    expect(result.workers.map((w) => w.signal)).toEqual(['SIGKILL', 'SIGKILL']);
  });

  test('a signal aborted before the start starts nothing', async () => {
    const result = await launchFixture(['env'], { signal: AbortSignal.abort() });
    expect(result).toEqual({ exitCode: 130, workers: [] });
    expect(stdout.text).toBe('');
    expect(stderr.text).toBe('');
  });
});

describe('options are checked before anything starts', () => {
  const base = { nprocPerNode: 1, args: ['train'] };
  test.each([
    [{ nprocPerNode: 0 }, RangeError, 'ERR_OUT_OF_RANGE', 'Expected integer between 1 and 1024 for nprocPerNode but received 0 of type number'],
    [{ nprocPerNode: '2' }, TypeError, 'ERR_INVALID_ARG_TYPE', "Expected integer between 1 and 1024 for nprocPerNode but received '2' of type string"],
    [{ nnodes: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE', 'Expected integer between 1 and 65536 for nnodes but received 1.5 of type number'],
    [
      { nnodes: 2, nodeRank: 2 },
      RangeError,
      'ERR_OUT_OF_RANGE',
      'Expected integer between 0 and 1 for nodeRank but received 2 of type number; nodeRank must be below nnodes (2)',
    ],
    [{ masterPort: 70000 }, RangeError, 'ERR_OUT_OF_RANGE', 'Expected integer between 0 and 65535 for masterPort but received 70000 of type number'],
    [
      { nnodes: 2, masterPort: 0 },
      RangeError,
      'ERR_OUT_OF_RANGE',
      'Expected integer between 1 and 65535 for masterPort but received 0 of type number; ' +
        'every node must name the same port, so 0 (pick a free one) needs nnodes 1',
    ],
    [{ masterAddr: '' }, TypeError, 'ERR_INVALID_ARG_VALUE', "Expected host name or IP address for masterAddr but received '' of type string"],
    [{ args: [] }, TypeError, 'ERR_INVALID_ARG_VALUE', 'Expected non-empty array of strings for args but received [] of type object'],
    [{ args: 'train' }, TypeError, 'ERR_INVALID_ARG_TYPE', "Expected non-empty array of strings for args but received 'train' of type string"],
    [{ args: ['train', 1] }, TypeError, 'ERR_INVALID_ARG_TYPE', 'Expected string for args[1] but received 1 of type number'],
    [{ graceSeconds: -1 }, RangeError, 'ERR_OUT_OF_RANGE', 'Expected number between 0 and 3600 for graceSeconds but received -1 of type number'],
    [{ stdout: {} }, TypeError, 'ERR_INVALID_ARG_TYPE', 'Expected object with a write() method for stdout but received {} of type object'],
    [{ nproc_per_node: 2 }, TypeError, 'ERR_INVALID_ARG_VALUE', "Unknown option 'nproc_per_node'; did you mean 'nprocPerNode'?"],
    [
      { gpus: 2 },
      TypeError,
      'ERR_INVALID_ARG_VALUE',
      "Unknown option 'gpus'; the options are nprocPerNode, nnodes, nodeRank, masterAddr, masterPort, args, worker, env, " +
        'stdout, stderr, signal, graceSeconds',
    ],
  ])('%o', async (given, ErrorClass, code, message) => {
    const options = { ...base, ...given } as unknown as LaunchOptions;
    const thrown = (() => {
      try {
        startLaunch(options);
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(thrown).toBeInstanceOf(ErrorClass);
    expect(thrown).toMatchObject({ code, message });
    await expect(launch(options)).rejects.toMatchObject({ code, message });
  });
});

describe('isNonZeroRankWorker', () => {
  test.each([
    [{ RANK: '1' }, true],
    [{ RANK: '12' }, true],
    [{ RANK: '0' }, false],
    [{ RANK: '' }, false],
    [{ RANK: '-1' }, false],
    [{ RANK: 'x' }, false],
    [{}, false],
  ])('%o -> %s', (env, expected) => {
    expect(isNonZeroRankWorker(env)).toBe(expected);
  });
});

describe('libtorch-resnet launch', () => {
  function harness(worker: 'fixture' | 'default' = 'fixture') {
    let handler: (() => void) | undefined;
    const io: Partial<CliIo> = {
      stdout,
      stderr,
      binding: new FakeBinding(),
      launchWorker: worker === 'fixture' ? WORKER : undefined,
      onInterrupt(h) {
        handler = h;
        return () => {
          handler = undefined;
        };
      },
    };
    return { io, interrupt: () => handler?.(), listening: () => handler !== undefined };
  }

  test.each([
    [['--nproc-per-node', '0', '--', 'train'], "error: option '--nproc-per-node': Expected integer between 1 and 1024 for nprocPerNode but received 0 of type number\n"],
    [['--nproc-per-node', 'two', 'train'], "error: option '--nproc-per-node': Expected integer between 1 and 1024 for nprocPerNode but received 'two' of type string\n"],
    [['--nnodes', '2', '--node-rank', '2', '--', 'train'], "error: option '--node-rank': Expected integer between 0 and 1 for nodeRank"],
    [['--master-port', '70000', '--', 'train'], "error: option '--master-port': Expected integer between 0 and 65535 for masterPort"],
    [['--', 'eval', '--checkpoint', 'x.pt'], "error: launch runs train; got 'eval'\n"],
  ])('launch %j: usage error, exit 2, nothing started', async (argv, message) => {
    const h = harness();
    expect(await run(['launch', ...argv], h.io)).toBe(2);
    expect(stderr.text.startsWith(message)).toBe(true);
    expect(stderr.text).toContain("Run 'libtorch-resnet launch --help' for the options.\n");
    expect(stderr.text).not.toContain('launch: starting');
  });

  test('a worker fails: exit 1', async () => {
    const h = harness();
    const ready = path.join(tmp, 'ready');
    const argv = ['launch', '--nproc-per-node', '2', '--', 'train', `exit:3:${ready}`, `sleep:${ready}`];
    expect(await run(argv, h.io)).toBe(1);
    expect(stderr.text).toMatch(/launch: rank 0 \(pid \d+\) exited with code 3\nlaunch: stopping the other workers\n/);
  });

  test("train's flags after the command pass through to the workers, with or without --", async () => {
    const h = harness();
    expect(await run(['launch', 'train', 'env', '--nproc-per-node', '5'], h.io)).toBe(0);
    expect(stderr.text).toContain('launch: starting 1 worker (rank 0 of 1)');
    expect(JSON.parse(stdout.text)).toMatchObject({ RANK: '0', WORLD_SIZE: '1' });
  });

  test('--cuda-graph and --no-cuda-graph reach the workers as given', async () => {
    // A worker that prints its arguments.
    const echo = path.join(tmp, 'echo-args.js');
    fs.writeFileSync(echo, 'process.stdout.write(JSON.stringify(process.argv.slice(2)) + "\\n");\n');
    const h = harness();
    const io = { ...h.io, launchWorker: [process.execPath, echo] };
    expect(await run(['launch', '--nproc-per-node', '1', '--', 'train', '--no-cuda-graph', '--epochs', '1'], io)).toBe(0);
    expect(JSON.parse(stdout.text)).toEqual(['train', '--no-cuda-graph', '--epochs', '1']);
    stdout.chunks.length = 0;
    expect(await run(['launch', 'train', '--cuda-graph'], io)).toBe(0);
    expect(JSON.parse(stdout.text)).toEqual(['train', '--cuda-graph']);
  });

  test('Ctrl-C interrupts the workers (exit 130); a second Ctrl-C kills them', async () => {
    const h = harness();
    const pending = run(['launch', '--nproc-per-node', '2', '--', 'train', 'trap-int', 'ignore-int'], h.io);
    await waitFor(() => stdout.text.includes('ready\n') && stderr.text.includes('[rank 1] ready\n'), 'the workers');
    h.interrupt();
    await waitFor(() => stdout.text.includes('got SIGINT'), 'rank 0 to stop');
    h.interrupt();
    expect(await pending).toBe(130);
    expect(stderr.text).toContain('Stopping the workers after their current step (Ctrl-C again to kill them)\n');
    expect(stderr.text).not.toContain('exited with');
    expect(h.listening()).toBe(false);
  });

  const built = fs.existsSync(path.join(ROOT, 'dist', 'cli.js'));
  (built ? test : test.skip)("the default worker is this package's CLI (needs dist/: npm run build:ts)", async () => {
    const h = harness('default');
    expect(await run(['launch', '--nproc-per-node', '2', '--', 'train', '--help'], h.io)).toBe(0);
    expect(stdout.text.startsWith('Usage: libtorch-resnet train [options]\n')).toBe(true);
    expect(stderr.text).toContain('[rank 1] Usage: libtorch-resnet train [options]\n');
  });
});

describe('train as a launched worker', () => {
  let dataDir: string;
  const startDir = process.cwd();
  const savedRank = process.env.RANK;
  beforeEach(() => {
    dataDir = makeDataDir();
    // train's default run folder is ./runs/<timestamp>: keep it out of the repository.
    process.chdir(tmp);
  });
  afterEach(() => {
    process.chdir(startDir);
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (savedRank === undefined) delete process.env.RANK;
    else process.env.RANK = savedRank;
  });

  test.each([
    ['1', true],
    ['0', false],
  ])('RANK=%s: quiet %s', async (rank, quiet) => {
    process.env.RANK = rank;
    const binding = new FakeBinding();
    for (const json of [['--json'], []]) {
      stdout.chunks = [];
      expect(await run(['train', ...json, '--data-dir', dataDir], { stdout, stderr, binding })).toBe(0);
      if (quiet) expect(stdout.text).toBe('');
      else expect(stdout.text).toMatch(json.length ? /"type":"result"/ : /test accuracy: 25\.00%/);
    }
    expect(binding.started).toHaveLength(2);
    expect(stderr.text).toBe('');
  });
});
