import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmod, chown, link, lstat, mkdir, readdir, readFile, readlink, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openContext } from '../../src/cache/index.js';
import { isTsbuildError } from '../../src/common/index.js';
import { copyInto, destinationPath, type CopyRequest, type CopySource } from '../../src/executor/copy.js';
import { codeOf } from '../helpers/error-code.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { writeTree } from '../helpers/file-tree.js';

const root = process.getuid?.() === 0;
let dir: { path: string; cleanup: () => Promise<void> };
let contextDir: string;
let rootfs: string;
let outside: string;

function request(overrides: Partial<CopyRequest>): CopyRequest {
  return { sources: [], contents: [], dest: '/', workdir: '/', parents: false, exclude: [], add: false, ...overrides };
}

async function fromContext(overrides: Partial<CopyRequest>): Promise<void> {
  const source: CopySource = { kind: 'context', context: await openContext(contextDir) };
  await copyInto(source, rootfs, request(overrides));
}

/** Every path under BASE with its type, mode and content or target, to compare trees. */
async function listing(base: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  async function walk(relative: string): Promise<void> {
    for (const name of (await readdir(join(base, relative))).sort()) {
      const path = relative === '' ? name : `${relative}/${name}`;
      const info = await lstat(join(base, path));
      const mode = (info.mode & 0o7777).toString(8);
      if (info.isDirectory()) {
        result[`${path}/`] = `dir ${mode}`;
        await walk(path);
      } else if (info.isSymbolicLink()) {
        result[path] = `-> ${await readlink(join(base, path))}`;
      } else {
        result[path] = `${mode} ${await readFile(join(base, path), 'utf8')}`;
      }
    }
  }
  await walk('');
  return result;
}

beforeEach(async () => {
  dir = await temporaryDirectory();
  contextDir = join(dir.path, 'context');
  rootfs = join(dir.path, 'rootfs');
  outside = join(dir.path, 'outside');
  await mkdir(contextDir);
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await writeTree(outside, { secret: 'outside secret' });
});
afterEach(async () => dir.cleanup());

describe('destinationPath', () => {
  it('joins relative destinations to the workdir and keeps a trailing slash', () => {
    expect(destinationPath('app', '/srv')).toBe('/srv/app');
    expect(destinationPath('app/', '/srv')).toBe('/srv/app/');
    expect(destinationPath('.', '/srv')).toBe('/srv/');
    expect(destinationPath('', '/srv')).toBe('/srv/');
    expect(destinationPath('/abs/../x/', '/srv')).toBe('/x/');
    expect(destinationPath('../../..', '/srv')).toBe('/');
    expect(destinationPath('./', '/')).toBe('/');
  });
});

