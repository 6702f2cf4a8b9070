import { readFileSync, closeSync } from 'node:fs';
import { appendFile, link, lstat, mkdir, mkdtemp, readFile, realpath, rename, rm, symlink, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyWalkedContent, copyWalkedContentSync, descriptorPath, openWalked } from '../../src/executor/walked-file.js';
import { loadContextAddon } from '../../src/common/index.js';

const addon = loadContextAddon().module;

describe('a walked file opened for its copy', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'tsbuild-walked-')));
    await mkdir(join(dir, 'host'));
    await writeFile(join(dir, 'host', 'secret'), 'HOST SECRET\n');
    await mkdir(join(dir, 'context', 'sub'), { recursive: true });
    await writeFile(join(dir, 'context', 'sub', 'secret'), 'context\n');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const walked = async (path: string) => {
    const hostPath = join(dir, 'context', ...path.split('/'));
    return { path, hostPath, stats: await lstat(hostPath, { bigint: true }) };
  };

  it('is the file the walk saw, read through its descriptor', async () => {
    const descriptor = openWalked(await walked('sub/secret'));
    try {
      expect(readFileSync(descriptorPath(descriptor), 'utf8')).toBe('context\n');
    } finally {
      closeSync(descriptor);
    }
  });

  it('is refused when a directory on its path became a link to the host since the walk', async () => {
    const entry = await walked('sub/secret');
    await rename(join(dir, 'context', 'sub'), join(dir, 'context', 'sub.dir'));
    await symlink(join(dir, 'host'), join(dir, 'context', 'sub'));
    expect(() => openWalked(entry)).toThrow(/copy sub\/secret: not found/);
  });

  it('is refused when the walk itself listed a directory through a link to the host: the inode is then the host file\'s', async () => {
    await rename(join(dir, 'context', 'sub'), join(dir, 'context', 'sub.dir'));
    await symlink(join(dir, 'host'), join(dir, 'context', 'sub'));
    // What a walk reading sub while the link stood there records: the host file's own stats.
    const entry = await walked('sub/secret');
    expect(() => openWalked(entry)).toThrow(/copy sub\/secret: not found/);
  });

  it('is refused when the file itself became a link to a host file, or a hard link to one', async () => {
    const entry = await walked('sub/secret');
    await rm(entry.hostPath);
    await symlink(join(dir, 'host', 'secret'), entry.hostPath);
    expect(() => openWalked(entry)).toThrow(/not found/);
    await rm(entry.hostPath);
    await link(join(dir, 'host', 'secret'), entry.hostPath);
    expect(() => openWalked(entry)).toThrow(/not found/);
  });

  describe('copied', () => {
    const big = 9 * 1024 * 1024 + 5;
    const content = Buffer.alloc(big, 7);

    it('gets the content and mode the walk saw, what was appended since left out', async () => {
      await writeFile(join(dir, 'context', 'big'), content, { mode: 0o751 });
      const entry = await walked('big');
      await appendFile(entry.hostPath, 'appended later');
      const descriptor = openWalked(entry);
      try {
        await copyWalkedContent(descriptor, entry, join(dir, 'copy'));
        copyWalkedContentSync(descriptor, entry, join(dir, 'copy-sync'));
        // In the kernel, by tsbuild-context.node's copyRange.
        if (addon !== undefined) await copyWalkedContent(descriptor, entry, join(dir, 'copy-range'), undefined, addon);
      } finally {
        closeSync(descriptor);
      }
      for (const name of ['copy', 'copy-sync', ...(addon === undefined ? [] : ['copy-range'])]) {
        expect((await readFile(join(dir, name))).equals(content)).toBe(true);
        expect((await stat(join(dir, name))).mode & 0o7777).toBe(0o751);
      }
    });

    // Node's copyFile (libuv) copies the size it saw first and waits forever for the rest of a cut file.
    it('fails naming a file cut while it is copied, instead of waiting for bytes that will not come', { timeout: 20_000 }, async () => {
      await writeFile(join(dir, 'context', 'big'), content);
      const entry = await walked('big');
      await truncate(entry.hostPath, 1024 * 1024);
      const descriptor = openWalked(entry);
      try {
        await expect(copyWalkedContent(descriptor, entry, join(dir, 'copy'))).rejects.toThrow(/copy big: the file changed while it was copied: it ended after 1048576 of the 9437189 bytes/);
        expect(() => copyWalkedContentSync(descriptor, entry, join(dir, 'copy-sync'))).toThrow(/copy big: the file changed while it was copied/);
        if (addon !== undefined) await expect(copyWalkedContent(descriptor, entry, join(dir, 'copy-range'), undefined, addon)).rejects.toThrow(/copy big: the file changed while it was copied: it ended after 1048576 of the 9437189 bytes/);
      } finally {
        closeSync(descriptor);
      }
    });
  });
});
