// Jest for the CDK tests. ts-jest only transpiles (tsconfig has isolatedModules): type errors are
// caught once by `npm run typecheck`, which keeps each test file to a quick transpile + one synth.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
  },
  // Synthesis with cdk-nag takes a few seconds per stack on 2 cores.
  testTimeout: 120000,
};
