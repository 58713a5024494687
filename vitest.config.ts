import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // A plugin's own tests live beside it (plugins/<name>/test).
    include: ['test/**/*.test.ts', 'plugins/*/test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
