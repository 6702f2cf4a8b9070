/**
 * Where a build's files come from beyond its context directory: git repositories (a server the
 * test starts on 127.0.0.1), URLs, named contexts (`--build-context`), a context tar on
 * standard input, and `--no-cache-filter`. Each build's image is read back.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync, spawn } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedImage } from '../../src/store/index.js';
import { buildFixture, cachedSteps, ranSteps, type BuildFixture, type LayerFile } from '../helpers/build.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';

/** Every entry of the layers a build added over busybox's one layer. */
async function addedFiles(fx: BuildFixture, image: ResolvedImage, from = 1): Promise<LayerFile[]> {
  const layers = await Promise.all(image.manifest.layers.map((layer) => fx.layerFiles(layer)));
  return layers.flatMap((files, layer) => (layer < from ? [] : files));
}

function byPath(files: readonly LayerFile[]): Map<string, LayerFile> {
  return new Map(files.map((file) => [file.path, file]));
}

function shape(file: LayerFile | undefined): [string, number, number, number] | undefined {
  return file === undefined ? undefined : [file.type, file.mode, file.uid, file.gid];
}

describe('build: sources', () => {
  let fx: BuildFixture;
  beforeAll(async () => {
    fx = await buildFixture();
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  describe('ADD of a git repository', () => {
    let server: GitServer;
    beforeAll(async () => {
      server = await startGitServer(join(fx.dir, 'git'));
    });
    afterAll(async () => {
      await server.close();
    });

    it('checks out a branch over http: 0644 and 0755 files owned by root, symlinks kept, no .git, checkout times', async () => {
      await server.commit('app', {
        'README.md': 'readme\n',
        'bin/run.sh': { mode: 0o755, content: '#!/bin/sh\necho run\n' },
        'lib/util.txt': 'util\n',
        'link-out': { symlink: '../../../etc/passwd' },
        'link-in': { symlink: 'lib/util.txt' },
      });
      const dir = await fx.context('git-http', { Dockerfile: `FROM busybox\nADD ${server.httpBase}/app.git /src\nADD ${server.httpBase}/app.git#main:lib /lib-only/\n` });
      const before = Math.floor(Date.now() / 1000) - 1;
      const result = await fx.build(['-t', 'git-http', dir]);
      expect(result.stderr).not.toContain('ERROR');
      expect(result.status).toBe(0);
      const after = Math.ceil(Date.now() / 1000) + 1;
      const paths = byPath(await addedFiles(fx, await fx.image('git-http')));
      expect(shape(paths.get('src'))).toEqual(['directory', 0o755, 0, 0]);
      expect(shape(paths.get('src/README.md'))).toEqual(['file', 0o644, 0, 0]);
      expect(paths.get('src/README.md')?.text).toBe('readme\n');
      expect(shape(paths.get('src/bin/run.sh'))).toEqual(['file', 0o755, 0, 0]);
      expect(shape(paths.get('src/bin'))).toEqual(['directory', 0o755, 0, 0]);
      expect(paths.get('src/link-out')).toMatchObject({ type: 'symlink', linkname: '../../../etc/passwd' });
      expect(paths.get('src/link-in')).toMatchObject({ type: 'symlink', linkname: 'lib/util.txt' });
      expect([...paths.keys()].filter((path) => path.includes('.git'))).toEqual([]);
      const mtime = paths.get('src/README.md')?.mtime ?? 0;
      expect(mtime).toBeGreaterThanOrEqual(before);
      expect(mtime).toBeLessThanOrEqual(after);
      expect(paths.get('lib-only/util.txt')?.text).toBe('util\n');
      expect(paths.has('lib-only/README.md')).toBe(false);
    });

    it('keys the step by the commit the ref names: the same commit hits without a fetch, a new one misses', async () => {
      await server.commit('cached', { 'v.txt': 'one\n' });
      const dir = await fx.context('git-cache', { Dockerfile: `FROM busybox\nADD ${server.httpBase}/cached.git#main /v/\nRUN cat /v/v.txt > /seen\n` });
      expect((await fx.build(['-t', 'git-cache', dir])).status).toBe(0);
      server.requests.length = 0;
      const same = await fx.build(['-t', 'git-cache', dir]);
      expect(same.status).toBe(0);
      expect(ranSteps(same.stderr)).toEqual([]);
      expect(cachedSteps(same.stderr)).toHaveLength(2);
      // Only the ref was listed: no pack was fetched.
      expect(server.requests.some((path) => path.endsWith('git-upload-pack'))).toBe(true);
      const packRequests = server.requests.filter((path) => path.endsWith('git-upload-pack')).length;
      expect(packRequests).toBe(1);

      await server.commit('cached', { 'v.txt': 'two\n' });
      const changed = await fx.build(['-t', 'git-cache', dir]);
      expect(changed.status).toBe(0);
      expect(ranSteps(changed.stderr)).toHaveLength(2);
      expect(byPath(await addedFiles(fx, await fx.image('git-cache'))).get('seen')?.text).toBe('two\n');
    });

    it('takes tags, annotated tags and full commits, keeps .git with --keep-git-dir, gives the commit time with ?mtime=commit', async () => {
      const first = await server.commit('refs', { 'f.txt': 'first\n' }, { tag: 'v1', annotatedTag: 'a1' });
      // A commit no ref points at any more: fetched by itself.
      const middle = await server.commit('refs', { 'f.txt': 'middle\n' });
      await server.commit('refs', { 'f.txt': 'second\n' });
      const commitTime = Number(execFileSync('git', ['log', '-1', '--format=%ct', first], { cwd: join(fx.dir, 'git', 'work', 'refs') }).toString().trim());
      const base = `${server.httpBase}/refs.git`;
      const dir = await fx.context('git-refs', {
        Dockerfile: [
          'FROM busybox',
          `ADD ${base}#v1 /tag/`,
          `ADD ${base}#a1 /annotated/`,
          `ADD ${base}#${first} /commit/`,
          `ADD ${base}#${middle} /middle/`,
          `ADD --keep-git-dir=true ${base}#main /kept/`,
          `ADD --keep-git-dir=true ${base}#v1 /kept-tag/`,
          `ADD ${base}?ref=v1&mtime=commit /timed/`,
          `ADD --chown=1234:5678 --chmod=640 ${server.gitBase}/refs.git#main /owned/`,
        ].join('\n'),
      });
      const result = await fx.build(['-t', 'git-refs', dir]);
      expect(result.stderr).not.toContain('ERROR');
      expect(result.status).toBe(0);
      const paths = byPath(await addedFiles(fx, await fx.image('git-refs')));
      expect(paths.get('tag/f.txt')?.text).toBe('first\n');
      expect(paths.get('annotated/f.txt')?.text).toBe('first\n');
      expect(paths.get('commit/f.txt')?.text).toBe('first\n');
      expect(paths.get('middle/f.txt')?.text).toBe('middle\n');
      expect(paths.get('kept/f.txt')?.text).toBe('second\n');
      expect(paths.get('kept/.git/HEAD')?.text?.trim()).toMatch(/^[0-9a-f]{40}$/);
      expect(paths.get('kept/.git/config')?.text).toContain(`url = ${base}`);
      // BuildKit's refs: fetched through a repository of its own under tags/REF, then REF:REF
      // (a branch of that name), with the tags at the commit that come along; no remote-tracking one.
      const refs = (prefix: string): string[] => [...paths.keys()].filter((path) => path.startsWith(`${prefix}/.git/refs/`) && paths.get(path)?.type === 'file').sort();
      expect(refs('kept')).toEqual(['kept/.git/refs/heads/main', 'kept/.git/refs/tags/main']);
      expect(refs('kept-tag')).toEqual(['kept-tag/.git/refs/heads/v1', 'kept-tag/.git/refs/tags/a1', 'kept-tag/.git/refs/tags/v1']);
      expect(paths.get('kept-tag/f.txt')?.text).toBe('first\n');
      expect(paths.has('tag/.git')).toBe(false);
      expect(paths.get('timed/f.txt')?.text).toBe('first\n');
      expect(paths.get('timed/f.txt')?.mtime).toBe(commitTime);
      expect(shape(paths.get('owned/f.txt'))).toEqual(['file', 0o640, 1234, 5678]);
      expect(paths.get('owned/f.txt')?.text).toBe('second\n');
    });

    it('builds from a repository as the context (#ref:subdir, -f inside it), and takes one as a named context', async () => {
      await server.commit('ctxrepo', {
        Dockerfile: 'FROM busybox\nCOPY . /repo/\n',
        'docker/alt.Dockerfile': 'FROM busybox\nCOPY a.txt /alt\n',
        'sub/Dockerfile': 'FROM busybox\nCOPY s.txt /s\n',
        'sub/s.txt': 's\n',
        'a.txt': 'a\n',
      });
      const url = `${server.httpBase}/ctxrepo.git`;
      const whole = await fx.build(['-t', 'git-context', url]);
      expect(whole.stderr).not.toContain('ERROR');
      expect(whole.status).toBe(0);
      const paths = byPath(await addedFiles(fx, await fx.image('git-context')));
      expect(shape(paths.get('repo/a.txt'))).toEqual(['file', 0o644, 0, 0]);
      expect([...paths.keys()].filter((path) => path.includes('.git/'))).toEqual([]);
      expect((await fx.build(['-t', 'git-context-sub', `${url}#main:sub`])).status).toBe(0);
      expect(byPath(await addedFiles(fx, await fx.image('git-context-sub'))).get('s')?.text).toBe('s\n');
      expect((await fx.build(['-t', 'git-context-alt', '-f', 'docker/alt.Dockerfile', url])).status).toBe(0);
      expect(byPath(await addedFiles(fx, await fx.image('git-context-alt'))).get('alt')?.text).toBe('a\n');

      const dir = await fx.context('git-named', { Dockerfile: 'FROM busybox\nCOPY --from=src /sub/s.txt /from-git\n' });
      const named = await fx.build(['-t', 'git-named', '--build-context', `src=${url}`, dir]);
      expect(named.status).toBe(0);
      expect(byPath(await addedFiles(fx, await fx.image('git-named'))).get('from-git')?.text).toBe('s\n');
    });

    it('takes the scp-like user@host:path form, through the ssh command git is given', async () => {
      await server.commit('over-ssh', { 's.txt': 'over ssh\n' });
      // An "ssh" that runs the remote command here: git's transport, without an ssh server.
      const fakeSsh = join(fx.dir, 'fake-ssh');
      await writeFile(fakeSsh, '#!/bin/sh\necho "$@" >> "$0.log"\nwhile [ $# -gt 1 ]; do shift; done\nexec sh -c "$1"\n', { mode: 0o755 });
      const repo = join(fx.dir, 'git', 'repos', 'over-ssh.git');
      const dir = await fx.context('git-ssh', { Dockerfile: `FROM busybox\nADD git@localhost:${repo}#main /ssh/\n` });
      const saved = process.env.GIT_SSH_COMMAND;
      process.env.GIT_SSH_COMMAND = fakeSsh;
      try {
        const result = await fx.build(['-t', 'git-ssh', dir]);
        expect(result.stderr).not.toContain('ERROR');
        expect(result.status).toBe(0);
      } finally {
        if (saved === undefined) delete process.env.GIT_SSH_COMMAND;
        else process.env.GIT_SSH_COMMAND = saved;
      }
      expect(byPath(await addedFiles(fx, await fx.image('git-ssh'))).get('ssh/s.txt')?.text).toBe('over ssh\n');
      // git reached "localhost" as the user git, for the repository's path.
      expect(await readFile(`${fakeSsh}.log`, 'utf8')).toMatch(new RegExp(`git@localhost .*git-upload-pack '${repo}'`));
    });

    it('gives the same image digest on two roots with SOURCE_DATE_EPOCH, checkout times clamped', async () => {
      await server.commit('repro', { 'r.txt': 'r\n', 'bin/x': { mode: 0o755, content: 'x\n' } });
      const other = await buildFixture();
      try {
        const digests: string[] = [];
        for (const fixture of [fx, other]) {
          const dir = await fixture.context('git-repro', { Dockerfile: `FROM busybox\nADD ${server.httpBase}/repro.git#main /r/\n` });
          const result = await fixture.build(['-t', 'git-repro', '--build-arg', 'SOURCE_DATE_EPOCH=1700000000', dir]);
          expect(result.status).toBe(0);
          const image = await fixture.image('git-repro');
          digests.push(image.descriptor.digest);
          expect(byPath(await addedFiles(fixture, image)).get('r/r.txt')?.mtime).toBe(1700000000);
          // Apart in time: a second checkout writes later times, clamped the same.
          await new Promise((resolveWait) => setTimeout(resolveWait, 1100));
        }
        expect(digests[0]).toBe(digests[1]);
      } finally {
        await other.cleanup();
      }
    });

    it('fails on a missing ref, a checksum that does not match, and COPY of a git source', async () => {
      await server.commit('errors', { 'e.txt': 'e\n', 'real/r.txt': 'r\n', linked: { symlink: '/etc' }, 'inner-link': { symlink: 'real' } });
      const base = `${server.httpBase}/errors.git`;
      for (const [name, line, message] of [
        ['git-missing-ref', `ADD ${base}#nope /x/`, 'does not contain ref nope'],
        ['git-checksum', `ADD --checksum=${'0'.repeat(40)} ${base}#main /x/`, 'expected checksum to match'],
        ['git-copy', `COPY ${base} /x/`, "source can't be a git ref for COPY"],
        ['git-subdir', `ADD ${base}#main:missing /x/`, 'invalid subdir missing'],
        // A subdir is reached through directories only, whatever a link in the repository says.
        ['git-subdir-out', `ADD ${base}#main:linked /x/`, 'invalid subdir linked'],
        ['git-subdir-in', `ADD ${base}#main:inner-link /x/`, 'invalid subdir inner-link'],
      ] as const) {
        const dir = await fx.context(name, { Dockerfile: `FROM busybox\n${line}\n` });
        const result = await fx.build(['-t', name, dir]);
        expect(result.status).toBe(1);
        expect(result.stderr).toContain(message);
        expect(await fx.store.resolveReference(`docker.io/library/${name}:latest`)).toBeUndefined();
      }
    });
  });

  describe('ADD of a URL', () => {
    let server: Server;
    let base: string;
    const lastModified = 'Wed, 21 Oct 2015 07:28:00 GMT';
    let archive: Buffer;
    let tagged = { etag: '"v1"', body: 'version one\n' };
    const served: string[] = [];
    beforeAll(async () => {
      const tree = await fx.context('archive-tree', { 'top/inner.txt': 'inner\n' });
      archive = execFileSync('tar', ['-C', tree, '-cz', 'top']);
      server = createServer((request, response) => {
        if (request.url === '/file.txt') response.writeHead(200, { 'last-modified': lastModified }).end('served\n');
        else if (request.url === '/archive.tar.gz') response.writeHead(200, { 'last-modified': lastModified }).end(archive);
        else if (request.url === '/tagged') {
          const unchanged = request.headers['if-none-match'] === tagged.etag;
          served.push(unchanged ? '304' : '200');
          if (unchanged) response.writeHead(304, { etag: tagged.etag }).end();
          else response.writeHead(200, { etag: tagged.etag }).end(tagged.body);
        }
        else response.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('gives a download --chown and --chmod, its mtime from Last-Modified; unpacks a remote archive only with --unpack', async () => {
      const digest = `sha256:${createHash('sha256').update(archive).digest('hex')}`;
      const dir = await fx.context('url-options', {
        Dockerfile: [
          'FROM busybox',
          `ADD --chown=42:43 --chmod=604 ${base}/file.txt /owned.txt`,
          `ADD ${base}/archive.tar.gz /kept/`,
          `ADD --unpack=true --checksum=${digest} ${base}/archive.tar.gz /unpacked/`,
        ].join('\n'),
      });
      const result = await fx.build(['-t', 'url-options', dir]);
      expect(result.stderr).not.toContain('ERROR');
      expect(result.status).toBe(0);
      const paths = byPath(await addedFiles(fx, await fx.image('url-options')));
      expect(shape(paths.get('owned.txt'))).toEqual(['file', 0o604, 42, 43]);
      expect(paths.get('owned.txt')?.mtime).toBe(Date.parse(lastModified) / 1000);
      expect(shape(paths.get('kept/archive.tar.gz'))).toEqual(['file', 0o600, 0, 0]);
      expect(paths.get('unpacked/top/inner.txt')?.text).toBe('inner\n');
      expect(paths.has('unpacked/archive.tar.gz')).toBe(false);
    });

    it('revalidates a URL by its ETag: unchanged (304) is a hit with no download, and its content comes from the store for a new step', async () => {
      const dir = await fx.context('url-etag', { Dockerfile: `FROM busybox\nADD ${base}/tagged /tagged\n` });
      expect((await fx.build(['-t', 'url-etag', dir])).status).toBe(0);
      expect(served).toEqual(['200']);
      const again = await fx.build(['-t', 'url-etag', dir]);
      expect(ranSteps(again.stderr)).toEqual([]);
      expect(served).toEqual(['200', '304']);
      // Another step reading the same URL: not downloaded, yet the file is whole.
      const other = await fx.context('url-etag-other', { Dockerfile: `FROM busybox\nADD --chmod=644 ${base}/tagged /elsewhere\n` });
      expect((await fx.build(['-t', 'url-etag-other', other])).status).toBe(0);
      expect(served).toEqual(['200', '304', '304']);
      expect(byPath(await addedFiles(fx, await fx.image('url-etag-other'))).get('elsewhere')?.text).toBe('version one\n');
      // A new version under a new ETag is downloaded and misses.
      tagged = { etag: '"v2"', body: 'version two\n' };
      const changed = await fx.build(['-t', 'url-etag', dir]);
      expect(ranSteps(changed.stderr)).toEqual([`[2/2] ADD ${base}/tagged /tagged`]);
      expect(served.at(-1)).toBe('200');
      expect(byPath(await addedFiles(fx, await fx.image('url-etag'))).get('tagged')?.text).toBe('version two\n');
    });
  });
  describe('--build-context', () => {
    it('gives FROM NAME and COPY --from=NAME a directory: its files owned by root, its own .dockerignore applied', async () => {
      const shared = await fx.context('named-dir', { 'lib/a.txt': 'a\n', 'skip.txt': 'skipped\n', '.dockerignore': 'skip.txt\n' });
      const dir = await fx.context('named-dir-build', {
        Dockerfile: [
          'FROM shared AS files',
          'FROM busybox',
          'COPY --from=shared /lib /copied/',
          'COPY --from=files / /whole/',
          'RUN cat /copied/a.txt > /seen',
          'RUN --mount=type=bind,from=shared,target=/mounted cat /mounted/lib/a.txt > /seen-mounted',
        ].join('\n'),
      });
      const result = await fx.build(['-t', 'named-dir', '--build-context', `shared=${shared}`, dir]);
      expect(result.stderr).not.toContain('ERROR');
      expect(result.status).toBe(0);
      const paths = byPath(await addedFiles(fx, await fx.image('named-dir')));
      expect(shape(paths.get('copied/a.txt'))).toEqual(['file', 0o644, 0, 0]);
      expect(paths.get('seen')?.text).toBe('a\n');
      expect(paths.get('seen-mounted')?.text).toBe('a\n');
      expect(paths.get('whole/lib/a.txt')?.text).toBe('a\n');
      expect(paths.has('whole/skip.txt')).toBe(false);
      // The context as the image: its one layer, with its history entry.
      expect((await fx.build(['-t', 'named-dir-files', '--target', 'files', '--build-context', `shared=${shared}`, dir])).status).toBe(0);
      const files = await fx.image('named-dir-files');
      expect(files.manifest.layers).toHaveLength(1);
      expect(files.config.history?.map((entry) => [entry.created_by, entry.empty_layer ?? false])).toEqual([[`[context shared] ${shared}`, false]]);
      expect(byPath(await addedFiles(fx, files, 0)).get('lib/a.txt')?.text).toBe('a\n');

      // Nothing changed: every step hits; a changed file in the named context misses.
      const again = await fx.build(['-t', 'named-dir', '--build-context', `shared=${shared}`, dir]);
      expect(ranSteps(again.stderr).filter((name) => !name.startsWith('[context'))).toEqual([]);
      await writeFile(join(shared, 'lib/a.txt'), 'changed\n');
      const changed = await fx.build(['-t', 'named-dir', '--build-context', `shared=${shared}`, dir]);
      expect(changed.status).toBe(0);
      expect(byPath(await addedFiles(fx, await fx.image('named-dir'))).get('seen')?.text).toBe('changed\n');
    });

    it('replaces a stage of the same name (its instructions never run) and an image name (docker-image://)', async () => {
      const override = await fx.context('named-override', { 'o.txt': 'from the override\n' });
      const dir = await fx.context('named-override-build', {
        Dockerfile: ['FROM busybox AS deps', 'RUN exit 1', 'FROM alpine:3.19 AS base', 'FROM base', 'COPY --from=deps /o.txt /o.txt', 'RUN cat /etc/group > /group'].join('\n'),
      });
      const result = await fx.build(['-t', 'named-override', '--build-context', `deps=${override}`, '--build-context', 'alpine:3.19=docker-image://busybox', dir]);
      expect(result.stderr).not.toContain('ERROR');
      expect(result.status).toBe(0);
      expect(result.stderr).not.toContain('exit 1');
      const image = await fx.image('named-override');
      const busybox = await fx.image('busybox');
      // The base is busybox's layer, and what the build added.
      expect(image.manifest.layers[0]?.digest).toBe(busybox.manifest.layers[0]?.digest);
      const paths = byPath(await addedFiles(fx, image));
      expect(paths.get('o.txt')?.text).toBe('from the override\n');
      expect(paths.get('group')?.text).toContain('root:x:0:');
    });

    it('reads an image from an OCI layout by digest, and refuses what it cannot take', async () => {
      const layout = join(fx.dir, 'layout');
      await mkdir(layout);
      for (const entry of ['oci-layout', 'index.json', 'blobs']) await cp(join(fx.root, entry), join(layout, entry), { recursive: true });
      const busybox = await fx.image('busybox');
      const dir = await fx.context('named-layout', { Dockerfile: 'FROM base\nRUN echo layered > /l\n' });
      const result = await fx.build(['-t', 'named-layout', '--build-context', `base=oci-layout://${layout}@${busybox.descriptor.digest}`, dir]);
      expect(result.stderr).not.toContain('ERROR');
      expect(result.status).toBe(0);
      const image = await fx.image('named-layout');
      expect(image.manifest.layers[0]?.digest).toBe(busybox.manifest.layers[0]?.digest);
      expect(byPath(await addedFiles(fx, image)).get('l')?.text).toBe('layered\n');

      for (const [value, message] of [
        ['base=https://example.invalid/ctx.tar', 'only directories, git repositories, docker-image:// and oci-layout://'],
        ['Bad Name=dir', 'invalid context name'],
        ['noequals', 'expected NAME=VALUE'],
        [`base=${join(fx.dir, 'missing')}`, 'not a directory'],
      ] as const) {
        const failed = await fx.build(['-t', 'named-bad', '--build-context', value, dir]);
        expect(failed.status).toBe(1);
        expect(failed.stderr).toContain(message);
      }
    });
  });

  describe('a context tar on standard input', () => {
    const bin = resolve(import.meta.dirname, '../../bin/tsbuild.js');
    function buildFromStdin(input: Buffer | string, args: readonly string[]): Promise<{ status: number | null; stderr: string }> {
      return new Promise((resolveRun, reject) => {
        const child = spawn(process.execPath, [bin, 'build', '--root', fx.root, '--progress', 'plain', ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
        const err: Buffer[] = [];
        child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
        child.on('error', reject);
        child.on('close', (status) => resolveRun({ status, stderr: Buffer.concat(err).toString() }));
        child.stdin.end(input);
      });
    }

    it('builds from a tar, plain or compressed (gzip, bzip2, xz, zstd), with -f naming a file inside it and its .dockerignore', async () => {
      const tree = await fx.context('stdin-tree', {
        Dockerfile: 'FROM busybox\nCOPY . /ctx/\n',
        'build/other.Dockerfile': 'FROM busybox\nCOPY a.txt /other/\n',
        'a.txt': 'a from the tar\n',
        'ignored.txt': 'no\n',
        '.dockerignore': 'ignored.txt\n',
      });
      const tar = execFileSync('tar', ['-C', tree, '-c', '.']);
      const compressed: Array<[string, Buffer]> = [
        ['plain', tar],
        ['gzip', execFileSync('gzip', ['-c'], { input: tar })],
        ['bzip2', execFileSync('bzip2', ['-c'], { input: tar })],
        ['xz', execFileSync('xz', ['-c'], { input: tar })],
      ];
      try {
        compressed.push(['zstd', execFileSync('zstd', ['-c', '-q'], { input: tar })]);
      } catch {
        // No zstd command here: the in-process decoder is covered by the store's tests.
      }
      for (const [kind, input] of compressed) {
        const result = await buildFromStdin(input, ['-t', `stdin-${kind}`, '-']);
        expect([kind, result.stderr.includes('ERROR'), result.status]).toEqual([kind, false, 0]);
        const paths = byPath(await addedFiles(fx, await fx.image(`stdin-${kind}`)));
        expect(shape(paths.get('ctx/a.txt'))).toEqual(['file', 0o644, 0, 0]);
        expect(paths.get('ctx/a.txt')?.text).toBe('a from the tar\n');
        expect(paths.has('ctx/ignored.txt')).toBe(false);
      }
      const other = await buildFromStdin(tar, ['-t', 'stdin-other', '-f', 'build/other.Dockerfile', '-']);
      expect(other.status).toBe(0);
      expect(byPath(await addedFiles(fx, await fx.image('stdin-other'))).get('other/a.txt')?.text).toBe('a from the tar\n');
      // A Dockerfile alone still builds without a context.
      const alone = await buildFromStdin('FROM busybox\nRUN echo alone > /alone\n', ['-t', 'stdin-alone', '-']);
      expect(alone.status).toBe(0);
    });

    it('builds from a URL, as docker does: a context tar (with -f inside it), or a Dockerfile alone; a missing one fails naming the URL', async () => {
      const tree = await fx.context('url-tree', { Dockerfile: 'FROM busybox\nCOPY a.txt /url/\n', 'sub/other.Dockerfile': 'FROM busybox\nCOPY a.txt /other/\n', 'a.txt': 'a from the URL\n' });
      const files: Record<string, Buffer> = {
        '/context.tar.gz': execFileSync('gzip', ['-c'], { input: execFileSync('tar', ['-C', tree, '-c', '.']) }),
        '/Dockerfile': Buffer.from('FROM busybox\nRUN echo remote > /remote\n'),
      };
      const server = createServer((request, response) => {
        const body = files[request.url ?? ''];
        response.writeHead(body === undefined ? 404 : 200).end(body);
      });
      await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        const fromTar = await fx.build(['-t', 'url-tar', `${base}/context.tar.gz`]);
        expect(fromTar.status, fromTar.stderr).toBe(0);
        expect(byPath(await addedFiles(fx, await fx.image('url-tar'))).get('url/a.txt')?.text).toBe('a from the URL\n');
        const named = await fx.build(['-t', 'url-named', '-f', 'sub/other.Dockerfile', `${base}/context.tar.gz`]);
        expect(named.status, named.stderr).toBe(0);
        expect(byPath(await addedFiles(fx, await fx.image('url-named'))).get('other/a.txt')?.text).toBe('a from the URL\n');
        const alone = await fx.build(['-t', 'url-dockerfile', `${base}/Dockerfile`]);
        expect(alone.status, alone.stderr).toBe(0);
        expect(byPath(await addedFiles(fx, await fx.image('url-dockerfile'))).get('remote')?.text).toBe('remote\n');
        const missing = await fx.build([`${base}/nothing.tar`]);
        expect(missing.status).not.toBe(0);
        expect(missing.stderr).toContain(`unable to prepare context: download ${base}/nothing.tar: invalid response status 404`);
      } finally {
        await new Promise((closed) => server.close(closed));
      }
    });

    it('keeps an untrusted tar inside its directory: no .. names, no Dockerfile read through a link out', async () => {
      const hostFile = join(fx.dir, 'host-secret.txt');
      await writeFile(hostFile, 'FROM busybox\nRUN echo host-secret-text\n');
      const linked = await fx.context('stdin-link', { Dockerfile: { symlink: hostFile } });
      const withLink = await buildFromStdin(execFileSync('tar', ['-C', linked, '-c', '.']), ['-t', 'stdin-link', '-']);
      expect(withLink.status).toBe(1);
      expect(withLink.stderr).not.toContain('host-secret-text');
      // A tar naming ../escaped is refused before anything is built.
      const evil = await fx.context('stdin-evil', { Dockerfile: 'FROM busybox\n', x: 'x\n' });
      const escaping = execFileSync('tar', ['-C', evil, '-c', '--transform', 's,^\\./x$,../escaped,', './Dockerfile', './x']);
      const refused = await buildFromStdin(escaping, ['-t', 'stdin-evil', '-']);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/\.\./);
      await expect(import('node:fs/promises').then((fs) => fs.stat(join(fx.dir, 'escaped')))).rejects.toThrow();
    });
  });

  it('--no-cache-filter runs the named stages’ steps again (any case), the others from the cache', async () => {
    const dir = await fx.context('no-cache-filter', {
      Dockerfile: ['FROM busybox AS one', 'RUN echo one > /one', 'FROM busybox AS two', 'RUN echo two > /two', 'FROM busybox', 'COPY --from=one /one /one', 'COPY --from=two /two /two'].join('\n'),
    });
    expect((await fx.build(['-t', 'no-cache-filter', dir])).status).toBe(0);
    const filtered = await fx.build(['-t', 'no-cache-filter', '--no-cache-filter', 'ONE', dir]);
    expect(filtered.status).toBe(0);
    expect(ranSteps(filtered.stderr)).toEqual(['[one 2/2] RUN echo one > /one']);
    const both = await fx.build(['-t', 'no-cache-filter', '--no-cache-filter', 'one', '--no-cache-filter', 'two', dir]);
    expect(ranSteps(both.stderr).sort()).toEqual(['[one 2/2] RUN echo one > /one', '[two 2/2] RUN echo two > /two']);
  });
});
