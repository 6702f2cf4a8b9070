import { beforeEach, describe, expect, it } from 'vitest';
import { listImages, removeImages, resolveImage, type Store } from '../../src/store/index.js';
import { busyboxImage, type BusyboxImage } from '../helpers/busybox-image.js';
import { codeOf } from '../helpers/error-code.js';
import { useTemporaryStores } from '../helpers/temporary-store.js';

describe('removeImages and listImages', () => {
  const stores = useTemporaryStores();
  let store: Store;
  let busybox: BusyboxImage;
  beforeEach(async () => {
    store = await stores.open();
    busybox = await busyboxImage(store);
    await store.setReference('localhost:5000/tools/bb:1', busybox.descriptor);
  });

  it('lists by pattern and filter, as docker images does', async () => {
    expect((await listImages(store)).map((image) => image.name)).toEqual(['docker.io/library/busybox:latest', 'localhost:5000/tools/bb:1']);
    expect((await listImages(store, { pattern: 'localhost:5000/*/bb' })).map((image) => image.tag)).toEqual(['1']);
    expect((await listImages(store, { filters: ['reference=busy*'] })).map((image) => image.repository)).toEqual(['busybox']);
    expect(await codeOf(listImages(store, { pattern: '[' }))).toBe('INVALID_ARGUMENT');
  });

  it('changes nothing when one of the images cannot be removed', async () => {
    const id = (await resolveImage(store, busybox.descriptor)).manifest.config.digest;
    expect(await codeOf(removeImages(store, ['localhost:5000/tools/bb:1', 'nosuch']))).toBe('NOT_FOUND');
    // Given by ID, an image with two names needs force.
    expect(await codeOf(removeImages(store, ['localhost:5000/tools/bb:1', id.slice(7, 19)]))).toBe('INVALID_ARGUMENT');
    expect(await store.resolveReference('localhost:5000/tools/bb:1')).toEqual(busybox.descriptor);
    expect((await store.listBlobs()).length).toBe(3);
  });

  it("passes over an image not found with force, as docker's rmi -f, and removes the others", async () => {
    const removed = await removeImages(store, ['nosuch', 'localhost:5000/tools/bb:1'], { force: true });
    expect(removed.missing).toEqual(['No such image: nosuch:latest']);
    expect(removed.untagged).toEqual(['localhost:5000/tools/bb:1']);
  });

  it('untags each name once, and frees the blobs when the last name goes', async () => {
    const one = await removeImages(store, ['localhost:5000/tools/bb:1', 'localhost:5000/tools/bb:1']);
    const image = await resolveImage(store, busybox.descriptor);
    expect(one).toEqual({ untagged: ['localhost:5000/tools/bb:1'], untaggedIds: [image.manifest.config.digest], deleted: [], deletedImages: [], bytesFreed: 0, missing: [] });
    const blobs = [busybox.descriptor.digest, image.manifest.config.digest, ...image.manifest.layers.map((layer) => layer.digest)].sort();
    await store.setReference('localhost:5000/tools/bb:2', busybox.descriptor);
    const all = await removeImages(store, [image.manifest.config.digest], { force: true });
    expect(all.untagged).toEqual(['docker.io/library/busybox:latest', 'localhost:5000/tools/bb:2']);
    expect(all.untaggedIds).toEqual([image.manifest.config.digest, image.manifest.config.digest]);
    expect(all.deletedImages).toEqual([image.manifest.config.digest]);
    expect([...all.deleted].sort()).toEqual(blobs);
    const sizes = [busybox.descriptor.size, image.manifest.config.size, ...image.manifest.layers.map((layer) => layer.size)];
    expect(all.bytesFreed).toBe(sizes.reduce((sum, size) => sum + size, 0));
    expect(await store.listBlobs()).toEqual([]);
  });
});
