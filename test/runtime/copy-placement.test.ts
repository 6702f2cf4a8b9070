/**
 * `tsbuild cp`'s pure rules, moby's PrepareArchiveCopy and docker's splitCpArg: where a source
 * lands for each kind of destination, and which argument names a container.
 */
import { describe, expect, it } from 'vitest';
import { splitCopyArgument } from '../../src/cli/commands/containers.js';
import { copyPlacement } from '../../src/runtime/index.js';

const file = { base: 'a.txt', isDirectory: false };
const tree = { base: 'tree', isDirectory: true };
const contents = { base: '.', isDirectory: true };

describe('copyPlacement', () => {
  it('puts the source into an existing directory under its own name (or its contents, for /.)', () => {
    const existing = { path: '/x/dir', exists: true, isDirectory: true };
    expect(copyPlacement(file, existing)).toEqual({ directory: '/x/dir', topName: 'a.txt' });
    expect(copyPlacement(tree, existing)).toEqual({ directory: '/x/dir', topName: 'tree' });
    expect(copyPlacement(contents, existing)).toEqual({ directory: '/x/dir', topName: '.' });
  });

  it('replaces an existing file with a file, and refuses a directory there', () => {
    const existing = { path: '/x/f', exists: true, isDirectory: false };
    expect(copyPlacement(file, existing)).toEqual({ directory: '/x', topName: 'f' });
    expect(() => copyPlacement(tree, existing)).toThrow('cannot copy directory');
    expect(() => copyPlacement(contents, existing)).toThrow('cannot copy directory');
  });

  it('creates a missing destination under its own name, but never a directory from a file', () => {
    const missing = { path: '/x/new', exists: false, isDirectory: false };
    expect(copyPlacement(file, missing)).toEqual({ directory: '/x', topName: 'new' });
    expect(copyPlacement(tree, missing)).toEqual({ directory: '/x', topName: 'new' });
    expect(copyPlacement(contents, missing)).toEqual({ directory: '/x', topName: 'new' });
    expect(copyPlacement(tree, { ...missing, path: '/x/new/' })).toEqual({ directory: '/x', topName: 'new' });
    expect(() => copyPlacement(file, { ...missing, path: '/x/new/' })).toThrow('no such directory');
    expect(() => copyPlacement(file, { ...missing, path: '/x/new/.' })).toThrow('no such directory');
  });
});

describe('splitCopyArgument', () => {
  it('reads CONTAINER:PATH, and takes absolute paths, paths without a colon and ./ paths as local', () => {
    expect(splitCopyArgument('web:/etc/hosts')).toEqual({ container: 'web', path: '/etc/hosts' });
    expect(splitCopyArgument('web:etc')).toEqual({ container: 'web', path: 'etc' });
    expect(splitCopyArgument('web:')).toEqual({ container: 'web', path: '' });
    expect(splitCopyArgument('/tmp/a:b')).toEqual({ path: '/tmp/a:b' });
    expect(splitCopyArgument('./a:b')).toEqual({ path: './a:b' });
    expect(splitCopyArgument('file.txt')).toEqual({ path: 'file.txt' });
    expect(splitCopyArgument('-')).toEqual({ path: '-' });
  });
});
