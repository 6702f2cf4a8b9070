/**
 * `diff`, `export` and `commit` of containers through the installed command, as root: a busybox
 * container adds, changes and deletes files (a whole directory of the image too) beside a volume
 * and tsbuild's own mount points, which none of the three may show. The committed image is run,
 * checked against the OCI schemas, and read by skopeo and umoci.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { parseDigest, setXattr, type ContainerConfig } from '../../src/common/index.js';
import { directoryEntries } from '../../src/exporter/index.js';
import { applyCommitChanges, parseCommitChanges } from '../../src/cli/commands/container-changes.js';
import { mergeCommitConfig } from '../../src/runtime/index.js';
import { openStore, resolveImage, type Store } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { layoutBlobs, validateImage } from '../helpers/validate.js';
import { asRootless, buildBinaries, chownTree, ensureRootlessUser, isRoot, mountsUnder, runInstalledCliBytes, scratchDir, toolExists } from './helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

interface Run {
  readonly status: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

let dir: string;
let root: string;
let store: Store;
/** argv before node's: running as the unprivileged user, for its suite. */
let prefix: readonly string[] = [];

function tsbuild(...args: string[]): Run {
  return runInstalledCliBytes(args, { root, prefix });
}

function ok(...args: string[]): string {
  const result = tsbuild(...args);
  if (result.status !== 0) expect.fail(`tsbuild ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout.toString();
}

async function until(what: string, read: () => string, done: (value: string) => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (done(value)) return;
    if (Date.now() > deadline) expect.fail(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** A name that is not UTF-8: Latin-1 `café`. */
const latinName = Buffer.from([0x63, 0x61, 0x66, 0xe9]);

/** What the container does to the image's files, then waits. */
const changesScript = [
  'echo hi > /new',
  'echo changed >> /etc/passwd',
  'rm /bin/ls',
  'rm -rf /var/spool',
  // Made again after its removal: an opaque directory, whose image content stays hidden.
  'rm -rf /usr/sbin && mkdir /usr/sbin && echo x > /usr/sbin/only',
  'mkdir -p /d/e',
  'touch /d/e/f',
  'touch "$(printf "caf\\351")"',
  'echo in-volume > /data/vol/file',
  'echo ready',
  'sleep 300',
].join('; ');

/** `docker diff` of that container: parents of additions and deletions shown changed, mount points left out. */
const expectedDiff = Buffer.concat([
  Buffer.from('C /bin\nD /bin/ls\nA /'),
  latinName,
  Buffer.from('\nA /d\nA /d/e\nA /d/e/f\nC /etc\nC /etc/passwd\nA /new\nC /usr\nD /usr/sbin\nA /usr/sbin/only\nC /var\nD /var/spool\n'),
]);

function tarList(path: string): string[] {
  return execFileSync('tar', ['--quoting-style=literal', '-tf', path], { encoding: 'latin1' }).split('\n').filter((line) => line !== '');
}

describe.runIf(isRoot)('container diff, export and commit', () => {
  beforeAll(async () => {
    buildBinaries();
    dir = scratchDir('tsbuild-changes-');
    root = join(dir, 'root');
    store = await openStore({ root });
    await busyboxImage(store);
    ok('run', '-d', '--name', 'changer', '-v', '/data/vol', 'busybox', 'sh', '-c', changesScript);
    await until('logs', () => ok('logs', 'changer'), (text) => text === 'ready\n');
  }, 120_000);

  afterAll(async () => {
    if (root === undefined) return;
    const ids = tsbuild('ps', '-aq', '--no-trunc').stdout.toString().split('\n').filter((id) => id !== '');
    if (ids.length > 0) tsbuild('rm', '-f', '--volumes', ...ids);
    await sleep(200);
    expect(await mountsUnder(dir)).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('diff lists the changes as docker does, deletions of a file and of a whole directory included, without tsbuild\'s mount points', () => {
    const result = tsbuild('diff', 'changer');
    expect(result.stderr).toBe('');
    expect(result.stdout.toString('latin1')).toBe(expectedDiff.toString('latin1'));
    // The same under the group's name.
    expect(tsbuild('container', 'diff', 'changer').stdout.equals(expectedDiff)).toBe(true);
  });

  it('export writes the whole root filesystem of a running container, without its volumes, and leaves nothing mounted', async () => {
    const file = join(dir, 'running.tar');
    ok('export', '-o', file, 'changer');
    const names = tarList(file);
    expect(names).toEqual(expect.arrayContaining(['new', 'd/e/f', 'etc/passwd', 'bin/busybox', 'bin/', `${latinName.toString('latin1')}`]));
    expect(names).not.toContain('bin/ls');
    expect(names.some((name) => name.startsWith('var/spool'))).toBe(false);
    expect(names).not.toContain('data/vol/file');
    expect(names.filter((name) => name.startsWith('usr/sbin/') && name !== 'usr/sbin/')).toEqual(['usr/sbin/only']);
    expect(execFileSync('tar', ['-xOf', file, 'new'], { encoding: 'utf8' })).toBe('hi\n');
    expect(execFileSync('tar', ['-xOf', file, 'etc/passwd'], { encoding: 'utf8' })).toMatch(/\nchanged\n$/);
    expect((await mountsUnder(dir)).filter((point) => point.includes('/export-'))).toEqual([]);
    // A reader that goes away early leaves no mount either.
    execFileSync('sh', ['-c', `"${process.execPath}" "${bin}" export changer | head -c 1000 > /dev/null`], { env: { ...process.env, TSBUILD_ROOT: root } });
    await sleep(200);
    expect((await mountsUnder(dir)).filter((point) => point.includes('/export-'))).toEqual([]);
  });

  it('commit makes an image of the changes with -c, -a and -m applied; a run of it sees them; skopeo and umoci read it', async () => {
    const result = tsbuild('commit', '-a', 'Ann <ann@example.com>', '-m', 'the changes', '-c', 'ENV FOO=bar', '-c', 'CMD ["cat", "/new"]', '-c', 'EXPOSE 8080', '-c', 'LABEL stage=committed', '-c', 'WORKDIR /d', 'changer', 'committed:v1');
    expect(result.stderr).toBe('');
    const id = result.stdout.toString().trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    // -p (the default) froze it for the copy only.
    expect(ok('inspect', '--format', '{{.State.Status}}', 'changer').trim()).toBe('running');

    expect(ok('run', '--rm', 'committed:v1')).toBe('hi\n');
    const seen = ok('run', '--rm', 'committed:v1', 'sh', '-c', 'test ! -e /bin/ls && test ! -e /var/spool && test ! -e /data/vol/file && test -e /d/e/f && tail -n 1 /etc/passwd && echo "$FOO $(pwd)" && ls /usr/sbin && ls /');
    expect(seen).toMatch(/^changed\nbar \/d\nonly\n/);
    expect(seen).toContain(latinName.toString('latin1').slice(0, 3));

    const descriptor = (await store.resolveReference('docker.io/library/committed:v1')) ?? expect.fail('no committed image');
    const image = await resolveImage(store, descriptor);
    expect(image.manifest.config.digest).toBe(id);
    const base = await resolveImage(store, (await store.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
    expect(image.config.rootfs.diff_ids.slice(0, -1)).toEqual(base.config.rootfs.diff_ids);
    expect(image.config.rootfs.diff_ids).toHaveLength(base.config.rootfs.diff_ids.length + 1);
    const config = image.config.config ?? expect.fail('no config');
    expect(config.Env).toContain('FOO=bar');
    expect(config.Env?.some((entry) => entry.startsWith('HOSTNAME='))).toBe(false);
    expect(config.Cmd).toEqual(['cat', '/new']);
    expect(config.ExposedPorts).toEqual({ '8080/tcp': {} });
    expect(config.Labels).toMatchObject({ stage: 'committed' });
    expect(config.WorkingDir).toBe('/d');
    // `-v /data/vol` is in the container's Volumes, as docker's create puts it.
    expect(config.Volumes).toEqual({ '/data/vol': {} });
    expect(image.config.author).toBe('Ann <ann@example.com>');
    expect(image.config.history?.at(-1)).toMatchObject({ created_by: `sh -c ${changesScript}`, comment: 'the changes', author: 'Ann <ann@example.com>' });
    // As docker's commit: the message is the history entry's only, and inspect shows it from there.
    expect(image.config.comment).toBeUndefined();
    expect(ok('image', 'inspect', '--format', '{{.Comment}}', 'committed:v1').trim()).toBe('the changes');
    // Written as a build writes its config (Go's encoding/json): keys sorted, `<` and `>` escaped.
    const text = image.configBytes.toString('utf8');
    expect(text.startsWith(`{"architecture":"${image.config.architecture}","author":"Ann \\u003cann@example.com\\u003e","config":{`)).toBe(true);
    expect(image.config.history?.at(-1)?.empty_layer).toBeUndefined();

    // The new layer: the deletions as OCI whiteouts, no mount point of tsbuild's.
    const layer = image.manifest.layers.at(-1) ?? expect.fail('no layer');
    const layerPath = join(root, 'blobs', 'sha256', parseDigest(layer.digest).slice(7));
    const entries = execFileSync('tar', ['--quoting-style=literal', '-tzf', layerPath], { encoding: 'latin1' }).split('\n').filter((line) => line !== '');
    expect(entries).toEqual(expect.arrayContaining(['bin/.wh.ls', 'var/.wh.spool', 'usr/sbin/.wh..wh..opq', 'usr/sbin/only', 'new', 'etc/passwd', 'd/e/f']));
    for (const name of ['etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'etc/mtab', '.dockerenv', 'proc/', 'sys/', 'dev/', 'data/', 'data/vol/']) expect(entries).not.toContain(name);

    await validateImage(layoutBlobs(root), descriptor);
    if (toolExists('skopeo')) {
      const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${root}:docker.io/library/committed:v1`], { encoding: 'utf8' })) as { Layers: string[]; Author?: string };
      expect(inspected.Layers).toHaveLength(image.manifest.layers.length);
      if (toolExists('umoci')) {
        const copied = join(dir, 'copied');
        execFileSync('skopeo', ['copy', `oci:${root}:docker.io/library/committed:v1`, `oci:${copied}:copy`], { stdio: 'pipe' });
        const bundle = join(dir, 'bundle');
        execFileSync('umoci', ['unpack', '--image', `${copied}:copy`, bundle], { stdio: 'pipe' });
        expect(readFileSync(join(bundle, 'rootfs', 'new'), 'utf8')).toBe('hi\n');
        expect(existsSync(join(bundle, 'rootfs', 'bin', 'ls'))).toBe(false);
        expect(existsSync(join(bundle, 'rootfs', 'var', 'spool'))).toBe(false);
        expect(existsSync(join(bundle, 'rootfs', 'bin', 'busybox'))).toBe(true);
      }
    }
  }, 60_000);

  it('works on a stopped container: diff the same, export to standard output, commit without a name', () => {
    ok('stop', '-t', '0', 'changer');
    expect(tsbuild('diff', 'changer').stdout.equals(expectedDiff)).toBe(true);
    const tar = tsbuild('export', 'changer');
    expect(tar.status).toBe(0);
    const file = join(dir, 'stopped.tar');
    execFileSync('sh', ['-c', 'cat > "$1"', 'sh', file], { input: tar.stdout });
    expect(tarList(file)).toEqual(expect.arrayContaining(['new', 'd/e/f']));
    expect(ok('container', 'commit', '--pause=false', 'changer')).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    // docker's -p is a bool flag: the word after it is the container.
    expect(ok('commit', '-p', 'changer', 'stopped:1')).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(tsbuild('commit', '-p', 'changer', 'a', 'b')).toMatchObject({ status: 1, stderr: expect.stringContaining('"commit" requires at least 1 and at most 2 arguments.') });
  });

  it('commits the ports a container publishes as exposed, and only its anonymous volumes as VOLUMEs', async () => {
    ok('create', '-p', '127.0.0.1:18080:80', '-p', '53/udp', '-v', '/anonymous', '-v', 'named:/named', '--name', 'published', 'busybox');
    ok('commit', 'published', 'published:1');
    const image = await resolveImage(store, (await store.resolveReference('docker.io/library/published:1')) ?? expect.fail('no image'));
    expect(image.config.config?.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {} });
    expect(image.config.config?.Volumes).toEqual({ '/anonymous': {} });
  });

  it('keeps in the layer a directory that holds a mount point and a change, unchanged itself', async () => {
    ok('run', '--name', 'base-maker', 'busybox', 'sh', '-c', 'mkdir -p /m/sub && echo old > /m/existing');
    ok('commit', 'base-maker', 'with-m:1');
    // /m/sub exists in the image (nothing is made for the volume), and /m itself does not change.
    ok('run', '--name', 'appender', '-v', '/m/sub', 'with-m:1', 'sh', '-c', 'echo new >> /m/existing');
    expect(tsbuild('diff', 'appender').stdout.toString()).toBe('C /m/existing\n');
    ok('commit', 'appender', 'appended:1');
    const image = await resolveImage(store, (await store.resolveReference('docker.io/library/appended:1')) ?? expect.fail('no image'));
    const layer = image.manifest.layers.at(-1) ?? expect.fail('no layer');
    const entries = execFileSync('tar', ['-tzf', join(root, 'blobs', 'sha256', parseDigest(layer.digest).slice(7))], { encoding: 'utf8' });
    expect(entries).toBe('m/\nm/existing\n');
    expect(ok('run', '--rm', 'appended:1', 'cat', '/m/existing')).toBe('old\nnew\n');
  });

  it('never looks up the image\'s side through a link: a link to / in the image, replaced by a directory', async () => {
    ok('run', '--name', 'linker', 'busybox', 'ln', '-s', '/', '/escape');
    ok('commit', 'linker', 'with-link:1');
    ok('run', '--name', 'replacer', 'with-link:1', 'sh', '-c', 'rm /escape && mkdir -p /escape/etc && echo x > /escape/etc/passwd');
    // Through the link, /escape/etc/passwd would be the host's, and "changed".
    expect(tsbuild('diff', 'replacer').stdout.toString()).toBe('D /escape\nA /escape/etc\nA /escape/etc/passwd\n');
  });

  it('commits a container that changed nothing (one that ran only `true`) without a layer, as docker', async () => {
    ok('run', '--name', 'idle', 'busybox', 'true');
    expect(tsbuild('diff', 'idle').stdout.toString()).toBe('');
    ok('commit', '-m', 'nothing', 'idle', 'idle:1');
    const image = await resolveImage(store, (await store.resolveReference('docker.io/library/idle:1')) ?? expect.fail('no idle image'));
    const base = await resolveImage(store, (await store.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
    expect(image.manifest.layers).toEqual(base.manifest.layers);
    expect(image.config.history?.at(-1)).toMatchObject({ created_by: 'true', comment: 'nothing', empty_layer: true });
    expect(ok('run', '--rm', 'idle:1', 'echo', 'runs')).toBe('runs\n');
  });

  it('gives a container docker\'s init layer over what its image has there: in its export from creation on, seen inside it, never in its diff or commit', () => {
    // An image whose /etc has a mode of its own, a link where /etc/resolv.conf goes (systemd's
    // stub), its own /etc/hosts and a regular /etc/mtab: docker's init layer replaces the three.
    const context = join(dir, 'init-layer');
    mkdirSync(join(context, 'etc'), { recursive: true });
    writeFileSync(join(context, 'etc', 'hosts'), '10.0.0.1 image-host\n');
    writeFileSync(join(context, 'etc', 'mtab'), 'image mtab\n');
    symlinkSync('../run/stub-resolv.conf', join(context, 'etc', 'resolv.conf'));
    writeFileSync(join(context, 'Dockerfile'), 'FROM busybox\nCOPY etc/ /etc/\nRUN chmod 750 /etc\n');
    ok('build', '-q', '-t', 'init-layer:1', context);
    ok('create', '--name', 'init-made', '--network', 'none', 'init-layer:1', 'true');
    const listing = (): Map<string, string> => {
      const lines = execFileSync('sh', ['-c', `"${process.execPath}" "${bin}" export init-made | tar -tvf -`], { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: root } }).split('\n');
      const entries = new Map<string, string>();
      for (const line of lines) {
        const fields = line.split(/\s+/);
        const name = fields[5];
        if (name !== undefined) entries.set(name, `${fields[0] ?? ''} ${fields[2] ?? ''}${fields[6] === '->' ? ` -> ${fields[7] ?? ''}` : ''}`);
      }
      return entries;
    };
    const expected: Record<string, string> = {
      '.dockerenv': '-rwxr-xr-x 0',
      'dev/': 'drwxr-xr-x 0',
      'dev/console': '-rwxr-xr-x 0',
      'dev/pts/': 'drwxr-xr-x 0',
      'dev/shm/': 'drwxr-xr-x 0',
      // Copied up with its mode, as overlayfs does when docker makes its files in it.
      'etc/': 'drwxr-x--- 0',
      'etc/hostname': '-rwxr-xr-x 0',
      'etc/hosts': '-rwxr-xr-x 0',
      'etc/mtab': 'lrwxrwxrwx 0 -> /proc/mounts',
      'etc/resolv.conf': '-rwxr-xr-x 0',
    };
    for (const entries of [listing(), (ok('start', '-a', 'init-made'), listing())]) {
      for (const [name, entry] of Object.entries(expected)) expect([name, entries.get(name)]).toEqual([name, entry]);
    }
    expect(tsbuild('diff', 'init-made').stdout.toString()).toBe('');
    ok('commit', 'init-made', 'init-layer:committed');
    expect(ok('image', 'inspect', '--format', '{{len .RootFS.Layers}}', 'init-layer:committed')).toBe(ok('image', 'inspect', '--format', '{{len .RootFS.Layers}}', 'init-layer:1'));
    const inside = ok('run', '--rm', '--network', 'none', 'init-layer:1', 'sh', '-c', 'test -f /.dockerenv && readlink /etc/mtab && grep -c image-host /etc/hosts; test ! -L /etc/resolv.conf && echo not-a-link; stat -c %a /etc');
    expect(inside).toBe('/proc/mounts\n0\nnot-a-link\n750\n');
  });

  it.runIf(toolExists('script'))('export refuses to write to a terminal, in docker\'s words', () => {
    const result = spawnSync('script', ['-qec', `"${process.execPath}" "${bin}" export changer`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: root } });
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  });

  it('reports a missing container and a change docker refuses in docker\'s words', () => {
    for (const command of ['diff', 'export', 'commit']) {
      const result = tsbuild(command, 'nosuch');
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('No such container: nosuch');
    }
    const refused = tsbuild('commit', '-c', 'RUN echo hi', 'changer');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('run is not a valid change command');
  });
});

