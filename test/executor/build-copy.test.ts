/**
 * COPY and ADD through `tsbuild build`: each build's image is read back (its layers' entries,
 * with modes, owners, link targets) and the cache is checked by what the progress says.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmod, mkdir, readdir, readFile, realpath, stat, utimes, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedImage } from '../../src/store/index.js';
import { buildFixture, cachedSteps, ranSteps, type BuildFixture, type LayerFile } from '../helpers/build.js';

const run = promisify(execFile);

/** Every entry of the layers a build added over busybox's one layer, each with the index of its layer. */
async function addedFiles(fx: BuildFixture, image: ResolvedImage): Promise<Array<LayerFile & { layer: number }>> {
  const layers = await Promise.all(image.manifest.layers.map((layer) => fx.layerFiles(layer)));
  return layers.flatMap((files, layer) => (layer === 0 ? [] : files.map((file) => ({ ...file, layer }))));
}

/** Entries by path; where layers hold the same path, the later layer's entry. */
function byPath<T extends LayerFile>(files: readonly T[]): Map<string, T> {
  return new Map(files.map((file) => [file.path, file]));
}

/** [type, mode, uid, gid] of a layer entry, or undefined when it is not there. */
function shape(file: LayerFile | undefined): [string, number, number, number] | undefined {
  return file === undefined ? undefined : [file.type, file.mode, file.uid, file.gid];
}

