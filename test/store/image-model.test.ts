import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { beforeEach, describe, expect, it } from 'vitest';
import { MediaType, isTsbuildError, parseIndex, parseManifest, type Digest } from '../../src/common/index.js';
import { chainIds, imageContentSize, layerContentSize, listImages, resolveImage, selectPlatform, storeImage, type Store } from '../../src/store/index.js';
import { writeLayer, type LayerEntry } from '../../src/exporter/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { useTemporaryStores } from '../helpers/temporary-store.js';

const digest = (text: string): Digest => `sha256:${createHash('sha256').update(text).digest('hex')}` as Digest;
const bytes = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const sha256 = (data: Uint8Array): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    return isTsbuildError(error) ? error.code : String(error);
  }
}

const config = { mediaType: MediaType.ociConfig, digest: digest('config'), size: 6 };
const manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [] };
const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };

describe('image model', () => {
  it('rejects manifests whose media type disagrees with the descriptor or the content', () => {
    expect(parseManifest(bytes(manifest), MediaType.ociManifest).config.digest).toBe(config.digest);
    expect(codeOf(() => parseManifest(bytes(manifest), MediaType.dockerManifest))).toBe('INVALID_MEDIA_TYPE');
    expect(codeOf(() => parseManifest(bytes(manifest), MediaType.ociIndex))).toBe('INVALID_MEDIA_TYPE');
    expect(codeOf(() => parseManifest(bytes(index), MediaType.ociManifest))).toBe('INVALID_MEDIA_TYPE');
    expect(codeOf(() => parseManifest(bytes({ ...manifest, mediaType: undefined, manifests: [] }), MediaType.ociManifest))).toBe('INVALID_MEDIA_TYPE');
    expect(codeOf(() => parseManifest(bytes({ ...manifest, mediaType: MediaType.dockerManifest }), MediaType.dockerManifest))).toBe('INVALID_MEDIA_TYPE');
    expect(codeOf(() => parseManifest(bytes({ ...manifest, schemaVersion: 1 })))).toBe('INVALID_MEDIA_TYPE');
    expect(codeOf(() => parseIndex(bytes(manifest), MediaType.ociIndex))).toBe('INVALID_MEDIA_TYPE');
    expect(codeOf(() => parseIndex(bytes(index), MediaType.dockerManifestList))).toBe('INVALID_MEDIA_TYPE');
    expect(codeOf(() => parseManifest(Buffer.from('not json')))).toBe('INVALID_MEDIA_TYPE');
  });

  it('validates every digest inside a manifest before anything uses it', () => {
    const hostile = { ...manifest, layers: [{ mediaType: MediaType.ociLayerGzip, digest: 'sha256:../../../etc/passwd', size: 1 }] };
    expect(codeOf(() => parseManifest(bytes(hostile), MediaType.ociManifest))).toBe('INVALID_DIGEST');
    expect(codeOf(() => parseManifest(bytes({ ...manifest, config: { ...config, size: -1 } })))).toBe('INVALID_MEDIA_TYPE');
  });

  it('computes chain IDs as the image-spec defines them', () => {
    const [a, b, c] = [digest('a'), digest('b'), digest('c')];
    const ab = `sha256:${createHash('sha256').update(`${a} ${b}`).digest('hex')}`;
    const abc = `sha256:${createHash('sha256').update(`${ab} ${c}`).digest('hex')}`;
    expect(chainIds([a, b, c])).toEqual([a, ab, abc]);
  });

  it('selects a platform from an index', () => {
    const entry = (architecture: string, variant?: string) => ({ mediaType: MediaType.ociManifest, digest: digest(architecture + (variant ?? '')), size: 1, platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) } });
    const list = { schemaVersion: 2 as const, manifests: [entry('amd64'), entry('arm', 'v6'), entry('arm', 'v7'), { ...entry('unknown'), platform: { os: 'unknown', architecture: 'unknown' } }] };
    expect(selectPlatform(list, { os: 'linux', architecture: 'arm', variant: 'v7' })?.digest).toBe(digest('armv7'));
    expect(selectPlatform(list, { os: 'linux', architecture: 'amd64' })?.digest).toBe(digest('amd64'));
    expect(selectPlatform(list, { os: 'linux', architecture: 's390x' })).toBeUndefined();
  });
});

