/**
 * The registry cache end to end: a build on one root exports its records and layers, a build on
 * a fresh root imports them and runs nothing, giving the same image; a changed context file
 * reruns exactly the steps that read it and those after.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture, cachedSteps, ranSteps, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { haveRegistry, startRegistry, type TestRegistry } from '../helpers/registry.js';

const dockerfile = [
  'FROM busybox',
  'RUN echo one > /one',
  'COPY a.txt /a.txt',
  'RUN cat /a.txt /one > /both',
  'COPY b.txt /b.txt',
  'RUN cat /b.txt > /copyb',
  '',
].join('\n');

describe.skipIf(!haveRegistry())('registry cache', () => {
  let registry: TestRegistry;
  let a: BuildFixture;
  let b: BuildFixture;
  beforeAll(async () => {
    [registry, a, b] = await Promise.all([startRegistry(), buildFixture(), buildFixture()]);
  });
  afterAll(async () => {
    await Promise.all([registry?.stop(), a?.cleanup(), b?.cleanup()]);
  });

  it('a fresh root with --cache-from runs nothing and makes the same image; a changed file reruns what reads it', async () => {
    const ref = `${registry.host}/cache/app:buildcache`;
    const contextA = await a.context('ctx', { Dockerfile: dockerfile, 'a.txt': 'alpha\n', 'b.txt': 'beta\n' });
    const first = await a.build(['-t', 'app', '--iidfile', join(a.dir, 'iid'), '--cache-to', `type=registry,ref=${ref},mode=max`, contextA]);
    expect(first.status, first.stderr).toBe(0);
    expect(ranSteps(first.stderr)).toHaveLength(5);

    const contextB = await b.context('ctx', { Dockerfile: dockerfile, 'a.txt': 'alpha\n', 'b.txt': 'beta\n' });
    const second = await b.build(['-t', 'app', '--iidfile', join(b.dir, 'iid'), '--cache-from', `type=registry,ref=${ref}`, contextB]);
    expect(second.status, second.stderr).toBe(0);
    expect(ranSteps(second.stderr)).toEqual([]);
    expect(cachedSteps(second.stderr)).toHaveLength(5);
    expect(second.stderr).not.toContain('WARNING');
    // The import is a step of the build's progress, as BuildKit shows it.
    expect(second.stderr).toMatch(new RegExp(`^#(\\d+) importing cache manifest from ${ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n#\\1 DONE`, 'm'));
    expect(await readFile(join(b.dir, 'iid'), 'utf8')).toBe(await readFile(join(a.dir, 'iid'), 'utf8'));
    expect((await b.image('app')).descriptor.digest).toBe((await a.image('app')).descriptor.digest);

    await writeFile(join(contextB, 'b.txt'), 'changed\n');
    const third = await b.build(['-t', 'app2', '--cache-from', `type=registry,ref=${ref}`, contextB]);
    expect(third.status, third.stderr).toBe(0);
    expect(ranSteps(third.stderr)).toEqual(['[5/6] COPY b.txt /b.txt', '[6/6] RUN cat /b.txt > /copyb']);
    // The records came with the import, and say why the steps missed.
    expect(third.stderr).toContain('cache miss: file b.txt: content changed');
    // On a root that has never built it, the explanation comes from the imported records.
    const c = await buildFixture();
    try {
      const contextC = await c.context('ctx', { Dockerfile: dockerfile, 'a.txt': 'alpha\n', 'b.txt': 'other\n' });
      const fresh = await c.build(['--cache-from', `type=registry,ref=${ref}`, contextC]);
      expect(fresh.status, fresh.stderr).toBe(0);
      expect(ranSteps(fresh.stderr)).toEqual(['[5/6] COPY b.txt /b.txt', '[6/6] RUN cat /b.txt > /copyb']);
      expect(fresh.stderr).toContain('cache miss: file b.txt: content changed');
    } finally {
      await c.cleanup();
    }
    const verify = await runCliCaptured(['verify', '--root', b.root]);
    expect(verify.status, verify.stderr).toBe(0);
  });
});
