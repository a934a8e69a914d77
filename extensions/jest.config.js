// Unit tests of the pure modules only (no @jupyterlab imports there), compiled by ts-jest:
// the JupyterLab packages ship ES modules that jest would otherwise need babel to load.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }]
  }
};
