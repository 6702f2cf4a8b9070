/**
 * Where a build's files come from beyond its context directory: git repositories (a server the
 * test starts on 127.0.0.1), URLs, named contexts (`--build-context`), a context tar on
 * standard input, and `--no-cache-filter`. Each build's image is read back.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
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
      await server.commit('refs', { 'f.txt': 'second\n' });
      const commitTime = Number(execFileSync('git', ['log', '-1', '--format=%ct', first], { cwd: join(fx.dir, 'git', 'work', 'refs') }).toString().trim());
      const base = `${server.httpBase}/refs.git`;
      const dir = await fx.context('git-refs', {
        Dockerfile: [
          'FROM busybox',
          `ADD ${base}#v1 /tag/`,
          `ADD ${base}#a1 /annotated/`,
          `ADD ${base}#${first} /commit/`,
          `ADD --keep-git-dir=true ${base}#main /kept/`,
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
      expect(paths.get('kept/f.txt')?.text).toBe('second\n');
      expect(paths.get('kept/.git/HEAD')?.text?.trim()).toMatch(/^[0-9a-f]{40}$/);
      expect(paths.get('kept/.git/config')?.text).toContain(`url = ${base}`);
      expect(paths.has('tag/.git')).toBe(false);
      expect(paths.get('timed/f.txt')?.text).toBe('first\n');
      expect(paths.get('timed/f.txt')?.mtime).toBe(commitTime);
      expect(shape(paths.get('owned/f.txt'))).toEqual(['file', 0o640, 1234, 5678]);
      expect(paths.get('owned/f.txt')?.text).toBe('second\n');
    });

    it('fails on a missing ref, a checksum that does not match, and COPY of a git source', async () => {
      await server.commit('errors', { 'e.txt': 'e\n' });
      const base = `${server.httpBase}/errors.git`;
      for (const [name, line, message] of [
        ['git-missing-ref', `ADD ${base}#nope /x/`, 'does not contain ref nope'],
        ['git-checksum', `ADD --checksum=${'0'.repeat(40)} ${base}#main /x/`, 'expected checksum to match'],
        ['git-copy', `COPY ${base} /x/`, "source can't be a git ref for COPY"],
        ['git-subdir', `ADD ${base}#main:missing /x/`, 'invalid subdir missing'],
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
    beforeAll(async () => {
      const tree = await fx.context('archive-tree', { 'top/inner.txt': 'inner\n' });
      archive = execFileSync('tar', ['-C', tree, '-cz', 'top']);
      server = createServer((request, response) => {
        if (request.url === '/file.txt') response.writeHead(200, { 'last-modified': lastModified }).end('served\n');
        else if (request.url === '/archive.tar.gz') response.writeHead(200, { 'last-modified': lastModified }).end(archive);
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
  });
});
