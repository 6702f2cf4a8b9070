/**
 * Commands that talk to a registry killed with SIGKILL at moments spread over their run: a pull
 * leaves a store that verifies and names nothing half-fetched, a push leaves no tag on the
 * registry whose manifest misses a blob, a build's `--cache-to type=registry` leaves no partial
 * cache manifest, and each command run again succeeds with the right result.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MediaType } from '../../src/common/index.js';
import { openStore } from '../../src/store/index.js';
import { cachedSteps } from '../helpers/build.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { cli, cliOk, killSweep, leftoverTemporaries, type BinRun } from '../helpers/kill-sweep.js';
import { haveRegistry, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

const accept = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifest, MediaType.dockerManifestList].join(', ');

interface ManifestJson {
  readonly mediaType?: string;
  readonly config?: { readonly digest: string };
  readonly layers?: readonly { readonly digest: string }[];
  readonly manifests?: readonly { readonly digest: string }[];
}

/** Whether the registry holds REPOSITORY:TAG; if so, every blob and manifest it reaches must be there too. */
async function wholeOnRegistry(registry: TestRegistry, repository: string, reference: string): Promise<boolean> {
  const response = await request(`${registry.url}/v2/${repository}/manifests/${reference}`, { headers: { accept } });
  const body = await response.body.text();
  if (response.statusCode === 404) return false;
  expect(response.statusCode, body).toBe(200);
  const manifest = JSON.parse(body) as ManifestJson;
  for (const child of manifest.manifests ?? []) expect(await wholeOnRegistry(registry, repository, child.digest), `${repository}@${child.digest} under ${reference}`).toBe(true);
  for (const blob of [...(manifest.config === undefined ? [] : [manifest.config]), ...(manifest.layers ?? [])]) {
    const head = await request(`${registry.url}/v2/${repository}/blobs/${blob.digest}`, { method: 'HEAD' });
    await head.body.dump();
    expect(head.statusCode, `${repository}:${reference} names ${blob.digest}`).toBe(200);
  }
  return true;
}

describe.skipIf(!haveRegistry())('registry commands killed with SIGKILL', () => {
  let registry: TestRegistry;
  let dir: string;
  let root: string;
  let cleanup: () => Promise<void>;
  let serial = 0;

  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });
  beforeEach(async () => {
    ({ path: dir, cleanup } = await temporaryDirectory('tsbuild-kill-'));
    root = join(dir, 'root');
    await busyboxImage(await openStore({ root }), 'busybox');
    return cleanup;
  });

  async function sound(round: number, killed: BinRun): Promise<void> {
    const verify = await cli(root, ['verify']);
    expect(verify.status, `round ${round} (killed after ${killed.ms} ms: ${killed.stderr}): ${verify.stdout}${verify.stderr}`).toBe(0);
    const images = await cli(root, ['images', '-a']);
    expect(images.status, images.stderr).toBe(0);
  }

  /** An image of its own in the store, with layers of a few MiB of noise so that moving it takes a while, named NAME. */
  async function noiseImage(name: string): Promise<void> {
    serial += 1;
    const tree = join(dir, `tree-${serial}`);
    await mkdir(tree, { recursive: true });
    await writeFile(join(tree, 'noise'), randomBytes(3 << 20));
    await writeFile(join(tree, 'serial'), `${serial}\n`);
    const tar = join(dir, `tree-${serial}.tar`);
    execFileSync('tar', ['-cf', tar, '-C', tree, '.']);
    await cliOk(root, ['import', tar, name]);
  }

  async function noTemporaries(): Promise<void> {
    await cliOk(root, ['system', 'prune', '-f']);
    expect(await leftoverTemporaries(root)).toEqual([]);
  }

  it('pull', async () => {
    const name = `${registry.host}/pulled:1`;
    await noiseImage(name);
    await cliOk(root, ['push', name]);
    const id = await cliOk(root, ['images', '-q', '--no-trunc', name]);
    const midway = await killSweep({
      root,
      rounds: 15,
      prepare: async () => {
        await cliOk(root, ['rmi', name]);
        await cliOk(root, ['system', 'prune', '-f']);
      },
      args: () => ['pull', name],
      check: async (round, killed) => {
        await sound(round, killed);
        await cliOk(root, ['pull', name]);
        expect(await cliOk(root, ['images', '-q', '--no-trunc', name])).toBe(id);
      },
    });
    expect(midway).toBeGreaterThanOrEqual(3);
    await noTemporaries();
  }, 90_000);

  it('push: no tag names a manifest with a missing blob', async () => {
    const name = (round: number): string => `${registry.host}/pushed${round + 2}:1`;
    const midway = await killSweep({
      root,
      rounds: 15,
      prepare: (round) => noiseImage(name(round)),
      args: (round) => ['push', name(round)],
      check: async (round, killed) => {
        await sound(round, killed);
        const there = await wholeOnRegistry(registry, `pushed${round + 2}`, '1');
        if (killed.status === 0) expect(there).toBe(true);
        await cliOk(root, ['push', name(round)]);
        expect(await wholeOnRegistry(registry, `pushed${round + 2}`, '1')).toBe(true);
      },
    });
    expect(midway).toBeGreaterThanOrEqual(3);
    await noTemporaries();
  }, 120_000);

  it('build --cache-to and --cache-from a registry', async () => {
    const context = join(dir, 'context');
    await mkdir(context);
    await writeFile(join(context, 'big'), randomBytes(2 << 20));
    const dockerfile = (round: number): string => `FROM busybox\nCOPY big /big\nRUN echo ${round} > /n\nRUN head -c 1000000 /big > /part\n`;
    const ref = (round: number): string => `${registry.host}/cache${round + 2}:latest`;
    const args = (round: number): string[] => ['build', '--progress', 'plain', '--cache-to', `type=registry,ref=${ref(round)},mode=max`, '--cache-from', `type=registry,ref=${ref(round)}`, context];
    const midway = await killSweep({
      root,
      rounds: 10,
      prepare: async (round) => {
        await writeFile(join(context, 'Dockerfile'), dockerfile(round));
        // The steps run (the local cache is empty), so that the export has records to write.
        await cliOk(root, ['builder', 'prune', '-a', '-f']);
      },
      args,
      check: async (round, killed) => {
        await sound(round, killed);
        await wholeOnRegistry(registry, `cache${round + 2}`, 'latest');
        const again = await cli(root, args(round));
        expect(again.status, again.stderr).toBe(0);
        expect(await wholeOnRegistry(registry, `cache${round + 2}`, 'latest')).toBe(true);
        // From the registry alone, on an emptied local cache: every step is a hit.
        await cliOk(root, ['builder', 'prune', '-a', '-f']);
        const fresh = await cli(root, ['build', '--progress', 'plain', '--cache-from', `type=registry,ref=${ref(round)}`, context]);
        expect(fresh.status, fresh.stderr).toBe(0);
        expect(cachedSteps(fresh.stderr)).toHaveLength(3);
      },
    });
    expect(midway).toBeGreaterThanOrEqual(2);
    await noTemporaries();
  }, 180_000);
});
