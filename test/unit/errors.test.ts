// SPDX-License-Identifier: MIT
// TorchError, AbortError and the mapping of native errors.
import vm from 'node:vm';

import {
  AbortError,
  TorchError,
  captureCallerStack,
  createAbortError,
  fileSystemCode,
  fromNativeError,
} from '../../lib/errors';

describe('TorchError', () => {
  test('is an Error with a string code and a non-enumerable name', () => {
    const error = new TorchError('boom', 'ERR_TORCH_OOM');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('TorchError');
    expect(error.code).toBe('ERR_TORCH_OOM');
    expect(Object.keys(error)).toEqual(['code']);
    expect(String(error)).toBe('TorchError: boom');
    expect(error.stack).toMatch(/^TorchError: boom\n/);
  });

  test('defaults to ERR_TORCH', () => {
    expect(new TorchError('x').code).toBe('ERR_TORCH');
  });
});

describe('createAbortError', () => {
  test('is shaped like Node own AbortError', () => {
    const reason = new Error('why');
    const error = createAbortError(reason);
    expect(error).toBeInstanceOf(AbortError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('AbortError');
    expect(error.code).toBe('ABORT_ERR');
    expect(error.cause).toBe(reason);
    expect(error.message).toBe('The training run was aborted');
  });

  test('keeps an undefined reason as cause', () => {
    const error = createAbortError(undefined);
    expect('cause' in error).toBe(true);
    expect(error.cause).toBeUndefined();
  });
});

describe('fromNativeError', () => {
  function someApiFunction() {
    return captureCallerStack(someApiFunction);
  }
  function userCode() {
    return someApiFunction();
  }

  test('copies message and code, keeps the native error as cause, uses the caller stack', () => {
    const callerStack = userCode();
    const native = Object.assign(new Error('expected 4D input'), { code: 'ERR_TORCH' });
    const error = fromNativeError(native, callerStack);
    expect(error).toBeInstanceOf(TorchError);
    expect(error.message).toBe('expected 4D input');
    expect(error.code).toBe('ERR_TORCH');
    expect(error.cause).toBe(native);
    const lines = error.stack!.split('\n');
    expect(lines[0]).toBe('TorchError: expected 4D input');
    // The boundary function itself is left out; its caller is the first frame.
    expect(lines[1]).toMatch(/at userCode /);
    expect(error.stack).not.toContain('someApiFunction');
  });

  test('a non-Error or code-less value gives ERR_NATIVE', () => {
    expect(fromNativeError('weird', '')).toMatchObject({ code: 'ERR_NATIVE', message: 'weird' });
    expect(fromNativeError(new Error('plain'), '')).toMatchObject({ code: 'ERR_NATIVE', message: 'plain' });
    expect(fromNativeError(Object.assign(new Error('x'), { code: 42 }), '')).toMatchObject({ code: 'ERR_NATIVE' });
  });

  test("an error from another realm (the addon's, seen from a vm context) keeps its message as is", () => {
    const foreign = vm.runInNewContext("Object.assign(new Error('loss became NaN'), { code: 'ERR_NON_FINITE_LOSS' })");
    expect(foreign instanceof Error).toBe(false);
    expect(fromNativeError(foreign, '')).toMatchObject({ message: 'loss became NaN', code: 'ERR_NON_FINITE_LOSS' });
  });

  test('a TorchError passes through unchanged', () => {
    const error = new TorchError('already', 'ERR_TORCH');
    expect(fromNativeError(error, 'Error\n    at elsewhere')).toBe(error);
  });
});

test('fileSystemCode: a full disk or quota, and a write that is not allowed, get the codes checkpoints get', () => {
  const errno = (code: string) => Object.assign(new Error(code), { code });
  expect(['ENOSPC', 'EDQUOT'].map((c) => fileSystemCode(errno(c)))).toEqual(['ERR_DISK_FULL', 'ERR_DISK_FULL']);
  expect(['EACCES', 'EPERM', 'EROFS'].map((c) => fileSystemCode(errno(c)))).toEqual([
    'ERR_PERMISSION',
    'ERR_PERMISSION',
    'ERR_PERMISSION',
  ]);
  expect(fileSystemCode(errno('ENOTDIR'))).toBeUndefined();
  expect(fileSystemCode(null)).toBeUndefined();
  expect(fileSystemCode('ENOSPC')).toBeUndefined();
});
