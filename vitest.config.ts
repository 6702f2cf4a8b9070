import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Suites that start registries or sandboxes run as separate processes; two cores.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