describe.runIf(isRoot && toolExists('newuidmap'))('container diff, export and commit as an unprivileged user', () => {
  beforeAll(async () => {
    buildBinaries();
    const user = ensureRootlessUser();
    dir = scratchDir('tsbuild-changes-rootless-');
    root = join(dir, 'root');
    await busyboxImage(await openStore({ root }));
    chownTree(root, user);
    prefix = [...asRootless(user), `TSBUILD_ROOT=${root}`];
    ok('run', '-d', '--name', 'changer', 'busybox', 'sh', '-c', changesScript.replace('echo in-volume > /data/vol/file; ', ''));
    await until('logs', () => ok('logs', 'changer'), (text) => text === 'ready\n');
  }, 120_000);

  afterAll(async () => {
    if (root === undefined) return;
    const ids = tsbuild('ps', '-aq', '--no-trunc').stdout.toString().split('\n').filter((id) => id !== '');
    if (ids.length > 0) tsbuild('rm', '-f', ...ids);
    prefix = [];
    await sleep(200);
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('diff reads user.overlay.* opaque directories, export and commit work without a freezer', async () => {
    expect(tsbuild('diff', 'changer').stdout.toString('latin1')).toBe(expectedDiff.toString('latin1'));
    const file = join(dir, 'export.tar');
    execFileSync('sh', ['-c', 'cat > "$1"', 'sh', file], { input: tsbuild('export', 'changer').stdout });
    const names = tarList(file);
    expect(names).toEqual(expect.arrayContaining(['new', 'd/e/f', 'usr/sbin/only', '.dockerenv', 'etc/mtab']));
    expect(names).not.toContain('bin/ls');
    expect(ok('commit', '-c', 'CMD ["cat", "/new"]', 'changer', 'committed:rootless')).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(ok('inspect', '--format', '{{.State.Status}}', 'changer').trim()).toBe('running');
    expect(ok('run', '--rm', 'committed:rootless')).toBe('hi\n');
    expect(ok('run', '--rm', 'committed:rootless', 'sh', '-c', 'test ! -e /bin/ls && test ! -e /var/spool && ls /usr/sbin')).toBe('only\n');
  }, 60_000);
});

describe.runIf(isRoot)('an upper directory as a layer', () => {
  it('marks an opaque directory whether the walk holds directories by descriptor (changing) or by path', async () => {
    const upper = mkdtempSync(join('/tmp', 'tsbuild-opaque-'));
    try {
      mkdirSync(join(upper, 'usr', 'sbin'), { recursive: true });
      writeFileSync(join(upper, 'usr', 'sbin', 'only'), 'x');
      setXattr(join(upper, 'usr', 'sbin'), 'trusted.overlay.opaque', Buffer.from('y'));
      for (const changing of [false, true]) {
        const paths: string[] = [];
        for await (const entry of directoryEntries(upper, '', { overlayUpper: true, changing })) paths.push(entry.path);
        expect(paths).toEqual(['usr', 'usr/sbin', 'usr/sbin/.wh..wh..opq', 'usr/sbin/only']);
      }
    } finally {
      await rm(upper, { recursive: true, force: true });
    }
  });
});

describe('commit changes (docker\'s BuildFromConfig and merge)', () => {
  const container: ContainerConfig = { Env: ['PATH=/bin', 'A=1'], Cmd: ['sh'], Entrypoint: null, Labels: { keep: 'yes' }, WorkingDir: '/w', ExposedPorts: { '80/tcp': {} } };
  const commit = (...changes: string[]): ContainerConfig => mergeCommitConfig(applyCommitChanges(container, parseCommitChanges(changes)), container);

  it('expands words with the config\'s environment and runs a shell-form CMD through /bin/sh -c', () => {
    const config = commit('ENV B=$A-2 PATH=$PATH:/x', 'CMD echo $B', 'WORKDIR sub', 'EXPOSE 53/udp 7000-7001', 'VOLUME /v', 'USER nobody', 'STOPSIGNAL SIGINT', 'ONBUILD RUN make');
    expect(config.Env).toEqual(['PATH=/bin:/x', 'A=1', 'B=1-2']);
    expect(config.Cmd).toEqual(['/bin/sh', '-c', 'echo $B']);
    expect(config.WorkingDir).toBe('/w/sub');
    expect(config.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {}, '7000/tcp': {}, '7001/tcp': {} });
    expect(config.Volumes).toEqual({ '/v': {} });
    expect(config.User).toBe('nobody');
    expect(config.StopSignal).toBe('SIGINT');
    expect(config.OnBuild).toEqual(['RUN make']);
    expect(config.Labels).toEqual({ keep: 'yes' });
  });

  it('an ENTRYPOINT resets the CMD unless a change set one first', () => {
    expect(commit('ENTRYPOINT ["top"]')).toMatchObject({ Entrypoint: ['top'], Cmd: null });
    expect(commit('CMD ["-b"]', 'ENTRYPOINT ["top"]')).toMatchObject({ Entrypoint: ['top'], Cmd: ['-b'] });
    expect(commit()).toMatchObject({ Entrypoint: null, Cmd: ['sh'] });
  });

  it('refuses instructions docker does not take as changes', () => {
    expect(() => parseCommitChanges(['FROM busybox'])).toThrow('from is not a valid change command');
    expect(() => parseCommitChanges(['COPY a b'])).toThrow('copy is not a valid change command');
  });
});
