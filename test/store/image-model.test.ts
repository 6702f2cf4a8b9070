import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { beforeEach, describe, expect, it } from 'vitest';
import { MediaType, isTsbuildError, parseIndex, parseManifest, type Digest } from '../../src/common/index.js';
import { chainIds, layerTarSizeHint, resolveImage, selectPlatform, storeImage, type Store } from '../../src/store/index.js';
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

  it('reads a layer\'s tar size from its gzip trailer, and only where the trailer can say it', async () => {
    const tar = Buffer.alloc(300_000, 7);
    const put = async (blob: Buffer, mediaType: string) => ({ mediaType, ...(await store.putBlob(Readable.from([blob]))) });
    const gzipped = await put(gzipSync(tar), MediaType.ociLayerGzip);
    expect(await layerTarSizeHint(store, gzipped)).toBe(tar.length);
    expect(await layerTarSizeHint(store, { ...gzipped, mediaType: MediaType.dockerLayerGzip })).toBe(tar.length);
    // Several members (eStargz ends with an empty one): the trailer speaks for the last only.
    const members = await put(Buffer.concat([gzipSync(tar), gzipSync(Buffer.alloc(0))]), MediaType.ociLayerGzip);
    expect(await layerTarSizeHint(store, members)).toBeUndefined();
    const plain = await put(tar, MediaType.ociLayer);
    expect(await layerTarSizeHint(store, plain)).toBe(tar.length);
    expect(await layerTarSizeHint(store, { ...gzipped, mediaType: MediaType.ociLayerZstd })).toBeUndefined();
    expect((await store.readBlobTail(gzipped.digest, 1 << 30)).length).toBe(gzipped.size);
    await expect(store.readBlobTail(`sha256:${'0'.repeat(64)}` as Digest, 4)).rejects.toMatchObject({ code: 'NOT_FOUND' });
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
