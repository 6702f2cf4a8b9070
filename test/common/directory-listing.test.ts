import { execFileSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeFileName, fsAddon, fsPath, listDirectory, loadContextAddon, type EntryStats } from '../../src/common/index.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

const addon = loadContextAddon().module;
const fields = ['mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'ino', 'dev', 'atimeNs', 'mtimeNs', 'ctimeNs'] as const;
const kinds = ['isFile', 'isDirectory', 'isSymbolicLink', 'isFIFO', 'isSocket', 'isBlockDevice', 'isCharacterDevice'] as const;

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await temporaryDirectory();
});
afterEach(async () => {
  await dir.cleanup();
});

function record(stats: EntryStats): Record<string, unknown> {
  return Object.fromEntries([...fields.map((name) => [name, stats[name]]), ...kinds.map((name) => [name, stats[name]()])]);
}

describe.runIf(addon !== undefined)("tsbuild-context.node's listDirectory", () => {
  it("lists every entry with the lstat Node's BigInt stats give, names byte-exact", () => {
    const root = join(dir.path, 'tree');
    mkdirSync(join(root, 'sub'), { recursive: true });
    writeFileSync(join(root, 'file'), 'x'.repeat(1000));
    linkSync(join(root, 'file'), join(root, 'second name'));
    symlinkSync('../elsewhere', join(root, 'link'));
    execFileSync('mkfifo', [join(root, 'fifo')]);
    if (process.getuid?.() === 0) execFileSync('mknod', [join(root, 'null'), 'c', '1', '3']);
    writeFileSync(join(root, 'line\nbreak'), '');
    // A name that is not UTF-8, and one dated before 1970 to the nanosecond's sign.
    const stray = decodeFileName(Buffer.from([0x66, 0xff, 0x2e, 0x74]));
    writeFileSync(fsPath(join(root, stray)), 'stray');
    fsAddon().lutimens(join(root, 'sub'), -86_400_500_000_000n, -1_000_000_000_000_001n);

    const listing = listDirectory(addon!, root, lstatSync(root, { bigint: true }));
    if (!('entries' in listing)) throw new Error('the directory was reported changed');
    const names = listing.entries.map((entry) => entry.name).sort();
    const expected = ['fifo', 'file', 'line\nbreak', 'link', 'second name', 'sub', stray, ...(process.getuid?.() === 0 ? ['null'] : [])].sort();
    expect(names).toEqual(expected);
    for (const entry of listing.entries) {
      expect(record(entry.stats), entry.name).toEqual(record(lstatSync(fsPath(join(root, entry.name)), { bigint: true })));
    }
    expect(listing.entries.find((entry) => entry.name === 'sub')?.stats.mtimeNs).toBe(-1_000_000_000_000_001n);
  });

  it('reports the directory changed when its path leads elsewhere: gone, a link, another directory', () => {
    const root = join(dir.path, 'tree');
    mkdirSync(join(root, 'walked'), { recursive: true });
    mkdirSync(join(root, 'other'));
    const walked = lstatSync(join(root, 'walked'), { bigint: true });
    const path = join(root, 'walked');
    expect('entries' in listDirectory(addon!, path, walked)).toBe(true);
    renameSync(path, join(root, 'moved'));
    expect(listDirectory(addon!, path, walked)).toEqual({ changed: true });
    symlinkSync(join(root, 'moved'), path);
    expect(listDirectory(addon!, path, walked)).toEqual({ changed: true });
    rmSync(path);
    renameSync(join(root, 'other'), path);
    expect(listDirectory(addon!, path, walked)).toEqual({ changed: true });
    // The walked directory itself, wherever it went: listed.
    expect('entries' in listDirectory(addon!, join(root, 'moved'), walked)).toBe(true);
  });
});
