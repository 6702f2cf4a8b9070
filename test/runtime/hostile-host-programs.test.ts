/**
 * What tsbuild does on the host for a container or a build (decompress an ADD's archive, copy
 * with `cp`, fill a volume, list processes, read users) runs the host's programs only, never one
 * of an image: docker ran `xz` chrooted into the destination it unpacked into (CVE-2014-9357),
 * and `docker cp` a helper chrooted into the container that loaded the container's
 * `libnss_*.so` (CVE-2019-14271). Here an image replaces `xz`, `bzip2`, `tar`, `cp`, `ps` and
 * `id` with programs that leave a mark on the host, lists a library of its own in
 * `/etc/ld.so.preload` and as `libnss_files`, and points its PATH at them: no mark appears.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { buildBinaries, isRoot } from './helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

let dir: string;
let root: string;
/** Where a program of the image, run on the host, leaves its mark. */
let marks: string;
let removeDir: () => Promise<void>;

function tsbuild(args: readonly string[], input?: Buffer): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: root }, timeout: 60_000, ...(input === undefined ? {} : { input }) });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Archives of one file, compressed by the host's own programs. */
function archive(context: string, program: 'xz' | 'bzip2'): string {
  const source = join(context, `${program}-source`);
  mkdirSync(source, { recursive: true });
  writeFileSync(join(source, 'inside.txt'), `unpacked by ${program}\n`);
  const name = `a.tar.${program === 'xz' ? 'xz' : 'bz2'}`;
  const tar = spawnSync('tar', ['-C', source, '-cf', '-', 'inside.txt']);
  writeFileSync(join(context, name), spawnSync(program, ['-c'], { input: tar.stdout }).stdout);
  return name;
}

