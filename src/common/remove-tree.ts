/**
 * Removes a tree as `rm -rf` does, also one whose paths exceed PATH_MAX, which a build step can
 * leave (`mkdir -p` in parts, then one moved under another): the kernel refuses such a path to
 * every call (ENAMETOOLONG) and Node's rm names each entry by its whole path, so the tree would
 * stay, in a step's temporary directory, for good. Such a tree is first flattened: a directory
 * whose path grows long is renamed (two short paths) to the tree's top, until no path is long.
 */
import { readdir, rename, rm } from 'node:fs/promises';
import { uniqueHex } from './unique-hex.js';

/** Where a path is moved up: far enough below PATH_MAX (4096) for a 255-byte name below it. */
const longPath = 2048;

export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw error;
  }
  await flatten(Buffer.from(path));
  await rm(path, { recursive: true, force: true });
}

async function flatten(root: Buffer): Promise<void> {
  const slash = Buffer.from('/');
  const pending = [root];
  // Names are read and given back as bytes: one that is not UTF-8 must not change on the way.
  for (let directory = pending.pop(); directory !== undefined; directory = pending.pop()) {
    for (const entry of await readdir(directory, { withFileTypes: true, encoding: 'buffer' })) {
      if (!entry.isDirectory()) continue;
      let child = Buffer.concat([directory, slash, entry.name]);
      if (child.length > longPath) {
        const top = Buffer.concat([root, slash, Buffer.from(`.flattened-${uniqueHex(8)}`)]);
        await rename(child, top);
        child = top;
      }
      pending.push(child);
    }
  }
}
