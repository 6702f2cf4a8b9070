/**
 * The store's commands killed with SIGKILL at moments spread over their run (tag, import, load,
 * rmi, image prune, system prune, builder prune): after every kill `verify` passes, `images`
 * lists only whole images, the same command run again succeeds with the right result, and a
 * prune leaves no temporary behind. Builds have their own sweep (test/cache/robustness.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { cachedSteps } from '../helpers/build.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { cli, cliOk, runBin, killSweep, leftoverTemporaries, type BinRun } from '../helpers/kill-sweep.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

let dir: string;
let root: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ path: dir, cleanup } = await temporaryDirectory('tsbuild-kill-'));
  root = join(dir, 'root');
  await busyboxImage(await openStore({ root }), 'busybox');
});
afterEach(async () => {
  await cleanup();
});

/** The store after a kill: every blob and image whole, `images` readable. */
async function sound(round: number, killed: BinRun): Promise<void> {
  const verify = await cli(root, ['verify']);
  expect(verify.status, `round ${round} (killed after ${killed.ms} ms: ${killed.stderr}): ${verify.stdout}${verify.stderr}`).toBe(0);
  const images = await cli(root, ['images', '-a']);
  expect(images.status, images.stderr).toBe(0);
  expect(images.stderr).toBe('');
}

/** `images` as REPOSITORY:TAG lines (`<none>:<none>` for unnamed ones). */
async function imageNames(): Promise<string[]> {
  return (await cliOk(root, ['images', '-a', '--format', '{{.Repository}}:{{.Tag}}'])).split('\n').filter((line) => line !== '');
}

/** A tar of a small root filesystem whose content depends on N, with a MiB of noise so that an import takes a while. */
async function rootfsTar(n: number): Promise<string> {
  const tree = join(dir, `tree-${n}`);
  await mkdir(join(tree, 'etc'), { recursive: true });
  await writeFile(join(tree, 'etc', 'round'), `${n}\n`);
  await writeFile(join(tree, 'noise'), randomBytes(1 << 20));
  const tar = join(dir, `tree-${n}.tar`);
  execFileSync('tar', ['-cf', tar, '-C', tree, '.']);
  return tar;
}

/** After a prune that ran to its end (no command running), no temporary is left. */
async function noTemporaries(): Promise<void> {
  await cliOk(root, ['system', 'prune', '-f']);
  expect(await leftoverTemporaries(root)).toEqual([]);
}

