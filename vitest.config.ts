import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Suites that start registries or sandboxes run as separate processes, one file at a time on
    // two cores (vitest's default there). Two at once take 15 minutes instead of 25, but put tests
    // that read host-wide state (bridges and their subnets, iptables, timings under load) beside
    // each other's stores, and each such run showed another of them fragile.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