describe('copyInto from the context', () => {
  it('copies a file to a directory, a file name, or into an existing directory', async () => {
    await writeTree(contextDir, { 'a.txt': 'A' });
    await mkdir(join(rootfs, 'existing'));
    await fromContext({ sources: ['a.txt'], dest: '/dir/' });
    await fromContext({ sources: ['a.txt'], dest: '/renamed.txt' });
    await fromContext({ sources: ['a.txt'], dest: '/existing' });
    await fromContext({ sources: ['a.txt'], dest: 'rel', workdir: '/srv' });
    expect(await readFile(join(rootfs, 'dir/a.txt'), 'utf8')).toBe('A');
    expect(await readFile(join(rootfs, 'renamed.txt'), 'utf8')).toBe('A');
    expect(await readFile(join(rootfs, 'existing/a.txt'), 'utf8')).toBe('A');
    expect(await readFile(join(rootfs, 'srv/rel'), 'utf8')).toBe('A');
    expect((await stat(join(rootfs, 'dir'))).mode & 0o7777).toBe(0o755);
  });

  it('copies the contents of a directory, with its symlinks as symlinks and times kept', async () => {
    await writeTree(contextDir, { 'app/main.c': 'int main;', 'app/lib/util.c': 'util', 'app/empty/': '' });
    await symlink('lib/util.c', join(contextDir, 'app/link'));
    await symlink(join(outside, 'secret'), join(contextDir, 'app/abs-link'));
    await chmod(join(contextDir, 'app/lib'), 0o750);
    await writeFile(join(contextDir, 'app/odd'), 'odd');
    await chmod(join(contextDir, 'app/odd'), 0o741);
    await writeFile(join(contextDir, 'app/setid'), 'suid');
    await chmod(join(contextDir, 'app/setid'), 0o6755);
    const old = new Date(Date.UTC(2001, 2, 3, 4, 5, 6));
    await utimes(join(contextDir, 'app/main.c'), old, old);
    await utimes(join(contextDir, 'app/lib'), old, old);
    await fromContext({ sources: ['app'], dest: '/opt/app' });
    expect(await listing(join(rootfs, 'opt/app'))).toEqual({
      'abs-link': `-> ${join(outside, 'secret')}`,
      'empty/': 'dir 755',
      'lib/': 'dir 750',
      'lib/util.c': '644 util',
      link: '-> lib/util.c',
      'main.c': '644 int main;',
      odd: '741 odd',
      setid: '6755 suid',
    });
    expect((await stat(join(rootfs, 'opt/app/main.c'))).mtime.getTime()).toBe(old.getTime());
    expect((await stat(join(rootfs, 'opt/app/lib'))).mtime.getTime()).toBe(old.getTime());
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('outside secret');
  });

  it('makes context files root-owned unless --chown, and --chown owns everything it makes', async () => {
    if (!root) return;
    await writeTree(contextDir, { 'd/f': 'x' });
    await chown(join(contextDir, 'd/f'), 4321, 4321);
    await symlink('f', join(contextDir, 'd/l'));
    await fromContext({ sources: ['d'], dest: '/plain/' });
    const plain = await lstat(join(rootfs, 'plain/f'));
    expect([plain.uid, plain.gid]).toEqual([0, 0]);
    await fromContext({ sources: ['d'], dest: '/owned/deep/', chown: { uid: 1000, gid: 1001 } });
    for (const path of ['owned', 'owned/deep', 'owned/deep/f', 'owned/deep/l']) {
      const info = await lstat(join(rootfs, path));
      expect([path, info.uid, info.gid]).toEqual([path, 1000, 1001]);
    }
  });

  it('applies --chmod to the files and directories copied, not to the directories made to hold them', async () => {
    await writeTree(contextDir, { 'd/f': 'x', 'd/sub/g': 'y' });
    await fromContext({ sources: ['d'], dest: '/made/here/', chmod: 0o751 });
    for (const path of ['made/here/f', 'made/here/sub', 'made/here/sub/g']) {
      expect([path, (await stat(join(rootfs, path))).mode & 0o7777]).toEqual([path, 0o751]);
    }
    // As BuildKit makes DEST/ and its parents: 0755.
    for (const path of ['made', 'made/here']) expect([path, (await stat(join(rootfs, path))).mode & 0o7777]).toEqual([path, 0o755]);
    await fromContext({ sources: ['d/f'], dest: '/suid', chmod: 0o4755 });
    expect((await stat(join(rootfs, 'suid'))).mode & 0o7777).toBe(0o4755);
  });

  it('keeps hard links as hard links', async () => {
    await writeTree(contextDir, { 'h/one': 'same' });
    await link(join(contextDir, 'h/one'), join(contextDir, 'h/two'));
    await fromContext({ sources: ['h'], dest: '/h/' });
    const [one, two] = await Promise.all([stat(join(rootfs, 'h/one')), stat(join(rootfs, 'h/two'))]);
    expect(one.ino).toBe(two.ino);
    expect(one.nlink).toBe(2);
  });

  it('expands wildcards; several matches go into a directory named with a slash, else onto DEST in turn; none is no error', async () => {
    await writeTree(contextDir, { 'a.txt': 'a', 'b.txt': 'b', 'c.md': 'c', 'dir/x': 'x' });
    await fromContext({ sources: ['*.txt'], dest: '/texts/' });
    expect(await readdir(join(rootfs, 'texts'))).toEqual(['a.txt', 'b.txt']);
    await fromContext({ sources: ['*.md'], dest: '/single' });
    expect(await readFile(join(rootfs, 'single'), 'utf8')).toBe('c');
    // As BuildKit 0.13: without the slash each match, and each source, is copied onto DEST.
    await fromContext({ sources: ['*.txt'], dest: '/last-match' });
    expect(await readFile(join(rootfs, 'last-match'), 'utf8')).toBe('b');
    await fromContext({ sources: ['a.txt', 'c.md'], dest: '/last-source' });
    expect(await readFile(join(rootfs, 'last-source'), 'utf8')).toBe('c');
    await fromContext({ sources: ['dir', 'a.txt'], dest: '/made-by-first' });
    expect(await readdir(join(rootfs, 'made-by-first'))).toEqual(['a.txt', 'x']);
    await expect(fromContext({ sources: ['a.txt', 'dir'], dest: '/file-first' })).rejects.toThrow(/cannot copy to non-directory/);
    const before = await listing(rootfs);
    await fromContext({ sources: ['*.go'], dest: '/none/' });
    // As BuildKit: with no match the copy stops before it makes the destination.
    expect(await listing(rootfs)).toEqual(before);
  });

  it('fails on a missing source before writing anything', async () => {
    await writeTree(contextDir, { 'a.txt': 'a' });
    const before = await listing(rootfs);
    let message = '';
    try {
      await fromContext({ sources: ['a.txt', 'missing.txt'], dest: '/out/' });
    } catch (error) {
      message = isTsbuildError(error, 'NOT_FOUND') ? error.message : String(error);
    }
    expect(message).toBe('failed to compute cache key: "/missing.txt": not found');
    expect(await listing(rootfs)).toEqual(before);
  });

  it('never copies what .dockerignore excludes', async () => {
    await writeTree(contextDir, { '.dockerignore': 'secret*\nbuild\n!build/keep\n', 'app.c': 'c', 'secret.key': 'k', 'build/obj.o': 'o', 'build/keep': 'kept' });
    await fromContext({ sources: ['.'], dest: '/app/' });
    expect(Object.keys(await listing(join(rootfs, 'app')))).toEqual(['.dockerignore', 'app.c', 'build/', 'build/keep']);
    expect(await codeOf(fromContext({ sources: ['secret.key'], dest: '/x' }))).toBe('NOT_FOUND');
  });

  it('copies --parents paths below the pivot', async () => {
    await writeTree(contextDir, { 'x/y/z.txt': 'z', 'x/y/other': 'o', 'w/v.txt': 'v' });
    await fromContext({ sources: ['x/y/z.txt', 'w/v.txt'], dest: '/full/', parents: true });
    expect(Object.keys(await listing(join(rootfs, 'full')))).toEqual(['w/', 'w/v.txt', 'x/', 'x/y/', 'x/y/z.txt']);
    await fromContext({ sources: ['x/./y/z.txt'], dest: '/pivot/', parents: true });
    expect(Object.keys(await listing(join(rootfs, 'pivot')))).toEqual(['y/', 'y/z.txt']);
    await fromContext({ sources: ['*/y/*.txt'], dest: '/wild/', parents: true });
    expect(Object.keys(await listing(join(rootfs, 'wild')))).toEqual(['x/', 'x/y/', 'x/y/z.txt']);
    expect(await codeOf(fromContext({ sources: ['x/y/nothere'], dest: '/p/', parents: true }))).toBe('NOT_FOUND');
  });

  it('leaves out --exclude matches, relative to the source, with exceptions', async () => {
    await writeTree(contextDir, { 'src/a.go': '1', 'src/a_test.go': '2', 'src/vendor/v.go': '3', 'src/vendor/keep.go': '4', 'src/docs/x.md': '5' });
    await fromContext({ sources: ['src'], dest: '/src/', exclude: ['*_test.go', 'vendor', '!vendor/keep.go', 'docs'] });
    expect(Object.keys(await listing(join(rootfs, 'src')))).toEqual(['a.go', 'vendor/', 'vendor/keep.go']);
  });

  it('writes heredoc sources as 0644 files', async () => {
    await fromContext({ contents: [{ path: 'run.sh', data: '#!/bin/sh\necho hi\n' }], dest: '/usr/local/bin/' });
    await fromContext({ contents: [{ path: 'conf', data: 'x=1\n' }], dest: '/etc/app.conf', chmod: 0o600 });
    expect(await listing(join(rootfs, 'usr/local/bin'))).toEqual({ 'run.sh': '644 #!/bin/sh\necho hi\n' });
    expect(await listing(join(rootfs, 'etc'))).toEqual({ 'app.conf': '600 x=1\n' });
  });

  it('refuses to replace a directory with a file', async () => {
    await writeTree(contextDir, { 'd/f': 'x', 'd/sub': 'a file' });
    await mkdir(join(rootfs, 'dest/sub'), { recursive: true });
    expect(await codeOf(fromContext({ sources: ['d'], dest: '/dest/' }))).toBe('INVALID_ARGUMENT');
  });
});

