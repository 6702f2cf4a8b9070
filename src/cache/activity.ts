/**
 * Running builds announce themselves with a file under `ROOT/builds/` named by their process id,
 * so that a prune in another process leaves alone what they may be using: while one runs, a
 * prune removes cache records only, and collects their blobs and unpacked layers later. A file
 * whose process is gone (a build killed with SIGKILL) counts for nothing and is removed.
 */
import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { uniqueHex } from '../common/index.js';
import type { Store } from '../store/index.js';

function directory(store: Store): string {
  return join(store.root, 'builds');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Marks a build as running until the returned function is called. */
export async function markBuildRunning(store: Store): Promise<() => Promise<void>> {
  await mkdir(directory(store), { recursive: true });
  const path = join(directory(store), `${process.pid}-${uniqueHex(6)}`);
  await writeFile(path, '');
  return () => unlink(path).catch(() => undefined);
}

/** How many builds are running on this root, this process's own excepted. */
export async function otherBuildsRunning(store: Store): Promise<number> {
  let count = 0;
  for (const name of await readdir(directory(store)).catch(() => [] as string[])) {
    // Other files live here too (gc.ts's last measure): only PID-HEX names are marks.
    if (!/^\d+-[0-9a-f]+$/.test(name)) continue;
    const pid = Number(name.split('-')[0]);
    if (!Number.isSafeInteger(pid) || pid <= 0) continue;
    if (!alive(pid)) {
      await unlink(join(directory(store), name)).catch(() => undefined);
      continue;
    }
    if (pid !== process.pid) count++;
  }
  return count;
}
