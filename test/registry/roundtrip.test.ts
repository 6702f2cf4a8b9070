import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostPlatform, maxImageConfigBytes, maxManifestBytes, MediaType, type Digest, type ImageConfig, type Manifest } from '../../src/common/index.js';
import { pull, push, type ProgressEvent, type RegistryClient } from '../../src/registry/index.js';
import { useRegistryFixture } from '../helpers/registry-fixture.js';
import { validateLayout } from '../helpers/validate.js';
import { putBytes, randomLayer, writeRandomImage } from '../helpers/registry-image.js';
import { openStore, storeImage, type Store } from '../../src/store/index.js';

const fixture = useRegistryFixture({ prefix: 'tsbuild-roundtrip-' });

function newClient(): RegistryClient {
  return fixture.client({ credentials: () => Promise.resolve(undefined), retry: { baseDelayMs: 10, maxDelayMs: 50 } });
}

const freshStore = (): Promise<Store> => fixture.freshStore();
const sha256 = (bytes: Buffer): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;

function skopeo(...args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('push and pull against docker-registry', () => {
  it('pushes an image and pulls it into a fresh root with the same digests', async () => {
    const source = await freshStore();
    const image = await writeRandomImage(source, { name: `${fixture.registry.host}/round/trip:v1`, layerSizes: [200_000, 50_000, 1000] });
    const events: ProgressEvent[] = [];
    const pushed = await push({ source: `${fixture.registry.host}/round/trip:v1`, store: source, client: newClient(), onProgress: (event) => events.push(event) });
    expect(pushed.digest).toBe(image.manifest.digest);
    expect(pushed.blobsUploaded).toBe(4);
    expect(events.filter((event) => event.kind === 'blob' && event.phase === 'done')).toHaveLength(4);

    const target = await freshStore();
    const pulled = await pull({ reference: `${fixture.registry.host}/round/trip:v1`, store: target, client: newClient() });
    expect(pulled.digest).toBe(image.manifest.digest);
    expect(pulled.blobsFetched).toBe(4);
    expect(await target.resolveReference(`${fixture.registry.host}/round/trip:v1`)).toMatchObject({ digest: image.manifest.digest, mediaType: MediaType.ociManifest });
    for (const layer of [...image.layers, image.config]) {
      expect((await target.readBlob(layer.digest, 1 << 20)).equals(await source.readBlob(layer.digest, 1 << 20))).toBe(true);
    }

    // What a pull stored reads back through the image model as the image that was pushed.
    const [sent, received] = await Promise.all([storeImage(source, image.manifest), storeImage(target, pulled.manifest)]);
    expect(pulled.image.descriptor().digest).toBe(pulled.manifest.digest);
    expect((await received.rawManifest()).equals(await sent.rawManifest())).toBe(true);
    expect((await received.configBytes()).equals(await sent.configBytes())).toBe(true);
    const receivedLayers = await received.layers();
    expect(receivedLayers.map((layer) => [layer.digest(), layer.diffID()])).toEqual((await sent.layers()).map((layer) => [layer.digest(), layer.diffID()]));
    for (const layer of receivedLayers) {
      let length = 0;
      // Read through, the tar is checked against its diff ID.
      for await (const chunk of layer.uncompressed()) length += chunk.length;
      expect(length).toBeGreaterThan(0);
    }

    await validateLayout(target.root);
    // A single-platform image is refused for another platform, once its config has said which.
    await expect(pull({ reference: `${fixture.registry.host}/round/trip:v1`, store: await freshStore(), client: newClient(), platform: { os: 'linux', architecture: 's390x' } })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/not the requested linux\/s390x/),
    });
    // As BuildKit's FROM takes it (containerd's resolver checks no platform of the manifest a reference names).
    const anyPlatform = await pull({ reference: `${fixture.registry.host}/round/trip:v1`, store: await freshStore(), client: newClient(), platform: { os: 'linux', architecture: 's390x' }, anyPlatformOfManifest: true });
    expect(anyPlatform.manifest.digest).toBe(image.manifest.digest);
    // Pulling again fetches nothing: every blob is in the store.
    const again = await pull({ reference: `${fixture.registry.host}/round/trip:v1`, store: target, client: newClient() });
    expect(again.blobsFetched).toBe(0);
    expect(again.blobsPresent).toBe(4);
  });

  it('pulls an image whose config is larger than a manifest may be, for a platform read from that config', async () => {
    const source = await freshStore();
    // 6 MiB: over the 4 MiB manifest limit, under the 16 MiB config limit.
    const image = await writeRandomImage(source, { name: `${fixture.registry.host}/round/big-config:v1`, layerSizes: [1000], labels: { notes: 'x'.repeat(6 * 1024 * 1024) } });
    expect(image.config.size).toBeGreaterThan(maxManifestBytes);
    expect(image.config.size).toBeLessThan(maxImageConfigBytes);
    await push({ source: `${fixture.registry.host}/round/big-config:v1`, store: source, client: newClient() });
    const target = await freshStore();
    const pulled = await pull({ reference: `${fixture.registry.host}/round/big-config:v1`, store: target, client: newClient(), platform: hostPlatform() });
    expect(pulled.digest).toBe(image.manifest.digest);
    expect((await target.readBlob(image.config.digest, maxImageConfigBytes)).length).toBe(image.config.size);
  });

  it('never lets a corrupt local blob reach the registry, whichever way it is uploaded', async () => {
    for (const [name, options] of [
      ['monolithic', {}],
      ['chunked', { monolithicMaxBytes: 1000, chunkBytes: 40_000 }],
    ] as const) {
      const source = await freshStore();
      // Corrupted below on purpose: not a layout that validates.
      fixture.stores.broken(source.root);
      const reference = `${fixture.registry.host}/corrupt/${name}:1`;
      const image = await writeRandomImage(source, { name: reference, layerSizes: [100_000] });
      const layer = image.layers[0]?.digest as Digest;
      // Same size, other bytes: only the digest can tell.
      const path = join(source.root, 'blobs', 'sha256', layer.slice('sha256:'.length));
      const bytes = await readFile(path);
      bytes[50_000] = (bytes[50_000] ?? 0) ^ 0xff;
      await writeFile(path, bytes);
      const error = await push({ source: reference, store: source, client: newClient(), ...options }).catch((caught: unknown) => caught);
      expect(error, name).toMatchObject({ code: 'DIGEST_MISMATCH' });
      expect((error as Error).message).toContain(layer);
      expect((error as Error).message).toContain('DIGEST_INVALID');
      const head = await fetch(`http://${fixture.registry.host}/v2/corrupt/${name}/blobs/${layer}`, { method: 'HEAD' });
      expect(head.status, name).toBe(404);
      const manifest = await fetch(`http://${fixture.registry.host}/v2/corrupt/${name}/manifests/1`, { method: 'HEAD' });
      expect(manifest.status, name).toBe(404);
    }
  });

  it('neither pushes nor names on pull an image whose config does not match its layers', async () => {
    const host = fixture.registry.host;
    const { blob } = await randomLayer(10_000);
    const layer = { mediaType: MediaType.ociLayerGzip, digest: sha256(blob), size: blob.length };
    // Two diff IDs for one layer: a config nothing can unpack the image by.
    const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(Buffer.from('a')), sha256(Buffer.from('b'))] } }));
    const config = { mediaType: MediaType.ociConfig, digest: sha256(configBytes), size: configBytes.length };
    const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer] }));

    const source = await freshStore();
    // Holds the mismatched image on purpose: not a layout that validates.
    fixture.stores.broken(source.root);
    for (const bytes of [blob, configBytes, manifestBytes]) await putBytes(source, bytes);
    await source.setReference(`${host}/mismatch/pushed:1`, { mediaType: MediaType.ociManifest, digest: sha256(manifestBytes), size: manifestBytes.length });
    await expect(push({ source: `${host}/mismatch/pushed:1`, store: source, client: newClient() })).rejects.toMatchObject({ code: 'INVALID_MEDIA_TYPE' });
    expect((await fetch(`http://${host}/v2/mismatch/pushed/blobs/${layer.digest}`, { method: 'HEAD' })).status).toBe(404);

    // The registry takes it as given, uploaded by hand.
    for (const bytes of [blob, configBytes]) {
      const started = await fetch(`http://${host}/v2/mismatch/pulled/blobs/uploads/`, { method: 'POST' });
      await started.arrayBuffer();
      const location = new URL(started.headers.get('location') ?? '', `http://${host}`);
      location.searchParams.set('digest', sha256(bytes));
      const put = await fetch(location, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
      await put.arrayBuffer();
      expect(put.status).toBe(201);
    }
    const put = await fetch(`http://${host}/v2/mismatch/pulled/manifests/1`, { method: 'PUT', body: manifestBytes, headers: { 'content-type': MediaType.ociManifest } });
    await put.arrayBuffer();
    expect(put.status).toBe(201);
    const target = await freshStore();
    const error = await pull({ reference: `${host}/mismatch/pulled:1`, store: target, client: newClient(), platform: { os: 'linux', architecture: 'amd64' } }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'INVALID_MEDIA_TYPE', message: expect.stringMatching(/^pull .*mismatch\/pulled:1: .*1 layers but 2 diff_ids/) });
    expect(await target.resolveReference(`${host}/mismatch/pulled:1`)).toBeUndefined();
  });

  it('lets two pulls of one image share a root at the same time', async () => {
    const source = await freshStore();
    const image = await writeRandomImage(source, { name: `${fixture.registry.host}/shared/app:1`, layerSizes: [400_000, 300_000] });
    await push({ source: `${fixture.registry.host}/shared/app:1`, store: source, client: newClient() });
    const root = await mkdtemp(join(fixture.scratch, 'shared-'));
    const [first, second] = await Promise.all([
      pull({ reference: `${fixture.registry.host}/shared/app:1`, store: await openStore({ root }), client: newClient() }),
      pull({ reference: `${fixture.registry.host}/shared/app:1`, store: await openStore({ root }), client: newClient() }),
    ]);
    expect(first.manifest.digest).toBe(image.manifest.digest);
    expect(second.manifest.digest).toBe(image.manifest.digest);
    await validateLayout(root);
  });

  it('skips blobs the registry has, and pushes several tags', async () => {
    const store = await freshStore();
    const image = await writeRandomImage(store, { name: `${fixture.registry.host}/tags/app:one`, layerSizes: [10_000] });
    await push({ source: `${fixture.registry.host}/tags/app:one`, store, client: newClient() });
    const second = await push({
      source: `${fixture.registry.host}/tags/app:one`,
      destinations: [`${fixture.registry.host}/tags/app:two`, `${fixture.registry.host}/tags/app:three`],
      store,
      client: newClient(),
    });
    expect(second.blobsUploaded).toBe(0);
    expect(second.blobsPresent).toBe(4);
    expect(second.references).toEqual([`${fixture.registry.host}/tags/app:two`, `${fixture.registry.host}/tags/app:three`]);
    await expect(push({ source: `${fixture.registry.host}/tags/app:one`, destinations: [`${fixture.registry.host}/tags/app@sha256:${'0'.repeat(64)}`], store, client: newClient() })).rejects.toMatchObject({
      code: 'INVALID_REFERENCE',
    });
    const tags = JSON.parse(skopeo('list-tags', '--tls-verify=false', `docker://${fixture.registry.host}/tags/app`)) as { Tags: string[] };
    expect(tags.Tags.sort()).toEqual(['one', 'three', 'two']);
    const inspected = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${fixture.registry.host}/tags/app:three`)) as { Digest: string; Layers: string[] };
    expect(inspected.Digest).toBe(image.manifest.digest);
    expect(inspected.Layers).toEqual(image.layers.map((layer) => layer.digest));
  });

  it('mounts blobs from another repository of the same registry', async () => {
    const store = await freshStore();
    await writeRandomImage(store, { name: `${fixture.registry.host}/mount/source:1`, layerSizes: [30_000, 20_000] });
    await push({ source: `${fixture.registry.host}/mount/source:1`, store, client: newClient() });
    const result = await push({ source: `${fixture.registry.host}/mount/source:1`, destinations: [`${fixture.registry.host}/mount/elsewhere:1`], store, client: newClient() });
    expect(result.blobsMounted).toBe(3);
    expect(result.blobsUploaded).toBe(0);
    const inspected = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${fixture.registry.host}/mount/elsewhere:1`)) as { Digest: string };
    expect(inspected.Digest).toBe(result.digest);
  });

  it('mounts the layers of a pulled base image when pushing an image built on it', async () => {
    const upstream = await freshStore();
    await writeRandomImage(upstream, { name: `${fixture.registry.host}/origin/base:1`, layerSizes: [25_000, 15_000] });
    await push({ source: `${fixture.registry.host}/origin/base:1`, store: upstream, client: newClient() });

    // Another machine pulls the base, and builds on it: base layers plus one of its own.
    const local = await freshStore();
    const base = await pull({ reference: `${fixture.registry.host}/origin/base:1`, store: local, client: newClient() });
    const baseManifest = JSON.parse((await local.readBlob(base.manifest.digest)).toString()) as Manifest;
    const baseConfig = JSON.parse((await local.readBlob(baseManifest.config.digest)).toString()) as ImageConfig;
    const own = await randomLayer(10_000);
    const ownLayer = { mediaType: MediaType.ociLayerGzip, digest: await putBytes(local, own.blob), size: own.blob.length };
    const configBytes = Buffer.from(
      JSON.stringify({ ...baseConfig, rootfs: { type: 'layers', diff_ids: [...baseConfig.rootfs.diff_ids, own.diffId] }, history: [...(baseConfig.history ?? []), { created_by: 'own layer' }] }),
    );
    const config = { mediaType: MediaType.ociConfig, digest: await putBytes(local, configBytes), size: configBytes.length };
    const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [...baseManifest.layers, ownLayer] }));
    const manifest = { mediaType: MediaType.ociManifest, digest: await putBytes(local, manifestBytes), size: manifestBytes.length };
    await local.setReference(`${fixture.registry.host}/derived/app:1`, manifest);

    const result = await push({ source: `${fixture.registry.host}/derived/app:1`, store: local, client: newClient() });
    expect(result.blobsMounted).toBe(2);
    expect(result.blobsUploaded).toBe(2);
    const check = await freshStore();
    expect((await pull({ reference: `${fixture.registry.host}/derived/app:1`, store: check, client: newClient() })).digest).toBe(manifest.digest);
    await validateLayout(check.root);
  });

  it('uploads large blobs in chunks that skopeo reads back', async () => {
    const store = await freshStore();
    const image = await writeRandomImage(store, { name: `${fixture.registry.host}/chunked/app:1`, layerSizes: [3_500_000], docker: true });
    const result = await push({ source: `${fixture.registry.host}/chunked/app:1`, store, client: newClient(), monolithicMaxBytes: 1_000_000, chunkBytes: 1_000_000 });
    expect(result.blobsUploaded).toBe(2);
    const copyDir = await mkdtemp(join(fixture.scratch, 'skopeo-'));
    skopeo('copy', '--src-tls-verify=false', `docker://${fixture.registry.host}/chunked/app:1`, `oci:${copyDir}:copied`);
    const layerDigest = image.layers[0]?.digest as Digest;
    const local = await store.readBlob(layerDigest, 8 << 20);
    const { readFile } = await import('node:fs/promises');
    const copied = await readFile(join(copyDir, 'blobs', 'sha256', layerDigest.slice('sha256:'.length)));
    expect(copied.equals(local)).toBe(true);
  });

  it('pulls what skopeo copy pushed, selecting the platform from an index', async () => {
    const store = await freshStore();
    const image = await writeRandomImage(store, { name: 'local/skopeo-src:1', layerSizes: [40_000] });
    // Wrap the manifest in an index with a second, foreign platform entry.
    const foreign = await writeRandomImage(store, { name: 'local/foreign:1', layerSizes: [1000] });
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        { ...foreign.manifest, platform: { os: 'linux', architecture: 's390x' } },
        { ...image.manifest, platform: { os: 'linux', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64' } },
      ],
    };
    const indexBytes = Buffer.from(JSON.stringify(index));
    const indexDigest = await putBytes(store, indexBytes);
    await store.setReference(`${fixture.registry.host}/multi/app:1`, { mediaType: MediaType.ociIndex, digest: indexDigest, size: indexBytes.length });
    await push({ source: `${fixture.registry.host}/multi/app:1`, destinations: [`${fixture.registry.host}/staging/app:1`], store, client: newClient() });
    skopeo('copy', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${fixture.registry.host}/staging/app:1`, `docker://${fixture.registry.host}/copied/app:1`);

    const target = await freshStore();
    const pulled = await pull({ reference: `${fixture.registry.host}/copied/app:1`, store: target, client: newClient() });
    expect(pulled.digest).toBe(indexDigest);
    expect(pulled.manifest.digest).toBe(image.manifest.digest);
    expect(await target.hasBlob(image.layers[0]?.digest as Digest)).toBe(true);
    expect(await target.hasBlob(foreign.layers[0]?.digest as Digest)).toBe(false);
    await validateLayout(target.root);

    const s390x = await freshStore();
    const other = await pull({ reference: `${fixture.registry.host}/copied/app:1`, store: s390x, client: newClient(), platform: { os: 'linux', architecture: 's390x' } });
    expect(other.manifest.digest).toBe(foreign.manifest.digest);
    const manifest = JSON.parse((await s390x.readBlob(other.manifest.digest)).toString()) as Manifest;
    expect(manifest.layers[0]?.digest).toBe(foreign.layers[0]?.digest);

    await expect(pull({ reference: `${fixture.registry.host}/copied/app:1`, store: await freshStore(), client: newClient(), platform: { os: 'windows', architecture: 'amd64' } })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('takes an index entry that names no platform for what its config says, after those that do', async () => {
    const store = await freshStore();
    const foreign = await writeRandomImage(store, { name: 'local/bare-s390x:1', layerSizes: [900], platform: { os: 'linux', architecture: 's390x' } });
    const native = await writeRandomImage(store, { name: 'local/bare-native:1', layerSizes: [1100] });
    const attestation = await writeRandomImage(store, { name: 'local/attestation:1', layerSizes: [300], platform: { os: 'unknown', architecture: 'unknown' } });
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [foreign.manifest, native.manifest, { ...attestation.manifest, platform: { os: 'unknown', architecture: 'unknown' } }],
    };
    const indexBytes = Buffer.from(JSON.stringify(index));
    await store.setReference(`${fixture.registry.host}/bare/app:1`, { mediaType: MediaType.ociIndex, digest: await putBytes(store, indexBytes), size: indexBytes.length });
    await push({ source: `${fixture.registry.host}/bare/app:1`, store, client: newClient() });

    const target = await freshStore();
    const pulled = await pull({ reference: `${fixture.registry.host}/bare/app:1`, store: target, client: newClient() });
    expect(pulled.manifest.digest).toBe(native.manifest.digest);
    expect(pulled.manifest.platform).toMatchObject({ os: 'linux', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64' });
    expect(await target.hasBlob(native.layers[0]?.digest as Digest)).toBe(true);
    expect(await target.hasBlob(foreign.layers[0]?.digest as Digest)).toBe(false);
    await validateLayout(target.root);

    const s390x = await pull({ reference: `${fixture.registry.host}/bare/app:1`, store: await freshStore(), client: newClient(), platform: { os: 'linux', architecture: 's390x' } });
    expect(s390x.manifest.digest).toBe(foreign.manifest.digest);
    await expect(pull({ reference: `${fixture.registry.host}/bare/app:1`, store: await freshStore(), client: newClient(), platform: { os: 'linux', architecture: 'riscv64' } })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('pulls from a Docker manifest list of Docker schema 2 manifests', async () => {
    const store = await freshStore();
    const image = await writeRandomImage(store, { name: 'local/docker-src:1', layerSizes: [12_000], docker: true });
    const list = {
      schemaVersion: 2,
      mediaType: MediaType.dockerManifestList,
      manifests: [{ ...image.manifest, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } }],
    };
    const listBytes = Buffer.from(JSON.stringify(list));
    await store.setReference(`${fixture.registry.host}/docker/list:1`, { mediaType: MediaType.dockerManifestList, digest: await putBytes(store, listBytes), size: listBytes.length });
    await push({ source: `${fixture.registry.host}/docker/list:1`, store, client: newClient() });
    const target = await freshStore();
    const pulled = await pull({ reference: `${fixture.registry.host}/docker/list:1`, store: target, client: newClient(), platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
    expect(pulled.manifest).toMatchObject({ digest: image.manifest.digest, mediaType: MediaType.dockerManifest });
    await validateLayout(target.root);
    // As docker: an arm64 machine runs arm/v7 images when there is no arm64 one; an arm/v6 one does not.
    const fallback = await pull({ reference: `${fixture.registry.host}/docker/list:1`, store: await freshStore(), client: newClient(), platform: { os: 'linux', architecture: 'arm64' } });
    expect(fallback.manifest.digest).toBe(image.manifest.digest);
    await expect(
      pull({ reference: `${fixture.registry.host}/docker/list:1`, store: await freshStore(), client: newClient(), platform: { os: 'linux', architecture: 'arm', variant: 'v6' } }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('available: linux/arm/v7') });
  });

  it('names the reference and the registry error when a manifest is missing', async () => {
    const error = await pull({ reference: `${fixture.registry.host}/missing/app:nope`, store: await freshStore(), client: newClient() }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'REGISTRY' });
    // docker's words, which scripts match.
    expect((error as Error).message).toBe(`manifest for ${fixture.registry.host}/missing/app:nope not found: manifest unknown: manifest unknown`);
  });
});
