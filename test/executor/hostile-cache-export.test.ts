/**
 * Exporting a cache mount (`--cache-to …,cache-mounts=true`) while a `shared` user of the same
 * id (a RUN of another build on the same root) swaps its directories for links to the host
 * (docker CVE-2018-15664's symlink-exchange race, on a copy out of a container's files): the
 * export runs on the host, so a directory read by its path after the swap would put the host
 * files the link reaches into a layer that is then pushed. The export holds only the cache's
 * own files, or fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheMountDirectory, packCacheMount } from '../../src/executor/cache-mounts.js';
import { openStore, type Store } from '../../src/store/index.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

const directories = 100;
const filesEach = 20;

describe('exporting a cache mount a shared user swaps links into', () => {
  let dir: string;
  let removeDir: () => Promise<void>;
  let store: Store;
  let data: string;
  let outside: string;

  beforeAll(async () => {
    ({ path: dir, cleanup: removeDir } = await temporaryDirectory('tsbuild-hostile-cache-export-'));
    store = await openStore({ root: join(dir, 'root') });
    data = join(cacheMountDirectory(store, 'shared'), 'data');
    outside = join(dir, 'outside');
    await mkdir(outside);
    for (let j = 0; j < filesEach; j++) await writeFile(join(outside, `f${String(j).padStart(2, '0')}`), 'HOST SECRET\n');
    for (let i = 0; i < directories; i++) {
      const sub = join(data, `d${String(i).padStart(3, '0')}`);
      await mkdir(sub, { recursive: true });
      for (let j = 0; j < filesEach; j++) await writeFile(join(sub, `f${String(j).padStart(2, '0')}`), 'cache file\n');
    }
  });

  afterAll(async () => {
    await removeDir();
  });

  it('packs only the cache\'s own files, or fails, whatever directory becomes a link to the host while it is read', async () => {
    // The user of the cache: each directory in turn becomes a link to OUTSIDE and back, without end.
    const script = `cd ${data} && while true; do for d in d*; do case $d in *.x) continue;; esac; if [ -L "$d" ]; then rm "$d" && mv "$d.x" "$d"; else mv "$d" "$d.x" && ln -s ${outside} "$d"; fi; done; done`;
    // Its own process group: killing it stops the mv or ln it may be running too.
    const swapper: ChildProcess = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
    try {
      for (let round = 0; round < 20; round++) {
        const layers = await packCacheMount(store, 'shared').catch((error: unknown) => {
          // A directory that changed under the export is a refusal, never host content.
          expect(String(error)).toMatch(/changed|ELOOP|ENOENT|ENOTDIR/);
          return undefined;
        });
        const layer = layers?.layers[0];
        if (layer === undefined) continue;
        const tar = gunzipSync(readFileSync(store.blobPath(layer.descriptor.digest)));
        expect(tar.includes('HOST SECRET')).toBe(false);
      }
    } finally {
      const exited = new Promise((resolve) => swapper.once('exit', resolve));
      if (swapper.pid !== undefined) process.kill(-swapper.pid, 'SIGKILL');
      await exited;
    }
    // Once nothing changes it, the directory packs: links as links, files as they are.
    const layers = await packCacheMount(store, 'shared');
    const tar = gunzipSync(readFileSync(store.blobPath((layers?.layers[0] ?? expect.fail('nothing packed')).descriptor.digest)));
    expect(tar.includes('HOST SECRET')).toBe(false);
    expect(tar.includes('cache file')).toBe(true);
  }, 120_000);
});
