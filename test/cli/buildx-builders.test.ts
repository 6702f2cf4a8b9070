/** buildx's builder commands as CI scripts run them before a build: names kept in the store, buildx's refusals. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/run-cli.js';

describe('buildx create, use, ls, inspect, rm, stop, version', () => {
  let root: string;
  const run = (args: readonly string[]): ReturnType<typeof runCliCaptured> => runCliCaptured([...args, '--root', root]);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tsbuild-buildx-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('keeps the builders made, the one in use marked, until removed', async () => {
    const listed = await run(['buildx', 'ls']);
    expect(listed.stdout.split('\n')[0]).toMatch(/^NAME\/NODE\s+DRIVER\/ENDPOINT\s+STATUS\s+BUILDKIT\s+PLATFORMS$/);
    expect(listed.stdout).toMatch(/^default\*\s+docker$/m);
    expect(await run(['buildx', 'create', '--name', 'ci', '--driver', 'docker-container', '--driver-opt', 'network=host', '--use', '--bootstrap'])).toMatchObject({ status: 0, stdout: 'ci\n' });
    expect((await run(['buildx', 'ls'])).stdout).toMatch(/^ci\*\s+docker-container\n \\_ ci\s+\\_ tsbuild\s+running\s+tsbuild v\S+\s+linux\/\w+\ndefault\s+docker$/m);
    expect((await run(['buildx', 'inspect', '--bootstrap'])).stdout).toMatch(/^Name:   ci\nDriver: docker-container\n\nNodes:\nName:      ci\n/);
    // A name made without one is buildx's builder-… form, and printed.
    expect((await run(['buildx', 'create'])).stdout).toMatch(/^builder-[0-9a-f]{8}\n$/);
    expect(await run(['buildx', 'use', 'default'])).toMatchObject({ status: 0 });
    expect((await run(['buildx', 'ls'])).stdout).toMatch(/^default\*\s+docker$/m);
    expect(await run(['buildx', 'stop', 'ci'])).toMatchObject({ status: 0 });
    expect(await run(['buildx', 'rm', 'ci'])).toMatchObject({ status: 0, stderr: 'ci removed\n' });
    expect((await run(['buildx', 'ls'])).stdout).not.toMatch(/^ci/m);
    expect((await runCliCaptured(['buildx', 'version'])).stdout).toMatch(/^tsbuild v\d+\.\d+\.\d+\n$/);
  });

  it("refuses what buildx refuses, in its words", async () => {
    expect(await run(['buildx', 'use', 'nosuch'])).toMatchObject({ status: 1, stderr: 'ERROR: no builder "nosuch" found\n' });
    expect(await run(['buildx', 'create', '--driver', 'docker'])).toMatchObject({ status: 1, stderr: 'ERROR: additional instances of driver "docker" cannot be created\n' });
    expect((await run(['buildx', 'create', '--name', 'twice'])).status).toBe(0);
    expect(await run(['buildx', 'create', '--name', 'twice'])).toMatchObject({ status: 1, stderr: 'ERROR: existing instance for "twice" but no append mode, specify the node name to make changes for existing instances\n' });
    expect(await run(['buildx', 'rm', 'nosuch'])).toMatchObject({ status: 1, stderr: 'failed to remove nosuch: no builder "nosuch" found\nERROR: failed to remove one or more builders\n' });
  });

  it('builds with default or a builder made, and refuses any other name before anything else, as buildx', async () => {
    const missing = join(root, 'no-such-context');
    const refused = (name: string) => ({ status: 1, stdout: '', stderr: `ERROR: no builder ${JSON.stringify(name)} found\n` });
    expect(await run(['build', '--builder', 'nosuch', missing])).toMatchObject(refused('nosuch'));
    expect(await run(['buildx', 'build', '--builder', 'Bad Name!', missing])).toMatchObject(refused('Bad Name!'));
    expect(await run(['buildx', 'b', '--builder=gone', missing])).toMatchObject(refused('gone'));
    // imagetools has no --root: the store is TSBUILD_ROOT's.
    const rootBefore = process.env.TSBUILD_ROOT;
    process.env.TSBUILD_ROOT = root;
    try {
      expect(await runCliCaptured(['buildx', 'imagetools', 'create', '--builder', 'nosuch', '--dry-run', '-t', '127.0.0.1:1/x', '127.0.0.1:1/y'])).toMatchObject(refused('nosuch'));
      expect(await runCliCaptured(['buildx', 'imagetools', 'inspect', '--builder', 'nosuch', '127.0.0.1:1/y'])).toMatchObject(refused('nosuch'));
    } finally {
      if (rootBefore === undefined) delete process.env.TSBUILD_ROOT;
      else process.env.TSBUILD_ROOT = rootBefore;
    }
    // Known names get past the check: the missing context is what fails then.
    expect((await run(['buildx', 'create', '--name', 'made'])).status).toBe(0);
    for (const name of ['default', 'made']) {
      const result = await run(['build', '--builder', name, missing]);
      expect(result.status).not.toBe(0);
      expect(result.stderr).not.toContain('no builder');
    }
    // BUILDX_BUILDER names it where the flag does not.
    const builderBefore = process.env.BUILDX_BUILDER;
    process.env.BUILDX_BUILDER = 'from-env';
    try {
      expect(await run(['buildx', 'build', missing])).toMatchObject(refused('from-env'));
      expect((await run(['buildx', 'build', '--builder', 'made', missing])).stderr).not.toContain('no builder');
    } finally {
      if (builderBefore === undefined) delete process.env.BUILDX_BUILDER;
      else process.env.BUILDX_BUILDER = builderBefore;
    }
  });
});
