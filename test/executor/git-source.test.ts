/** Which ADD sources are git repositories, and what their URLs say, as BuildKit's dfgitutil.ParseGitRef reads them. */
import { describe, expect, it } from 'vitest';
import { parseGitRef, redactRemote } from '../../src/executor/git-source.js';
import { isTsbuildError } from '../../src/common/index.js';

describe('parseGitRef', () => {
  it('tells git sources from local paths and plain URLs', () => {
    const git = ['https://github.com/moby/buildkit.git', 'http://h/r.git#main', 'git@github.com:moby/buildkit.git', 'git://example.com/repo', 'ssh://git@h/r', 'https://example.com/r.git#main:sub', 'HTTPS://h/r.git'];
    const notGit = ['https://example.com/file.tar.gz', 'http://h/r.git.txt', 'github.com/moby/buildkit', './x.git', '../x', 'dir/file', 'ftp://h/r.git', 'file:///tmp/r.git', 'a:b'];
    expect(git.filter((source) => parseGitRef(source) === undefined)).toEqual([]);
    expect(notGit.filter((source) => parseGitRef(source) !== undefined)).toEqual([]);
  });

  it('reads #ref:subdir and the query options', () => {
    expect(parseGitRef('https://h/r.git#v1.0:/a/../b/')).toMatchObject({ remote: 'https://h/r.git', ref: 'v1.0', subdir: 'b' });
    expect(parseGitRef('git@h:o/r.git#main:docs')).toMatchObject({ remote: 'git@h:o/r.git', ref: 'main', subdir: 'docs' });
    expect(parseGitRef('https://h/r.git?tag=v2&subdir=x&keep-git-dir&mtime=commit&submodules=false')).toMatchObject({
      remote: 'https://h/r.git',
      ref: 'refs/tags/v2',
      subdir: 'x',
      keepGitDir: true,
      mtime: 'commit',
      submodules: false,
    });
    expect(parseGitRef('https://h/r.git?branch=dev&commit=abc')).toMatchObject({ ref: 'refs/heads/dev', checksum: 'abc' });
    expect(parseGitRef('https://h/r.git')).toMatchObject({ ref: '', subdir: '', keepGitDir: undefined, mtime: 'checkout', submodules: true });
  });

  it('refuses a malformed query on a git source', () => {
    for (const source of ['https://h/r.git?nope=1', 'https://h/r.git?ref=a#b', 'https://h/r.git?tag=a&branch=b', 'https://h/r.git?mtime=now', 'https://h/r.git?ref=', 'https://h/r.git?keep-git-dir=maybe']) {
      let code: string | undefined;
      try {
        parseGitRef(source);
      } catch (error) {
        code = isTsbuildError(error) ? error.code : 'other';
      }
      expect([source, code]).toEqual([source, 'INVALID_ARGUMENT']);
    }
  });

  it('redacts a password in a remote', () => {
    expect(redactRemote('https://user:secret@h/r.git')).toBe('https://user:xxxxx@h/r.git');
    expect(redactRemote('https://h/r.git')).toBe('https://h/r.git');
    // A raw @ in the password: the user info ends at the last one.
    expect(redactRemote('https://user:pa@ss@h/r.git')).toBe('https://user:xxxxx@h/r.git');
    expect(redactRemote('https://h:443/r.git#ref@x')).toBe('https://h:443/r.git#ref@x');
    expect(() => parseGitRef('https://user:pa@ss@h/r.git?bad=1')).toThrow('parse git source https://user:xxxxx@h/r.git?bad=1: unexpected query "bad"');
  });
});
