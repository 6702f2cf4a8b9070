import { readFileSync, closeSync } from 'node:fs';
import { link, lstat, mkdir, mkdtemp, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { descriptorPath, openWalked } from '../../src/executor/walked-file.js';

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
});