describe.runIf(isRoot)('programs of an image never run on the host', () => {
  beforeAll(async () => {
    buildBinaries();
    ({ path: dir, cleanup: removeDir } = await temporaryDirectory('tsbuild-hostile-programs-'));
    root = join(dir, 'root');
    marks = join(dir, 'marks');
    mkdirSync(marks);
    await busyboxImage(await openStore({ root }));
    const context = join(dir, 'bait');
    mkdirSync(context);
    // A program that, run anywhere the host's paths are, writes its own name into the marks.
    writeFileSync(join(context, 'bait.sh'), `#!/bin/sh\necho "$0 $*" > ${marks}/program-$(basename "$0")\n`, { mode: 0o755 });
    // A library whose constructor does the same when any dynamic program loads it.
    writeFileSync(join(context, 'bait.c'), `#include <fcntl.h>\n#include <unistd.h>\n__attribute__((constructor)) static void bait(void) { int fd = open("${marks}/library", O_CREAT | O_WRONLY, 0644); if (fd >= 0) close(fd); }\n`);
    const compiled = spawnSync('cc', ['-shared', '-fPIC', '-o', join(context, 'bait.so'), join(context, 'bait.c')], { encoding: 'utf8' });
    expect(compiled.stderr).toBe('');
    // Not sh: the steps below need the image's own shell.
    const programs = ['xz', 'bzip2', 'unxz', 'bunzip2', 'tar', 'cp', 'ps', 'id', 'getent', 'gzip', 'zstd', 'git'];
    const libraries = ['/lib/x86_64-linux-gnu/libnss_files.so.2', '/lib/aarch64-linux-gnu/libnss_files.so.2', '/lib64/libnss_files.so.2', '/usr/lib/libnss_files.so.2', '/lib/libc.so.6', '/bait.so'];
    writeFileSync(
      join(context, 'Dockerfile'),
      [
        'FROM busybox',
        // The applets are links to busybox, which a COPY onto them would write through (as BuildKit's).
        `RUN for p in ${programs.join(' ')}; do rm -f /bin/$p /usr/bin/$p; done`,
        ...programs.flatMap((program) => ['/usr/local/bin', '/usr/bin', '/bin'].map((directory) => `COPY --chmod=755 bait.sh ${directory}/${program}`)),
        ...libraries.map((library) => `COPY bait.so ${library}`),
        `RUN echo /bait.so > /etc/ld.so.preload && printf 'passwd: files\\ngroup: files\\n' > /etc/nsswitch.conf && echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd`,
        'ENV PATH=/usr/local/bin:/usr/bin:/bin',
      ].join('\n'),
    );
    const built = tsbuild(['build', '--progress', 'plain', '-t', 'baited', context]);
    expect(built.stderr).not.toMatch(/ERROR/);
    expect(built.status).toBe(0);
    expect(readdirSync(marks)).toEqual([]);
  }, 180_000);

  afterAll(async () => {
    await removeDir();
  });

  it('decompresses an ADD of xz and bzip2 with the host\'s programs, never the base image\'s (docker CVE-2014-9357)', () => {
    const context = join(dir, 'add');
    mkdirSync(context);
    const xz = archive(context, 'xz');
    const bzip2 = archive(context, 'bzip2');
    writeFileSync(join(context, 'Dockerfile'), `FROM baited\nADD ${xz} /from-xz/\nADD ${bzip2} /from-bzip2/\n`);
    const built = tsbuild(['build', '--progress', 'plain', '-t', 'unpacked', context]);
    expect(built.stderr).not.toMatch(/ERROR/);
    expect(built.status).toBe(0);
    const listed = tsbuild(['run', '--rm', '--entrypoint', '/bin/busybox', 'unpacked', 'cat', '/from-xz/inside.txt', '/from-bzip2/inside.txt']);
    expect(listed).toMatchObject({ status: 0, stdout: 'unpacked by xz\nunpacked by bzip2\n' });
    expect(readdirSync(marks)).toEqual([]);
  }, 120_000);

  it('copies, lists, exports and fills volumes of a container with its own code only, whatever programs and libraries it holds (docker CVE-2019-14271)', () => {
    const name = `programs-${process.pid}`;
    expect(tsbuild(['run', '-d', '--name', name, '--entrypoint', '/bin/busybox', 'baited', 'sleep', '120']).status).toBe(0);
    try {
      const host = join(dir, 'copied');
      mkdirSync(host);
      writeFileSync(join(host, 'in.txt'), 'copied in\n');
      expect(tsbuild(['cp', '-a', join(host, 'in.txt'), `${name}:/tmp/in.txt`]).status).toBe(0);
      expect(tsbuild(['cp', `${name}:/etc/passwd`, join(host, 'passwd')]).status).toBe(0);
      expect(tsbuild(['cp', `${name}:/usr/bin`, join(host, 'bin')]).status).toBe(0);
      const tar = spawnSync('tar', ['-C', host, '-cf', '-', 'in.txt']).stdout;
      expect(tsbuild(['cp', '-', `${name}:/tmp/`], tar).status).toBe(0);
      expect(tsbuild(['top', name]).status).toBe(0);
      expect(tsbuild(['diff', name]).status).toBe(0);
      expect(tsbuild(['export', '-o', join(host, 'export.tar'), name]).status).toBe(0);
      expect(tsbuild(['commit', name, 'committed']).status).toBe(0);
      expect(tsbuild(['exec', '-u', 'app', name, '/bin/busybox', 'id', '-u'])).toMatchObject({ status: 0, stdout: '1000\n' });
      // A new volume filled from the image's directory of bait programs and libraries.
      expect(tsbuild(['run', '--rm', '-v', `${name}-vol:/usr/bin`, '--entrypoint', '/bin/busybox', 'baited', 'ls', '/usr/bin/xz']).status).toBe(0);
      expect(tsbuild(['volume', 'rm', `${name}-vol`]).status).toBe(0);
      expect(readdirSync(marks)).toEqual([]);
      // The control: the image's program and library, copied out and run on the host, do leave their marks.
      expect(tsbuild(['cp', `${name}:/bait.so`, join(host, 'bait.so')]).status).toBe(0);
      spawnSync(join(host, 'bin', 'xz'), ['-d']);
      spawnSync('true', [], { env: { ...process.env, LD_PRELOAD: join(host, 'bait.so') } });
      expect(readdirSync(marks).sort()).toEqual(['library', 'program-xz']);
    } finally {
      tsbuild(['rm', '-f', name]);
    }
  }, 180_000);
});