describe('store commands killed with SIGKILL', () => {
  it('tag', async () => {
    const midway = await killSweep({
      root,
      rounds: 12,
      args: (round) => ['tag', 'busybox', `named:${round + 2}`],
      check: async (round, killed) => {
        await sound(round, killed);
        await cliOk(root, ['tag', 'busybox', `named:${round}`]);
        const id = await cliOk(root, ['images', '-q', `named:${round}`]);
        expect(id).toBe(await cliOk(root, ['images', '-q', 'busybox']));
      },
    });
    expect(midway).toBeGreaterThanOrEqual(3);
    await noTemporaries();
  }, 60_000);

  it('import, then rmi of what it made', async () => {
    const tars = new Map<number, string>();
    const tar = async (round: number): Promise<string> => {
      if (!tars.has(round)) tars.set(round, await rootfsTar(round));
      return tars.get(round) ?? '';
    };
    const imported = await killSweep({
      root,
      rounds: 12,
      prepare: async (round) => void (await tar(round)),
      args: (round) => ['import', tars.get(round) ?? '', `imported:${round + 2}`],
      check: async (round, killed) => {
        await sound(round, killed);
        await cliOk(root, ['import', await tar(round), `imported:${round + 2}`]);
        expect(await imageNames()).toContain(`imported:${round + 2}`);
      },
    });
    expect(imported).toBeGreaterThanOrEqual(3);
    const removed = await killSweep({
      root,
      rounds: 12,
      args: (round) => ['rmi', `imported:${round + 2}`],
      check: async (round, killed) => {
        await sound(round, killed);
        const again = await cli(root, ['rmi', `imported:${round + 2}`]);
        if (again.status !== 0) expect(again.stderr).toMatch(/No such image/);
        expect(await imageNames()).not.toContain(`imported:${round + 2}`);
      },
    });
    expect(removed).toBeGreaterThanOrEqual(3);
    await noTemporaries();
    // Blobs the killed rmis left without an image are gone with the prune: only busybox's stay.
    expect(await imageNames()).toEqual(['busybox:latest']);
  }, 120_000);

  it('load', async () => {
    await cliOk(root, ['import', await rootfsTar(0), 'loaded:1']);
    const archive = join(dir, 'archive.tar');
    await cliOk(root, ['save', '-o', archive, 'loaded:1', 'busybox']);
    const midway = await killSweep({
      root,
      rounds: 12,
      prepare: async () => {
        await cliOk(root, ['rmi', 'loaded:1', 'busybox']);
        await cliOk(root, ['system', 'prune', '-f']);
      },
      args: () => ['load', '-i', archive],
      check: async (round, killed) => {
        await sound(round, killed);
        await cliOk(root, ['load', '-i', archive]);
        expect((await imageNames()).sort()).toEqual(['busybox:latest', 'loaded:1']);
      },
    });
    expect(midway).toBeGreaterThanOrEqual(3);
    await noTemporaries();
  }, 90_000);

  it('image prune and system prune', async () => {
    const tar = await rootfsTar(0);
    for (const command of [['image', 'prune', '-f'], ['system', 'prune', '-a', '-f']]) {
      const midway = await killSweep({
        root,
        rounds: 12,
        // Two images no name holds (one import renamed by the next), and one named.
        prepare: async (round) => {
          await cliOk(root, ['import', '-c', `ENV ROUND=${round}`, tar, 'moving:1']);
          await cliOk(root, ['import', '-c', `ENV ROUND=${round}b`, tar, 'moving:1']);
          await cliOk(root, ['import', '-c', `ENV ROUND=${round}c`, tar, 'moving:1']);
        },
        args: () => command,
        check: async (round, killed) => {
          await sound(round, killed);
          await cliOk(root, command);
          const names = await imageNames();
          expect(names).not.toContain('<none>:<none>');
          if (command.includes('-a')) expect(names).toEqual([]);
          else expect(names).toContain('moving:1');
        },
      });
      expect(midway).toBeGreaterThanOrEqual(2);
    }
    await noTemporaries();
  }, 120_000);

  it('builder prune', async () => {
    const context = join(dir, 'context');
    await mkdir(context);
    const midway = await killSweep({
      root,
      rounds: 10,
      prepare: async (round) => {
        await writeFile(join(context, 'Dockerfile'), `FROM busybox\nRUN echo ${round} > /n\nRUN echo more${round} > /m\n`);
        await cliOk(root, ['build', '--progress', 'plain', '-q', context]);
      },
      args: () => ['builder', 'prune', '-a', '-f'],
      check: async (round, killed) => {
        await sound(round, killed);
        await cliOk(root, ['builder', 'prune', '-a', '-f']);
        // The cache is empty and sound: the same build runs its steps again and makes the same files.
        const build = await cli(root, ['build', '--progress', 'plain', '-t', `pruned:${round}`, context]);
        expect(build.status, build.stderr).toBe(0);
        expect(cachedSteps(build.stderr).filter((step) => step.includes('RUN'))).toEqual([]);
        const run = await runBin(root, ['run', '--rm', '--network', 'none', `pruned:${round}`, 'cat', '/n', '/m']);
        expect(run.stdout, run.stderr).toBe(`${round}\nmore${round}\n`);
      },
    });
    expect(midway).toBeGreaterThanOrEqual(2);
    await noTemporaries();
  }, 120_000);
});
