/**
 * A cache mount's directory as the layer `--cache-to …,cache-mounts=true` exports: deterministic
 * (the same files give the same blob), times as the files have them, and the imported layer
 * given back untouched when the directory still makes its tar.
 */
import { chmod, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDigest, readTar, MediaType } from '../../src/common/index.js';
import { cacheMountDirectory, packCacheMount } from '../../src/executor/cache-mounts.js';
import { decompressLayer } from '../../src/store/index.js';
import { useTemporaryStores } from '../helpers/temporary-store.js';

const stores = useTemporaryStores('tsbuild-pack-');

describe('packCacheMount', () => {
  it('packs the data directory deterministically, with unclamped times and the recorded owner', async () => {
    const store = await stores.open();
    const data = join(cacheMountDirectory(store, '/var/cache/apt'), 'data');
    await mkdir(join(data, 'archives'), { recursive: true });
    await writeFile(join(data, 'archives', 'b.deb'), 'bee');
    await writeFile(join(data, 'a.bin'), 'ay');
    await symlink('archives/b.deb', join(data, 'link'));
    await chmod(join(data, 'a.bin'), 0o600);
    const time = new Date(1_800_000_000_000);
    await utimes(join(data, 'a.bin'), time, time);
    await writeFile(join(cacheMountDirectory(store, '/var/cache/apt'), 'meta.json'), JSON.stringify({ id: '/var/cache/apt', uid: 0, gid: 0, mode: 0o750 }));

    const previous = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = '1000';
    let first;
    try {
      first = await packCacheMount(store, '/var/cache/apt');
    } finally {
      if (previous === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = previous;
    }
    expect(first).toMatchObject({ id: '/var/cache/apt', uid: 0, gid: 0, mode: 0o750 });
    const layer = first?.layers[0];
    if (layer === undefined) throw new Error('no layer');
    const entries: { name: string; mtime: number; mode: number }[] = [];
    for await (const entry of readTar(decompressLayer(await store.openBlob(layer.descriptor.digest), layer.descriptor.mediaType))) {
      entries.push({ name: entry.header.name, mtime: entry.header.mtime, mode: entry.header.mode & 0o7777 });
    }
    expect(entries.map((entry) => entry.name)).toEqual(['a.bin', 'archives/', 'archives/b.deb', 'link']);
    expect(entries[0]).toEqual({ name: 'a.bin', mtime: 1_800_000_000, mode: 0o600 });

    const again = await packCacheMount(store, '/var/cache/apt');
    expect(again?.layers[0]?.descriptor.digest).toBe(layer.descriptor.digest);
    expect(await packCacheMount(store, 'never-mounted')).toBeUndefined();
  });

  it('gives the imported layer back when the directory still makes its tar, and a new one when it changed', async () => {
    const store = await stores.open();
    const data = join(cacheMountDirectory(store, 'npm'), 'data');
    await mkdir(data, { recursive: true });
    await writeFile(join(data, 'package.tgz'), 'content');
    const packed = await packCacheMount(store, 'npm');
    const diffId = packed?.layers[0]?.diffId;
    if (diffId === undefined) throw new Error('no layer');
    // As an import would name it: another compression, so another digest, of the same tar.
    const imported = {
      id: 'npm',
      uid: 0,
      gid: 0,
      mode: 0o755,
      layers: [{ descriptor: { mediaType: MediaType.ociLayerZstd, digest: parseDigest(`sha256:${'a'.repeat(64)}`), size: 12 }, diffId }],
    };
    const blobsBefore = (await store.listBlobs()).length;
    const unchanged = await packCacheMount(store, 'npm', imported);
    expect(unchanged?.layers).toEqual(imported.layers);
    expect((await store.listBlobs()).length).toBe(blobsBefore);

    await writeFile(join(data, 'other.tgz'), 'more');
    const changed = await packCacheMount(store, 'npm', imported);
    expect(changed?.layers[0]?.diffId).not.toBe(diffId);
    expect(await store.blobSize(changed?.layers[0]?.descriptor.digest ?? parseDigest(`sha256:${'0'.repeat(64)}`))).toBe(changed?.layers[0]?.descriptor.size);
  });
});
