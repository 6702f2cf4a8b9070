import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeTree } from '../../src/common/index.js';

/** A chain of LEVELS directories of 27-byte names under BASE, returned as the path of its bottom. */
function chain(base: string, from: number, to: number): string {
  let path = base;
  for (let level = from; level <= to; level++) path = join(path, `component-of-a-long-path-${String(level).padStart(3, '0')}`);
  return path;
}

describe('removeTree', () => {
  it('removes a tree whose paths exceed PATH_MAX, names that are not UTF-8 included', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tsbuild-remove-tree-'));
    try {
      const tree = join(root, 'tree');
      // Two halves of about 2 KB each, the second moved to the bottom of the first: 150 levels,
      // paths of about 4.2 KB, with no call given a path that long.
      const upper = chain(tree, 1, 75);
      const lower = chain(join(root, 'half'), 76, 150);
      await mkdir(upper, { recursive: true });
      await mkdir(lower, { recursive: true });
      await writeFile(join(lower, 'file'), 'bottom\n');
      await mkdir(Buffer.concat([Buffer.from(`${lower}/`), Buffer.from([0x6c, 0xe9, 0x74])]));
      await rename(join(root, 'half', 'component-of-a-long-path-076'), join(upper, 'component-of-a-long-path-076'));
      // What removeTree is for: Node's own removal fails on it.
      await expect(rm(tree, { recursive: true, force: true })).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
      await removeTree(tree);
      expect(existsSync(tree)).toBe(false);
      await removeTree(tree);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