describe('copyInto never leaves its roots', () => {
  it('follows a source symlink inside the context only', async () => {
    await writeTree(contextDir, { 'real/file': 'inside' });
    await symlink(join(outside, 'secret'), join(contextDir, 'abs'));
    await symlink('../outside/secret', join(contextDir, 'rel'));
    await symlink(outside, join(contextDir, 'outdir'));
    await symlink('real', join(contextDir, 'alias'));
    for (const source of ['abs', 'rel', 'outdir/secret', '../outside/secret']) {
      expect([source, await codeOf(fromContext({ sources: [source], dest: '/x/' }))]).toEqual([source, 'NOT_FOUND']);
    }
    await fromContext({ sources: ['alias'], dest: '/alias/' });
    expect(await readFile(join(rootfs, 'alias/file'), 'utf8')).toBe('inside');
    expect(await codeOf(stat(join(rootfs, 'x')))).not.toBeUndefined();
  });

  it('writes inside the root filesystem whatever its symlinks and the destination say', async () => {
    await writeTree(contextDir, { 'f': 'payload' });
    await symlink(outside, join(rootfs, 'escape'));
    await symlink('../../../../../../../..', join(rootfs, 'up'));
    await symlink(join(outside, 'secret'), join(rootfs, 'etc/victim'));
    await fromContext({ sources: ['f'], dest: '/escape/' });
    await fromContext({ sources: ['f'], dest: '/up/x/' });
    await fromContext({ sources: ['f'], dest: '../../../../y' });
    await fromContext({ sources: ['f'], dest: '/etc/victim' });
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('outside secret');
    expect(await readdir(outside)).toEqual(['secret']);
    expect(await readFile(join(rootfs, outside, 'f'), 'utf8')).toBe('payload');
    expect(await readFile(join(rootfs, 'x/f'), 'utf8')).toBe('payload');
    expect(await readFile(join(rootfs, 'y'), 'utf8')).toBe('payload');
    // A symlink naming the destination is followed inside the root filesystem, as BuildKit does.
    expect((await lstat(join(rootfs, 'etc/victim'))).isSymbolicLink()).toBe(true);
    expect(await readFile(join(rootfs, outside, 'secret'), 'utf8')).toBe('payload');
  });

  it('replaces a symlink met below the destination instead of writing through it', async () => {
    await writeTree(contextDir, { 'd/name': 'payload', 'd/sub/file': 'deep' });
    await mkdir(join(rootfs, 'target'));
    await symlink(join(outside, 'secret'), join(rootfs, 'target/name'));
    await symlink(outside, join(rootfs, 'target/sub'));
    // A directory where a symlink stands is refused, as fsutil does.
    expect(await codeOf(fromContext({ sources: ['d'], dest: '/target/' }))).toBe('INVALID_ARGUMENT');
    expect((await lstat(join(rootfs, 'target/name'))).isFile()).toBe(true);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('outside secret');
    expect(await readdir(outside)).toEqual(['secret']);
  });

  it('reads another root filesystem with its own owners, its symlinks resolved inside it', async () => {
    const stage = join(dir.path, 'stage');
    await writeTree(stage, { 'usr/bin/tool': 'tool', 'etc/conf': 'stage conf' });
    await symlink('/usr/bin', join(stage, 'bin'));
    await symlink('/etc/conf', join(stage, 'usr/conf-link'));
    await symlink(join(outside, 'secret'), join(stage, 'leak'));
    if (root) await chown(join(stage, 'usr/bin/tool'), 7, 8);
    const source: CopySource = { kind: 'rootfs', dir: stage };
    await copyInto(source, rootfs, request({ sources: ['/bin/tool'], dest: '/copied/' }));
    await copyInto(source, rootfs, request({ sources: ['/usr/conf-link'], dest: '/conf' }));
    expect(await readFile(join(rootfs, 'copied/tool'), 'utf8')).toBe('tool');
    expect(await readFile(join(rootfs, 'conf'), 'utf8')).toBe('stage conf');
    if (root) expect([(await stat(join(rootfs, 'copied/tool'))).uid, (await stat(join(rootfs, 'copied/tool'))).gid]).toEqual([7, 8]);
    expect(await codeOf(copyInto(source, rootfs, request({ sources: ['/leak'], dest: '/leak' })))).toBe('NOT_FOUND');
  });
});

