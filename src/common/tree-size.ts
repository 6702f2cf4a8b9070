import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsPath, readDirectoryNames } from './file-names.js';

/**
 * The bytes of the files under PATH (or of PATH itself when it is not a directory), as `du
 * --apparent-size` counts them; links are not followed, what cannot be read counts nothing.
 */
export async function treeSize(path: string): Promise<number> {
  const info = await lstat(fsPath(path)).catch(() => undefined);
  if (info === undefined) return 0;
  if (!info.isDirectory()) return info.size;
  let total = 0;
  let names: string[];
  try {
    // By the names' bytes: one that is not UTF-8 would not be found as text, and count nothing.
    names = readDirectoryNames(path);
  } catch {
    names = [];
  }
  for (const name of names) total += await treeSize(join(path, name));
  return total;
}
