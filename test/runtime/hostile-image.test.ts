/**
 * `tsbuild run` of images whose config is made to lead out of the container (containerd
 * CVE-2022-23648 class): VOLUME paths that climb with `..` or reach a symlink to `/`, to the host
 * (absolute) or out of the root (relative), a WorkingDir that is relative or a link out, Users
 * with path characters, a config whose fields have the wrong type; a container that tries to
 * write the runtime's binary through /proc/1/exe or to run it as the interpreter of its own
 * program (#!/proc/self/exe) (runc CVE-2019-5736); a working directory through a descriptor of
 * the caller (runc CVE-2024-21626), as root and rootless. Refused with docker's messages, or kept inside the root:
 * the host directory the links name never changes.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform, type ContainerConfig } from '../../src/common/index.js';
import { writeImage, writeLayer, type LayerEntry } from '../../src/exporter/index.js';
import { openStore, resolveImage } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { asRootless, buildBinaries, ensureRootlessUser, isRoot, shimBinary } from './helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

let dir: string;
let root: string;
/** What the image's links name on the host: never written, never read into a volume. */
let outside: string;
let removeDir: () => Promise<void>;

function run(image: string, script: string, flags: readonly string[] = []): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, 'run', '--rm', ...flags, image, 'sh', '-c', script], { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: root }, timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const symlink = (path: string, target: string): LayerEntry => ({ path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: target });