describe('image model in the store', () => {
  const stores = useTemporaryStores();
  let store: Store;
  beforeEach(async () => {
    store = await stores.open();
  });

  it('refuses to read a manifest under the wrong media type, and resolves through an index', async () => {
    const image = await busyboxImage(store);
    await expect(resolveImage(store, { ...image.descriptor, mediaType: MediaType.dockerManifest })).rejects.toMatchObject({ code: 'INVALID_MEDIA_TYPE' });
    await expect(resolveImage(store, { ...image.descriptor, mediaType: MediaType.ociIndex })).rejects.toMatchObject({ code: 'INVALID_MEDIA_TYPE' });
    await expect(resolveImage(store, { ...image.descriptor, mediaType: MediaType.ociLayerGzip })).rejects.toMatchObject({ code: 'INVALID_MEDIA_TYPE' });
    const resolved = await resolveImage(store, image.descriptor);
    const list = bytes({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...image.descriptor, platform: { os: resolved.config.os, architecture: resolved.config.architecture } }] });
    const info = await store.putBlob(Readable.from([list]));
    const indexDescriptor = { mediaType: MediaType.ociIndex, ...info };
    await store.setReference('localhost/multi:1', indexDescriptor);
    const viaIndex = await resolveImage(store, indexDescriptor);
    expect(viaIndex.descriptor.digest).toBe(image.descriptor.digest);
    expect(viaIndex.index?.descriptor.digest).toBe(info.digest);
    await expect(resolveImage(store, indexDescriptor, { os: 'linux', architecture: 's390x' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('resolves an index entry that names no platform by what its config says', async () => {
    const image = await busyboxImage(store);
    const resolved = await resolveImage(store, image.descriptor);
    // An entry whose manifest is not in the store is passed over, not an error.
    const absent = { mediaType: MediaType.ociManifest, digest: `sha256:${'0'.repeat(64)}` as Digest, size: 2 };
    const list = bytes({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [absent, image.descriptor] });
    const info = await store.putBlob(Readable.from([list]));
    const indexDescriptor = { mediaType: MediaType.ociIndex, ...info };
    await store.setReference('localhost/bare:1', indexDescriptor);
    const viaIndex = await resolveImage(store, indexDescriptor, { os: resolved.config.os, architecture: resolved.config.architecture });
    expect(viaIndex.descriptor.digest).toBe(image.descriptor.digest);
    await expect(resolveImage(store, indexDescriptor, { os: 'linux', architecture: 's390x' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('sizes a layer that arrived as a tar as docker 26 does: files, and symlinks by their target, once; remembered in the store', async () => {
    const entry = { mode: 0o644, uid: 0, gid: 0, mtime: 0 };
    const entries: LayerEntry[] = [
      { ...entry, path: 'd', type: 'directory', mode: 0o755 },
      { ...entry, path: 'd/.wh.gone', type: 'file', size: 0, content: () => Buffer.alloc(0) },
      { ...entry, path: 'd/file', type: 'file', size: 1000, content: () => Buffer.alloc(1000, 1) },
      { ...entry, path: 'd/link', type: 'symlink', linkname: '/d/file' },
      { ...entry, path: 'd/second-name', type: 'link', linkname: 'd/file' },
      // A target's length in bytes, not characters.
      { ...entry, path: 'd/é-link', type: 'symlink', linkname: 'é' },
    ];
    const layer = (await writeLayer(entries, store)).descriptor;
    expect(await layerContentSize(store, layer)).toBe(1000 + 7 + 2);
    expect(await readFile(join(store.root, 'layer-sizes', layer.digest.slice('sha256:'.length)), 'utf8')).toBe('1009');
    await busyboxImage(store);
    const summary = (await listImages(store)).find((image) => image.repository === 'busybox');
    const busybox = await resolveImage(store, (await store.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
    expect(summary?.unpackedSize).toBe(await imageContentSize(store, busybox.manifest));
  });

  it('reads a stored image as manifest, config and layers whose bytes hash to their digests and diff IDs', async () => {
    const stored = await busyboxImage(store);
    const image = await storeImage(store, stored.descriptor);
    const manifest = await image.manifest();
    const config = await image.config();
    expect(image.descriptor().digest).toBe(stored.descriptor.digest);
    expect(sha256(await image.rawManifest())).toBe(stored.descriptor.digest);
    expect(sha256(await image.configBytes())).toBe(manifest.config.digest);
    const layers = await image.layers();
    expect(layers.length).toBeGreaterThan(0);
    expect(layers.map((layer) => layer.digest())).toEqual(manifest.layers.map((layer) => layer.digest));
    expect(layers.map((layer) => layer.diffID())).toEqual(config.rootfs.diff_ids);
    for (const layer of layers) {
      expect(layer.mediaType()).toBe(layer.descriptor().mediaType);
      const compressed = await collect(await layer.compressed());
      expect(compressed.length).toBe(layer.size());
      expect(sha256(compressed)).toBe(layer.digest());
      expect(sha256(await collect(layer.uncompressed()))).toBe(layer.diffID());
    }
    // Through an index, the chosen platform's manifest is the image.
    const list = bytes({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...stored.descriptor, platform: { os: config.os, architecture: config.architecture } }] });
    const info = await store.putBlob(Readable.from([list]));
    const viaIndex = await storeImage(store, { mediaType: MediaType.ociIndex, ...info }, { os: config.os, architecture: config.architecture });
    expect(viaIndex.descriptor().digest).toBe(stored.descriptor.digest);
  });

  it('fails a layer whose tar does not hash to the diff ID its config gives', async () => {
    const tar = Buffer.alloc(1024, 1);
    const layerInfo = await store.putBlob(Readable.from([gzipSync(tar)]));
    const wrongDiffId = digest('another tar');
    const configInfo = await store.putBlob(Readable.from([bytes({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [wrongDiffId] } })]));
    const manifestBytes = bytes({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, ...configInfo }, layers: [{ mediaType: MediaType.ociLayerGzip, ...layerInfo }] });
    const manifestInfo = await store.putBlob(Readable.from([manifestBytes]));
    const image = await storeImage(store, { mediaType: MediaType.ociManifest, ...manifestInfo });
    const layers = await image.layers();
    expect(layers.map((layer) => layer.diffID())).toEqual([wrongDiffId]);
    await expect(Promise.all(layers.map((layer) => collect(layer.uncompressed())))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    // A manifest the store lacks is no image.
    await expect(storeImage(store, { mediaType: MediaType.ociManifest, digest: digest('absent'), size: 2 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
