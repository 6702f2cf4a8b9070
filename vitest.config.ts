import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// What a build and run take from the environment as docker's CLI does (a default platform, the
// time of reproducible builds, docker's client configuration with its formats and proxies): the
// tests set their own, and a machine's must not change what the others expect. The test
// processes inherit this one's; the configuration named is one no test writes, so none.
delete process.env.DOCKER_DEFAULT_PLATFORM;
delete process.env.SOURCE_DATE_EPOCH;
process.env.DOCKER_CONFIG = join(tmpdir(), 'tsbuild-tests-no-docker-config');

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