describe.runIf(isRoot)('images whose config leads out', () => {
  beforeAll(async () => {
    buildBinaries();
    ({ path: dir, cleanup: removeDir } = await temporaryDirectory('tsbuild-hostile-image-'));
    root = join(dir, 'root');
    outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'HOST SECRET\n');
    const store = await openStore({ root });
    await busyboxImage(store);
    const base = await resolveImage(store, (await store.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
    // Sorted, as a layer's entries are.
    const setuid: LayerEntry = { path: 'setuid-root', type: 'file', mode: 0o4755, uid: 0, gid: 0, mtime: 0, size: 3, content: () => Buffer.from('#!\n') };
    const layer = await writeLayer([symlink('abslink', outside), symlink('rootlink', '/'), setuid, symlink('uplink', `${'../'.repeat(12)}${outside.slice(1)}`)], store);
    const layers = [{ descriptor: base.manifest.layers[0] ?? expect.fail('no layer'), diffId: base.config.rootfs.diff_ids[0] ?? expect.fail('no diff id') }, layer];
    const images: Record<string, ContainerConfig> = {
      'vol-dots': { Volumes: { '/../../escape-vol': {} } },
      'vol-root': { Volumes: { '/rootlink': {} } },
      'vol-up': { Volumes: { '/uplink': {} } },
      'vol-abs': { Volumes: { '/abslink': {} } },
      'wd-relative': { WorkingDir: '../../' },
      'wd-up': { WorkingDir: '/uplink' },
      'wd-abs': { WorkingDir: '/abslink/made' },
      'user-path': { User: 'a/../b' },
      'user-ids': { User: '0:0' },
      // As a hostile writer may type it: a string where the spec has an array of strings.
      'env-string': { Env: 'PATH=/bin' as unknown as readonly string[] },
    };
    for (const [name, config] of Object.entries(images)) {
      await writeImage(store, { layers, platform: hostPlatform(), config: { Cmd: ['sh'], ...config } }, `docker.io/library/${name}:latest`);
    }
    // /etc/passwd a fifo (a reader would wait for a writer forever), /etc/group /dev/zero's node (endless).
    for (const [name, entry] of [
      ['passwd-fifo', { path: 'etc/passwd', type: 'fifo', mode: 0o644, uid: 0, gid: 0, mtime: 0 }],
      ['group-zero', { path: 'etc/group', type: 'character-device', devmajor: 1, devminor: 5, mode: 0o644, uid: 0, gid: 0, mtime: 0 }],
    ] as const) {
      const special = await writeLayer([{ path: 'etc', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 }, entry], store);
      await writeImage(store, { layers: [...layers, special], platform: hostPlatform(), config: { Cmd: ['sh'] } }, `docker.io/library/${name}:latest`);
    }
  }, 120_000);

  afterEach(() => {
    expect(readdirSync(outside)).toEqual(['secret']);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('HOST SECRET\n');
    // --rm took the anonymous volumes and the containers with it.
    expect(existsSync(join(root, 'volumes')) ? readdirSync(join(root, 'volumes')).filter((name) => !name.startsWith('.')) : []).toEqual([]);
  });

  afterAll(async () => {
    await removeDir();
  });

  it('takes a VOLUME that climbs with .. as the path it names inside the root', () => {
    const result = run('vol-dots', 'grep -c " /escape-vol " /proc/mounts; ls -A /escape-vol');
    expect(result.stderr).toBe('');
    expect(result).toMatchObject({ status: 0, stdout: '1\n' });
  });

  it('refuses a VOLUME through a link to / or out of the root, with docker\'s message', () => {
    expect(run('vol-root', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining("mount /rootlink: invalid specification: destination can't be '/'") });
    expect(run('vol-up', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining("mount /uplink: the image's symbolic link on the way leads out of the container's root") });
  });

  it('fills a VOLUME behind an absolute link from inside the image, never from the host path the link names', () => {
    // The link resolves inside the root, where that path does not exist: the volume starts empty.
    const result = run('vol-abs', 'ls -A /abslink/; grep -c " /abslink " /proc/mounts; grep -c " ' + outside + ' " /proc/mounts');
    expect(result.stderr).toBe('');
    expect(result).toMatchObject({ status: 0, stdout: '0\n1\n' });
  });

  it('refuses a relative WorkingDir and keeps one through links inside the root', () => {
    expect(run('wd-relative', 'pwd')).toMatchObject({ status: 125, stderr: expect.stringContaining("the working directory '../../' is invalid, it needs to be an absolute path") });
    for (const image of ['wd-up', 'wd-abs']) {
      const result = run(image, 'pwd; ls -A; echo made-inside > file');
      expect(result.stderr, image).toBe('');
      expect(result.status, image).toBe(0);
      // The host path, as a directory of the container: empty, not the host's.
      expect(result.stdout, image).toMatch(new RegExp(`^${outside}(/made)?\\n$`));
    }
  });

  it('takes a User with path characters as a name to look up, and ids as they are', () => {
    expect(run('user-path', 'id')).toMatchObject({ status: 125, stderr: expect.stringContaining('unable to find user a/../b: no matching entries in passwd file') });
    expect(run('user-ids', 'id -u; id -g')).toMatchObject({ status: 0, stdout: '0\n0\n' });
  });

  it('refuses a config whose fields have the wrong type, naming the image and the field (BuildKit CVE-2024-23650 class)', () => {
    const result = run('env-string', 'true');
    expect(result.status).toBe(125);
    expect(result.stderr).toContain("run: image 'env-string': parse image config: config.Env is not an array of strings");
    expect(result.stderr).not.toContain('TypeError');
  });

  it('refuses an /etc/passwd or /etc/group that is no regular file instead of reading it forever', () => {
    const started = Date.now();
    expect(run('passwd-fifo', 'true', ['--user', 'app'])).toMatchObject({ status: 125, stderr: expect.stringContaining('read /etc/passwd: not a regular file') });
    expect(run('group-zero', 'true', ['--user', '0:app'])).toMatchObject({ status: 125, stderr: expect.stringContaining('read /etc/group: not a regular file') });
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('lets no descriptor of the caller reach a process started with exec, nor make its working directory', () => {
    const name = `fds-${process.pid}`;
    const env = { ...process.env, TSBUILD_ROOT: root };
    expect(spawnSync(process.execPath, [bin, 'run', '-d', '--name', name, 'busybox', 'sleep', '60'], { encoding: 'utf8', env }).status).toBe(0);
    const leaked = openSync(outside, 'r');
    try {
      // As a shell would pass its own: a directory of the host at 3 to 9 and further.
      const stdio = ['ignore', 'pipe', 'pipe', ...Array.from({ length: 7 }, () => leaked)] as const;
      const listed = spawnSync(process.execPath, [bin, 'exec', name, 'sh', '-c', 'ls /proc/$$/fd; cat /proc/$$/fd/*/secret 2>/dev/null; true'], { encoding: 'utf8', env, stdio: [...stdio] });
      expect(listed.stderr).toBe('');
      expect(listed.stdout).toBe('0\n1\n2\n');
      const cwd = spawnSync(process.execPath, [bin, 'exec', '-w', '/proc/self/fd/5', name, 'cat', 'secret'], { encoding: 'utf8', env, stdio: [...stdio] });
      expect(cwd.stdout).not.toContain('HOST SECRET');
      expect(cwd.status).not.toBe(0);
    } finally {
      closeSync(leaked);
      spawnSync(process.execPath, [bin, 'rm', '-f', name], { env });
    }
  });

  it('makes no descriptor of the caller the working directory of run, as root and rootless (runc CVE-2024-21626)', () => {
    const leaked = openSync(outside, 'r');
    try {
      const stdio = ['ignore', 'pipe', 'pipe', ...Array.from({ length: 7 }, () => leaked)] as const;
      for (const fd of [3, 5, 7, 9]) {
        const result = spawnSync(process.execPath, [bin, 'run', '--rm', '-w', `/proc/self/fd/${fd}`, 'busybox', 'sh', '-c', 'pwd; cat secret'], { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: root }, stdio: [...stdio], timeout: 20_000 });
        expect(result.stdout, `fd ${fd}`).not.toContain('HOST SECRET');
        expect(result.status, `fd ${fd}`).not.toBe(0);
        expect(result.stderr, `fd ${fd}`).toContain(`chdir /proc/self/fd/${fd}`);
      }
    } finally {
      closeSync(leaked);
    }
    // Rootless, in a store of the user's own: busybox saved from the root store and loaded there.
    const user = ensureRootlessUser();
    const rootlessRoot = join(dir, 'rootless');
    const archive = join(dir, 'busybox.tar');
    mkdirSync(rootlessRoot, { recursive: true });
    expect(spawnSync(process.execPath, [bin, 'save', '-o', archive, 'busybox'], { env: { ...process.env, TSBUILD_ROOT: root } }).status).toBe(0);
    expect(spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, rootlessRoot, archive, outside]).status).toBe(0);
    chmodSync(dir, 0o755);
    try {
      const tsbuild = `TSBUILD_ROOT=${rootlessRoot} ${process.execPath} ${bin}`;
      // The user's shell holds the host directory open at 5 to 7, as a caller may.
      const script = `${tsbuild} load -q -i ${archive} >/dev/null || exit 9; exec 5<${outside} 6<${outside} 7<${outside}; for fd in 3 5 6 7; do ${tsbuild} run --rm -w /proc/self/fd/$fd busybox sh -c 'cat secret' 2>&1; echo "fd $fd status $?"; done`;
      const [command = '', ...prefix] = asRootless(user);
      const result = spawnSync(command, [...prefix, 'sh', '-c', script], { encoding: 'utf8', timeout: 90_000 });
      expect(result.stdout).not.toContain('HOST SECRET');
      for (const fd of [3, 5, 6, 7]) {
        expect(result.stdout).toContain(`chdir /proc/self/fd/${fd}`);
        expect(result.stdout).toMatch(new RegExp(`fd ${fd} status [1-9]`));
      }
    } finally {
      chmodSync(dir, 0o700);
      spawnSync('chown', ['-R', '0:0', outside]);
    }
  }, 120_000);

  it("keeps the image's set-user-ID files in the store out of other users' reach", () => {
    const user = ensureRootlessUser();
    // Reachable down to the store's root, as /var/lib/tsbuild is.
    chmodSync(dir, 0o755);
    try {
      expect(run('user-ids', 'true').status).toBe(0);
      const snapshots = readdirSync(join(root, 'layers', 'sha256')).map((chain) => join(root, 'layers', 'sha256', chain, 'setuid-root'));
      const unpacked = snapshots.find((path) => existsSync(path)) ?? expect.fail('no snapshot holds setuid-root');
      expect(statSync(unpacked).mode & 0o7777).toBe(0o4755);
      // Any user could otherwise run it as root on the host.
      const probe = spawnSync(asRootless(user)[0] ?? '', [...asRootless(user).slice(1), 'stat', '-c', '%a', unpacked], { encoding: 'utf8' });
      expect(probe.stdout).toBe('');
      expect(probe.stderr).toContain('Permission denied');
    } finally {
      chmodSync(dir, 0o700);
    }
  });

  it('gives a container no way to write the runtime binary through /proc/1/exe', () => {
    const before = createHash('sha256').update(readFileSync(shimBinary)).digest('hex');
    // As the exploit: hold the runtime's exe open, then write through the held descriptor and the link.
    const result = run('busybox', 'readlink /proc/1/exe; exec 3</proc/1/exe || exit 9; (echo pwned >> /proc/self/fd/3) 2>/dev/null && echo wrote-fd; (echo pwned > /proc/1/exe) 2>/dev/null && echo wrote-exe; true', ['--init']);
    // The runtime is PID 1 and never executes another program: it stays not dumpable, so its
    // exe (and environment, and memory) is no process's of the container to open at all. (Were
    // it reached, a sealed copy in memory runs, not the file on the host: hardening.test.ts.)
    expect(result.stderr).toContain("can't open /proc/1/exe: Permission denied");
    expect(result.status).not.toBe(0);
    expect(result.stdout).not.toContain('wrote');
    expect(result.stdout).not.toContain(shimBinary);
    expect(createHash('sha256').update(readFileSync(shimBinary)).digest('hex')).toBe(before);
    expect(existsSync(shimBinary)).toBe(true);
  });

  it("never runs the runtime's file as the interpreter of a program a container makes (#!/proc/self/exe, runc CVE-2019-5736)", () => {
    const before = createHash('sha256').update(readFileSync(shimBinary)).digest('hex');
    const name = `selfexe-${process.pid}`;
    const env = { ...process.env, TSBUILD_ROOT: root };
    const tsbuild = (args: readonly string[]): { status: number | null; stdout: string; stderr: string } => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env, timeout: 20_000 });
    expect(tsbuild(['run', '-d', '--name', name, 'busybox', 'sleep', '60']).status).toBe(0);
    try {
      // The exploit's bait: a program whose interpreter is whatever runs it, run by the runtime's exec.
      expect(tsbuild(['exec', name, 'sh', '-c', "printf '#!/proc/self/exe\\n' > /bait && chmod +x /bait"]).status).toBe(0);
      const baited = tsbuild(['exec', name, '/bait']);
      expect(baited.status).not.toBe(0);
      // The interpreter names nothing the container could open for the runtime: what execs the
      // program is no process of the container's /proc, and runs from a sealed copy besides.
      expect(baited.stderr).toContain('execve /bait');
      const seen = tsbuild(['exec', name, 'sh', '-c', 'for p in /proc/[0-9]*; do readlink $p/exe; done']);
      expect(seen.stdout).not.toContain(shimBinary);
    } finally {
      tsbuild(['rm', '-f', name]);
    }
    expect(createHash('sha256').update(readFileSync(shimBinary)).digest('hex')).toBe(before);
  });
});
