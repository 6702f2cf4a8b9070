/**
 * `tsbuild cp` through the installed command, as root: files and trees into and out of a
 * stopped and a running container with docker's path rules and words, tar streams on stdin and
 * stdout, ownership with and without -a, and containers that plant links (to `/`, climbing
 * with `..`, to a host path, swapped in while copies run) to lead the copy onto the host.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, utimesSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader, endOfArchive } from '../../src/exporter/index.js';
import { openStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { asRootless, buildBinaries, chownTree, ensureRootlessUser, isRoot, mountsUnder, runInstalledCliBytes, scratchDir, toolExists } from './helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

interface Run {
  readonly status: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

let dir: string;
let root: string;
/** Host files the containers must never reach: outside every container's root. */
let hostSide: string;

/** argv prefix of the suite being run: none for root, setpriv for the unprivileged user. */
let prefix: readonly string[] = [];

function tsbuild(args: readonly string[], input: Buffer | string = ''): Run {
  return runInstalledCliBytes(args, { root, prefix, input });
}

function ok(...args: string[]): string {
  const result = tsbuild(args);
  if (result.status !== 0) expect.fail(`tsbuild ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout.toString();
}

function fails(args: readonly string[], message: string): void {
  const result = tsbuild(args);
  expect(result.status, `tsbuild ${args.join(' ')}`).not.toBe(0);
  expect(result.stderr).toContain(message);
}

function host(...parts: string[]): string {
  return join(dir, 'host', ...parts);
}

function containerId(name: string): string {
  return ok('inspect', '--format', '{{.Id}}', name).trim();
}

/** The tar member names of ARCHIVE, as GNU tar lists them. */
function tarNames(archive: Buffer): string[] {
  const listed = spawnSync('tar', ['-tvf', '-', '--numeric-owner'], { input: archive, maxBuffer: 1 << 26 });
  expect(listed.status, listed.stderr.toString()).toBe(0);
  return listed.stdout.toString().trim().split('\n');
}

beforeAll(async () => {
  if (!isRoot) return;
  buildBinaries();
  dir = scratchDir('tsbuild-copy-');
  root = join(dir, 'root');
  await busyboxImage(await openStore({ root }));
  hostSide = join(dir, 'hostside');
  mkdirSync(hostSide);
  writeFileSync(join(hostSide, 'secret'), 'HOST SECRET\n');
  writeFileSync(join(hostSide, 'target'), 'host original\n');
  mkdirSync(join(hostSide, 'sub'));
  writeFileSync(join(hostSide, 'sub', 'secret'), 'HOST SECRET\n');
  mkdirSync(host('tree', 'sub'), { recursive: true });
  writeFileSync(host('file.txt'), 'from the host\n');
  writeFileSync(host('tree', 'a'), 'tree a\n');
  writeFileSync(host('tree', 'sub', 'b'), 'tree sub b\n');
  utimesSync(host('tree', 'sub'), 1_000_000_000, 1_000_000_000);
  utimesSync(host('tree', 'a'), 1_100_000_000, 1_100_000_000);
  symlinkSync('a', host('tree', 'link-to-a'));
  chownSync(host('tree', 'a'), 1234, 5678);
  chownSync(host('file.txt'), 1234, 5678);
  ok('create', '--name', 'stopped', 'busybox', 'sleep', '1000');
  ok('run', '-d', '--name', 'running', 'busybox', 'sleep', '1000');
}, 120_000);

afterAll(async () => {
  if (!isRoot) return;
  if (prefix.length > 0) tsbuild(['rm', '-f', 'ustopped', 'urunning', 'uvols']);
  prefix = [];
  tsbuild(['rm', '-f', 'stopped', 'running', 'racer', 'vols', 'readonly']);
  expect(await mountsUnder(dir)).toEqual([]);
  // The host files no container could reach are as they were.
  expect(readdirSync(hostSide).sort()).toEqual(['secret', 'sub', 'target']);
  expect(readdirSync(join(hostSide, 'sub'))).toEqual(['secret']);
  expect(readFileSync(join(hostSide, 'target'), 'utf8')).toBe('host original\n');
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe.runIf(isRoot)('tsbuild cp', () => {
  it('copies a file and a tree into and out of a stopped container, which stays unmounted', async () => {
    ok('cp', host('file.txt'), 'stopped:/tmp/copied.txt');
    ok('cp', host('tree'), 'stopped:/tmp');
    // The writable layer holds what was copied in, with the host file's owner (docker 26 keeps it without -a).
    const directory = join(root, 'containers', containerId('stopped'));
    const upper = join(directory, 'upper');
    expect(readFileSync(join(upper, 'tmp', 'copied.txt'), 'utf8')).toBe('from the host\n');
    expect(statSync(join(upper, 'tmp', 'copied.txt'))).toMatchObject({ uid: 1234, gid: 5678 });
    expect(readFileSync(join(upper, 'tmp', 'tree', 'sub', 'b'), 'utf8')).toBe('tree sub b\n');
    expect(await mountsUnder(directory)).toEqual([]);
    // Out again: a missing destination is created as the file or the directory.
    ok('cp', 'stopped:/tmp/copied.txt', host('out-file'));
    expect(readFileSync(host('out-file'), 'utf8')).toBe('from the host\n');
    ok('container', 'cp', 'stopped:/tmp/tree', host('out-tree'));
    expect(readFileSync(host('out-tree', 'sub', 'b'), 'utf8')).toBe('tree sub b\n');
    // Times kept, directories' too (set after what was made in them).
    expect(Math.floor(statSync(host('out-tree', 'sub')).mtimeMs / 1000)).toBe(Math.floor(statSync(host('tree', 'sub')).mtimeMs / 1000));
    expect(Math.floor(statSync(host('out-tree', 'a')).mtimeMs / 1000)).toBe(Math.floor(statSync(host('tree', 'a')).mtimeMs / 1000));
    expect(lstatSync(host('out-tree', 'link-to-a')).isSymbolicLink()).toBe(true);
    // An image file, from the lower layers.
    ok('cp', `${containerId('stopped').slice(0, 10)}:/etc/passwd`, host('passwd'));
    expect(readFileSync(host('passwd'), 'utf8')).toMatch(/^root:x:0:0:/);
    expect(await mountsUnder(directory)).toEqual([]);
    // It still starts, and sees the files.
    ok('start', 'stopped');
    expect(ok('exec', 'stopped', 'cat', '/tmp/copied.txt', '/tmp/tree/a')).toBe('from the host\ntree a\n');
    ok('stop', '-t', '0', 'stopped');
  }, 60_000);

  it('copies into and out of a running container, which sees the files at once', () => {
    expect(ok('cp', '-q', host('file.txt'), 'running:/tmp/file.txt')).toBe('');
    expect(ok('exec', 'running', 'cat', '/tmp/file.txt')).toBe('from the host\n');
    expect(ok('exec', 'running', 'stat', '-c', '%u:%g %a', '/tmp/file.txt')).toBe('1234:5678 644\n');
    ok('cp', host('tree'), 'running:/tmp/tree');
    expect(ok('exec', 'running', 'cat', '/tmp/tree/sub/b')).toBe('tree sub b\n');
    expect(ok('exec', 'running', 'readlink', '/tmp/tree/link-to-a')).toBe('a\n');
    // An existing file is replaced; an existing directory receives the source under its name.
    writeFileSync(host('replacement'), 'replaced\n');
    ok('cp', host('replacement'), 'running:/tmp/file.txt');
    expect(ok('exec', 'running', 'cat', '/tmp/file.txt')).toBe('replaced\n');
    mkdirSync(host('into'));
    ok('exec', 'running', 'sh', '-c', 'mkdir /tmp/made && echo inside > /tmp/made/x');
    ok('cp', 'running:/tmp/made', host('into'));
    expect(readFileSync(host('into', 'made', 'x'), 'utf8')).toBe('inside\n');
    ok('cp', 'running:/tmp/made/x', host('into'));
    expect(readFileSync(host('into', 'x'), 'utf8')).toBe('inside\n');
  });

  it('copies a directory\'s contents for SRC_PATH ending in /.', () => {
    ok('exec', 'running', 'mkdir', '/tmp/contents');
    ok('cp', `${host('tree')}/.`, 'running:/tmp/contents');
    expect(ok('exec', 'running', 'ls', '/tmp/contents')).toBe('a\nlink-to-a\nsub\n');
    mkdirSync(host('contents-out'));
    ok('cp', 'running:/tmp/contents/.', host('contents-out'));
    expect(readdirSync(host('contents-out')).sort()).toEqual(['a', 'link-to-a', 'sub']);
    // Without it, the directory itself.
    ok('cp', 'running:/tmp/contents', host('contents-out'));
    expect(readdirSync(host('contents-out', 'contents')).sort()).toEqual(['a', 'link-to-a', 'sub']);
  });

  it('fails in docker\'s words for missing paths and impossible copies', () => {
    fails(['cp', 'running:/nonexistent', host('x')], 'Could not find the file /nonexistent in container running');
    fails(['cp', 'stopped:/nonexistent', host('x')], 'Could not find the file /nonexistent in container stopped');
    fails(['cp', host('file.txt'), 'running:/nodir/x'], 'Could not find the file /nodir in container running');
    fails(['cp', host('file.txt'), 'running:/newdir/'], 'no such directory');
    // docker 26's words: moby's ErrCannotCopyDir, and its client's ValidateOutputPath.
    fails(['cp', host('tree'), 'running:/etc/passwd'], 'cannot copy directory');
    fails(['cp', 'running:/etc', host('file.txt')], 'cannot copy directory');
    fails(['cp', 'running:/etc/passwd', host('missing-dir', 'x')], `invalid output path: directory "${host('missing-dir')}" does not exist`);
    fails(['cp', 'running:/etc/passwd', `${host('missing-dir')}/`], 'no such directory');
    fails(['cp', host('nothing-here'), 'running:/tmp'], `lstat ${host('nothing-here')}: no such file or directory`);
    fails(['cp', host('file.txt'), 'nosuch:/tmp'], 'No such container: nosuch');
    fails(['cp', 'running:/a', 'stopped:/b'], 'copying between containers is not supported');
    fails(['cp', host('file.txt'), host('y')], 'must specify at least one container source');
    expect(existsSync(host('x'))).toBe(false);
  });

  it('writes a tar stream to stdout and reads one on stdin', () => {
    const out = tsbuild(['cp', 'running:/tmp/tree', '-']);
    expect(out.status, out.stderr).toBe(0);
    const names = tarNames(out.stdout);
    expect(names.map((line) => line.split(/\s+/).at(-1))).toEqual(expect.arrayContaining(['tree/', 'tree/a', 'tree/sub/', 'tree/sub/b']));
    expect(names.find((line) => line.endsWith(' tree/link-to-a -> a'))).toBeDefined();
    // A large file whole: the stream ends only once written.
    const size = ok('exec', 'running', 'stat', '-L', '-c', '%s', '/bin/busybox').trim();
    const binary = tarNames(tsbuild(['cp', '-L', 'running:/bin/busybox', '-']).stdout);
    expect(binary).toHaveLength(1);
    expect(binary[0]?.split(/\s+/)[2]).toBe(size);
    // And in: a few megabytes through stdin, back out whole.
    mkdirSync(host('big-in'));
    writeFileSync(host('big-in', 'big'), randomBytes(3 << 20));
    const big = spawnSync('tar', ['-c', '-C', host('big-in'), 'big'], { maxBuffer: 1 << 26 }).stdout;
    expect(tsbuild(['cp', '-', 'running:/tmp'], big).status).toBe(0);
    ok('cp', 'running:/tmp/big', host('big-out'));
    expect(readFileSync(host('big-out')).equals(readFileSync(host('big-in', 'big')))).toBe(true);
    // The contents of a directory: `./` and below.
    const contents = tarNames(tsbuild(['cp', 'running:/tmp/tree/.', '-']).stdout).map((line) => line.split(/\s+/).at(-1));
    expect(contents).toEqual(expect.arrayContaining(['./', './a', './sub/b']));
    // A tar made on the host, extracted into a directory, keeps its owners, with or without -a (docker 26's daemon keeps the archive's).
    const archive = spawnSync('tar', ['-c', '-C', host('tree'), '--numeric-owner', '.'], { maxBuffer: 1 << 24 }).stdout;
    ok('exec', 'running', 'mkdir', '/tmp/from-tar', '/tmp/from-tar-a');
    expect(tsbuild(['cp', '-', 'running:/tmp/from-tar'], archive).status).toBe(0);
    expect(ok('exec', 'running', 'stat', '-c', '%n %u:%g', '/tmp/from-tar/a', '/tmp/from-tar/sub/b')).toBe('/tmp/from-tar/a 1234:5678\n/tmp/from-tar/sub/b 0:0\n');
    expect(tsbuild(['cp', '-a', '-', 'running:/tmp/from-tar-a'], archive).status).toBe(0);
    expect(ok('exec', 'running', 'stat', '-c', '%u:%g', '/tmp/from-tar-a/a')).toBe('1234:5678\n');
    const refused = tsbuild(['cp', '-', 'running:/etc/passwd'], archive);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('destination "running:/etc/passwd" must be a directory');
    // A link in the archive, then a member through it: never written through (onto the host's / here).
    const member = (header: Parameters<typeof encodeHeader>[0], body = Buffer.alloc(0)): Buffer =>
      Buffer.concat([encodeHeader(header), body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
    const through = Buffer.concat([
      member({ path: 'evil', type: 'symlink', linkname: '/', mode: 0o777, uid: 0, gid: 0, mtime: 0 }),
      member({ path: `evil${hostSide}/planted`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 4 }, Buffer.from('bad\n')),
      endOfArchive,
    ]);
    ok('exec', 'running', 'mkdir', '/tmp/through');
    const refusedThrough = tsbuild(['cp', '-', 'running:/tmp/through'], through);
    expect(refusedThrough.status).not.toBe(0);
    expect(refusedThrough.stderr).toContain('a symbolic link is never followed');
    expect(existsSync(join(hostSide, 'planted'))).toBe(false);
    // A hard link to a file above the destination is refused too.
    const hardlink = Buffer.concat([member({ path: 'stolen', type: 'link', linkname: '../../etc/passwd', mode: 0o644, uid: 0, gid: 0, mtime: 0 }), endOfArchive]);
    const refusedLink = tsbuild(['cp', '-', 'running:/tmp/through'], hardlink);
    expect(refusedLink.status).not.toBe(0);
    expect(refusedLink.stderr).toContain('is outside of the destination');
    // One to an absolute path names an entry inside the destination: the host's file of that
    // path is never linked, and a missing target is docker's error, with nothing made on its way.
    const absolute = Buffer.concat([member({ path: 'stolen', type: 'link', linkname: `${hostSide}/secret`, mode: 0o644, uid: 0, gid: 0, mtime: 0 }), endOfArchive]);
    const refusedAbsolute = tsbuild(['cp', '-', 'running:/tmp/through'], absolute);
    expect(refusedAbsolute.status).toBe(1);
    expect(refusedAbsolute.stderr).toContain(`hard link "stolen" to "${hostSide}/secret": no such file or directory`);
    // Only the link the refused archive above left: no directory of the host path's was made.
    expect(ok('exec', 'running', 'ls', '-A', '/tmp/through')).toBe('evil\n');
    expect(statSync(join(hostSide, 'secret')).nlink).toBe(1);
    // A member climbing out of the destination is refused.
    const climbing = spawnSync('tar', ['-c', '-P', '--transform', 's,^,../../../../../,', '-C', host(), 'file.txt']).stdout;
    const climbed = tsbuild(['cp', '-', 'running:/tmp'], climbing);
    expect(climbed.status).not.toBe(0);
    expect(climbed.stderr).toContain('is outside of the destination');
  });

  it('keeps the owner with or without -a, as docker 26 does, and gives the caller\'s on the way out', () => {
    ok('cp', '-a', host('file.txt'), 'running:/tmp/owned.txt');
    expect(ok('exec', 'running', 'stat', '-c', '%u:%g', '/tmp/owned.txt')).toBe('1234:5678\n');
    // docker 26 `cp FILE CONTAINER:PATH` of a host file owned by 1234:5678: 1234:5678 in the container.
    ok('cp', host('file.txt'), 'running:/tmp/kept.txt');
    expect(ok('exec', 'running', 'stat', '-c', '%u:%g', '/tmp/kept.txt')).toBe('1234:5678\n');
    ok('cp', '-a', 'running:/tmp/owned.txt', host('owned-out'));
    expect(statSync(host('owned-out'))).toMatchObject({ uid: 0, gid: 0 });
  });

  it.runIf(toolExists('setcap'))('carries file capabilities both ways, as docker\'s archive does', () => {
    writeFileSync(host('capable'), 'capable\n');
    expect(spawnSync('setcap', ['cap_net_raw+ep', host('capable')]).status).toBe(0);
    ok('cp', host('capable'), 'running:/tmp/capable');
    ok('cp', 'running:/tmp/capable', host('capable-out'));
    expect(spawnSync('getcap', [host('capable-out')]).stdout.toString()).toContain('cap_net_raw=ep');
    expect(tarNames(tsbuild(['cp', 'running:/tmp/capable', '-']).stdout)).toHaveLength(1);
    const archive = tsbuild(['cp', 'running:/tmp/capable', '-']).stdout;
    expect(archive.includes('SCHILY.xattr.security.capability')).toBe(true);
  });

  it('follows a symlink SRC_PATH only with -L', () => {
    ok('exec', 'running', 'ln', '-s', '/etc/passwd', '/tmp/passwd-link');
    ok('cp', 'running:/tmp/passwd-link', host('as-link'));
    expect(lstatSync(host('as-link')).isSymbolicLink()).toBe(true);
    ok('cp', '-L', 'running:/tmp/passwd-link', host('followed'));
    expect(readFileSync(host('followed'), 'utf8')).toMatch(/^root:x:0:0:/);
  });

  it('resolves links the container planted inside its root: to /, climbing with .., to a host path', () => {
    const passwd = ok('exec', 'running', 'cat', '/etc/passwd');
    ok('exec', 'running', 'sh', '-c', `ln -s / /tmp/to-root && ln -s ../../../../../.. /tmp/climb && ln -s ${hostSide} /tmp/to-host && ln -s ${join(hostSide, 'target')} /tmp/to-host-file`);
    // As SRC: the container's files, never the host's.
    ok('cp', 'running:/tmp/to-root/etc/passwd', host('via-root'));
    expect(readFileSync(host('via-root'), 'utf8')).toBe(passwd);
    ok('cp', 'running:/tmp/climb/etc/passwd', host('via-climb'));
    expect(readFileSync(host('via-climb'), 'utf8')).toBe(passwd);
    fails(['cp', 'running:/tmp/to-host/secret', host('stolen')], 'Could not find the file /tmp/to-host/secret in container running');
    fails(['cp', '-L', 'running:/tmp/to-host-file', host('stolen')], 'Could not find the file /tmp/to-host-file in container running');
    expect(existsSync(host('stolen'))).toBe(false);
    // A tree holding such links copies them as links.
    ok('cp', 'running:/tmp', host('tmp-out'));
    expect(lstatSync(host('tmp-out', 'climb')).isSymbolicLink()).toBe(true);
    // As DEST's parent: written inside the root.
    ok('cp', host('file.txt'), 'running:/tmp/climb/tmp/via-climb.txt');
    expect(ok('exec', 'running', 'cat', '/tmp/via-climb.txt')).toBe('from the host\n');
    ok('cp', host('file.txt'), 'running:/tmp/to-root/');
    expect(ok('exec', 'running', 'cat', '/file.txt')).toBe('from the host\n');
    fails(['cp', host('file.txt'), 'running:/tmp/to-host/planted'], `Could not find the file /tmp/to-host in container running`);
    // As DEST: a link to a host file is followed inside the root; the host file is untouched.
    ok('exec', 'running', 'mkdir', '-p', hostSide);
    ok('cp', host('replacement'), 'running:/tmp/to-host-file');
    expect(ok('exec', 'running', 'cat', join(hostSide, 'target'))).toBe('replaced\n');
    expect(readFileSync(join(hostSide, 'target'), 'utf8')).toBe('host original\n');
    ok('cp', host('tree'), 'running:/tmp/to-host');
    expect(ok('exec', 'running', 'cat', join(hostSide, 'tree', 'a'))).toBe('tree a\n');
    expect(existsSync(join(hostSide, 'tree'))).toBe(false);
  });

  it('reaches the container\'s volumes, binds and /etc files as its processes see them, a read-only one refused', async () => {
    mkdirSync(host('bound'));
    writeFileSync(host('bound', 'y'), 'bound file\n');
    const id = ok('run', '-d', '--name', 'vols', '-h', 'volhost', '-v', 'copyvol:/data', '-v', `${host('bound')}:/bound:ro`, 'busybox', 'sleep', '1000').trim();
    const directory = join(root, 'containers', id);
    ok('cp', host('file.txt'), 'vols:/data/x');
    expect(ok('exec', 'vols', 'cat', '/data/x')).toBe('from the host\n');
    ok('cp', 'vols:/bound/y', host('from-bind'));
    expect(readFileSync(host('from-bind'), 'utf8')).toBe('bound file\n');
    fails(['cp', host('file.txt'), 'vols:/bound/z'], 'mounted volume is marked read-only');
    expect(readdirSync(host('bound'))).toEqual(['y']);
    const hosts = spawnSync('tar', ['-xOf', '-'], { input: tsbuild(['cp', 'vols:/etc/hosts', '-']).stdout }).stdout.toString();
    expect(hosts).toBe(ok('exec', 'vols', 'cat', '/etc/hosts'));
    expect(hosts).toContain('volhost');
    // A read-only root takes copies into its volumes only.
    ok('run', '-d', '--name', 'readonly', '--read-only', '-v', 'copyvol:/data', 'busybox', 'sleep', '1000');
    fails(['cp', host('file.txt'), 'readonly:/tmp'], 'container rootfs is marked read-only');
    ok('cp', host('file.txt'), 'readonly:/data/from-readonly');
    expect(ok('exec', 'vols', 'cat', '/data/from-readonly')).toBe('from the host\n');
    ok('rm', '-f', 'readonly');
    // Nothing bound for the copy stays.
    expect(await mountsUnder(directory)).toEqual([join(directory, 'rootfs')]);
    // Stopped: the volume still holds what is copied into its path.
    ok('stop', '-t', '0', 'vols');
    ok('cp', host('replacement'), 'vols:/data/after');
    expect(await mountsUnder(directory)).toEqual([]);
    ok('start', 'vols');
    expect(ok('exec', 'vols', 'cat', '/data/after', '/data/x')).toBe('replaced\nfrom the host\n');
    ok('rm', '-f', 'vols');
  }, 60_000);

  it('never reaches the host while the container swaps a directory for a link to it during copies', async () => {
    ok('run', '-d', '--name', 'racer', 'busybox', 'sh', '-c', [
      'mkdir -p /race /steady && echo steady > /steady/file',
      'mkdir -p /race',
      'while true; do',
      `  mkdir -p /race/d.new/sub; echo container > /race/d.new/sub/secret; rm -rf /race/d; mv /race/d.new /race/d;`,
      `  ln -s ${hostSide} /race/l.new; rm -rf /race/d; mv /race/l.new /race/d;`,
      'done',
    ].join('\n'));
    writeFileSync(host('payload'), 'payload\n');
    const copies: Array<Promise<number | null>> = [];
    const run = (args: string[]): Promise<number | null> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, TSBUILD_ROOT: root }, stdio: 'ignore' });
        child.on('close', resolve);
      });
    // At least 16 rounds, and on (up to 32) while no copy out has gone through: whether one does
    // while the container swaps is a matter of timing (a steady path is copied out after).
    const copiedOut = (): boolean => readdirSync(host()).some((name) => name.startsWith('race-'));
    for (let round = 0; round < 32 && (round < 16 || !copiedOut()); round++) {
      // Deeper than the swapped link: /race/d/sub is hostside/sub on the host while d is a link.
      copies.push(run(['cp', host('payload'), 'racer:/race/d/sub/planted']));
      copies.push(run(['cp', 'racer:/race/d/sub/secret', host(`race-out-${round}`)]));
      copies.push(run(['cp', 'racer:/race/d', host(`race-tree-${round}`)]));
      if (copies.length >= 6) await Promise.all(copies.splice(0));
    }
    await Promise.all(copies);
    // The copies work in this container: a path it does not swap is copied out whatever the race did.
    ok('cp', 'racer:/steady/file', host('steady'));
    expect(readFileSync(host('steady'), 'utf8')).toBe('steady\n');
    ok('rm', '-f', 'racer');
    expect(readdirSync(hostSide).sort()).toEqual(['secret', 'sub', 'target']);
    expect(readdirSync(join(hostSide, 'sub'))).toEqual(['secret']);
    // What was copied out holds the container's files (or links, copied as links), never the host's.
    const contents = (path: string): string[] => {
      const info = lstatSync(path);
      if (info.isDirectory()) return readdirSync(path).flatMap((name) => contents(join(path, name)));
      return info.isFile() ? [readFileSync(path, 'utf8')] : [];
    };
    // Whether a copy out goes through while the container swaps is timing (none may, under load).
    const copied = readdirSync(host()).filter((name) => name.startsWith('race-')).flatMap((name) => contents(host(name)));
    // (A file read as the container writes it may be empty; the payload copied in meanwhile shows up too.)
    expect(copied.filter((text) => text.includes('HOST'))).toEqual([]);
  }, 300_000);

  it('never changes the mode, owner or content of a host path through a link the container planted, nor makes a parent there, copying in or out (moby CVE-2021-41089)', () => {
    const modeOf = (path: string): string => (lstatSync(path).mode & 0o7777).toString(8);
    const hostModes = (): Record<string, string> => Object.fromEntries([hostSide, join(hostSide, 'sub'), join(hostSide, 'target'), join(hostSide, 'secret'), join(hostSide, 'sub', 'secret')].map((path) => [path, `${modeOf(path)} ${lstatSync(path).uid}`]));
    const before = hostModes();
    // What is copied in asks for wide modes, and set-user-ID: applied through a link, they would open the host path.
    mkdirSync(host('wide', 'sub'), { recursive: true, mode: 0o777 });
    writeFileSync(host('wide', 'sub', 'secret'), 'copied\n', { mode: 0o4777 });
    writeFileSync(host('wide', 'target'), 'copied\n', { mode: 0o4777 });
    for (const path of [host('wide'), host('wide', 'sub')]) spawnSync('chmod', ['0777', path]);
    for (const path of [host('wide', 'target'), host('wide', 'sub', 'secret')]) spawnSync('chmod', ['04777', path]);
    for (const name of ['modes-stopped', 'modes-running']) {
      const links = `mkdir -p /tmp ${hostSide}/sub && ln -s ${hostSide} /tmp/m-dir && ln -s ${join(hostSide, 'target')} /tmp/m-file && ln -s ${'../'.repeat(10)}${hostSide.slice(1)} /tmp/m-climb`;
      if (name === 'modes-running') {
        ok('run', '-d', '--name', name, 'busybox', 'sh', '-c', `${links} && sleep 1000`);
        for (let attempt = 0; attempt < 50 && tsbuild(['exec', name, 'test', '-L', '/tmp/m-climb']).status !== 0; attempt++) spawnSync('sleep', ['0.1']);
      } else {
        ok('run', '--name', name, 'busybox', 'sh', '-c', links);
      }
      for (const flags of [[], ['-a']]) {
        ok('cp', ...flags, host('wide', '.'), `${name}:/tmp/m-dir`);
        ok('cp', ...flags, host('wide', 'target'), `${name}:/tmp/m-file`);
        ok('cp', ...flags, host('wide'), `${name}:/tmp/m-climb/sub/`);
        ok('cp', ...flags, host('wide', 'sub', 'secret'), `${name}:/tmp/m-climb/sub/secret`);
        // docker makes no missing parent: one through the link would be made on the host.
        fails(['cp', ...flags, host('file.txt'), `${name}:/tmp/m-dir/made/file.txt`], 'Could not find the file');
        // Out: the container's files behind the link, with the modes they were given in there.
        const out = host(`out-${name}${flags.join('')}`);
        ok('cp', ...flags, `${name}:/tmp/m-dir/.`, out);
        expect([readFileSync(join(out, 'target'), 'utf8'), modeOf(join(out, 'target')), modeOf(join(out, 'sub', 'secret'))]).toEqual(['copied\n', '4777', '4777']);
      }
      expect(hostModes(), name).toEqual(before);
      expect(readFileSync(join(hostSide, 'target'), 'utf8')).toBe('host original\n');
      expect(readdirSync(hostSide).sort(), name).toEqual(['secret', 'sub', 'target']);
      ok('rm', '-f', name);
    }
  }, 120_000);
});

describe.runIf(isRoot && toolExists('newuidmap'))('tsbuild cp as an unprivileged user', () => {
  let user: ReturnType<typeof ensureRootlessUser>;
  let userHost: string;
  beforeAll(async () => {
    user = ensureRootlessUser();
    const userRoot = join(dir, 'rootless');
    await busyboxImage(await openStore({ root: userRoot }));
    chownTree(userRoot, user);
    userHost = join(dir, 'user-host');
    mkdirSync(userHost);
    chownSync(userHost, user.uid, user.gid);
    prefix = [...asRootless(user), `TSBUILD_ROOT=${userRoot}`];
  }, 120_000);

  it('copies into and out of a stopped container: the container\'s root is the user on the host', () => {
    ok('create', '--name', 'ustopped', 'busybox', 'sleep', '1000');
    ok('cp', host('file.txt'), 'ustopped:/tmp/file.txt');
    ok('cp', host('tree'), 'ustopped:/tmp/tree');
    const upper = join(dir, 'rootless', 'containers', containerId('ustopped'), 'upper');
    expect(statSync(join(upper, 'tmp', 'file.txt'))).toMatchObject({ uid: user.uid, gid: user.gid });
    ok('cp', 'ustopped:/tmp/tree', join(userHost, 'tree'));
    expect(readFileSync(join(userHost, 'tree', 'sub', 'b'), 'utf8')).toBe('tree sub b\n');
    expect(statSync(join(userHost, 'tree', 'sub', 'b'))).toMatchObject({ uid: user.uid, gid: user.gid });
    ok('start', 'ustopped');
    expect(ok('exec', 'ustopped', 'stat', '-c', '%u:%g %n', '/tmp/file.txt')).toBe('0:0 /tmp/file.txt\n');
    expect(ok('exec', 'ustopped', 'cat', '/tmp/tree/a')).toBe('tree a\n');
    ok('rm', '-f', 'ustopped');
  }, 60_000);

  it('copies into and out of a running container through its monitor\'s namespaces, links inside its root', () => {
    ok('run', '-d', '--name', 'urunning', 'busybox', 'sleep', '1000');
    ok('cp', host('file.txt'), 'urunning:/tmp/file.txt');
    expect(ok('exec', 'urunning', 'stat', '-c', '%u:%g', '/tmp/file.txt')).toBe('0:0\n');
    expect(ok('exec', 'urunning', 'cat', '/tmp/file.txt')).toBe('from the host\n');
    ok('exec', 'urunning', 'sh', '-c', `ln -s ${hostSide} /tmp/to-host && ln -s ../../../.. /tmp/climb`);
    fails(['cp', 'urunning:/tmp/to-host/secret', join(userHost, 'stolen')], 'Could not find the file /tmp/to-host/secret in container urunning');
    ok('cp', 'urunning:/tmp/climb/etc/passwd', join(userHost, 'passwd'));
    expect(readFileSync(join(userHost, 'passwd'), 'utf8')).toMatch(/^root:x:0:0:/);
    const out = tsbuild(['cp', 'urunning:/tmp/file.txt', '-']);
    expect(tarNames(out.stdout).map((line) => line.split(/\s+/).at(-1))).toEqual(['file.txt']);
    ok('rm', '-f', 'urunning');
  }, 60_000);

  it('reaches a running and a stopped container\'s volumes and binds, a read-only one refused', async () => {
    const bound = join(userHost, 'bound');
    mkdirSync(bound);
    writeFileSync(join(bound, 'y'), 'bound file\n');
    chownTree(bound, user);
    const id = ok('run', '-d', '--name', 'uvols', '-v', 'ucopyvol:/data', '-v', `${bound}:/bound:ro`, 'busybox', 'sleep', '1000').trim();
    ok('cp', host('file.txt'), 'uvols:/data/x');
    expect(ok('exec', 'uvols', 'cat', '/data/x')).toBe('from the host\n');
    ok('cp', 'uvols:/bound/y', join(userHost, 'from-bind'));
    expect(readFileSync(join(userHost, 'from-bind'), 'utf8')).toBe('bound file\n');
    fails(['cp', host('file.txt'), 'uvols:/bound/z'], 'mounted volume is marked read-only');
    expect(readdirSync(bound)).toEqual(['y']);
    ok('stop', '-t', '0', 'uvols');
    ok('cp', host('tree'), 'uvols:/data/after');
    ok('start', 'uvols');
    expect(ok('exec', 'uvols', 'cat', '/data/after/sub/b')).toBe('tree sub b\n');
    ok('rm', '-f', 'uvols');
    expect(await mountsUnder(join(dir, 'rootless', 'containers', id))).toEqual([]);
  }, 60_000);
});
