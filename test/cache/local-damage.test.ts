/**
 * The local step cache facing damage from outside: a layer blob rewritten or removed, the side
 * index unreadable. Each is a warning naming it and a miss; the build gives the image an
 * undamaged build gives (SOURCE_DATE_EPOCH makes a rerun step's layer the same bytes), and the
 * root passes `tsbuild verify` afterwards.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildFixture, ranSteps, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';

const dockerfile = 'FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n';
const epoch = ['--build-arg', 'SOURCE_DATE_EPOCH=1700000000'];

describe('a damaged local cache', () => {
  let fx: BuildFixture;
  let context: string;
  let expectedId: string;
  let lastLayer: string;
  beforeEach(async () => {
    fx = await buildFixture();
    context = await fx.context('ctx', { Dockerfile: dockerfile });
    const first = await fx.build([...epoch, '-t', 'app', '--iidfile', join(fx.dir, 'iid'), context]);
    expect(first.status, first.stderr).toBe(0);
    expectedId = await readFile(join(fx.dir, 'iid'), 'utf8');
    lastLayer = (await fx.image('app')).manifest.layers.at(-1)?.digest ?? '';
  });
  afterEach(async () => {
    await fx.cleanup();
  });

  const rebuild = async (): Promise<{ ran: string[]; stderr: string }> => {
    const result = await fx.build([...epoch, '-t', 'app', '--iidfile', join(fx.dir, 'iid'), context]);
    expect(result.status, result.stderr).toBe(0);
    expect(await readFile(join(fx.dir, 'iid'), 'utf8')).toBe(expectedId);
    const verify = await runCliCaptured(['verify', '--root', fx.root]);
    expect(verify.status, verify.stderr).toBe(0);
    return { ran: ranSteps(result.stderr), stderr: result.stderr };
  };

  it('a layer rewritten with other bytes of its size', async () => {
    const path = fx.store.blobPath(lastLayer as never);
    const bytes = await readFile(path);
    await writeFile(path, Buffer.from(bytes.map((byte) => byte ^ 0x55)));
    const result = await rebuild();
    expect(result.ran).toEqual(['[3/3] RUN echo two > /two']);
    expect(result.stderr).toContain(`step cache: layer ${lastLayer} is damaged (its content hashes to`);
  });

  it('a layer cut short', async () => {
    const path = fx.store.blobPath(lastLayer as never);
    await writeFile(path, (await readFile(path)).subarray(0, 10));
    const result = await rebuild();
    expect(result.ran).toEqual(['[3/3] RUN echo two > /two']);
    expect(result.stderr).toContain(`step cache: layer ${lastLayer} is damaged (10 bytes instead of`);
  });

  it('a layer removed', async () => {
    await unlink(fx.store.blobPath(lastLayer as never));
    const result = await rebuild();
    expect(result.ran).toEqual(['[3/3] RUN echo two > /two']);
    expect(result.stderr).toContain(`step cache: layer ${lastLayer} is missing`);
  });

  it('an unreadable side index', async () => {
    await writeFile(fx.store.sideIndexPath('step-cache'), '{"schemaVersion": 2, "manif');
    const result = await rebuild();
    expect(result.ran).toHaveLength(2);
    expect(result.stderr).toMatch(/step cache: \S+step-cache\.json is unreadable/);
    // The cache works again afterwards.
    expect((await rebuild()).ran).toEqual([]);
  });
});
