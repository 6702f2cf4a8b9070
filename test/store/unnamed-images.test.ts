/**
 * Images kept without a name (docker's dangling `<none>:<none>` images): index.json entries
 * without ref.name, one per manifest; a name that moves leaves its old image so; found by ID,
 * listed, removed, pruned and verified like named ones; skopeo and umoci still read the layout.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MediaType, hostPlatform, refNameAnnotation, type Descriptor, type Index } from '../../src/common/index.js';
import { writeImage, writeLayer } from '../../src/exporter/index.js';
import { findImage, listImages, pruneImages, pruneStore, removeImages, resolveImage, verifyStore, type Store } from '../../src/store/index.js';
import { busyboxImage, type BusyboxImage } from '../helpers/busybox-image.js';
import { codeOf } from '../helpers/error-code.js';
import { useTemporaryStores } from '../helpers/temporary-store.js';
import { validateLayout } from '../helpers/validate.js';

describe('images without a name', () => {
  const stores = useTemporaryStores();
  let root: string;
  let store: Store;
  let busybox: BusyboxImage;
  beforeEach(async () => {
    root = stores.root();
    store = await stores.open();
    busybox = await busyboxImage(store);
  });

  /** An image of busybox's layer and one more holding TEXT, written without a name. */
  async function imageWith(text: string): Promise<{ descriptor: Descriptor; id: string }> {
    const base = await resolveImage(store, busybox.descriptor);
    const content = Buffer.from(text);
    const upper = await writeLayer([{ path: 'file', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: content.length, content: () => content }], store);
    const lower = { descriptor: base.manifest.layers[0] ?? upper.descriptor, diffId: base.config.rootfs.diff_ids[0] ?? upper.diffId };
    const written = await writeImage(store, { layers: [lower, upper], platform: hostPlatform() });
    return { descriptor: written.descriptor, id: written.configDescriptor.digest };
  }

  async function indexEntries(): Promise<Index['manifests']> {
    return (JSON.parse(await readFile(join(root, 'index.json'), 'utf8')) as Index).manifests;
  }

  it('keeps one entry without ref.name per image, and none for an image a name holds', async () => {
    const image = await imageWith('one\n');
    expect(await store.listUnnamed()).toEqual([]);
    expect(await store.keepUnnamed(image.descriptor)).toBe(true);
    expect(await store.keepUnnamed(image.descriptor)).toBe(false);
    expect(await store.keepUnnamed(busybox.descriptor)).toBe(false);
    const entries = await indexEntries();
    expect(entries).toHaveLength(2);
    expect(entries.filter((entry) => entry.annotations?.[refNameAnnotation] === undefined)).toEqual([image.descriptor]);
    expect(await store.listUnnamed()).toEqual([image.descriptor]);
    // The names are what they were.
    expect((await store.listReferences()).map((reference) => reference.name)).toEqual(['docker.io/library/busybox:latest']);
    await validateLayout(root);
  });

  it('keeps nothing half-stored', async () => {
    const image = await imageWith('partial\n');
    const manifest = await resolveImage(store, image.descriptor);
    await unlink(store.blobPath(manifest.manifest.layers[1]?.digest ?? image.descriptor.digest));
    expect(await codeOf(store.keepUnnamed(image.descriptor))).toBe('NOT_FOUND');
    expect(await store.listUnnamed()).toEqual([]);
  });

  it('keeps one entry when processes keep the same image at once', async () => {
    const image = await imageWith('race\n');
    const others = await Promise.all([1, 2, 3, 4].map(() => stores.open()));
    const added = await Promise.all(others.map((other) => other.keepUnnamed(image.descriptor)));
    expect(added.filter(Boolean)).toHaveLength(1);
    expect(await store.listUnnamed()).toEqual([image.descriptor]);
  });

  it('leaves the image a moved name held without a name, unless another name holds it', async () => {
    const first = await imageWith('first\n');
    const second = await imageWith('second\n');
    await store.setReference('docker.io/library/app:latest', first.descriptor);
    await store.setReference('docker.io/library/app:latest', second.descriptor);
    expect(await store.listUnnamed()).toEqual([first.descriptor]);
    // Naming it again takes it out of the unnamed ones.
    await store.setReference('docker.io/library/old:1', first.descriptor);
    expect(await store.listUnnamed()).toEqual([]);
    // Moving a name away from an image another name holds leaves nothing unnamed.
    await store.setReference('docker.io/library/old:1', second.descriptor);
    await store.setReference('docker.io/library/app:latest', first.descriptor);
    expect(await store.listUnnamed()).toEqual([]);
    expect((await indexEntries()).map((entry) => [entry.annotations?.[refNameAnnotation], entry.digest])).toEqual([
      ['docker.io/library/app:latest', first.descriptor.digest],
      ['docker.io/library/busybox:latest', busybox.descriptor.digest],
      ['docker.io/library/old:1', second.descriptor.digest],
    ]);
    // Re-setting a name to what it holds changes nothing.
    await store.setReference('docker.io/library/app:latest', first.descriptor);
    expect(await store.listUnnamed()).toEqual([]);
    await validateLayout(root);
  });

  it('is found by image ID, ID prefix and manifest digest, listed as <none> and filtered as dangling', async () => {
    const image = await imageWith('found\n');
    await store.keepUnnamed(image.descriptor);
    expect(await findImage(store, image.id)).toEqual({ descriptor: image.descriptor });
    expect(await findImage(store, image.id.slice(7, 19))).toEqual({ descriptor: image.descriptor });
    expect(await findImage(store, image.descriptor.digest)).toEqual({ descriptor: image.descriptor });
    const listed = await listImages(store);
    expect(listed.map((summary) => [summary.repository, summary.tag, summary.id])).toEqual([
      ['busybox', 'latest', (await resolveImage(store, busybox.descriptor)).manifest.config.digest],
      ['<none>', '<none>', image.id],
    ]);
    expect((await listImages(store, { filters: ['dangling=true'] })).map((summary) => summary.id)).toEqual([image.id]);
    expect((await listImages(store, { filters: ['dangling=false'] })).map((summary) => summary.repository)).toEqual(['busybox']);
    // A pattern matches names: an image without one matches none.
    expect((await listImages(store, { pattern: '*' })).map((summary) => summary.repository)).toEqual(['busybox']);
  });

  it('refuses an ID prefix two images share, as docker does, and takes a longer one', async () => {
    // Two configs whose digests share their first four hex digits, found among variants of busybox's.
    const base = await resolveImage(store, busybox.descriptor);
    const seen = new Map<string, Buffer>();
    let pair: [Buffer, Buffer] | undefined;
    for (let variant = 0; pair === undefined && variant < 100_000; variant++) {
      const bytes = Buffer.from(JSON.stringify({ ...base.config, config: { ...base.config.config, Labels: { variant: String(variant) } } }));
      const prefix = createHash('sha256').update(bytes).digest('hex').slice(0, 4);
      const other = seen.get(prefix);
      if (other === undefined) seen.set(prefix, bytes);
      else pair = [other, bytes];
    }
    const ids: string[] = [];
    for (const config of pair ?? []) {
      const stored = await store.putBlob(Readable.from([config]));
      const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: stored.digest, size: stored.size }, layers: base.manifest.layers }));
      const manifestInfo = await store.putBlob(Readable.from([manifest]));
      expect(await store.keepUnnamed({ mediaType: MediaType.ociManifest, digest: manifestInfo.digest, size: manifestInfo.size })).toBe(true);
      ids.push(stored.digest);
    }
    const [first = '', second = ''] = ids;
    expect(first.slice(0, 11)).toBe(second.slice(0, 11));
    await expect(findImage(store, first.slice(7, 11))).rejects.toThrow(`multiple IDs found with provided prefix: ${first.slice(7, 11)}`);
    const found = await findImage(store, first.slice(7, 30));
    expect(found === undefined ? undefined : (await resolveImage(store, found.descriptor)).manifest.config.digest).toBe(first);
  });

  it('is removed by ID, its own blobs freed, the base image left whole', async () => {
    const image = await imageWith('removed\n');
    await store.keepUnnamed(image.descriptor);
    const removed = await removeImages(store, [image.id.slice(7, 19)]);
    expect(removed.untagged).toEqual([]);
    // Manifest, config and the layer only it used.
    expect(removed.deleted).toHaveLength(3);
    expect(removed.deleted).toContain(image.id);
    expect(await store.listUnnamed()).toEqual([]);
    expect((await verifyStore(store)).problems).toEqual([]);
    expect(await store.resolveReference('docker.io/library/busybox:latest')).toEqual(busybox.descriptor);
  });

  it('prunes images without a name that no container uses; with all, named ones too', async () => {
    const dangling = await imageWith('dangling\n');
    const used = await imageWith('used\n');
    await store.keepUnnamed(dangling.descriptor);
    await store.keepUnnamed(used.descriptor);
    const pruned = await pruneImages(store, { inUse: [used.descriptor.digest] });
    expect(pruned.untagged).toEqual([]);
    expect(pruned.deleted[0]).toBe(dangling.id);
    expect(pruned.deleted).toHaveLength(3);
    expect(await store.listUnnamed()).toEqual([used.descriptor]);
    expect(await store.resolveReference('docker.io/library/busybox:latest')).toEqual(busybox.descriptor);
    expect(await store.hasBlob(dangling.descriptor.digest)).toBe(false);

    const busyboxId = (await resolveImage(store, busybox.descriptor)).manifest.config.digest;
    const all = await pruneImages(store, { all: true, inUse: [used.descriptor.digest] });
    // busybox's layer stays: the used image holds it too. Its ID comes first, as docker lists it.
    expect(all.untagged).toEqual(['docker.io/library/busybox:latest']);
    expect(all.deleted).toEqual([busyboxId, busybox.descriptor.digest]);
    expect(await store.listReferences()).toEqual([]);
    expect(await store.listUnnamed()).toEqual([used.descriptor]);
    for (const layer of (await resolveImage(store, used.descriptor)).manifest.layers) expect(await store.hasBlob(layer.digest)).toBe(true);
    await validateLayout(root);
  });

  it('is a root of the garbage collection, and verify checks it', async () => {
    const image = await imageWith('kept\n');
    await store.keepUnnamed(image.descriptor);
    const pruned = await pruneStore(store, { gracePeriodMs: 0 });
    expect(pruned.blobsRemoved).toEqual([]);
    expect(await verifyStore(store)).toMatchObject({ references: 1, unnamed: 1, problems: [] });
    const layer = (await resolveImage(store, image.descriptor)).manifest.layers[1]?.digest ?? image.descriptor.digest;
    await unlink(store.blobPath(layer));
    expect((await verifyStore(store)).problems).toEqual([{ subject: image.descriptor.digest, message: `missing blob ${layer}` }]);
    // The layout the test leaves must validate: the damaged image goes.
    expect(await store.deleteUnnamed(image.descriptor.digest)).toBe(true);
    expect(await store.deleteUnnamed(image.descriptor.digest)).toBe(false);
  });

  it('leaves the layout one skopeo and umoci read, names and all', async () => {
    const image = await imageWith('read\n');
    await store.keepUnnamed(image.descriptor);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${root}:docker.io/library/busybox:latest`], { encoding: 'utf8' })) as { Digest: string };
    expect(inspected.Digest).toBe(busybox.descriptor.digest);
    expect(execFileSync('umoci', ['ls', '--layout', root], { encoding: 'utf8' }).trim().split('\n')).toEqual(['docker.io/library/busybox:latest']);
    await validateLayout(root);
  });
});
