import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, tryLock, verifyStore } from '../../src/store/index.js';
import { useTemporaryStores } from '../helpers/temporary-store.js';
import { validateLayout } from '../helpers/validate.js';

const run = promisify(execFile);
const worker = join(import.meta.dirname, 'fixtures/store-worker.ts');

describe('store under concurrency', () => {
  const stores = useTemporaryStores();
  let root: string;
  beforeEach(() => {
    root = stores.dir;
  });

  it('stays consistent when processes write, tag, remove and prune at once', async () => {
    const results = await Promise.all(['1', '2', '3'].map((id) => run(process.execPath, ['--import', 'tsx', worker, root, id, '12'], { cwd: join(import.meta.dirname, '../..') })));
    const expected = results.flatMap((result) => JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '[]') as string[]);
    const store = await stores.open(root);
    const names = (await store.listReferences()).map((reference) => reference.name);
    // No update to index.json was lost, and the shared name points at one of the images.
    for (const name of expected) expect(names).toContain(name);
    expect(names).toContain('localhost/shared:latest');
    expect(names).toHaveLength(expected.length + 1);
    const verified = await verifyStore(store);
    expect(verified.problems).toEqual([]);
    await validateLayout(root);
  }, 120_000);

  it('waits for a lock held by a live holder and breaks one left by a dead process', async () => {
    const path = join(root, 'test.lock');
    const held = await acquireLock(path);
    expect(await tryLock(path)).toBeUndefined();
    await expect(acquireLock(path, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'LOCKED' });
    await held.release();
    const again = await tryLock(path);
    expect(again).toBeDefined();
    await again?.release();

    // A pid that cannot be alive: the kernel's pid_max is far below it.
    await writeFile(path, '2147483646\nabandoned\n');
    const taken = await acquireLock(path, { timeoutMs: 1000 });
    await taken.release();
  });
});
