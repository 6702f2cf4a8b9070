import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalStepCache } from '../../src/cache/index.js';
import { hashHex, hostPlatform, parseDigest, type Digest } from '../../src/common/index.js';
import { writeLayer } from '../../src/exporter/index.js';
import { openStore, pruneStore, type Store } from '../../src/store/index.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { validateLayout } from '../helpers/validate.js';

const key = (text: string): Digest => parseDigest(`sha256:${hashHex('sha256', text)}`);

async function layer(store: Store, name: string): Promise<{ descriptor: Awaited<ReturnType<typeof writeLayer>>['descriptor']; diffId: Digest }> {
  const content = Buffer.from(name);
  const written = await writeLayer([{ path: name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: content.length, content: () => content }], store);
  return { descriptor: written.descriptor, diffId: written.diffId };
}

describe('local step cache', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: Store;
  beforeEach(async () => {
    ({ path: dir, cleanup } = await temporaryDirectory());
    store = await openStore({ root: dir });
  });
  afterEach(async () => {
    await validateLayout(dir);
    await cleanup();
  });

  it('keeps a step result by key across instances, and survives a prune', async () => {
    const a = await layer(store, 'a');
    const b = await layer(store, 'b');
    await new LocalStepCache(store).put(key('one'), { layers: [a, b] }, hostPlatform());
    expect(await new LocalStepCache(store).get(key('two'))).toBeUndefined();
    const found = await new LocalStepCache(store).get(key('one'));
    expect(found?.layers).toEqual([a, b]);
    // Records are roots: a prune with no grace period keeps their layers.
    await pruneStore(store, { gracePeriodMs: 0 });
    expect((await new LocalStepCache(store).get(key('one')))?.layers).toEqual([a, b]);
  });

  it('takes a record whose layer is gone for a miss', async () => {
    const a = await layer(store, 'a');
    await new LocalStepCache(store).put(key('one'), { layers: [a] }, hostPlatform());
    await store.deleteBlob(a.descriptor.digest);
    expect(await new LocalStepCache(store).get(key('one'))).toBeUndefined();
    // Put back for the layout check at teardown.
    await layer(store, 'a');
  });

  it('loses no record when several writers put at once', async () => {
    const a = await layer(store, 'a');
    const caches = Array.from({ length: 8 }, () => new LocalStepCache(store));
    await Promise.all(caches.map((cache, i) => cache.put(key(`k${i}`), { layers: [a] }, hostPlatform())));
    const fresh = new LocalStepCache(store);
    for (let i = 0; i < 8; i++) expect(await fresh.get(key(`k${i}`))).toBeDefined();
    expect((await store.readSideIndex('step-cache')).manifests).toHaveLength(8);
  });

  it('puts several records in one change of the side index, a key given twice as its last record', async () => {
    const a = await layer(store, 'a');
    const b = await layer(store, 'b');
    const cache = new LocalStepCache(store);
    await cache.put(key('old'), { layers: [a] }, hostPlatform());
    const before = (await store.readSideIndex('step-cache')).manifests;
    await cache.putAll([
      { key: key('one'), result: { layers: [a] }, platform: hostPlatform() },
      { key: key('two'), result: { layers: [a, b], created: '2026-01-01T00:00:00Z' }, platform: hostPlatform() },
      { key: key('old'), result: { layers: [a, b] }, platform: hostPlatform() },
      { key: key('one'), result: { layers: [b] }, platform: hostPlatform() },
    ]);
    const entries = (await store.readSideIndex('step-cache')).manifests;
    // Newest last: the old record replaced, each key once.
    expect(entries.map((entry) => entry.annotations?.['org.tsbuild.step.key'])).toEqual([key('two'), key('old'), key('one')]);
    expect(entries).not.toContainEqual(before[0]);
    const fresh = new LocalStepCache(store);
    expect((await fresh.get(key('one')))?.layers).toEqual([b]);
    expect(await fresh.get(key('two'))).toEqual({ layers: [a, b], created: '2026-01-01T00:00:00Z' });
    expect((await fresh.get(key('old')))?.layers).toEqual([a, b]);
    // The instance that wrote them answers from what it wrote, without reading the index again.
    expect((await cache.get(key('one')))?.layers).toEqual([b]);
  });

  // Each of a thousand stages' steps finishing at once took the side index's lock, read it and
  // rewrote it: quadratic, and the last waited past the lock's timeout.
  it('lists the records of steps that finish during a rewrite of the side index in one more rewrite', async () => {
    const a = await layer(store, 'a');
    let rewrites = 0;
    let blobs = 0;
    let allWritten: () => void = () => undefined;
    const written = new Promise<void>((resolve) => (allWritten = resolve));
    const counted = new Proxy(store, {
      get(target, name, receiver) {
        if (name === 'putBlob') {
          return async (...args: Parameters<Store['putBlob']>) => {
            const result = await target.putBlob(...args);
            // Two blobs per record (its config and manifest).
            if (++blobs === 2 * 40) allWritten();
            return result;
          };
        }
        if (name === 'updateSideIndex') {
          return async (...args: Parameters<Store['updateSideIndex']>) => {
            // The first rewrite lasts until every record's blobs are written (and a moment more,
            // for the stat each record makes after them).
            if (++rewrites === 1) await written.then(() => new Promise((resolve) => setTimeout(resolve, 50)));
            return target.updateSideIndex(...args);
          };
        }
        return Reflect.get(target, name, receiver) as unknown;
      },
    });
    const cache = new LocalStepCache(counted);
    await Promise.all(Array.from({ length: 40 }, (_, i) => cache.put(key(`k${i}`), { layers: [a] }, hostPlatform())));
    // One rewrite per record before (40); one for the first, one or two for the rest now.
    expect(rewrites).toBeLessThanOrEqual(3);
    const entries = (await store.readSideIndex('step-cache')).manifests;
    expect(new Set(entries.map((entry) => entry.annotations?.['org.tsbuild.step.key']))).toEqual(new Set(Array.from({ length: 40 }, (_, i) => key(`k${i}`))));
    const fresh = new LocalStepCache(store);
    for (let i = 0; i < 40; i++) expect(await fresh.get(key(`k${i}`))).toBeDefined();
  });
});
