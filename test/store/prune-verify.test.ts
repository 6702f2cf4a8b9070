import { execFileSync } from 'node:child_process';
import { lstat, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { MediaType, hostPlatform } from '../../src/common/index.js';
import { writeImage, writeLayer } from '../../src/exporter/index.js';
import { chainIds, layerContentSize, pruneStore, resolveImage, snapshotPath, unpackImage, unpackLayers, verifyStore, type Store } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { useTemporaryStores } from '../helpers/temporary-store.js';
import { validateLayout } from '../helpers/validate.js';

describe('prune, verify and unpacked layers', () => {
  const stores = useTemporaryStores();
  let root: string;
  let store: Store;
  beforeEach(async () => {
    root = stores.root();
    store = await stores.open();
  });

  async function twoLayerImage(name: string): Promise<Awaited<ReturnType<typeof writeImage>>> {
    const base = await busyboxImage(store);
    const resolved = await resolveImage(store, base.descriptor);
    const extra = Buffer.from('#!/bin/sh\necho hi\n');
    const upper = await writeLayer(
      [
        { path: 'bin', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
        { path: 'bin/.wh.ls', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 },
        { path: 'hello', type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: extra.length, content: () => extra },
      ],
      store,
    );
    const lower = { descriptor: resolved.manifest.layers[0] ?? upper.descriptor, diffId: resolved.config.rootfs.diff_ids[0] ?? upper.diffId };
    return writeImage(store, { layers: [lower, upper], platform: hostPlatform() }, name);
  }

  it('unpacks layers by chain ID, atomically: the top a full root filesystem, linked from the nearest one unpacked', async () => {
    const image = await twoLayerImage('localhost/app:1');
    await validateLayout(root);
    const chains = chainIds(image.config.rootfs.diff_ids);
    // On a store with nothing unpacked, the layers go in one pass: only the top is kept.
    const alone = await unpackImage(store, image.manifest, image.config.rootfs.diff_ids);
    expect(alone).toBe(snapshotPath(store, chains[1]!));
    expect(await readdir(join(root, 'layers/sha256'))).toEqual([chains[1]?.slice(7)]);
    expect(await readFile(join(alone ?? '', 'hello'), 'utf8')).toContain('echo hi');
    await expect(lstat(join(alone ?? '', 'bin/ls'))).rejects.toThrow();
    await rm(alone ?? '', { recursive: true });
    // With the base unpacked (a base image run or built on), the top is a linked copy of it.
    const lower = (await unpackLayers(store, image.manifest.layers.slice(0, 1), image.config.rootfs.diff_ids.slice(0, 1))) ?? '';
    const top = await unpackImage(store, image.manifest, image.config.rootfs.diff_ids);
    expect(top).toBe(snapshotPath(store, chains[1] ?? chains[0]!));
    expect(chains[0]).toBe(image.config.rootfs.diff_ids[0]);
    expect(lower).toBe(snapshotPath(store, chains[0]!));
    expect(await readlink(join(lower, 'bin/ls'))).toBe('/bin/busybox');
    await expect(lstat(join(top ?? '', 'bin/ls'))).rejects.toThrow();
    expect(await readFile(join(top ?? '', 'hello'), 'utf8')).toContain('echo hi');
    expect((await lstat(join(top ?? '', 'bin/busybox'))).ino).toBe((await lstat(join(lower, 'bin/busybox'))).ino);
    expect((await readdir(join(root, 'layers'))).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    // Unpacking again finds the snapshots in place.
    expect(await unpackImage(store, image.manifest, image.config.rootfs.diff_ids)).toBe(top);
  });

  it('prunes what no reference reaches, and only that', async () => {
    const image = await twoLayerImage('localhost/app:1');
    await unpackLayers(store, image.manifest.layers.slice(0, 1), image.config.rootfs.diff_ids.slice(0, 1));
    await unpackImage(store, image.manifest, image.config.rootfs.diff_ids);
    const stray = await store.putBlob(Readable.from([Buffer.from('unreferenced')]));
    expect((await pruneStore(store, { gracePeriodMs: 60_000 })).blobsRemoved).toEqual([]);
    const kept = await pruneStore(store, { gracePeriodMs: 0 });
    expect(kept.blobsRemoved).toEqual([stray.digest]);
    expect(kept.snapshotsRemoved).toBe(0);
    await validateLayout(root);
    expect((await verifyStore(store)).problems).toEqual([]);

    // Removing the app leaves busybox: its layer and snapshot stay, the app's go, and so does
    // the size remembered of its layer.
    await Promise.all(image.manifest.layers.map((layer) => layerContentSize(store, layer)));
    const [baseLayer, appLayer] = image.manifest.layers.map((layer) => layer.digest.slice(7));
    expect((await readdir(join(root, 'layer-sizes'))).sort()).toEqual([baseLayer, appLayer].sort());
    await store.deleteReference('localhost/app:1');
    const pruned = await pruneStore(store, { gracePeriodMs: 0 });
    expect(pruned.blobsRemoved).toHaveLength(3);
    expect(pruned.blobsRemoved).toContain(image.descriptor.digest);
    expect(pruned.snapshotsRemoved).toBe(1);
    expect(await readdir(join(root, 'layers/sha256'))).toEqual([chainIds(image.config.rootfs.diff_ids)[0]?.slice(7)]);
    expect(await readdir(join(root, 'layer-sizes'))).toEqual([baseLayer]);
    await validateLayout(root);

    await store.deleteReference('docker.io/library/busybox:latest');
    await pruneStore(store, { gracePeriodMs: 0 });
    expect(await readdir(join(root, 'blobs/sha256'))).toEqual([]);
    expect(await readdir(join(root, 'layers/sha256'))).toEqual([]);
  });

  it('verify finds corrupt blobs, missing blobs and wrong diff IDs', async () => {
    stores.broken();
    const image = await twoLayerImage('localhost/app:1');
    expect(await verifyStore(store)).toMatchObject({ references: 2, problems: [] });
    const layer = image.manifest.layers[1]!;
    const path = join(root, 'blobs/sha256', layer.digest.slice(7));
    const original = await readFile(path);
    await writeFile(path, Buffer.from('garbage'));
    const corrupt = await verifyStore(store);
    expect(corrupt.problems.map((problem) => problem.subject)).toContain('localhost/app:1');
    await rm(path);
    const missing = await verifyStore(store);
    expect(missing.problems).toEqual([{ subject: 'localhost/app:1', message: `missing blob ${layer.digest}` }]);
    await writeFile(path, original);
    expect((await verifyStore(store)).problems).toEqual([]);
    await writeFile(join(root, 'blobs/sha256', image.configDescriptor.digest.slice(7)), '{}');
    expect((await verifyStore(store)).problems.map((problem) => problem.subject)).toEqual(['localhost/app:1', image.configDescriptor.digest]);
  });

  it('verify decompresses a layer by its magic bytes, and names one whose tar is not its diff ID', async () => {
    const content = Buffer.from('compressed with zstd\n'.repeat(100));
    const plain = await writeLayer([{ path: 'motd', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: content.length, content: () => content }], store, { compression: 'none' });
    const zstd = execFileSync('zstd', ['-q', '-c'], { input: await readFile(join(root, 'blobs/sha256', plain.descriptor.digest.slice(7))) });
    const info = await store.putBlob(Readable.from([zstd]));
    const zstdLayer = { mediaType: MediaType.ociLayerZstd, digest: info.digest, size: info.size };
    await writeImage(store, { layers: [{ descriptor: zstdLayer, diffId: plain.diffId }], platform: hostPlatform() }, 'localhost/zstd:1');
    expect((await verifyStore(store)).problems).toEqual([]);

    stores.broken();
    const other = await writeLayer([{ path: 'other', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 }], store);
    await writeImage(store, { layers: [{ descriptor: other.descriptor, diffId: plain.diffId }], platform: hostPlatform() }, 'localhost/wrong:1');
    const problems = (await verifyStore(store)).problems;
    expect(problems).toEqual([{ subject: 'localhost/wrong:1', message: expect.stringContaining(`${other.diffId}, the config says ${plain.diffId}`) }]);
  });
});