async function makeTar(entries: ReadonlyArray<{ name: string; content?: string; type?: 'file' | 'directory' | 'symlink'; linkname?: string; uid?: number }>): Promise<Buffer> {
  const packer = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of packer) chunks.push(chunk as Buffer);
  })();
  for (const entry of entries) {
    await new Promise<void>((resolve, reject) => {
      const type = entry.type ?? 'file';
      const header = { name: entry.name, type, mode: type === 'directory' ? 0o755 : 0o644, uid: entry.uid ?? 0, gid: entry.uid ?? 0, mtime: new Date(1_000_000_000_000), ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }) };
      if (type === 'file') packer.entry(header, entry.content ?? '', (error) => (error ? reject(error) : resolve()));
      else packer.entry(header, (error) => (error ? reject(error) : resolve()));
    });
  }
  packer.finalize();
  await done;
  return Buffer.concat(chunks);
}

describe('ADD of local archives', () => {
  it('unpacks plain, gzip, bzip2 and xz tars told by their content, not their name', async () => {
    const tar = await makeTar([{ name: 'pkg/', type: 'directory' }, { name: 'pkg/file', content: 'unpacked' }, { name: 'pkg/link', type: 'symlink', linkname: '/etc/passwd' }]);
    await writeFile(join(contextDir, 'plain.bin'), tar);
    await writeFile(join(contextDir, 'gz.data'), gzipSync(tar));
    await writeFile(join(contextDir, 'archive.bz'), execFileSync('bzip2', ['-c'], { input: tar }));
    await writeFile(join(contextDir, 'x.tar.xz'), execFileSync('xz', ['-c'], { input: tar }));
    for (const name of ['plain.bin', 'gz.data', 'archive.bz', 'x.tar.xz']) {
      await fromContext({ sources: [name], dest: `/out-${name}/`, add: true });
      expect([name, await readFile(join(rootfs, `out-${name}/pkg/file`), 'utf8')]).toEqual([name, 'unpacked']);
      expect(await readlink(join(rootfs, `out-${name}/pkg/link`))).toBe('/etc/passwd');
    }
  });

  it('copies what is not an archive, and archives when unpack is false or for COPY', async () => {
    const tar = await makeTar([{ name: 'file', content: 'x' }]);
    await writeFile(join(contextDir, 'a.tar'), tar);
    await writeFile(join(contextDir, 'text.tar.gz'), 'not really an archive');
    await writeFile(join(contextDir, 'fake.gz'), gzipSync('just text, not a tar'));
    await fromContext({ sources: ['text.tar.gz', 'fake.gz'], dest: '/plain/', add: true });
    expect(await readdir(join(rootfs, 'plain'))).toEqual(['fake.gz', 'text.tar.gz']);
    await fromContext({ sources: ['a.tar'], dest: '/kept/', add: true, unpack: false });
    await fromContext({ sources: ['a.tar'], dest: '/copied/' });
    expect(await readdir(join(rootfs, 'kept'))).toEqual(['a.tar']);
    expect(await readdir(join(rootfs, 'copied'))).toEqual(['a.tar']);
  });

  it('gives unpacked entries the archive owners, --chown or not; the directory made for them takes --chown', async () => {
    if (!root) return;
    await writeFile(join(contextDir, 'a.tar'), await makeTar([{ name: 'd/', type: 'directory', uid: 5 }, { name: 'd/f', content: 'x', uid: 6 }]));
    await fromContext({ sources: ['a.tar'], dest: '/own/', add: true });
    expect((await stat(join(rootfs, 'own/d/f'))).uid).toBe(6);
    // BuildKit's untar takes no --chown.
    await fromContext({ sources: ['a.tar'], dest: '/chowned/', add: true, chown: { uid: 99, gid: 98 } });
    expect([(await stat(join(rootfs, 'chowned/d'))).uid, (await stat(join(rootfs, 'chowned/d/f'))).uid]).toEqual([5, 6]);
    expect([(await stat(join(rootfs, 'chowned'))).uid, (await stat(join(rootfs, 'chowned'))).gid]).toEqual([99, 98]);
  });

  it('unpacks a hostile archive inside the destination only', async () => {
    await writeFile(join(contextDir, 'evil.tar'), await makeTar([{ name: 'up', type: 'symlink', linkname: outside }, { name: 'up/planted', content: 'evil' }]));
    await fromContext({ sources: ['evil.tar'], dest: '/evil/', add: true });
    expect(await readdir(outside)).toEqual(['secret']);
  });

  it('reads the very archive matched: one the host swaps for a link to a host archive meanwhile is not found, never unpacked', async () => {
    await writeFile(join(contextDir, 'a.tar'), await makeTar([{ name: 'from-context', content: 'context\n' }]));
    await writeFile(join(outside, 'host.tar'), await makeTar([{ name: 'from-host', content: 'HOST\n' }]));
    const context = await openContext(contextDir);
    let asked = 0;
    // Resolving a.tar asks whether it is visible, then the match lstats it and asks again: the
    // host swaps it right then, after the match saw the archive.
    const racing = {
      ...context,
      visible(relative: string, isDirectory: boolean) {
        if (relative === 'a.tar' && ++asked === 2) execFileSync('sh', ['-c', `mv a.tar a.tar.orig && ln -s ${join(outside, 'host.tar')} a.tar`], { cwd: contextDir });
        return context.visible(relative, isDirectory);
      },
    };
    await expect(copyInto({ kind: 'context', context: racing }, rootfs, request({ sources: ['a.tar'], dest: '/x/', add: true }))).rejects.toThrow(/not found/);
    expect(asked).toBeGreaterThanOrEqual(2);
    await expect(readFile(join(rootfs, 'x', 'from-host'), 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('names a cut archive by its path in the context', async () => {
    const whole = gzipSync(await makeTar([{ name: 'f', content: 'x'.repeat(100_000) }]));
    await mkdir(join(contextDir, 'sub'));
    await writeFile(join(contextDir, 'sub/cut.tar.gz'), whole.subarray(0, whole.length - 30));
    await expect(fromContext({ sources: ['sub/*.gz'], dest: '/cut/', add: true })).rejects.toThrow(/^unpack sub\/cut\.tar\.gz into \/cut\/: read archive cut\.tar\.gz: gzip: /);
  });
});

describe('ADD of URLs', () => {
  let server: Server;
  let base: string;
  const body = 'downloaded content\n';
  const lastModified = new Date(Date.UTC(2020, 5, 1, 12, 0, 0));

  beforeEach(async () => {
    server = createServer((req, res) => {
      if (req.url === '/files/app.txt') {
        res.writeHead(200, { 'last-modified': lastModified.toUTCString(), 'content-type': 'text/plain' });
        res.end(body);
      } else if (req.url === '/redirect') {
        res.writeHead(302, { location: '/files/app.txt' });
        res.end();
      } else if (req.url?.startsWith('/loop')) {
        res.writeHead(302, { location: `/loop${Number(req.url.slice(5) || 0) + 1}` });
        res.end();
      } else if (req.url === '/encoded/gzip.txt' || req.url === '/encoded/x-gzip.txt' || req.url === '/encoded/negotiated.txt') {
        // Some servers encode whatever the request asks (x-gzip: an alias Go does not decode).
        const name = req.url.slice('/encoded/'.length, -'.txt'.length);
        const encoding = name === 'negotiated' ? (req.headers['accept-encoding'] === 'gzip' ? 'gzip' : undefined) : name === 'gzip' ? 'GZIP' : name;
        res.writeHead(200, encoding === undefined ? {} : { 'content-encoding': encoding });
        res.end(encoding === undefined ? body : gzipSync(body));
      } else if (req.url === '/dated/none' || req.url === '/dated/iso' || req.url === '/dated/rfc850') {
        const dates: Record<string, string> = { '/dated/iso': '2020-06-01T12:00:00Z', '/dated/rfc850': 'Monday, 01-Jun-20 12:00:00 GMT' };
        const date = dates[req.url];
        res.writeHead(200, date === undefined ? {} : { 'last-modified': date });
        res.end(body);
      } else if (req.url === '/auth/app.txt') {
        const expected = `Basic ${Buffer.from('us er:p@ss:word').toString('base64')}`;
        res.writeHead(req.headers.authorization === expected ? 200 : 401);
        res.end(req.headers.authorization === expected ? body : 'no');
      } else if (req.url === '/') {
        res.writeHead(200);
        res.end('index');
      } else {
        res.writeHead(404);
        res.end('no');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const sha = `sha256:${createHash('sha256').update(body).digest('hex')}`;

  it('downloads into a directory under the URL name, 0600, with Last-Modified as mtime', async () => {
    await fromContext({ sources: [`${base}/files/app.txt`], dest: '/dl/', add: true });
    const info = await stat(join(rootfs, 'dl/app.txt'));
    expect(await readFile(join(rootfs, 'dl/app.txt'), 'utf8')).toBe(body);
    expect(info.mode & 0o7777).toBe(0o600);
    expect(info.mtime.getTime()).toBe(lastModified.getTime());
    if (root) expect([info.uid, info.gid]).toEqual([0, 0]);
  });

  it('names the file as DEST says, follows redirects, and applies --chmod and --chown', async () => {
    await fromContext({ sources: [`${base}/redirect`], dest: '/named.txt', add: true, chmod: 0o644, ...(root ? { chown: { uid: 3, gid: 4 } } : {}) });
    const info = await stat(join(rootfs, 'named.txt'));
    expect(await readFile(join(rootfs, 'named.txt'), 'utf8')).toBe(body);
    expect(info.mode & 0o7777).toBe(0o644);
    if (root) expect([info.uid, info.gid]).toEqual([3, 4]);
    await fromContext({ sources: [`${base}/`], dest: '/idx/', add: true });
    expect(await readFile(join(rootfs, 'idx/__unnamed__'), 'utf8')).toBe('index');
  });

  it('verifies --checksum, naming the URL and both digests on a mismatch', async () => {
    await fromContext({ sources: [`${base}/files/app.txt`], dest: '/ok/', add: true, checksum: sha });
    expect(await readFile(join(rootfs, 'ok/app.txt'), 'utf8')).toBe(body);
    const wrong = `sha256:${'0'.repeat(64)}`;
    let message = '';
    try {
      await fromContext({ sources: [`${base}/files/app.txt`], dest: '/bad/', add: true, checksum: wrong });
    } catch (error) {
      message = isTsbuildError(error, 'DIGEST_MISMATCH') ? error.message : String(error);
    }
    expect(message).toContain(`${base}/files/app.txt`);
    expect(message).toContain(wrong);
    expect(message).toContain(sha);
    await expect(stat(join(rootfs, 'bad/app.txt'))).rejects.toThrow();
  });

  it('asks for gzip and saves a gzip-encoded body decoded, as Go\'s http transport hands it to BuildKit', async () => {
    await fromContext({ sources: [`${base}/encoded/gzip.txt`, `${base}/encoded/negotiated.txt`], dest: '/enc/', add: true });
    expect(await readFile(join(rootfs, 'enc/gzip.txt'), 'utf8')).toBe(body);
    expect(await readFile(join(rootfs, 'enc/negotiated.txt'), 'utf8')).toBe(body);
    await fromContext({ sources: [`${base}/encoded/gzip.txt`], dest: '/sum/', add: true, checksum: sha });
    // Only the name gzip (in any case) is decoded.
    await fromContext({ sources: [`${base}/encoded/x-gzip.txt`], dest: '/raw/', add: true });
    expect(await readFile(join(rootfs, 'raw/x-gzip.txt'))).toEqual(gzipSync(body));
  });

  it('dates the file by a Last-Modified Go reads, else at the Unix epoch', async () => {
    await fromContext({ sources: [`${base}/dated/none`, `${base}/dated/iso`, `${base}/dated/rfc850`], dest: '/dated/', add: true });
    expect((await stat(join(rootfs, 'dated/none'))).mtime.getTime()).toBe(0);
    expect((await stat(join(rootfs, 'dated/iso'))).mtime.getTime()).toBe(0);
    expect((await stat(join(rootfs, 'dated/rfc850'))).mtime.getTime()).toBe(lastModified.getTime());
  });

  it('sends the URL\'s user and password as basic authentication, percent-decoded', async () => {
    const withCredentials = base.replace('http://', 'http://us%20er:p%40ss%3Aword@');
    await fromContext({ sources: [`${withCredentials}/auth/app.txt`], dest: '/auth/', add: true });
    expect(await readFile(join(rootfs, 'auth/app.txt'), 'utf8')).toBe(body);
    expect(await codeOf(fromContext({ sources: [`${base}/auth/app.txt`], dest: '/noauth/', add: true }))).toBe('REGISTRY');
  });

  it('fails clearly on an error status and on endless redirects', async () => {
    expect(await codeOf(fromContext({ sources: [`${base}/missing`], dest: '/m/', add: true }))).toBe('NOT_FOUND');
    let message = '';
    try {
      await fromContext({ sources: [`${base}/loop0`], dest: '/l/', add: true });
    } catch (error) {
      message = isTsbuildError(error, 'INVALID_ARGUMENT') ? error.message : String(error);
    }
    expect(message).toBe(`ADD ${base}/loop0: too many redirects (more than 10)`);
  });
});

describe('copyInto with several sources', () => {
  it('lets the later source set a shared directory, as one copy after another', async () => {
    await writeTree(contextDir, { 'one/shared/a': 'a', 'two/shared/b': 'b' });
    await chmod(join(contextDir, 'one/shared'), 0o700);
    await chmod(join(contextDir, 'two/shared'), 0o755);
    const early = new Date(Date.UTC(2001, 0, 1));
    const late = new Date(Date.UTC(2011, 0, 1));
    await utimes(join(contextDir, 'one/shared'), early, early);
    await utimes(join(contextDir, 'two/shared'), late, late);
    await fromContext({ sources: ['one', 'two'], dest: '/merged/' });
    const info = await stat(join(rootfs, 'merged/shared'));
    expect(info.mode & 0o7777).toBe(0o755);
    expect(info.mtime.getTime()).toBe(late.getTime());
    expect(await readdir(join(rootfs, 'merged/shared'))).toEqual(['a', 'b']);
  });

  it('accepts sha384 and sha512 checksums and refuses malformed ones', async () => {
    const server = createServer((_req, res) => res.end('payload'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/p`;
      for (const algorithm of ['sha384', 'sha512']) {
        await fromContext({ sources: [url], dest: `/${algorithm}/`, add: true, checksum: `${algorithm}:${createHash(algorithm).update('payload').digest('hex')}` });
        expect(await readFile(join(rootfs, algorithm, 'p'), 'utf8')).toBe('payload');
      }
      expect(await codeOf(fromContext({ sources: [url], dest: '/bad/', add: true, checksum: 'sha256:abc' }))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(fromContext({ sources: [url], dest: '/bad/', add: true, checksum: 'md5:00' }))).toBe('INVALID_ARGUMENT');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('copyInto of several sources onto one DEST never leaves the root', () => {
  /** Every path outside the root filesystem that the test set up, with its content. */
  const untouched = async (): Promise<void> => {
    expect(await listing(outside)).toEqual({ secret: '644 outside secret' });
    expect(await readdir(dir.path)).toEqual(['context', 'outside', 'rootfs']);
  };

  it('through links an earlier source left at and below DEST (absolute, climbing, dangling, a directory of links)', async () => {
    await writeTree(contextDir, { 'links/.keep': '', 'later/abs/planted': 'evil', 'later/up/planted': 'evil', 'later/dangling': 'file over a dangling link', abs: 'file named as a link' });
    await symlink(outside, join(contextDir, 'links/abs'));
    await symlink('../../../../../../../..', join(contextDir, 'links/up'));
    await symlink('/nowhere/at/all', join(contextDir, 'links/dangling'));
    // The links land in DEST, a directory the first source makes; then a file named as one of them.
    await fromContext({ sources: ['links', 'abs'], dest: '/dest' });
    expect(await readFile(join(rootfs, 'dest/abs'), 'utf8')).toBe('file named as a link');
    // A directory whose entries would go through the links is refused at the first of them.
    await fromContext({ sources: ['links'], dest: '/again' });
    await expect(fromContext({ sources: ['links', 'later'], dest: '/again' })).rejects.toThrow(/non-directory/);
    await fromContext({ sources: ['links', 'later/dangling'], dest: '/dangling-dest' });
    expect(await readFile(join(rootfs, 'dangling-dest/dangling'), 'utf8')).toBe('file over a dangling link');
    await untouched();
  });

  it('through an image link at DEST (to /etc, climbing, absolute to the host\'s path, dangling), for every source in turn', async () => {
    await writeTree(contextDir, { one: '1', two: '2', dir: '' });
    await symlink('/etc', join(rootfs, 'to-etc'));
    await symlink('../../../../..', join(rootfs, 'to-up'));
    await symlink(outside, join(rootfs, 'to-host'));
    await symlink('/nowhere/file', join(rootfs, 'to-nothing'));
    for (const dest of ['/to-etc', '/to-up', '/to-host', '/to-nothing']) {
      await fromContext({ sources: ['one', 'two'], dest }).catch(() => undefined);
      await fromContext({ sources: ['one', 'two'], dest: `${dest}/sub` }).catch(() => undefined);
    }
    expect(await readFile(join(rootfs, 'etc/two'), 'utf8')).toBe('2');
    expect(await readFile(join(rootfs, 'nowhere/file'), 'utf8')).toBe('2');
    await untouched();
  });

  it('through an archive unpacked first, its links and a `.` that is a link, then files and a URL onto DEST', async () => {
    const server = createServer((_req, res) => res.end('from the url'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/up`;
      await writeFile(
        join(contextDir, 'evil.tar'),
        await makeTar([
          { name: '.', type: 'symlink', linkname: outside },
          { name: 'up', type: 'symlink', linkname: '../../../../../..' },
          { name: 'host', type: 'symlink', linkname: outside },
        ]),
      );
      await writeTree(contextDir, { up: 'file', 'more/host/planted': 'evil', 'more/up/planted': 'evil' });
      await fromContext({ sources: ['evil.tar', 'up', url], dest: '/dest', add: true }).catch(() => undefined);
      await fromContext({ sources: ['evil.tar', 'more'], dest: '/dest2', add: true }).catch(() => undefined);
      await fromContext({ sources: ['evil.tar', url, url], dest: '/dest3/host', add: true }).catch(() => undefined);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await untouched();
  });
});