describe('build: COPY and ADD', () => {
  let fx: BuildFixture;
  beforeAll(async () => {
    fx = await buildFixture();
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  it('copies files, a directory’s contents, wildcards, into a dest ending in / and relative to WORKDIR', async () => {
    const dir = await fx.context('basic', {
      Dockerfile: [
        'FROM busybox',
        'WORKDIR /app',
        'COPY a.txt b.txt /files/',
        'COPY dir /dircontents',
        'COPY *.md /docs/',
        'COPY nothing-* /none/',
        'COPY a.txt renamed',
        'COPY a.txt sub/',
        'COPY [a-b].txt ./',
      ].join('\n'),
      'a.txt': 'A\n',
      'b.txt': 'B\n',
      'one.md': 'one\n',
      'two.md': 'two\n',
      'dir/x': 'x\n',
      'dir/nested/y': { mode: 0o750, content: 'y\n' },
      'deeper/three.md': 'not matched\n',
    });
    const result = await fx.build(['-t', 'basic', dir]);
    expect(result.stderr).toContain('[6/9] COPY nothing-* /none/');
    expect(result.status).toBe(0);
    const image = await fx.image('basic');
    const files = await addedFiles(fx, image);
    const paths = byPath(files);
    expect(paths.get('files/a.txt')?.text).toBe('A\n');
    expect(paths.get('files/b.txt')?.text).toBe('B\n');
    expect(shape(paths.get('files/a.txt'))).toEqual(['file', 0o644, 0, 0]);
    expect(shape(paths.get('files'))).toEqual(['directory', 0o755, 0, 0]);
    // A directory's contents, not the directory itself.
    expect(paths.get('dircontents/x')?.text).toBe('x\n');
    expect(shape(paths.get('dircontents/nested/y'))).toEqual(['file', 0o750, 0, 0]);
    expect(paths.get('dircontents/nested/y')?.text).toBe('y\n');
    expect([...paths.keys()].filter((path) => path.startsWith('dircontents/dir'))).toEqual([]);
    expect(files.filter((file) => file.path.startsWith('docs/')).map((file) => [file.path, file.text])).toEqual([
      ['docs/one.md', 'one\n'],
      ['docs/two.md', 'two\n'],
    ]);
    // A wildcard that matches nothing is no error, and makes nothing.
    expect([...paths.keys()].filter((path) => path.startsWith('none'))).toEqual([]);
    expect(paths.get('app/renamed')?.text).toBe('A\n');
    expect(paths.get('app/sub/a.txt')?.text).toBe('A\n');
    expect(shape(paths.get('app/sub'))).toEqual(['directory', 0o755, 0, 0]);
    // A wildcard matching several files copies them into the directory.
    expect(files.filter((file) => file.layer === image.manifest.layers.length - 1 && file.type === 'file').map((file) => file.path)).toEqual(['app/a.txt', 'app/b.txt']);
    // Nothing the Dockerfile did not name enters a layer.
    expect(paths.has('Dockerfile')).toBe(false);
    expect((image.config.history ?? []).slice(2).map((entry) => entry.created_by)).toEqual([
      'COPY a.txt b.txt /files/ # buildkit',
      'COPY dir /dircontents # buildkit',
      'COPY *.md /docs/ # buildkit',
      'COPY nothing-* /none/ # buildkit',
      'COPY a.txt renamed # buildkit',
      'COPY a.txt sub/ # buildkit',
      'COPY [a-b].txt ./ # buildkit',
    ]);
    expect(image.config.config?.WorkingDir).toBe('/app');
  });

  it('fails on a missing source without wildcards, naming the path, and names nothing', async () => {
    const dir = await fx.context('missing', { Dockerfile: 'FROM busybox\nCOPY a.txt /\nCOPY sub/missing.txt /x\n', 'a.txt': 'A\n' });
    const result = await fx.build(['-t', 'missing', dir]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('"/sub/missing.txt": not found');
    expect(result.stderr).toContain('Dockerfile:3');
    expect(await fx.store.resolveReference('docker.io/library/missing:latest')).toBeUndefined();
  });

  it('fails on a missing source as its key is made, before the steps above it end, as BuildKit keys every step first', async () => {
    // A failing step above does not hide the missing file.
    const failing = await fx.context('missing-below-failure', { Dockerfile: 'FROM busybox\nRUN sleep 1 && false\nCOPY missing.txt /x\n' });
    const first = await fx.build(['--progress', 'plain', '-t', 'missing-below-failure', failing]);
    expect(first.status).toBe(1);
    expect(first.stderr).toContain('ERROR: failed to solve: failed to compute cache key: "/missing.txt": not found');
    expect(first.stderr).toContain('Dockerfile:3');
    expect(first.stderr).toMatch(/#\d+ \[3\/3\] COPY missing.txt \/x\n#\d+ ERROR: failed to compute cache key: "\/missing.txt": not found\n/);
    // One running when the key fails runs to its end, its layer kept: the next build hits it.
    const running = await fx.context('missing-below-run', { Dockerfile: 'FROM busybox\nRUN sleep 1 && echo ran > /ran\nCOPY missing.txt /x\n' });
    const second = await fx.build(['--progress', 'plain', '-t', 'missing-below-run', running]);
    expect(second.status).toBe(1);
    expect(second.stderr).toContain('ERROR: failed to solve: failed to compute cache key: "/missing.txt": not found');
    const keyFailed = second.stderr.indexOf('ERROR: failed to compute cache key');
    const ranToItsEnd = second.stderr.search(/\[2\/3\] RUN sleep 1 && echo ran > \/ran\n#\d+ DONE/);
    expect(keyFailed).toBeGreaterThan(0);
    expect(ranToItsEnd).toBeGreaterThan(keyFailed);
    const again = await fx.build(['--progress', 'plain', '-t', 'missing-below-run', running]);
    expect(again.status).toBe(1);
    expect(cachedSteps(again.stderr)).toContain('[2/3] RUN sleep 1 && echo ran > /ran');
  });

  it('fails on a missing source of any stage as its key is made: a failing stage below does not hide it, and a step another stage runs meanwhile runs to its end', async () => {
    // Whether a step of another stage has begun when the key fails is a race, in BuildKit too:
    // one that had begun ends DONE, never CANCELED, and none begins after.
    const ranToItsEnd = (stderr: string, step: string): void => {
      const keyFailed = stderr.indexOf('ERROR: failed to compute cache key');
      const began = stderr.indexOf(`] ${step}\n`);
      expect(keyFailed).toBeGreaterThan(0);
      if (began !== -1 && began < keyFailed) expect(stderr.slice(keyFailed)).toMatch(new RegExp(`\\] ${step.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n(?:#\\d+ .*\\n)*#\\d+ DONE`));
      expect(stderr).not.toContain('CANCELED');
    };
    // A stage below that would fail: its failing step never starts.
    const below = await fx.context('missing-above-stage', { Dockerfile: 'FROM busybox AS a\nRUN sleep 1 && echo ran\nRUN false\nFROM a\nCOPY missing.txt /x\n' });
    const first = await fx.build(['--progress', 'plain', '-t', 'missing-above-stage', below]);
    expect(first.status).toBe(1);
    expect(first.stderr).toContain('ERROR: failed to solve: failed to compute cache key: "/missing.txt": not found');
    expect(first.stderr).toContain('Dockerfile:5');
    expect(first.stderr).toMatch(/#\d+ \[stage-1 1\/1\] COPY missing.txt \/x\n#\d+ ERROR: failed to compute cache key: "\/missing.txt": not found\n/);
    ranToItsEnd(first.stderr, 'RUN sleep 1 && echo ran');
    expect(first.stderr).not.toContain('[a 3/3] RUN false');
    // A stage beside it: a step that waited for it never starts.
    const beside = await fx.context('missing-beside-stage', {
      Dockerfile: 'FROM busybox AS a\nRUN sleep 1 && echo beside > /ran\nFROM busybox AS b\nCOPY missing.txt /x\nFROM busybox\nCOPY --from=a /ran /ran\nCOPY --from=b / /b\n',
    });
    const second = await fx.build(['--progress', 'plain', '-t', 'missing-beside-stage', beside]);
    expect(second.status).toBe(1);
    expect(second.stderr).toContain('ERROR: failed to solve: failed to compute cache key: "/missing.txt": not found');
    ranToItsEnd(second.stderr, 'RUN sleep 1 && echo beside > /ran');
    expect(second.stderr).not.toContain('] COPY --from=a');
    // A copy that fails as it runs, before the key of a later step has failed: the key's failure is the build's.
    const copying = await fx.context('missing-after-copy-failure', { 'd/y': 'y\n', Dockerfile: 'FROM busybox\nCOPY d/*.none /out/\nCOPY missing.txt /x\n' });
    const third = await fx.build(['--progress', 'plain', '-t', 'missing-after-copy-failure', copying]);
    expect(third.status).toBe(1);
    expect(third.stderr).toContain('ERROR: failed to solve: failed to compute cache key: "/missing.txt": not found');
    expect(third.stderr).toContain('Dockerfile:3');
  });

  it('fails in BuildKit’s words where a destination or WORKDIR goes through a file: lstat below it, mkdir of a link to it', async () => {
    const cases: Array<[string, string]> = [
      ['COPY f /etc/passwd/y/', 'lstat /etc/passwd/y: not a directory'],
      ['WORKDIR /etc/passwd/x/z\nRUN true', 'lstat /etc/passwd/x: not a directory'],
      ['RUN ln -s /etc/passwd /lnk\nCOPY f /lnk/', 'mkdir /etc/passwd: not a directory'],
    ];
    for (const [index, [instructions, error]] of cases.entries()) {
      const dir = await fx.context(`through-file-${index}`, { f: 'f\n', Dockerfile: `FROM busybox\n${instructions}\n` });
      const result = await fx.build(['--no-cache', '-t', `through-file-${index}`, dir]);
      expect({ instructions, status: result.status }).toEqual({ instructions, status: 1 });
      expect(result.stderr).toContain(`ERROR: failed to solve: ${error}\n`);
    }
  });

  it('fails on a wildcard matching nothing where the part before it is not there, as BuildKit’s copy lstats it (in the context the build reads)', async () => {
    const files = { 'd/y': 'y\n', f: 'f\n', dangling: { symlink: 'nowhere' } } as const;
    const cases: Array<[string, string | undefined]> = [
      ['COPY nope/* /out/', 'lstat /nope: no such file or directory'],
      ['ADD nope/d/* /out/', 'lstat /nope/d: no such file or directory'],
      // Its link followed, named where it led.
      ['COPY dangling/* /out/', 'lstat /nowhere: no such file or directory'],
      // A file, or a directory of which nothing is read, is not sent with the context.
      ['COPY f/* /out/', 'lstat /f: no such file or directory'],
      ['COPY d/*.none /out/', 'lstat /d: no such file or directory'],
      ['COPY d/*/z /out/', 'lstat /d: no such file or directory'],
      // Sent because the build reads it, or something below it, elsewhere: nothing to copy.
      ['COPY d/*.none /out/\nCOPY d/y /y', undefined],
      ['COPY f/* /out/\nCOPY f /f', undefined],
      ['COPY f/* /out/\nCOPY . /all/', undefined],
      ['COPY d/*.none /out/\nRUN --mount=type=bind,target=/m true', undefined],
      // A tmpfs mount sends the whole context, as dockerfile2llb adds its (empty) source.
      ['COPY d/*.none /out/\nRUN --mount=type=tmpfs,target=/m true', undefined],
      ['COPY d/*.none /out/\nRUN --mount=type=cache,target=/m true', 'lstat /d: no such file or directory'],
      ['COPY ["d/*.none", "*/y", "/out/"]', undefined],
      // The root is always there; a stage's file is walked and matches nothing.
      ['COPY *.none /out/', undefined],
      ['COPY --from=0 bin/busybox/* /out/', undefined],
      ['COPY --from=0 bin/nope/* /out/', 'lstat /bin/nope: no such file or directory'],
    ];
    for (const [index, [instructions, error]] of cases.entries()) {
      const dir = await fx.context(`wildcard-base-${index}`, { ...files, Dockerfile: `FROM busybox\nFROM busybox\n${instructions}\n` });
      const result = await fx.build(['--no-cache', '-t', `wildcard-base-${index}`, dir]);
      if (error === undefined) {
        expect({ instructions, status: result.status, stderr: result.stderr }).toMatchObject({ status: 0 });
      } else {
        expect({ instructions, status: result.status }).toEqual({ instructions, status: 1 });
        expect(result.stderr).toContain(`ERROR: failed to solve: ${error}`);
        expect(result.stderr).toContain('Dockerfile:3');
      }
    }
  });

  it('sets owners by --chown (names from the stage’s own /etc/passwd and /etc/group, or ids) and modes by --chmod', async () => {
    const dir = await fx.context('chown', {
      Dockerfile: [
        'FROM busybox',
        "RUN echo 'app:x:1234:2345::/:/bin/sh' >> /etc/passwd && echo 'appgroup:x:2345:' >> /etc/group && echo 'other:x:3456:' >> /etc/group",
        'COPY --chown=app f /named',
        'COPY --chown=app:other f /named-group',
        'COPY --chown=10:20 f /numeric',
        'COPY --chown=app dir /owned/',
        'COPY --chmod=0640 f /chmodded',
        'COPY --chmod=705 dir /chdir/',
        'COPY --chown=77 --chmod=600 f /both',
        'ADD --chown=app:appgroup --chmod=751 f /added',
      ].join('\n'),
      f: { mode: 0o644, content: 'f\n' },
      'dir/g': { mode: 0o755, content: 'g\n' },
      // The context's own passwd says nothing about the image's users.
      'etc/passwd': 'app:x:9999:9999::/:/bin/sh\n',
    });
    const result = await fx.build(['-t', 'chown', dir]);
    expect(result.status).toBe(0);
    const paths = byPath(await addedFiles(fx, await fx.image('chown')));
    expect(shape(paths.get('named'))).toEqual(['file', 0o644, 1234, 2345]);
    expect(shape(paths.get('named-group'))).toEqual(['file', 0o644, 1234, 3456]);
    expect(shape(paths.get('numeric'))).toEqual(['file', 0o644, 10, 20]);
    expect(shape(paths.get('owned/g'))).toEqual(['file', 0o755, 1234, 2345]);
    expect(shape(paths.get('chmodded'))).toEqual(['file', 0o640, 0, 0]);
    expect(shape(paths.get('chdir/g'))).toEqual(['file', 0o705, 0, 0]);
    // --chmod is for what is copied: the directory made to hold it is 0755, as BuildKit makes it.
    expect(shape(paths.get('chdir'))).toEqual(['directory', 0o755, 0, 0]);
    expect(shape(paths.get('both'))).toEqual(['file', 0o600, 77, 77]);
    expect(shape(paths.get('added'))).toEqual(['file', 0o751, 1234, 2345]);
    expect(paths.get('added')?.text).toBe('f\n');
  });

  it('ignores a --chmod that is no octal number, keeps the low twelve bits of a larger one; a --chown user the stage does not know is root, as in BuildKit', async () => {
    // BuildKit 0.13 neither expands --chmod nor refuses what is no octal number: it is ignored.
    const ignoredDir = await fx.context('ignored-chmod', { Dockerfile: 'FROM busybox\nARG MODE=600\nCOPY --chmod=17777 f /h\nCOPY --chmod=999 f /f\nCOPY --chmod=$MODE f /g\n', f: 'f\n' });
    expect((await fx.build(['-t', 'ignored-chmod', ignoredDir])).status).toBe(0);
    const ignored = await fx.image('ignored-chmod');
    const ignoredFiles = byPath(await addedFiles(fx, ignored));
    expect(shape(ignoredFiles.get('f'))).toEqual(['file', 0o644, 0, 0]);
    expect(shape(ignoredFiles.get('g'))).toEqual(['file', 0o644, 0, 0]);
    expect(shape(ignoredFiles.get('h'))).toEqual(['file', 0o7777, 0, 0]);
    expect(ignored.config.history?.at(-1)?.created_by).toBe('COPY --chmod=$MODE f /g # buildkit');
    // BuildKit's file op looks the name up and keeps 0 when /etc/passwd has no such user.
    const chownDir = await fx.context('unknown-chown', { Dockerfile: 'FROM busybox\nCOPY --chown=nosuchuser:nogroup f /f\n', f: 'f\n' });
    const unknown = await fx.build(['-t', 'unknown-chown', chownDir]);
    expect(unknown.status).toBe(0);
    const paths = byPath(await addedFiles(fx, await fx.image('unknown-chown')));
    expect(shape(paths.get('f'))).toEqual(['file', 0o644, 0, 65534]);
  });

  it('copies with --link as an ordinary copy over the stage, as docker’s builder does (existing parents kept, links on DEST’s path followed)', async () => {
    const dir = await fx.context('link', {
      Dockerfile: [
        'FROM busybox',
        'RUN echo before > /before && mkdir -m 0700 /real && ln -s /real /inside',
        'COPY --link f /tmp/deep/f',
        'COPY --link f /inside/f',
        'COPY --link --chown=7:8 dir /linked/',
        'COPY --link --chmod=600 f /inside/g',
        "RUN stat -c '%n %a %F' /tmp /inside /real/g > /stat",
      ].join('\n'),
      f: 'f\n',
      'dir/g': 'g\n',
    });
    const result = await fx.build(['-t', 'link', dir]);
    expect(result.status).toBe(0);
    const image = await fx.image('link');
    expect(image.manifest.layers).toHaveLength(7);
    const layers = await Promise.all(image.manifest.layers.slice(2).map((layer) => fx.layerFiles(layer)));
    const entries = (files: readonly LayerFile[] | undefined): unknown[] => (files ?? []).map((file) => [file.path, file.type, file.mode, file.uid, file.gid]);
    // busybox's /tmp keeps its 1777.
    expect(entries(layers[0])).toEqual([
      ['tmp', 'directory', 0o1777, 0, 0],
      ['tmp/deep', 'directory', 0o755, 0, 0],
      ['tmp/deep/f', 'file', 0o644, 0, 0],
    ]);
    // Through the stage's symlink, into the directory it names.
    expect(entries(layers[1])).toEqual([
      ['real', 'directory', 0o700, 0, 0],
      ['real/f', 'file', 0o644, 0, 0],
    ]);
    expect(entries(layers[2])).toEqual([
      ['linked', 'directory', 0o755, 7, 8],
      ['linked/g', 'file', 0o644, 7, 8],
    ]);
    expect(entries(layers[3])).toEqual([
      ['real', 'directory', 0o700, 0, 0],
      ['real/g', 'file', 0o600, 0, 0],
    ]);
    expect(layers[4]?.find((file) => file.path === 'stat')?.text).toBe('/tmp 1777 directory\n/inside 777 symbolic link\n/real/g 600 regular file\n');

    // Names are looked up in the stage's /etc/passwd and /etc/group, as BuildKit does.
    const named = await fx.context('link-named', { Dockerfile: 'FROM busybox\nCOPY --link --chown=nobody:nogroup f /f\n', f: 'f\n' });
    expect((await fx.build(['-t', 'link-named', named])).status).toBe(0);
    const linkedNamed = await fx.layerFiles((await fx.image('link-named')).manifest.layers[1] ?? expect.fail('no layer'));
    expect(linkedNamed.map((file) => [file.path, file.uid, file.gid])).toEqual([['f', 65534, 65534]]);
  });

  it('copies with --parents and --exclude on the labs channel', async () => {
    const dir = await fx.context('labs', {
      Dockerfile: [
        '# syntax=docker/dockerfile:1-labs',
        'FROM busybox',
        'COPY --parents a/b/file.txt c/./d/e.txt /out/',
        'COPY --parents src/**/*.go /gosrc/',
        'COPY --exclude=*.log --exclude=skip logs/ /logs/',
        'COPY --exclude=**/*.tmp . /all/',
      ].join('\n'),
      'a/b/file.txt': 'file\n',
      'a/b/other.txt': 'other\n',
      'c/d/e.txt': 'e\n',
      'src/main.go': 'main\n',
      'src/pkg/lib.go': 'lib\n',
      'src/pkg/README': 'readme\n',
      'logs/keep.txt': 'keep\n',
      'logs/x.log': 'x\n',
      'logs/skip/y': 'y\n',
      'deep/t.tmp': 'tmp\n',
      'deep/kept': 'kept\n',
    });
    const result = await fx.build(['-t', 'labs', dir]);
    expect(result.stderr).not.toContain('error');
    expect(result.status).toBe(0);
    const image = await fx.image('labs');
    const layers = await Promise.all(image.manifest.layers.slice(1).map((layer) => fx.layerFiles(layer)));
    const regular = (files: readonly LayerFile[]): Array<[string, string | undefined]> => files.filter((file) => file.type === 'file').map((file) => [file.path, file.text]);
    expect(regular(layers[0] ?? [])).toEqual([
      ['out/a/b/file.txt', 'file\n'],
      ['out/d/e.txt', 'e\n'],
    ]);
    expect(regular(layers[1] ?? [])).toEqual([
      ['gosrc/src/main.go', 'main\n'],
      ['gosrc/src/pkg/lib.go', 'lib\n'],
    ]);
    expect(regular(layers[2] ?? [])).toEqual([['logs/keep.txt', 'keep\n']]);
    const all = regular(layers[3] ?? []).map(([path]) => path);
    expect(all).toContain('all/deep/kept');
    expect(all).toContain('all/Dockerfile');
    expect(all.filter((path) => path.endsWith('.tmp'))).toEqual([]);
    expect((image.config.history ?? []).slice(1).map((entry) => entry.created_by)).toEqual([
      'COPY --parents a/b/file.txt c/./d/e.txt /out/ # buildkit',
      'COPY --parents src/**/*.go /gosrc/ # buildkit',
      'COPY logs/ /logs/ # buildkit',
      'COPY . /all/ # buildkit',
    ]);

    // On the stable channel these flags are unknown.
    const stable = await fx.context('stable-parents', { Dockerfile: 'FROM busybox\nCOPY --parents a/b /out/\n', 'a/b': 'b\n' });
    const refused = await fx.build(['-t', 'stable-parents', stable]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('parents');
    // docker/dockerfile:1 is the latest 1.x, in which they are stable (1.19 and 1.20); 1.8 refuses them.
    for (const [syntax, status] of [['docker/dockerfile:1', 0], ['docker/dockerfile:1.8', 1]] as const) {
      const floating = await fx.context(`floating-parents-${status}`, {
        Dockerfile: `# syntax=${syntax}\nFROM busybox\nCOPY --parents a/./b/kept.txt /out/\nCOPY --exclude=*.log a/b/ /all/\n`,
        'a/b/kept.txt': 'kept\n',
        'a/b/x.log': 'x\n',
      });
      const built = await fx.build(['-t', `floating-parents-${status}`, floating]);
      expect({ syntax, status: built.status }).toEqual({ syntax, status });
      if (status === 1) {
        expect(built.stderr).toContain('unknown flag: parents');
        continue;
      }
      const copied = await Promise.all((await fx.image(`floating-parents-${status}`)).manifest.layers.slice(1).map((layer) => fx.layerFiles(layer)));
      expect(copied.map(regular)).toEqual([[['out/b/kept.txt', 'kept\n']], [['all/kept.txt', 'kept\n']]]);
    }
    // The build argument BUILDKIT_SYNTAX names the frontend over the directive, as in BuildKit.
    const overridden = await fx.context('syntax-arg', { Dockerfile: '# syntax=docker/dockerfile:1.8\nFROM busybox\nCOPY --parents a/./b/kept.txt /out/\n', 'a/b/kept.txt': 'kept\n' });
    expect((await fx.build(['-t', 'syntax-arg', '--build-arg', 'BUILDKIT_SYNTAX=docker/dockerfile:1.20', overridden])).status).toBe(0);
    const pinned = await fx.build(['-t', 'syntax-arg', '--build-arg', 'BUILDKIT_SYNTAX=docker/dockerfile:1.4', await fx.context('syntax-arg-old', { Dockerfile: '# syntax=docker/dockerfile:1\nFROM busybox\nCOPY --parents a/./b/kept.txt /out/\n', 'a/b/kept.txt': 'kept\n' })]);
    expect(pinned).toMatchObject({ status: 1, stderr: expect.stringContaining('unknown flag: parents') });
  });

  it('copies heredoc sources', async () => {
    const dir = await fx.context('heredoc', {
      Dockerfile: ['FROM busybox', 'ARG NAME=world', 'WORKDIR /w', 'COPY <<EOF /x', 'hello $NAME $HOME', 'EOF', 'COPY <<"EOF" /quoted', 'hello $NAME', 'EOF', 'COPY <<one <<two many/', 'first', 'one', 'second', 'two', 'COPY --chmod=755 <<EOF /script.sh', '#!/bin/sh', 'echo hi', 'EOF'].join('\n'),
    });
    const result = await fx.build(['-t', 'heredoc', dir]);
    expect(result.status).toBe(0);
    const image = await fx.image('heredoc');
    const paths = byPath(await addedFiles(fx, image));
    // An unquoted delimiter's body is expanded with the build's ARGs and ENV (not the shell's), a quoted one's is not.
    expect(paths.get('x')?.text).toBe('hello world \n');
    expect(paths.get('quoted')?.text).toBe('hello $NAME\n');
    expect(shape(paths.get('x'))).toEqual(['file', 0o644, 0, 0]);
    expect(paths.get('w/many/one')?.text).toBe('first\n');
    expect(paths.get('w/many/two')?.text).toBe('second\n');
    expect(shape(paths.get('script.sh'))).toEqual(['file', 0o755, 0, 0]);
    expect(paths.get('script.sh')?.text).toBe('#!/bin/sh\necho hi\n');
    expect((image.config.history ?? []).slice(3).map((entry) => entry.created_by)).toEqual(['COPY <<EOF /x # buildkit', 'COPY <<EOF /quoted # buildkit', 'COPY <<one <<two many/ # buildkit', 'COPY --chmod=755 <<EOF /script.sh # buildkit']);
  });

  it('copies from a stage with the owners, modes and links the stage made', async () => {
    const dir = await fx.context('from-stage', {
      Dockerfile: [
        'FROM busybox AS build',
        'RUN mkdir -p /out/sub && echo built > /out/sub/f && chown 1000:1001 /out/sub/f && chmod 0700 /out/sub/f && ln -s sub/f /out/link && chmod 0711 /out/sub',
        'FROM busybox',
        'COPY --from=build /out /copied',
        'COPY --from=build /out/link /followed',
        'COPY --from=build --chown=5:6 /out/sub/ /chowned/',
      ].join('\n'),
    });
    const result = await fx.build(['-t', 'from-stage', dir]);
    expect(result.status).toBe(0);
    const paths = byPath(await addedFiles(fx, await fx.image('from-stage')));
    expect(shape(paths.get('copied/sub/f'))).toEqual(['file', 0o700, 1000, 1001]);
    expect(paths.get('copied/sub/f')?.text).toBe('built\n');
    expect(shape(paths.get('copied/sub'))).toEqual(['directory', 0o711, 0, 0]);
    expect(paths.get('copied/link')?.type).toBe('symlink');
    expect(paths.get('copied/link')?.linkname).toBe('sub/f');
    // A source that is a link is followed.
    expect(shape(paths.get('followed'))).toEqual(['file', 0o700, 1000, 1001]);
    expect(shape(paths.get('chowned/f'))).toEqual(['file', 0o700, 5, 6]);
  });

  it('follows a stage’s links inside the stage’s root, never the host’s', async () => {
    const secret = join(fx.dir, 'stage-secret.txt');
    await writeFile(secret, 'HOST-SECRET\n');
    const dir = await fx.context('stage-links', {
      Dockerfile: [
        'FROM busybox AS build',
        'RUN mkdir /out && ln -s ../../../../../../etc/passwd /out/rel',
        'FROM busybox',
        'COPY --from=build /out/rel /rel',
        'COPY --from=build ../../../../etc/group /group',
      ].join('\n'),
    });
    const result = await fx.build(['-t', 'stage-links', dir]);
    expect(result.status).toBe(0);
    const paths = byPath(await addedFiles(fx, await fx.image('stage-links')));
    expect(paths.get('rel')?.text).toBe('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    expect(paths.get('group')?.text).toBe('root:x:0:\nnogroup:x:65534:\n');
    const absolute = await fx.context('stage-links-abs', { Dockerfile: `FROM busybox AS build\nRUN mkdir /out && ln -s ${secret} /out/abs\nFROM busybox\nCOPY --from=build /out/abs /abs\n` });
    const refused = await fx.build(['-t', 'stage-links-abs', absolute]);
    expect(refused.status).toBe(1);
    // Named by where the link leads inside the stage, as BuildKit's checksum names it.
    expect(refused.stderr).toContain(`${JSON.stringify(secret)}: not found`);
    expect(refused.stderr).not.toContain('HOST-SECRET');
  });

  it('unpacks local tars (plain, gzip, bzip2, xz) with ADD, and copies them with COPY', async () => {
    const dir = await fx.context('tars', {
      Dockerfile: [
        'FROM busybox',
        'ADD plain.tar /plain/',
        'ADD archive.tgz /gz',
        'ADD archive.tar.bz2 /bz',
        'ADD archive.txz /xz',
        'ADD fake.tar.gz /raw/',
        'COPY archive.tgz /copied/',
        'ADD --chown=3:4 plain.tar /chowned',
      ].join('\n'),
      'fake.tar.gz': 'not an archive\n',
    });
    const tree = join(fx.dir, 'tar-tree');
    await mkdir(join(tree, 'dir'), { recursive: true });
    await writeFile(join(tree, 'f'), 'from tar\n', { mode: 0o640 });
    await chmod(join(tree, 'f'), 0o640);
    await writeFile(join(tree, 'dir', 'g'), 'g\n');
    await chmod(join(tree, 'dir'), 0o750);
    await run('ln', ['-s', 'dir/g', join(tree, 'link')]);
    const tarArgs = ['--owner=42', '--group=43', '--numeric-owner', '--mtime=@1600000000', '-C', tree, '-cf'];
    await run('tar', [...tarArgs, join(dir, 'plain.tar'), 'f', 'dir', 'link']);
    for (const [name, tool] of [
      ['archive.tgz', 'gzip'],
      ['archive.tar.bz2', 'bzip2'],
      ['archive.txz', 'xz'],
    ] as const) {
      const { stdout } = await run(tool, ['-c', join(dir, 'plain.tar')], { encoding: 'buffer' });
      await writeFile(join(dir, name), stdout);
    }
    const result = await fx.build(['-t', 'tars', dir]);
    expect(result.status).toBe(0);
    const paths = byPath(await addedFiles(fx, await fx.image('tars')));
    for (const base of ['plain', 'gz', 'bz', 'xz']) {
      expect(paths.get(`${base}/f`)?.text).toBe('from tar\n');
      // The archive's owners, modes and times.
      expect(shape(paths.get(`${base}/f`))).toEqual(['file', 0o640, 42, 43]);
      expect(paths.get(`${base}/f`)?.mtime).toBe(1600000000);
      expect(shape(paths.get(`${base}/dir`))).toEqual(['directory', 0o750, 42, 43]);
      expect(paths.get(`${base}/dir/g`)?.text).toBe('g\n');
      expect(paths.get(`${base}/link`)?.linkname).toBe('dir/g');
    }
    expect(shape(paths.get('raw/fake.tar.gz'))).toEqual(['file', 0o644, 0, 0]);
    expect(paths.get('raw/fake.tar.gz')?.text).toBe('not an archive\n');
    expect(paths.get('copied/archive.tgz')?.type).toBe('file');
    expect(paths.has('copied/f')).toBe(false);
    // BuildKit's untar takes no --chown: the archive's owners stay; DEST, made for it, has it.
    expect(shape(paths.get('chowned/f'))).toEqual(['file', 0o640, 42, 43]);
    expect(shape(paths.get('chowned'))).toEqual(['directory', 0o755, 3, 4]);
    expect(shape(paths.get('chowned/dir'))).toEqual(['directory', 0o750, 42, 43]);
  });

  it('unpacks a tar whose links and names point out inside the destination, never outside it', async () => {
    const outside = join(fx.dir, 'tar-outside');
    await mkdir(outside, { recursive: true });
    const dir = await fx.context('evil-tar', { Dockerfile: 'FROM busybox\nADD evil.tar /x/\n' });
    // Made with python's tarfile: GNU tar refuses to write such names.
    const script = [
      'import io, sys, tarfile',
      'def entry(t, name, data=None, link=None):',
      '    info = tarfile.TarInfo(name)',
      '    if link is not None:',
      '        info.type, info.linkname = tarfile.SYMTYPE, link',
      '        t.addfile(info)',
      '    else:',
      '        info.size = len(data)',
      '        t.addfile(info, io.BytesIO(data))',
      'outside = sys.argv[3]',
      "with tarfile.open(sys.argv[1], 'w') as t:",
      "    entry(t, 'abs', link=outside)",
      "    entry(t, 'abs/through-absolute', data=b'a\\n')",
      "    entry(t, 'up', link='../../../../../../../..' + outside)",
      "    entry(t, 'up/through-relative', data=b'r\\n')",
      "    entry(t, outside + '/absolute-name', data=b'n\\n')",
      "with tarfile.open(sys.argv[2], 'w') as t:",
      "    entry(t, '../../../../../../../..' + outside + '/dotdot', data=b'd\\n')",
    ].join('\n');
    await run('python3', ['-c', script, join(dir, 'evil.tar'), join(dir, 'dotdot.tar'), outside]);
    const result = await fx.build(['-t', 'evil-tar', dir]);
    expect(result.status).toBe(0);
    expect(await readdir(outside)).toEqual([]);
    const files = await addedFiles(fx, await fx.image('evil-tar'));
    // As moby's chrooted untar: links resolve inside the destination directory.
    const inside = `x${outside}`;
    expect(files.filter((file) => file.type === 'file').map((file) => [file.path, file.text])).toEqual([
      [`${inside}/absolute-name`, 'n\n'],
      [`${inside}/through-absolute`, 'a\n'],
      [`${inside}/through-relative`, 'r\n'],
    ]);
    expect(byPath(files).get('x/abs')?.linkname).toBe(outside);

    // A name that climbs out stays at the destination, as BuildKit's ADD keeps it (parity case add-tar-climbing-names).
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nADD dotdot.tar /x/\n');
    const climbing = await fx.build(['-t', 'evil-dotdot', dir]);
    expect(climbing.status, climbing.stderr).toBe(0);
    expect((await addedFiles(fx, await fx.image('evil-dotdot'))).filter((file) => file.type === 'file').map((file) => [file.path, file.text])).toEqual([[`${inside}/dotdot`, 'd\n']]);
    expect(await readdir(outside)).toEqual([]);
  });

  describe('ADD of a URL', () => {
    let server: Server;
    let base: string;
    let body = 'downloaded content\n';
    const requests: string[] = [];
    const lastModified = 'Wed, 21 Oct 2015 07:28:00 GMT';
    beforeAll(async () => {
      server = createServer((request, response) => {
        requests.push(request.url ?? '');
        if (request.url === '/redirect') {
          response.writeHead(302, { location: '/file.txt' }).end();
          return;
        }
        if (request.url === '/file.txt' || request.url === '/other') {
          response.writeHead(200, { 'last-modified': lastModified, 'content-type': 'text/plain' }).end(body);
          return;
        }
        response.writeHead(404).end('no\n');
      });
      await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    });

    it('downloads into dest, 0600, its mtime from Last-Modified, checked by --checksum', async () => {
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      const dir = await fx.context('url', {
        Dockerfile: [
          'FROM busybox',
          `ADD ${base}/file.txt /downloads/`,
          `ADD --checksum=${digest} ${base}/redirect /checked`,
          `ADD --chmod=644 ${base}/other /moded`,
        ].join('\n'),
      });
      const result = await fx.build(['-t', 'url', dir]);
      expect(result.stderr).not.toContain('ERROR');
      expect(result.status).toBe(0);
      const paths = byPath(await addedFiles(fx, await fx.image('url')));
      const mtime = Date.parse(lastModified) / 1000;
      expect(shape(paths.get('downloads/file.txt'))).toEqual(['file', 0o600, 0, 0]);
      expect(paths.get('downloads/file.txt')?.text).toBe(body);
      expect(paths.get('downloads/file.txt')?.mtime).toBe(mtime);
      expect(shape(paths.get('checked'))).toEqual(['file', 0o600, 0, 0]);
      expect(paths.get('checked')?.text).toBe(body);
      expect(paths.get('checked')?.mtime).toBe(mtime);
      expect(shape(paths.get('moded'))).toEqual(['file', 0o644, 0, 0]);

      requests.length = 0;
      const again = await fx.build(['-t', 'url', dir]);
      expect(again.status).toBe(0);
      expect(ranSteps(again.stderr)).toEqual([]);
      expect(cachedSteps(again.stderr)).toHaveLength(3);
      // Without --checksum a URL is fetched to key the step (by what it serves); with it, never.
      expect(requests.sort()).toEqual(['/file.txt', '/other']);
    });

    it('fails on a --checksum mismatch naming both digests, and names nothing', async () => {
      const wrong = `sha256:${'0'.repeat(64)}`;
      const actual = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      const dir = await fx.context('url-mismatch', { Dockerfile: `FROM busybox\nADD --checksum=${wrong} ${base}/file.txt /f\n` });
      const result = await fx.build(['-t', 'url-mismatch', dir]);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(wrong);
      expect(result.stderr).toContain(actual);
      expect(await fx.store.resolveReference('docker.io/library/url-mismatch:latest')).toBeUndefined();
    });

    it('refuses --checksum but for one URL, as dockerfile2llb', async () => {
      const sum = `sha256:${'0'.repeat(64)}`;
      for (const [name, line, message] of [
        ['checksum-local', `ADD --checksum=${sum} f /f`, "checksum can't be specified for non-HTTP sources"],
        ['checksum-many', `ADD --checksum=${sum} ${base}/file.txt ${base}/other /d/`, "checksum can't be specified for multiple sources"],
      ] as const) {
        requests.length = 0;
        const dir = await fx.context(name, { Dockerfile: `FROM busybox\n${line}\n`, f: 'f\n' });
        const result = await fx.build(['-t', name, dir]);
        expect(result.status).toBe(1);
        expect(result.stderr).toContain(message);
        expect(requests).toEqual([]);
      }
    });

    it('fails on a URL the server does not have, naming it and the status', async () => {
      const dir = await fx.context('url-404', { Dockerfile: `FROM busybox\nADD ${base}/missing /m\n` });
      const result = await fx.build(['-t', 'url-404', dir]);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`${base}/missing`);
      expect(result.stderr).toContain('404');
    });

    it('downloads again when what the URL serves changed (without --checksum)', async () => {
      const dir = await fx.context('url-changes', { Dockerfile: `FROM busybox\nADD ${base}/other /other\nRUN cat /other > /seen\n` });
      body = 'first version\n';
      expect((await fx.build(['-t', 'url-changes', dir])).status).toBe(0);
      const same = await fx.build(['-t', 'url-changes', dir]);
      expect(ranSteps(same.stderr)).toEqual([]);
      body = 'second version\n';
      const changed = await fx.build(['-t', 'url-changes', dir]);
      expect(changed.status).toBe(0);
      expect(ranSteps(changed.stderr)).toEqual([`[2/3] ADD ${base}/other /other`, '[3/3] RUN cat /other > /seen']);
      const image = await fx.image('url-changes');
      const paths = byPath(await addedFiles(fx, image));
      expect(paths.get('seen')?.text).toBe('second version\n');
      body = 'downloaded content\n';
    });
  });

  describe('.dockerignore', () => {
    it('leaves out what it excludes (with ! exceptions and **), and a change to an excluded file changes nothing', async () => {
      const dir = await fx.context('ignore', {
        '.dockerignore': '# comment\n*.secret\n**/*.tmp\nlogs\n!logs/keep.log\n',
        Dockerfile: 'FROM busybox\nCOPY . /ctx/\nRUN ls -R /ctx > /listing\n',
        'app.txt': 'app\n',
        'x.secret': 'secret\n',
        'sub/x.secret': 'not at the top\n',
        'sub/deep/y.tmp': 'tmp\n',
        'sub/z.txt': 'z\n',
        'logs/a.log': 'a\n',
        'logs/keep.log': 'keep\n',
      });
      const first = await fx.build(['-t', 'ignore', dir]);
      expect(first.status).toBe(0);
      const image = await fx.image('ignore');
      const copied = (await fx.layerFiles(image.manifest.layers[1] as never)).map((file) => file.path);
      expect(copied.sort()).toEqual(
        ['ctx', 'ctx/.dockerignore', 'ctx/Dockerfile', 'ctx/app.txt', 'ctx/logs', 'ctx/logs/keep.log', 'ctx/sub', 'ctx/sub/deep', 'ctx/sub/x.secret', 'ctx/sub/z.txt'].sort(),
      );

      await writeFile(join(dir, 'x.secret'), 'changed secret, longer than before\n');
      await writeFile(join(dir, 'logs', 'a.log'), 'changed\n');
      await writeFile(join(dir, 'sub', 'deep', 'y.tmp'), 'changed\n');
      await writeFile(join(dir, 'new.tmp'), 'new\n');
      await writeFile(join(dir, 'logs', 'new.log'), 'new\n');
      const again = await fx.build(['-t', 'ignore', dir]);
      expect(again.status).toBe(0);
      expect(ranSteps(again.stderr)).toEqual([]);
      expect(cachedSteps(again.stderr)).toEqual(['[2/3] COPY . /ctx/', '[3/3] RUN ls -R /ctx > /listing']);
      expect((await fx.image('ignore')).manifest.config.digest).toBe(image.manifest.config.digest);

      // An excluded file named as a source does not exist.
      const named = await fx.context('ignore-named', { '.dockerignore': 'x.secret\n', Dockerfile: 'FROM busybox\nCOPY x.secret /\n', 'x.secret': 'secret\n' });
      const refused = await fx.build(['-t', 'ignore-named', named]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('"/x.secret": not found');
    });

    it('reads <Dockerfile>.dockerignore beside the Dockerfile before the context’s own', async () => {
      const dir = await fx.context('ignore-beside', {
        '.dockerignore': 'a.txt\n',
        'docker/app.Dockerfile': 'FROM busybox\nCOPY *.txt /out/\n',
        'docker/app.Dockerfile.dockerignore': 'b.txt\ndocker\n',
        'a.txt': 'a\n',
        'b.txt': 'b\n',
        'c.txt': 'c\n',
      });
      const result = await fx.build(['-t', 'ignore-beside', '-f', join(dir, 'docker', 'app.Dockerfile'), dir]);
      expect(result.status).toBe(0);
      const files = (await addedFiles(fx, await fx.image('ignore-beside'))).filter((file) => file.type === 'file').map((file) => file.path);
      expect(files).toEqual(['out/a.txt', 'out/c.txt']);
      // The context's own file applies to its own Dockerfile.
      await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY *.txt /out/\n');
      expect((await fx.build(['-t', 'ignore-own', dir])).status).toBe(0);
      const own = (await addedFiles(fx, await fx.image('ignore-own'))).filter((file) => file.type === 'file').map((file) => file.path);
      expect(own).toEqual(['out/b.txt', 'out/c.txt']);
      // And beside a Dockerfile outside the context.
      await writeFile(join(fx.dir, 'elsewhere.Dockerfile'), 'FROM busybox\nCOPY *.txt /out/\n');
      await writeFile(join(fx.dir, 'elsewhere.Dockerfile.dockerignore'), 'c.txt\n');
      expect((await fx.build(['-t', 'ignore-elsewhere', '-f', join(fx.dir, 'elsewhere.Dockerfile'), dir])).status).toBe(0);
      const elsewhere = (await addedFiles(fx, await fx.image('ignore-elsewhere'))).filter((file) => file.type === 'file').map((file) => file.path);
      expect(elsewhere).toEqual(['out/a.txt', 'out/b.txt']);
    });
  });

  describe('context symlinks and paths that point out', () => {
    it('copies links as links, and never reads outside the context', async () => {
      const secret = 'TOP-SECRET-OUTSIDE';
      await writeFile(join(fx.dir, 'secret.txt'), `${secret}\n`);
      const dir = await fx.context('links', {
        Dockerfile: [
          'FROM busybox',
          'COPY tree /tree/',
          'COPY link-to-file /followed',
          'COPY ../secret.txt /dotdot',
          'COPY /secret.txt /absolute',
          'COPY tree/out-link /through-link',
          'COPY ../../../tree/../../secret.* /wild/',
          'COPY tree/dir-link/secret.txt /through-dir-link',
        ].join('\n'),
        'file.txt': 'file\n',
        'secret.txt': 'inside the context\n',
        'link-to-file': { symlink: 'file.txt' },
        'tree/file.txt': 'tree file\n',
        'tree/rel': { symlink: '../file.txt' },
        'tree/out-link': { symlink: '../../secret.txt' },
        'tree/abs-link': { symlink: join(fx.dir, 'secret.txt') },
        'tree/dir-link': { symlink: '../..' },
      });
      const result = await fx.build(['-t', 'links', dir]);
      expect(result.stderr).not.toContain('ERROR');
      expect(result.status).toBe(0);
      const files = await addedFiles(fx, await fx.image('links'));
      const paths = byPath(files);
      expect(paths.get('tree/rel')?.type).toBe('symlink');
      expect(paths.get('tree/rel')?.linkname).toBe('../file.txt');
      expect(paths.get('tree/out-link')?.linkname).toBe('../../secret.txt');
      expect(paths.get('tree/abs-link')?.linkname).toBe(join(fx.dir, 'secret.txt'));
      expect(paths.get('tree/dir-link')?.linkname).toBe('../..');
      expect(paths.get('followed')?.type).toBe('file');
      expect(paths.get('followed')?.text).toBe('file\n');
      // `..`, `/` and links are resolved inside the context: its own secret.txt, never the one beside it.
      expect(paths.get('dotdot')?.text).toBe('inside the context\n');
      expect(paths.get('absolute')?.text).toBe('inside the context\n');
      expect(paths.get('through-link')?.text).toBe('inside the context\n');
      expect(paths.get('wild/secret.txt')?.text).toBe('inside the context\n');
      expect(paths.get('through-dir-link')?.text).toBe('inside the context\n');
      for (const file of files) expect(file.text ?? '').not.toContain(secret);

      // A link to an absolute host path leads nowhere inside the context.
      const abs = await fx.context('links-abs', { Dockerfile: 'FROM busybox\nCOPY abs-link /x\n', 'abs-link': { symlink: join(fx.dir, 'secret.txt') } });
      const refused = await fx.build(['-t', 'links-abs', abs]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('not found');
      expect(refused.stderr).not.toContain(secret);
    });

    it('writes a dest through a link in the image inside the root filesystem', async () => {
      const outside = join(fx.dir, 'outside-dest');
      await mkdir(outside, { recursive: true });
      const hostFile = join(fx.dir, 'host-file.txt');
      await writeFile(hostFile, 'HOST\n');
      const dir = await fx.context('dest-links', {
        Dockerfile: [
          'FROM busybox',
          `RUN ln -s ${outside} /abs && ln -s ../../../../../../.. /up && mkdir /real && ln -s /real /inside && ln -s ${hostFile} /host-file`,
          'COPY f /abs/',
          'COPY f /up/up.txt',
          'COPY f /inside/f',
          'WORKDIR /w',
          'COPY f ../../../../etc/clamped',
          // As BuildKit (continuity's RootPath), a DEST that is a link is followed, inside the root.
          'COPY f /host-file',
        ].join('\n'),
        f: 'f\n',
      });
      const result = await fx.build(['-t', 'dest-links', dir]);
      expect(result.status).toBe(0);
      expect(await readdir(outside)).toEqual([]);
      const image = await fx.image('dest-links');
      const layers = await Promise.all(image.manifest.layers.slice(2).map((layer) => fx.layerFiles(layer)));
      expect(layers[0]?.find((file) => file.type === 'file')?.path).toBe(`${outside.slice(1)}/f`);
      expect(layers[1]?.map((file) => file.path)).toEqual(['up.txt']);
      expect(layers[2]?.map((file) => file.path)).toEqual(['real', 'real/f']);
      expect(layers[4]?.map((file) => file.path)).toEqual(['etc', 'etc/clamped']);
      expect(await readFile(hostFile, 'utf8')).toBe('HOST\n');
      expect(layers[5]?.filter((file) => file.type === 'file').map((file) => [file.path, file.text])).toEqual([[hostFile.slice(1), 'f\n']]);
    });
  });

  describe('the cache', () => {
    const dockerfile = ['FROM busybox', 'RUN echo first > /first', 'COPY a.txt /a.txt', 'RUN echo between > /between', 'COPY b.txt /b.txt', 'RUN cat /a.txt /b.txt > /both'].join('\n');
    const steps = ['[2/6] RUN echo first > /first', '[3/6] COPY a.txt /a.txt', '[4/6] RUN echo between > /between', '[5/6] COPY b.txt /b.txt', '[6/6] RUN cat /a.txt /b.txt > /both'];
    const fixedTime = 1_600_000_000;
    let dir: string;

    async function both(): Promise<string | undefined> {
      const image = await fx.image('cached');
      return (await fx.layerFiles(image.manifest.layers.at(-1) as never)).find((file) => file.path === 'both')?.text;
    }

    beforeAll(async () => {
      dir = await fx.context('cached', { Dockerfile: dockerfile, 'a.txt': 'aaaa\n', 'b.txt': 'bbbb\n' });
      await utimes(join(dir, 'a.txt'), fixedTime, fixedTime);
      // Older than the timestamp granularity (2 s at worst): the persistent index then keeps their
      // hashes, and the tests below show it is never taken for a file that changed.
      await new Promise((resolveWait) => setTimeout(resolveWait, 2100));
      const first = await fx.build(['-t', 'cached', dir]);
      expect(first.status).toBe(0);
      expect(ranSteps(first.stderr)).toEqual(steps);
    });

    it('hits on every step of a second build', async () => {
      const again = await fx.build(['-t', 'cached', dir]);
      expect(again.status).toBe(0);
      expect(cachedSteps(again.stderr)).toEqual(steps);
      expect(ranSteps(again.stderr)).toEqual([]);
    });

    it('misses from the first step that reads an edited file', async () => {
      await writeFile(join(dir, 'b.txt'), 'bbbb edited\n');
      const edited = await fx.build(['-t', 'cached', dir]);
      expect(edited.status).toBe(0);
      expect(cachedSteps(edited.stderr)).toEqual(steps.slice(0, 3));
      expect(ranSteps(edited.stderr)).toEqual(steps.slice(3));
      expect(await both()).toBe('aaaa\nbbbb edited\n');
    });

    it('misses on a file rewritten with the same size and mtime, though the index knew it', async () => {
      const indexDir = join(fx.root, 'context-index');
      const indexed = await Promise.all((await readdir(indexDir)).map(async (name) => JSON.parse(await readFile(join(indexDir, name), 'utf8')) as { root: string; entries: Record<string, unknown> }));
      const root = await realpath(dir);
      expect(Object.keys(indexed.find((index) => index.root === root)?.entries ?? {})).toContain('a.txt');
      const path = join(dir, 'a.txt');
      const before = await stat(path, { bigint: true });
      expect(before.mtimeNs).toBe(BigInt(fixedTime) * 1_000_000_000n);
      await writeFile(path, 'AAAA\n');
      await utimes(path, fixedTime, fixedTime);
      const after = await stat(path, { bigint: true });
      expect([after.size, after.mtimeNs]).toEqual([before.size, before.mtimeNs]);
      const rewritten = await fx.build(['-t', 'cached', dir]);
      expect(rewritten.status).toBe(0);
      expect(cachedSteps(rewritten.stderr)).toEqual(steps.slice(0, 1));
      expect(ranSteps(rewritten.stderr)).toEqual(steps.slice(1));
      expect(await both()).toBe('AAAA\nbbbb edited\n');
    });

    it('hits after touch (mtime only), misses after chmod (mode is content)', async () => {
      const path = join(dir, 'b.txt');
      const later = Date.now() / 1000 + 100;
      await utimes(path, later, later);
      const touched = await fx.build(['-t', 'cached', dir]);
      expect(touched.status).toBe(0);
      expect(cachedSteps(touched.stderr)).toEqual(steps);

      await chmod(path, 0o600);
      const chmodded = await fx.build(['-t', 'cached', dir]);
      expect(chmodded.status).toBe(0);
      expect(cachedSteps(chmodded.stderr)).toEqual(steps.slice(0, 3));
      expect(ranSteps(chmodded.stderr)).toEqual(steps.slice(3));
      const image = await fx.image('cached');
      const copied = (await fx.layerFiles(image.manifest.layers[4] as never)).find((file) => file.path === 'b.txt');
      expect(shape(copied)).toEqual(['file', 0o600, 0, 0]);
    });

    it('builds with -f a Dockerfile outside the context', async () => {
      const outside = join(fx.dir, 'outside.Dockerfile');
      await writeFile(outside, 'FROM busybox\nCOPY a.txt b.txt /from-outside/\n');
      const result = await fx.build(['-t', 'outside-dockerfile', '-f', outside, dir]);
      expect(result.status).toBe(0);
      const paths = byPath(await addedFiles(fx, await fx.image('outside-dockerfile')));
      expect(paths.get('from-outside/a.txt')?.text).toBe('AAAA\n');
      expect(paths.get('from-outside/b.txt')?.text).toBe('bbbb edited\n');
    });
  });

  it('keys COPY --from by the files it selects: a stage that ran again with the same files leaves the copy and later steps cached', async () => {
    const dir = await fx.context('from-content', {
      Dockerfile: [
        'FROM busybox AS gen',
        'ARG V=1',
        'RUN echo $V > /changing && echo stable > /stable && mkdir /tree && echo t > /tree/t',
        'FROM busybox',
        'RUN echo first > /first',
        'COPY --from=gen /stable /tree /copied/',
        'RUN cat /copied/stable > /seen',
        'COPY --from=gen /changing /changing',
        'RUN cat /changing > /seen-changing',
      ].join('\n'),
    });
    const first = await fx.build(['-t', 'from-content', dir]);
    expect(first.status).toBe(0);
    const before = await fx.image('from-content');
    const changed = await fx.build(['-t', 'from-content', '--build-arg', 'V=2', dir]);
    expect(changed.status).toBe(0);
    expect(ranSteps(changed.stderr)).toEqual(['[gen 2/2] RUN echo 2 > /changing && echo stable > /stable && mkdir /tree && echo t > /tree/t', '[stage-1 5/6] COPY --from=gen /changing /changing', '[stage-1 6/6] RUN cat /changing > /seen-changing']);
    expect(cachedSteps(changed.stderr)).toEqual(['[stage-1 2/6] RUN echo first > /first', '[stage-1 3/6] COPY --from=gen /stable /tree /copied/', '[stage-1 4/6] RUN cat /copied/stable > /seen']);
    const after = await fx.image('from-content');
    // The cached copy's layer is the first build's, the changed file's is new.
    expect(after.manifest.layers.slice(0, 4)).toEqual(before.manifest.layers.slice(0, 4));
    const paths = byPath(await addedFiles(fx, after));
    expect(paths.get('changing')?.text).toBe('2\n');
    expect(paths.get('seen-changing')?.text).toBe('2\n');
    expect(paths.get('copied/stable')?.text).toBe('stable\n');
    expect(paths.get('copied/t')?.text).toBe('t\n');
    // And both ways back hit.
    const back = await fx.build(['-t', 'from-content', dir]);
    expect(ranSteps(back.stderr)).toEqual([]);
  });

  describe('without a context (`tsbuild build -`)', () => {
    const bin = resolve(import.meta.dirname, '../../bin/tsbuild.js');

    function buildFromStdin(dockerfile: string, args: readonly string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
      return new Promise((resolveRun, reject) => {
        const child = spawn(process.execPath, [bin, 'build', '--root', fx.root, '--progress', 'plain', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
        child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
        child.on('error', reject);
        child.on('close', (status) => resolveRun({ status, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
        child.stdin.end(dockerfile);
      });
    }

    it('builds a Dockerfile from standard input, and fails clearly on a COPY from the context', async () => {
      const ok = await buildFromStdin('FROM busybox\nRUN echo from stdin > /hi\nCOPY --from=busybox /etc/group /group\nCOPY <<EOF /doc\nheredoc\nEOF\n', ['-t', 'stdin', '-']);
      expect(ok.stderr).not.toContain('ERROR');
      expect(ok.status).toBe(0);
      const paths = byPath(await addedFiles(fx, await fx.image('stdin')));
      expect(paths.get('hi')?.text).toBe('from stdin\n');
      expect(paths.get('group')?.text).toContain('root:x:0:');
      expect(paths.get('doc')?.text).toBe('heredoc\n');

      const failed = await buildFromStdin('FROM busybox\nCOPY a.txt /a\n', ['-t', 'stdin-copy', '-']);
      expect(failed.status).toBe(1);
      expect(failed.stderr).toContain('this build has no context');
      expect(await fx.store.resolveReference('docker.io/library/stdin-copy:latest')).toBeUndefined();

      // `-f -`: the Dockerfile from standard input, with a context.
      const dir = await fx.context('stdin-context', { 'a.txt': 'from the context\n' });
      const withContext = await buildFromStdin('FROM busybox\nCOPY a.txt /a\n', ['-t', 'stdin-context', '-f', '-', dir]);
      expect(withContext.status).toBe(0);
      expect(byPath(await addedFiles(fx, await fx.image('stdin-context'))).get('a')?.text).toBe('from the context\n');
    });
  });
});
