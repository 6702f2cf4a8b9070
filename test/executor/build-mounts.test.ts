/**
 * `tsbuild build` with RUN --mount (cache, bind, secret, ssh, tmpfs), RUN --network and
 * RUN --security: each read back from the real image, the store's cache-mount directories and
 * the progress output.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture, cachedSteps, imageFiles, ranSteps, type BuildFixture, type LayerFile } from '../helpers/build.js';
import { escapeCacheId } from '../../src/executor/cache-mounts.js';
import { pruneStore, verifyStore } from '../../src/store/index.js';
import { repoRoot } from '../runtime/helpers.js';

/** The entries of the image's last layer. */
async function lastLayer(fx: BuildFixture, name: string): Promise<LayerFile[]> {
  const image = await fx.image(name);
  const layer = image.manifest.layers.at(-1);
  if (layer === undefined) throw new Error(`${name} has no layers`);
  return fx.layerFiles(layer);
}

async function textOf(fx: BuildFixture, name: string, path: string): Promise<string | undefined> {
  return (await imageFiles(fx, name)).get(path)?.text;
}

/** Every regular file below DIR. */
async function allFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await allFiles(path)));
    else if (entry.isFile()) found.push(path);
  }
  return found;
}

/** The CLI in a process of its own (from the sources, as the repository runs it). */
function cliProcess(args: readonly string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'src', 'cli', 'bin.ts'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('build: RUN --mount', () => {
  let fx: BuildFixture;
  beforeAll(async () => {
    fx = await buildFixture();
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  describe('type=cache', () => {
    it('keeps its contents from build to build in the store, never in a layer or a key', async () => {
      const dir = await fx.context('cache', {
        Dockerfile: ['FROM busybox', 'ARG RUNS', 'RUN --mount=type=cache,target=/var/cache/app echo "run $RUNS" >> /var/cache/app/log && wc -l < /var/cache/app/log > /count'].join('\n'),
      });
      const first = await fx.build(['-t', 'cache', '--build-arg', 'RUNS=1', dir]);
      expect(first.stderr).not.toMatch(/ERROR/);
      expect(first.status).toBe(0);
      expect((await textOf(fx, 'cache', 'count'))?.trim()).toBe('1');
      const second = await fx.build(['-t', 'cache', '--build-arg', 'RUNS=2', dir]);
      expect(second.status).toBe(0);
      expect((await textOf(fx, 'cache', 'count'))?.trim()).toBe('2');
      // The mount point is no part of the layer, nor what was written below it; /var, where
      // its missing parent /var/cache was made and removed, is (as /etc for /etc/hosts). So are
      // /dev, /proc and /sys, which this busybox lacks (the first RUN keeps them, as BuildKit's).
      expect((await lastLayer(fx, 'cache')).map((file) => file.path)).toEqual(['count', 'dev', 'etc', 'proc', 'sys', 'var']);
      // The id defaults to the target; one directory for it, with its metadata.
      const directory = join(fx.root, 'cache-mounts', escapeCacheId('/var/cache/app'));
      expect(directory.endsWith('%2Fvar%2Fcache%2Fapp')).toBe(true);
      expect(await readFile(join(directory, 'data', 'log'), 'utf8')).toBe('run 1\nrun 2\n');
      const meta = JSON.parse(await readFile(join(directory, 'meta.json'), 'utf8')) as Record<string, unknown>;
      expect(meta).toMatchObject({ id: '/var/cache/app', uid: 0, gid: 0, mode: 0o755 });
      // The same step again is cached: the cache's new contents do not change its key.
      const third = await fx.build(['-t', 'cache', '--build-arg', 'RUNS=2', dir]);
      expect(ranSteps(third.stderr)).toEqual([]);
      expect(cachedSteps(third.stderr)).toHaveLength(1);
    });

    it('scopes every cache id by the build argument BUILDKIT_CACHE_MOUNT_NS, as BuildKit', async () => {
      const dir = await fx.context('cache-ns', {
        Dockerfile: ['FROM busybox', 'ARG PROJECT', 'RUN --mount=type=cache,id=shared-ns,target=/c echo "$PROJECT" >> /c/log && cat /c/log > /seen'].join('\n'),
      });
      const seen = async (project: string, namespace?: string): Promise<string | undefined> => {
        const args = ['-t', 'cache-ns', '--build-arg', `PROJECT=${project}`, ...(namespace === undefined ? [] : ['--build-arg', `BUILDKIT_CACHE_MOUNT_NS=${namespace}`]), dir];
        const built = await fx.build(args);
        expect(built.status, built.stderr).toBe(0);
        expect(built.stderr).not.toContain('were not consumed');
        return textOf(fx, 'cache-ns', 'seen');
      };
      expect(await seen('a', 'one')).toBe('a\n');
      expect(await seen('b', 'two')).toBe('b\n');
      expect(await seen('c', 'one')).toBe('a\nc\n');
      expect(await seen('d')).toBe('d\n');
      for (const id of ['one/shared-ns', 'two/shared-ns', 'shared-ns']) expect(existsSync(join(fx.root, 'cache-mounts', escapeCacheId(id), 'data', 'log')), id).toBe(true);
    });

    it('starts empty for a step that ignores the cache, as BuildKit, and what that step leaves is the cache from then on', async () => {
      const dir = await fx.context('cache-no-cache', {
        Dockerfile: [
          'FROM busybox AS other',
          'ARG N',
          'RUN --mount=type=cache,id=nc-other,target=/c ls /c > /seen && touch /c/other$N',
          'FROM busybox',
          'ARG N',
          'RUN --mount=type=cache,id=nc,target=/c ls /c > /first && touch /c/file$N',
          'RUN --mount=type=cache,id=nc,target=/c ls /c > /second',
          'COPY --from=other /seen /other-seen',
        ].join('\n'),
      });
      const listing = async (): Promise<string[]> => {
        const files = await imageFiles(fx, 'cache-no-cache');
        return ['first', 'second', 'other-seen'].map((name) => files.get(name)?.text ?? 'missing');
      };
      expect((await fx.build(['-t', 'cache-no-cache', '--build-arg', 'N=1', dir])).status).toBe(0);
      expect(await listing()).toEqual(['', 'file1\n', '']);
      expect((await fx.build(['-t', 'cache-no-cache', '--build-arg', 'N=2', dir])).status).toBe(0);
      expect(await listing()).toEqual(['file1\n', 'file1\nfile2\n', 'other1\n']);
      // --no-cache: each id is emptied once, before the build's first step that mounts it.
      const fresh = await fx.build(['--no-cache', '-t', 'cache-no-cache', '--build-arg', 'N=3', dir]);
      expect(fresh.stderr).not.toMatch(/ERROR/);
      expect(await listing()).toEqual(['', 'file3\n', '']);
      expect((await fx.build(['-t', 'cache-no-cache', '--build-arg', 'N=4', dir])).status).toBe(0);
      expect(await listing()).toEqual(['file3\n', 'file3\nfile4\n', 'other3\n']);
      // --no-cache-filter: only the steps of the stages it names.
      const filtered = await fx.build(['--no-cache-filter', 'other', '-t', 'cache-no-cache', '--build-arg', 'N=4', dir]);
      expect(filtered.status).toBe(0);
      expect(await readdir(join(fx.root, 'cache-mounts', 'nc-other', 'data'))).toEqual(['other4']);
      expect((await readdir(join(fx.root, 'cache-mounts', 'nc', 'data'))).sort()).toEqual(['file3', 'file4']);
      expect(await readdir(join(fx.root, 'cache-mounts', 'nc'))).not.toContainEqual(expect.stringMatching(/^stale-/));
    });

    it('takes uid, gid and mode, is read-only when asked, and is seeded from a stage', async () => {
      const dir = await fx.context('cache-options', {
        Dockerfile: [
          'FROM busybox AS seed',
          'RUN mkdir -p /seed/dir && echo seeded > /seed/dir/file',
          'FROM busybox',
          'RUN --mount=type=cache,id=owned,target=/owned,uid=1000,gid=1001,mode=0710 stat -c "%u:%g %a" /owned > /owned.txt',
          'RUN --mount=type=cache,id=ro,target=/ro,readonly (touch /ro/x 2>/dev/null && echo writable || echo read-only) > /ro.txt',
          'RUN --mount=type=cache,id=seeded,target=/s,from=seed,source=/seed/dir cat /s/file > /seeded.txt && echo more > /s/more',
        ].join('\n'),
      });
      const result = await fx.build(['-t', 'cache-options', dir]);
      expect(result.status).toBe(0);
      const files = await imageFiles(fx, 'cache-options');
      expect(files.get('owned.txt')?.text).toBe('1000:1001 710\n');
      expect(files.get('ro.txt')?.text).toBe('read-only\n');
      expect(files.get('seeded.txt')?.text).toBe('seeded\n');
      expect(files.has('s') || files.has('ro') || files.has('owned')).toBe(false);
      const seeded = join(fx.root, 'cache-mounts', 'seeded', 'data');
      expect((await readdir(seeded)).sort()).toEqual(['file', 'more']);
      const owned = await stat(join(fx.root, 'cache-mounts', 'owned', 'data'));
      expect([owned.uid, owned.gid, owned.mode & 0o7777]).toEqual([1000, 1001, 0o710]);
    });

    it('is shared by two builds at once, and sharing=locked lets one holder in at a time', async () => {
      // Each shared step waits for the other's mark: both pass only when they see one directory at once.
      const shared = await fx.context('cache-shared', {
        Dockerfile: [
          'FROM busybox',
          'ARG ME OTHER',
          'RUN --mount=type=cache,id=together,target=/c touch /c/$ME && for i in $(seq 1 300); do [ -e /c/$OTHER ] && break; sleep 0.1; done && ls /c > /seen',
        ].join('\n'),
      });
      const [a, b] = await Promise.all([
        fx.build(['-t', 'shared-a', '--build-arg', 'ME=a', '--build-arg', 'OTHER=b', shared]),
        fx.build(['-t', 'shared-b', '--build-arg', 'ME=b', '--build-arg', 'OTHER=a', shared]),
      ]);
      expect([a.status, b.status]).toEqual([0, 0]);
      expect(await textOf(fx, 'shared-a', 'seen')).toBe('a\nb\n');
      expect(await textOf(fx, 'shared-b', 'seen')).toBe('a\nb\n');

      const locked = await fx.context('cache-locked', {
        Dockerfile: ['FROM busybox', 'ARG ME', 'RUN --mount=type=cache,id=one-at-a-time,target=/c,sharing=locked echo start $ME >> /c/log && sleep 2 && echo end $ME >> /c/log'].join('\n'),
      });
      // One build in this process, the other in a process of its own: the lock holds across both.
      const [x, y] = await Promise.all([fx.build(['--build-arg', 'ME=x', locked]), cliProcess(['build', '--root', fx.root, '--progress', 'plain', '--build-arg', 'ME=y', locked])]);
      expect(y.stderr).not.toMatch(/ERROR/);
      expect([x.status, y.status]).toEqual([0, 0]);
      const log = (await readFile(join(fx.root, 'cache-mounts', 'one-at-a-time', 'data', 'log'), 'utf8')).trim().split('\n');
      expect([['start x', 'end x', 'start y', 'end y'], ['start y', 'end y', 'start x', 'end x']]).toContainEqual(log);
      expect(existsSync(join(fx.root, 'cache-mounts', 'one-at-a-time', 'lock'))).toBe(false);
    }, 120_000);

    it('gives a private user a directory of its own while another holds the cache', async () => {
      const dir = await fx.context('cache-private', {
        // A shared cache is the channel: each step marks it once its own mounts are made, and
        // waits for the other's mark, so both hold the private cache at once.
        Dockerfile: [
          'FROM busybox',
          'ARG ME OTHER',
          'RUN --mount=type=cache,id=mine,target=/c,sharing=private --mount=type=cache,id=channel,target=/chan touch /c/$ME /chan/$ME && for i in $(seq 1 300); do [ -e /chan/$OTHER ] && break; sleep 0.1; done && ls /c > /seen',
        ].join('\n'),
      });
      const [a, b] = await Promise.all([
        fx.build(['-t', 'private-a', '--build-arg', 'ME=a', '--build-arg', 'OTHER=b', dir]),
        fx.build(['-t', 'private-b', '--build-arg', 'ME=b', '--build-arg', 'OTHER=a', dir]),
      ]);
      expect([a.status, b.status]).toEqual([0, 0]);
      const seen = [await textOf(fx, 'private-a', 'seen'), await textOf(fx, 'private-b', 'seen')].sort();
      expect(seen).toEqual(['a\n', 'b\n']);
      // The holder's directory is kept; the other one's is gone.
      const directory = join(fx.root, 'cache-mounts', 'mine');
      expect((await readdir(directory)).sort()).toEqual(['data', 'meta.json']);
      expect(['a', 'b']).toContainEqual((await readdir(join(directory, 'data'))).join(','));
    }, 60_000);

    it('leaves the cache folder to prune and verify, which see nothing wrong in it', async () => {
      const before = await readdir(join(fx.root, 'cache-mounts'));
      expect(before.length).toBeGreaterThan(0);
      await pruneStore(fx.store, { gracePeriodMs: 0 });
      expect((await verifyStore(fx.store)).problems).toEqual([]);
      expect(await readdir(join(fx.root, 'cache-mounts'))).toEqual(before);
      expect(await readFile(join(fx.root, 'cache-mounts', escapeCacheId('/var/cache/app'), 'data', 'log'), 'utf8')).toBe('run 1\nrun 2\n');
    });

    it('treats an id as a name: no path of it reaches out of the cache folder', async () => {
      const dir = await fx.context('cache-escape', {
        Dockerfile: ['FROM busybox', 'RUN --mount=type=cache,id=../../escaped,target=/c echo in > /c/file'].join('\n'),
      });
      const result = await fx.build([dir]);
      expect(result.status).toBe(0);
      expect(existsSync(join(fx.root, 'escaped'))).toBe(false);
      expect(existsSync(join(fx.dir, 'escaped'))).toBe(false);
      expect(await readFile(join(fx.root, 'cache-mounts', '%2E.%2F..%2Fescaped', 'data', 'file'), 'utf8')).toBe('in\n');
    });
  });

  describe('type=bind', () => {
    it('binds the context read-only, keyed by the bound files, without .dockerignored files', async () => {
      const dir = await fx.context('bind', {
        Dockerfile: ['FROM busybox', 'RUN --mount=type=bind,source=src,target=/src ls -A /src > /listing && cat /src/a > /a && (touch /src/new 2>/dev/null && echo writable || echo read-only) > /mode'].join('\n'),
        '.dockerignore': 'src/ignored\n',
        'src/a': 'first\n',
        'src/ignored': 'never seen\n',
        unrelated: 'x\n',
      });
      const result = await fx.build(['-t', 'bind', dir]);
      expect(result.status).toBe(0);
      const files = await imageFiles(fx, 'bind');
      expect(files.get('listing')?.text).toBe('a\n');
      expect(files.get('a')?.text).toBe('first\n');
      expect(files.get('mode')?.text).toBe('read-only\n');
      expect((await lastLayer(fx, 'bind')).map((file) => file.path).sort()).toEqual(['a', 'dev', 'etc', 'listing', 'mode', 'proc', 'sys']);
      // A file outside the source leaves the step cached; one inside it runs it again.
      await writeFile(join(dir, 'unrelated'), 'y\n');
      expect(ranSteps((await fx.build(['-t', 'bind', dir])).stderr)).toEqual([]);
      await writeFile(join(dir, 'src', 'a'), 'second\n');
      const changed = await fx.build(['-t', 'bind', dir]);
      expect(ranSteps(changed.stderr)).toHaveLength(1);
      expect(await textOf(fx, 'bind', 'a')).toBe('second\n');
    });

    it('binds rw with its writes thrown away, from a stage and from an image', async () => {
      const dir = await fx.context('bind-rw', {
        Dockerfile: [
          'FROM busybox AS builder',
          'RUN mkdir /out && echo built > /out/result',
          'FROM busybox',
          'RUN --mount=type=bind,target=/ctx,rw echo changed > /ctx/file && cat /ctx/file > /rw.txt',
          'RUN --mount=type=bind,from=builder,source=/out,target=/b,rw cat /b/result > /from-stage && echo x > /b/result',
          'RUN --mount=type=bind,from=builder,source=/out,target=/b cat /b/result > /again',
          'RUN --mount=type=bind,from=busybox,source=/bin,target=/image-bin /image-bin/echo from-image > /from-image',
        ].join('\n'),
        file: 'original\n',
      });
      const result = await fx.build(['-t', 'bind-rw', dir]);
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(result.status).toBe(0);
      expect(await readFile(join(dir, 'file'), 'utf8')).toBe('original\n');
      const files = await imageFiles(fx, 'bind-rw');
      expect(files.get('rw.txt')?.text).toBe('changed\n');
      expect(files.get('from-stage')?.text).toBe('built\n');
      expect(files.get('again')?.text).toBe('built\n');
      expect(files.get('from-image')?.text).toBe('from-image\n');
      for (const path of ['ctx', 'b', 'image-bin']) expect(files.has(path)).toBe(false);
    });

    it('shows a bound directory with its own mode and owner (root’s from the context, 0755 its root), read-only or rw', async () => {
      const dir = await fx.context('bind-root-modes', {
        Dockerfile: [
          'FROM busybox AS stage',
          'RUN mkdir -p /s/d && chown -R 7:8 /s && chmod 711 /s',
          'FROM busybox',
          'RUN --mount=type=bind,source=sub,target=/m stat -c "%a %u:%g" /m > /modes',
          'RUN --mount=type=bind,source=sub,target=/m,rw stat -c "%a %u:%g" /m >> /modes',
          'RUN --mount=type=bind,target=/c stat -c "%a %u:%g" /c >> /modes',
          'RUN --mount=type=bind,from=stage,source=/s,target=/m stat -c "%a %u:%g" /m >> /modes',
          'RUN --mount=type=bind,from=stage,source=/s,target=/m,rw stat -c "%a %u:%g" /m >> /modes',
        ].join('\n'),
        'sub/file': 'x\n',
      });
      await chmod(join(dir, 'sub'), 0o750);
      // The context's root is BuildKit's own directory: 0755, whatever the client's is.
      await chmod(dir, 0o2711);
      const result = await fx.build(['-t', 'bind-root-modes', dir]);
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(await textOf(fx, 'bind-root-modes', 'modes')).toBe('750 0:0\n750 0:0\n755 0:0\n711 7:8\n711 7:8\n');
    });

    it('mounts inside a read-only bind of the context, its mount points made in the copy it binds', async () => {
      const dir = await fx.context('bind-nested', {
        Dockerfile: ['FROM busybox', 'WORKDIR /app', 'RUN --mount=type=bind,target=/app --mount=type=cache,id=nested,target=/app/node_modules --mount=type=tmpfs,target=/app/tmp/deep ls /app > /listing && echo kept > /app/node_modules/file'].join('\n'),
        'package.json': '{}\n',
      });
      const result = await fx.build(['-t', 'bind-nested', dir]);
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(result.status).toBe(0);
      expect(await textOf(fx, 'bind-nested', 'listing')).toBe('Dockerfile\nnode_modules\npackage.json\ntmp\n');
      expect(await readFile(join(fx.root, 'cache-mounts', 'nested', 'data', 'file'), 'utf8')).toBe('kept\n');
      expect((await readdir(dir)).sort()).toEqual(['Dockerfile', 'package.json']);
      expect((await lastLayer(fx, 'bind-nested')).map((file) => file.path)).toEqual(['dev', 'etc', 'listing', 'proc', 'sys']);
    });

    it('resolves sources inside their roots and targets inside the step: .., absolute paths and symlinks stay in', async () => {
      const marker = join(fx.dir, `host-marker-${process.pid}`);
      await writeFile(marker, 'host\n');
      const dir = await fx.context('bind-escape', {
        Dockerfile: [
          'FROM busybox AS stage',
          `RUN ln -s ${fx.dir} /host-dir`,
          'FROM busybox',
          `RUN --mount=type=bind,from=stage,source=/host-dir/host-marker-${process.pid},target=/h cat /h > /read`,
        ].join('\n'),
      });
      // The host path the link names is not in the stage: the mount fails, never reads the host.
      const result = await fx.build([dir]);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(`source "/host-dir/host-marker-${process.pid}": not found`);
      const partial = await fx.context('bind-escape-2', {
        Dockerfile: [
          'FROM busybox AS stage',
          'RUN echo stage > /etc/stage-marker && ln -s ../../../../../../../../etc /up',
          'FROM busybox',
          'RUN --mount=type=bind,from=stage,source=/up,target=/e cat /e/stage-marker > /through-link',
          'RUN --mount=type=bind,from=stage,source=../../../../../etc,target=/e2 cat /e2/stage-marker > /through-dots',
          `RUN ln -s ${fx.dir} /link-out`,
          'RUN --mount=type=tmpfs,target=/link-out/made-by-mount ls -d /link-out/made-by-mount > /target.txt',
        ].join('\n'),
      });
      const second = await fx.build(['-t', 'bind-escape-2', partial]);
      expect(second.stderr).not.toMatch(/ERROR/);
      expect(second.status).toBe(0);
      const built = await imageFiles(fx, 'bind-escape-2');
      expect(built.get('through-link')?.text).toBe('stage\n');
      expect(built.get('through-dots')?.text).toBe('stage\n');
      expect(built.get('target.txt')?.text).toBe('/link-out/made-by-mount\n');
      // The target followed the link inside the step's root: nothing was made on the host.
      expect(existsSync(join(fx.dir, 'made-by-mount'))).toBe(false);
      // A context symlink to /etc is followed inside the context, where there is no etc.
      const linked = await fx.context('bind-escape-3', {
        Dockerfile: ['FROM busybox', 'RUN --mount=type=bind,source=link-to-host,target=/l cat /l/passwd'].join('\n'),
        'link-to-host': { symlink: '/etc' },
      });
      const refused = await fx.build([linked]);
      expect(refused.status).not.toBe(0);
      // Named by where the link leads inside the context, as BuildKit names it.
      expect(refused.stderr).toContain('"/etc": not found');
    });
  });

  describe('type=secret', () => {
    it('gives a secret as a file and as a variable, and its value reaches no blob, store file or output (masked where a command prints it)', async () => {
      const value = `s3cr3t-${process.pid}-${Date.now()}`;
      const secretFile = join(fx.dir, 'token.txt');
      await writeFile(secretFile, value);
      process.env.TSBUILD_TEST_SECRET = value;
      const dir = await fx.context('secret', {
        Dockerfile: [
          'FROM busybox',
          'RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /size && stat -c "%u:%g %a" /run/secrets/token > /perm',
          'RUN --mount=type=secret,id=envtoken,env=TOKEN,required=true printf %s "$TOKEN" | wc -c > /env-size',
          'RUN --mount=type=secret,id=token,target=/etc/app/token,uid=65534,mode=0440 stat -c "%u:%g %a" /etc/app/token > /perm2 && md5sum < /etc/app/token > /md5',
          'RUN --mount=type=secret,id=missing ls /run/secrets > /optional 2>&1 || echo none > /optional',
          // A command that prints it: the progress shows it masked.
          'RUN --mount=type=secret,id=token cat /run/secrets/token && echo " <- file" && printf "%s" "$(cat /run/secrets/token)" >&2',
        ].join('\n'),
      });
      const failing = await fx.context('secret-failing', {
        Dockerfile: ['FROM busybox', 'RUN --mount=type=secret,id=envtoken,env=TOKEN echo "about to fail with $TOKEN" && exit 3'].join('\n'),
      });
      try {
        const result = await fx.build(['-t', 'secret', '--secret', `id=token,src=${secretFile}`, '--secret', 'id=envtoken,env=TSBUILD_TEST_SECRET', dir]);
        expect(result.stderr).not.toMatch(/ERROR/);
        expect(result.status).toBe(0);
        const files = await imageFiles(fx, 'secret');
        expect(files.get('size')?.text?.trim()).toBe(String(value.length));
        expect(files.get('env-size')?.text?.trim()).toBe(String(value.length));
        expect(files.get('perm')?.text).toBe('0:0 400\n');
        expect(files.get('perm2')?.text).toBe('65534:0 440\n');
        expect(files.get('md5')?.text?.split(' ')[0]).toBe(execFileSync('md5sum', [secretFile], { encoding: 'utf8' }).split(' ')[0]);
        expect(files.get('optional')?.text).toBe('none\n');
        expect([...files.keys()].some((path) => path.startsWith('run/secrets') || path.startsWith('etc/app'))).toBe(false);
        expect(result.stdout + result.stderr).not.toContain(value);
        expect(result.stderr).toContain('**** <- file');
        // A failing step's output, quoted by the error, is masked too.
        const failed = await fx.build(['--secret', 'id=envtoken,env=TSBUILD_TEST_SECRET', failing]);
        expect(failed.status).not.toBe(0);
        expect(failed.stderr).toContain('about to fail with ****');
        expect(failed.stdout + failed.stderr).not.toContain(value);
        // Every file of the store (blobs, snapshots, the step cache, cache mounts) is searched.
        const needle = Buffer.from(value);
        for (const path of await allFiles(fx.root)) expect((await readFile(path)).includes(needle), path).toBe(false);
        // A required secret that was not given fails, naming the id only.
        const missing = await fx.build(['--no-cache', '--secret', `id=token,src=${secretFile}`, dir]);
        expect(missing.status).not.toBe(0);
        expect(missing.stderr).toContain('secret envtoken: not found');
        expect(missing.stdout + missing.stderr).not.toContain(value);
      } finally {
        delete process.env.TSBUILD_TEST_SECRET;
      }
    });
  });

  describe('type=ssh', () => {
    let agent: ChildProcess | undefined;
    afterAll(() => {
      agent?.kill();
    });

    it('forwards the agent of --ssh to the step at /run/buildkit/ssh_agent.0, with SSH_AUTH_SOCK set, or serves key files', async () => {
      const work = join(fx.dir, 'ssh');
      const dir = await fx.context('ssh', {
        Dockerfile: [
          'FROM busybox',
          'RUN --mount=type=bind,source=agent-list,target=/usr/local/bin/agent-list --mount=type=ssh echo "$SSH_AUTH_SOCK" > /sock && stat -c "%u:%g %a %F" "$SSH_AUTH_SOCK" > /perm && agent-list > /keys',
        ].join('\n'),
      });
      execFileSync('gcc', ['-static', '-O2', '-o', join(dir, 'agent-list'), join(__dirname, 'fixtures', 'agent-list.c')]);
      execFileSync('mkdir', ['-p', work]);
      const socket = join(work, 'agent.sock');
      agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
      for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tsbuild-test-key', '-f', join(work, 'key')]);
      execFileSync('ssh-add', [join(work, 'key')], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'ignore' });

      const result = await fx.build(['-t', 'ssh', '--ssh', `default=${socket}`, dir]);
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(result.status).toBe(0);
      const files = await imageFiles(fx, 'ssh');
      expect(files.get('sock')?.text).toBe('/run/buildkit/ssh_agent.0\n');
      expect(files.get('perm')?.text).toBe('0:0 600 socket\n');
      expect(files.get('keys')?.text).toBe('keys 1\ntsbuild-test-key\n');
      expect([...files.keys()].some((path) => path.startsWith('run/buildkit') || path.startsWith('usr/local/bin/agent-list'))).toBe(false);

      // Key files are served by an agent of the build's own, under the id given.
      const keyed = await fx.context('ssh-key', {
        Dockerfile: ['FROM busybox', 'RUN --mount=type=bind,source=agent-list,target=/usr/local/bin/agent-list --mount=type=ssh,id=deploy,target=/agent.sock,uid=65534,mode=0660 stat -c "%u:%g %a" /agent.sock > /perm && SSH_AUTH_SOCK=/agent.sock agent-list > /keys'].join('\n'),
      });
      execFileSync('cp', [join(dir, 'agent-list'), join(keyed, 'agent-list')]);
      const fromKey = await fx.build(['-t', 'ssh-key', '--ssh', `deploy=${join(work, 'key')}`, keyed]);
      expect(fromKey.stderr).not.toMatch(/ERROR/);
      const keyFiles = await imageFiles(fx, 'ssh-key');
      expect(keyFiles.get('perm')?.text).toBe('65534:0 660\n');
      expect(keyFiles.get('keys')?.text).toBe('keys 1\ntsbuild-test-key\n');

      // Without --ssh a required agent fails the step.
      const required = await fx.context('ssh-required', { Dockerfile: ['FROM busybox', 'RUN --mount=type=ssh,required=true true'].join('\n') });
      const missing = await fx.build([required]);
      expect(missing.status).not.toBe(0);
      expect(missing.stderr).toContain('no SSH key "default" forwarded');
    });
  });

  describe('type=tmpfs', () => {
    it('mounts an empty tmpfs of the given size whose files never reach the layer', async () => {
      const dir = await fx.context('tmpfs', {
        Dockerfile: ['FROM busybox', 'RUN --mount=type=tmpfs,target=/scratch,size=1m echo x > /scratch/file && grep " /scratch " /proc/mounts | cut -d" " -f3 > /type && df -k /scratch | tail -1 | awk "{print \\$2}" > /size'].join('\n'),
      });
      const result = await fx.build(['-t', 'tmpfs', dir]);
      expect(result.status).toBe(0);
      const files = await imageFiles(fx, 'tmpfs');
      expect(files.get('type')?.text).toBe('tmpfs\n');
      expect(files.get('size')?.text).toBe('1024\n');
      expect((await lastLayer(fx, 'tmpfs')).map((file) => file.path).sort()).toEqual(['dev', 'etc', 'proc', 'size', 'sys', 'type']);
    });

    it('refuses any mount over /proc itself, as runc refuses what is not a procfs there', async () => {
      for (const [name, mount] of [
        ['proc-tmpfs', 'type=tmpfs,target=/proc'],
        ['proc-cache', 'type=cache,target=../proc'],
      ] as const) {
        const dir = await fx.context(name, { Dockerfile: ['FROM busybox', 'WORKDIR /w', `RUN --mount=${mount} true`].join('\n') });
        const result = await fx.build(['-t', name, dir]);
        expect(result.status, name).not.toBe(0);
        expect(result.stderr).toMatch(/"\/proc" cannot be mounted because it is not of type proc/);
      }
    });
  });
});

describe('build: RUN --network and --security', () => {
  let fx: BuildFixture;
  beforeAll(async () => {
    fx = await buildFixture();
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  it('runs a step without a network, or with the host', async () => {
    const dir = await fx.context('network', {
      Dockerfile: ['FROM busybox', 'RUN --network=none tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " > /none', 'RUN --network=host tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " > /host'].join('\n'),
    });
    // Other tests add and remove interfaces meanwhile (containers' veths): the step must see
    // every host interface that was there both before and after the build.
    const hostInterfaces = async (): Promise<string[]> =>
      (await readFile('/proc/net/dev', 'utf8'))
        .trim()
        .split('\n')
        .slice(2)
        .map((line) => line.split(':')[0]?.trim() ?? '');
    const before = await hostInterfaces();
    const result = await fx.build(['-t', 'network', '--allow', 'network.host', dir]);
    expect(result.status).toBe(0);
    const after = await hostInterfaces();
    const files = await imageFiles(fx, 'network');
    expect(files.get('none')?.text).toBe('lo\n');
    const stable = before.filter((name) => after.includes(name));
    expect(stable.some((name) => name !== 'lo')).toBe(true);
    expect(files.get('host')?.text?.trim().split('\n')).toEqual(expect.arrayContaining(stable));
  });

  it('grants every capability to --security=insecure only with --allow security.insecure', async () => {
    const dir = await fx.context('insecure', {
      Dockerfile: [
        '# syntax=docker/dockerfile:1-labs',
        'FROM busybox',
        'RUN --security=insecure grep CapEff /proc/self/status > /insecure && grep -cE " /proc/(sys|kcore|keys) " /proc/mounts > /insecure-masks; grep " /sys " /proc/mounts | cut -d" " -f4 | cut -d, -f1 > /insecure-sys',
        'RUN grep CapEff /proc/self/status > /sandbox && grep -cE " /proc/(sys|kcore|keys) " /proc/mounts > /sandbox-masks; grep " /sys " /proc/mounts | cut -d" " -f4 | cut -d, -f1 > /sandbox-sys',
      ].join('\n'),
    });
    const refused = await fx.build([dir]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('entitlement security.insecure is not allowed');
    const allowed = await fx.build(['-t', 'insecure', '--allow', 'security.insecure', dir]);
    expect(allowed.status).toBe(0);
    const files = await imageFiles(fx, 'insecure');
    const own = /CapBnd:\s*([0-9a-f]+)/.exec(await readFile('/proc/self/status', 'utf8'))?.[1];
    expect(files.get('insecure')?.text?.split(/\s+/)[1]).toBe(own);
    expect(files.get('sandbox')?.text?.split(/\s+/)[1]).toBe('00000000a80425fb');
    // As BuildKit's insecure spec: nothing of /proc masked or read-only, /sys writable.
    expect(files.get('insecure-masks')?.text).toBe('0\n');
    expect(files.get('sandbox-masks')?.text).not.toBe('0\n');
    expect(files.get('insecure-sys')?.text).toBe('rw\n');
    expect(files.get('sandbox-sys')?.text).toBe('ro\n');
  });
});
