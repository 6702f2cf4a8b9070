import { describe, expect, it } from 'vitest';
// The commands, as entry.ts and entry-build.ts register them in the bundles.
import '../../src/cli/commands/index.js';
import { rehearseBuild } from '../../src/cli/build-rehearsal.js';
import { rehearseFrontEnd } from '../../src/cli/front-end-rehearsal.js';
import { rehearseRun } from '../../src/cli/run-rehearsal.js';

// What scripts/bundle-cli.mjs runs before it makes the bundles' code caches: a rehearsal that
// stopped working would leave the caches without the code a build runs, and only the
// bundler's warning would say so.
describe('the rehearsals run before the code caches are made', () => {
  it('parses and resolves the front end rehearsal without an error', () => {
    expect(() => rehearseFrontEnd()).not.toThrow();
  });

  it.runIf(process.getuid?.() === 0)('builds the rehearsal images, from nothing and from the cache', async () => {
    await expect(rehearseBuild()).resolves.toBeUndefined();
  });

  it.runIf(process.getuid?.() === 0)('runs the rehearsal container, whose missing program fails as expected', async () => {
    await expect(rehearseRun()).resolves.toBeUndefined();
  });
});
