/**
 * run and create unpack an image's layers before anything of the container is made; a layer of a
 * few MiB may be a bomb of 64 GiB of zeros. Interrupted meanwhile (SIGINT, SIGTERM, as docker's
 * CLI on ctrl-C), they stop at the unpack's next chunk and end within seconds with 128 + the
 * signal's number, the half-made snapshot removed and no container made: they went on writing
 * the zeros for minutes (run), or died leaving the half-made snapshot in the store (create).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Descriptor } from '../../src/common/index.js';
import { openStore, verifyStore } from '../../src/store/index.js';
import { buildFixture, type BuildFixture } from '../helpers/build.js';
import { storeBombImage } from '../helpers/bomb-image.js';

const isRoot = process.getuid?.() === 0;
const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

describe.runIf(isRoot)('run and create interrupted while they unpack a bomb', () => {
  let fx: BuildFixture;
  let bomb: Descriptor;
  const bombName = 'docker.io/library/bomb:1';
  /** The commands started: one that outlives a failed test would go on writing its zeros. */
  const started: ChildProcess[] = [];

  beforeAll(async () => {
    fx = await buildFixture();
    bomb = await storeBombImage(fx.store, fx.dir, bombName);
  }, 60_000);

  afterEach(() => {
    for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  afterAll(async () => {
    // Named no more, so the layout's check at cleanup does not read its 64 GiB.
    await fx.store.deleteReference(bombName).catch(() => undefined);
    await fx.cleanup();
  });

  const unpacking = async (): Promise<string[]> => (await readdir(join(fx.root, 'layers'))).filter((name) => name.startsWith('unpack.'));

  it.each([
    [['run', '--rm'], 'SIGINT', 130],
    [['run', '-d'], 'SIGTERM', 143],
    [['create'], 'SIGTERM', 143],
  ] as const)('%j ends on %s within seconds with %i, leaving no snapshot and no container', async (command, signal, expected) => {
    const child = spawn(process.execPath, [bin, command[0], '--root', fx.root, ...command.slice(1), 'bomb:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.stderr.on('data', (data: Buffer) => (output += data.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, by) => resolve({ code, signal: by })));
    // Once the unpack is under way, and has written some of the zeros.
    const deadline = Date.now() + 10_000;
    while ((await unpacking()).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await unpacking()).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    child.kill(signal);
    const stopped = Date.now();
    const status = await exited;
    expect(Date.now() - stopped).toBeLessThan(5_000);
    expect(status, output).toEqual({ code: expected, signal: null });
    expect(output).not.toContain('internal error');
    expect(await unpacking()).toEqual([]);
    // No snapshot of the bomb (its chain ID is its made-up diff ID), whole or half.
    expect(await readdir(join(fx.root, 'layers', 'sha256')).catch(() => [])).not.toContain('0'.repeat(64));
    expect(await readdir(join(fx.root, 'tmp'))).toEqual([]);
    expect(await readdir(join(fx.root, 'containers')).catch(() => [])).toEqual([]);
    // The store verifies (the bomb named no more while it does: its check would read its 64 GiB).
    await fx.store.deleteReference(bombName);
    try {
      expect((await verifyStore(await openStore({ root: fx.root }))).problems).toEqual([]);
    } finally {
      await fx.store.setReference(bombName, bomb);
    }
  }, 30_000);
});
