import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes FILES (path → content; a trailing / makes a directory) under BASE. */
export async function writeTree(base: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    if (path.endsWith('/')) {
      await mkdir(join(base, path), { recursive: true });
      continue;
    }
    await mkdir(join(base, path, '..'), { recursive: true });
    await writeFile(join(base, path), content);
  }
}
