// SPDX-License-Identifier: MIT
// The distributed option: torchrun's environment variables, explicit fields over them, every bad value named,
// and rank 0 alone writing the run folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { resolveConfig, resolveDistributed, toNativeOptions } from '../../lib/config';
import { createApi } from '../../lib/api';
import { FakeBinding } from './fake-binding';

const TORCHRUN = { WORLD_SIZE: '4', RANK: '3', LOCAL_RANK: '1', MASTER_ADDR: '10.0.0.7', MASTER_PORT: '29400' };

describe('resolveDistributed', () => {
  test('off without WORLD_SIZE, and with false whatever the environment says', () => {
    expect(resolveDistributed(undefined, {})).toBeUndefined();
    expect(resolveDistributed(false, TORCHRUN)).toBeUndefined();
  });

  test("torchrun's variables, with the defaults for the rest", () => {
    expect(resolveDistributed(undefined, TORCHRUN)).toEqual({
      worldSize: 4,
      rank: 3,
      localRank: 1,
      masterAddr: '10.0.0.7',
      masterPort: 29400,
      backend: 'auto',
      timeoutSeconds: 300,
      checkReplicas: false,
    });
    // LOCAL_RANK defaults to RANK, MASTER_ADDR to loopback, MASTER_PORT to 29500.
    expect(resolveDistributed(true, { WORLD_SIZE: '2', RANK: '1' })).toMatchObject({
      localRank: 1,
      masterAddr: '127.0.0.1',
      masterPort: 29500,
    });
  });

  test('fields given win over the environment', () => {
    const d = resolveDistributed({ rank: 0, masterPort: 1234, backend: 'gloo', timeoutSeconds: 5, checkReplicas: true }, TORCHRUN);
    expect(d).toMatchObject({ worldSize: 4, rank: 0, masterPort: 1234, backend: 'gloo', timeoutSeconds: 5, checkReplicas: true });
  });

  test.each([
    [{ worldSize: 2 }, {}, TypeError, 'ERR_INVALID_ARG_TYPE', /distributed\.rank .*start the processes with `libtorch-resnet launch`/],
    [true, {}, TypeError, 'ERR_INVALID_ARG_TYPE', /distributed\.worldSize/],
    [{ worldSize: 2, rank: 2 }, {}, RangeError, 'ERR_OUT_OF_RANGE', /integer between 0 and 1 for distributed\.rank but received 2/],
    [undefined, { ...TORCHRUN, RANK: 'x' }, TypeError, 'ERR_INVALID_ARG_TYPE', /for RANK \(environment\) but received 'x'/],
    [undefined, { ...TORCHRUN, MASTER_PORT: '70000' }, RangeError, 'ERR_OUT_OF_RANGE', /MASTER_PORT \(environment\)/],
    [undefined, { ...TORCHRUN, WORLD_SIZE: '0' }, RangeError, 'ERR_OUT_OF_RANGE', /WORLD_SIZE \(environment\)/],
    [{ backend: 'mpi' }, TORCHRUN, TypeError, 'ERR_INVALID_ARG_VALUE', /'auto', 'gloo', 'nccl' for distributed\.backend/],
    [{ timeoutSeconds: 0 }, TORCHRUN, RangeError, 'ERR_OUT_OF_RANGE', /distributed\.timeoutSeconds/],
    [{ checkReplicas: 'yes' }, TORCHRUN, TypeError, 'ERR_INVALID_ARG_TYPE', /distributed\.checkReplicas/],
    [{ worldsize: 2 }, TORCHRUN, TypeError, 'ERR_INVALID_ARG_VALUE', /Unknown option distributed\.worldsize; did you mean distributed\.worldSize\?/],
    ['yes', {}, TypeError, 'ERR_INVALID_ARG_TYPE', /for distributed but received 'yes'/],
  ])('%p with %p: %p %s', (value, env, ErrorClass, code, message) => {
    let caught: unknown;
    try {
      resolveDistributed(value, env);
    } catch (error) {
      caught = error;
    }
    expect((caught as Error).constructor).toBe(ErrorClass);
    expect(caught).toMatchObject({ code });
    expect((caught as Error).message).toMatch(message);
  });

  test('resolveConfig reads the environment it is given', () => {
    expect(resolveConfig({}, TORCHRUN).distributed?.rank).toBe(3);
    expect(resolveConfig({}, {}).distributed).toBeUndefined();
  });
});

describe('rank 0 writes, the others do not', () => {
  test('toNativeOptions: checkpoints only on rank 0', () => {
    const env = { ...TORCHRUN, RANK: '0' };
    expect(toNativeOptions(resolveConfig({ runDir: '/runs/a' }, env), '/d').checkpointDir).toBe('/runs/a/checkpoints');
    expect(toNativeOptions(resolveConfig({ runDir: '/runs/a' }, TORCHRUN), '/d')).toMatchObject({
      checkpointDir: '',
      distributed: { worldSize: 4, rank: 3 },
    });
  });

  test('train(): a non-zero rank creates no run folder and reports none', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ltr-dist-unit-'));
    try {
      const dataDir = path.join(root, 'data', 'cifar-10-batches-bin');
      fs.mkdirSync(dataDir, { recursive: true });
      for (const f of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch'])
        fs.writeFileSync(path.join(dataDir, `${f}.bin`), Buffer.alloc(3073));
      const runDir = path.join(root, 'run');
      const binding = new FakeBinding();
      const result = await createApi(binding).train({
        dataDir: path.join(root, 'data'),
        download: false,
        runDir,
        distributed: { worldSize: 2, rank: 1, masterPort: 1234 },
      });
      expect(result.runDir).toBeUndefined();
      expect(fs.existsSync(runDir)).toBe(false);
      expect(binding.started[0]).toMatchObject({ checkpointDir: '', distributed: { worldSize: 2, rank: 1, localRank: 1 } });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
