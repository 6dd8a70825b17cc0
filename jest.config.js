// SPDX-License-Identifier: MIT
// Two test projects: unit (pure TS, a fake NativeBinding) and native (the real addon, CPU, tiny data).
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.json' }] };

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      transform,
    },
    {
      displayName: 'native',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/test/native/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/native/setup.ts'],
      transform,
    },
  ],
};
