import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Suites that start registries or sandboxes run as separate processes. Most of a suite's
    // time is spent waiting on the processes it starts (tsbuild, the runtime, registries), so two
    // run at once even on two cores (vitest's default there is one): 15 minutes against 25.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
