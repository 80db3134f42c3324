import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/global_setup.ts'],
    // Tests start real worker processes and wait for them: generous, but bounded.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: ['test/**/*.latency.test.ts'], sequence: { groupOrder: 0 } } },
      // Latency bounds are measured on a machine running nothing else of the suite: after it, one file at a time.
      { extends: true, test: { name: 'latency', include: ['test/**/*.latency.test.ts'], maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
