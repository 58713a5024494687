import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // A plugin's own tests live beside it (plugins/<name>/test).
    include: ['test/**/*.test.ts', 'plugins/*/test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    // expect.poll gives up after 1 s by default: too short for a browser's first page of a
    // suite on a loaded 2-core CI machine (plugin-pages failed so in a fresh-clone run). Only
    // failing polls take longer; a poll that passes returns as soon as it does.
    expect: { poll: { timeout: 10_000 } },
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
