/**
 * Builds made to reach the host from inside a step, beyond what build-copy and build-mounts
 * already cover: a working directory through a leaked descriptor (runc CVE-2024-21626), COPY --from a stage whose
 * paths are links to /proc/self/root or the host, and cache and secret mount targets reached
 * through links the step planted, and ADD of a URL whose encoded name climbs (`..%2F`) or
 * names a path through a link, and a WORKDIR, a WorkingDir the runtime makes again, and COPY, ADD
 * and mount destinations through links to a host directory (containerd CVE-2022-23648 class). Each build either fails naming what it refused or does its
 * work inside the root; the host is untouched and the store verifies after each.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader, endOfArchive } from '../../src/exporter/tar.js';
import { verifyStore } from '../../src/store/index.js';
import { buildFixture, cachedSteps, imageFiles, ranSteps, type BuildFixture } from '../helpers/build.js';

const isRoot = process.getuid?.() === 0;
const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

describe.runIf(isRoot)('hostile builds', () => {
  let fx: BuildFixture;
  /** A host directory the steps try to reach: it must stay as it is. */
  let host: string;

  beforeAll(async () => {
    fx = await buildFixture();
    host = join(fx.dir, 'host');
    await mkdir(host);
    await writeFile(join(host, 'secret'), 'HOST SECRET\n');
  }, 120_000);

  afterEach(async () => {
    expect(readdirSync(host)).toEqual(['secret']);
    expect(readFileSync(join(host, 'secret'), 'utf8')).toBe('HOST SECRET\n');
    const report = await verifyStore(fx.store);
    expect(report.problems).toEqual([]);
  });

  afterAll(async () => {
    await fx.cleanup();
  });

  // The runtime's own guards (only 0-2 reach the process, the cwd checked to be below the root)
  // are proven in hardening.test.ts, which leaks a directory descriptor on purpose. This one
  // proves the build's whole path: were the executor to pass a host directory's descriptor to
  // the runtime and the runtime not guard, one of these steps would start outside its root.
  it('never gives a step a working directory outside its root through a descriptor (WORKDIR /proc/self/fd/N)', async () => {
    for (const fd of [3, 4, 5, 6, 7, 8, 9, 10]) {
      const dir = await fx.context(`fd-${fd}`, {
        Dockerfile: ['FROM busybox', `WORKDIR /proc/self/fd/${fd}`, 'RUN pwd -P > /pwd; ls -a . > /listing; cat ../../../../../../..' + `${host}/secret > /stolen 2>&1; true`].join('\n'),
      });
      const result = await fx.build(['-t', `fd-${fd}`, dir]);
      expect(result.stderr, `fd ${fd}`).not.toContain('HOST SECRET');
      if (result.status === 0) {
        // Had the step started there, `..` would climb the host, not the container.
        const files = await imageFiles(fx, `fd-${fd}`);
        expect(files.get('stolen')?.text ?? '', `fd ${fd}`).not.toContain('HOST SECRET');
        expect(files.get('pwd')?.text ?? '', `fd ${fd}`).not.toContain(fx.dir);
      } else {
        expect(result.stderr, `fd ${fd}`).toMatch(/working directory|chdir|getcwd/);
      }
    }
  }, 120_000);

  it("makes a WORKDIR, an image's WorkingDir and a COPY, ADD or mount destination through a link to the host inside the root (containerd CVE-2022-23648 class, in a build)", async () => {
    const dir = await fx.context('workdir-links', {
      Dockerfile: [
        'FROM busybox AS base',
        `RUN ln -s ../../../../../../../..${host} /up && ln -s ${host} /abs`,
        'WORKDIR /up/made-by-workdir',
        'RUN pwd > /pwd-up && touch inside-up',
        'WORKDIR /abs/made-abs',
        'RUN pwd > /pwd-abs && touch inside-abs',
        'FROM base',
        'COPY Dockerfile /up/copied/',
        'ADD Dockerfile /abs/added/',
        'RUN --mount=type=tmpfs,target=/up/tmpfs-target --mount=type=cache,target=/abs/cache-target ls -d /up/tmpfs-target /abs/cache-target > /mounted',
      ].join('\n'),
    });
    const result = await fx.build(['-t', 'workdir-links', dir]);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.status).toBe(0);
    const files = await imageFiles(fx, 'workdir-links');
    // Each is where the link leads inside the root: the host path, as a directory of the image.
    expect([files.get('pwd-up')?.text, files.get('pwd-abs')?.text]).toEqual([`${host}/made-by-workdir\n`, `${host}/made-abs\n`]);
    for (const made of ['made-by-workdir/inside-up', 'made-abs/inside-abs', 'copied/Dockerfile', 'added/Dockerfile']) expect(files.has(`${host.slice(1)}/${made}`), made).toBe(true);
    // The image's WorkingDir itself through a link, made by the runtime for a step where it is missing.
    const missing = await fx.context('workdir-config', { Dockerfile: ['FROM workdir-links', 'RUN rm -rf /abs/made-abs', 'RUN pwd > /pwd-config && touch made-again'].join('\n') });
    const second = await fx.build(['-t', 'workdir-config', missing]);
    expect(second.stderr).not.toMatch(/ERROR/);
    expect(second.status).toBe(0);
    const again = await imageFiles(fx, 'workdir-config');
    expect(again.get('pwd-config')?.text).toBe(`${host}/made-abs\n`);
    expect(again.has(`${host.slice(1)}/made-abs/made-again`)).toBe(true);
  }, 120_000);

  it('reads a stage through its links inside the stage: /proc/self/root, absolute and climbing links lead to nothing on the host', async () => {
    const dir = await fx.context('from-links', {
      Dockerfile: [
        'FROM busybox AS stage',
        `RUN ln -s /proc/self/root /pr && ln -s ${host} /abs && ln -s ../../../../../../../..${host} /up && echo stage > /stage-file`,
        'FROM busybox',
        'COPY --from=stage /up/ /copied-up/',
      ].join('\n'),
    });
    const ok = await fx.build(['-t', 'from-links', dir]);
    // `/up` climbs out: inside the stage it stops at the stage's root, where there is no such directory.
    expect(ok.status).toBe(1);
    expect(ok.stderr).not.toContain('HOST SECRET');
    expect(ok.stderr).toMatch(/not found/);
    for (const [name, source] of [
      ['pr', `/pr${host}/secret`],
      ['abs', '/abs/secret'],
      ['pr-etc', '/pr/proc/self/root/etc/hostname'],
    ] as const) {
      const refused = await fx.context(`from-links-${name}`, {
        Dockerfile: ['FROM busybox AS stage', `RUN ln -s /proc/self/root /pr && ln -s ${host} /abs`, 'FROM busybox', `COPY --from=stage ${source} /got`].join('\n'),
      });
      const result = await fx.build(['-t', `from-links-${name}`, refused]);
      expect(result.status, name).toBe(1);
      expect(result.stderr, name).toContain('not found');
      expect(result.stderr, name).not.toContain('HOST SECRET');
    }
    // A link inside the stage that stays inside it is followed as the stage sees it.
    const inside = await fx.context('from-links-inside', {
      Dockerfile: ['FROM busybox AS stage', 'RUN echo stage > /stage-file && ln -s /stage-file /abs-in && ln -s ../../../../stage-file /up-in', 'FROM busybox', 'COPY --from=stage /abs-in /a', 'COPY --from=stage /up-in /b'].join('\n'),
    });
    const followed = await fx.build(['-t', 'from-links-inside', inside]);
    expect(followed.stderr).not.toMatch(/ERROR/);
    expect(followed.status).toBe(0);
    const files = await imageFiles(fx, 'from-links-inside');
    expect([files.get('a')?.text, files.get('b')?.text]).toEqual(['stage\n', 'stage\n']);
  }, 120_000);

  it('mounts a cache and a secret at targets reached through planted links inside the step only', async () => {
    const secretFile = join(fx.dir, 'token');
    await writeFile(secretFile, 'token-value\n');
    const dir = await fx.context('mount-links', {
      Dockerfile: [
        'FROM busybox',
        `RUN ln -s ${host} /link-abs && ln -s ../../../../../../../..${host} /link-up`,
        'RUN --mount=type=cache,id=hostile-links,target=/link-abs/cache echo cached > /link-abs/cache/file && ls /link-abs > /abs-listing',
        'RUN --mount=type=secret,id=token,target=/link-up/token cat /link-up/token > /secret-copy',
      ].join('\n'),
    });
    const result = await fx.build(['-t', 'mount-links', '--secret', `id=token,src=${secretFile}`, dir]);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.status).toBe(0);
    const files = await imageFiles(fx, 'mount-links');
    // The links' targets were made inside the step's root (a host path as a directory there).
    expect(files.get('secret-copy')?.text).toBe('token-value\n');
    expect(files.get('abs-listing')?.text).toBe('cache\n');
    expect(await readdir(join(fx.root, 'cache-mounts', 'hostile-links', 'data'))).toEqual(['file']);
    // Nothing made by the mounts stays in the image: only the mount points' parents the step made.
    expect([...files.keys()].filter((path) => path.endsWith('/token') || path.endsWith('/cache/file'))).toEqual([]);
  }, 120_000);
  it('binds context sources inside the context: source=../../.. is its root, source=/etc is its etc', async () => {
    const dir = await fx.context('bind-context', {
      Dockerfile: ['FROM busybox', 'RUN --mount=type=bind,source=../../..,target=/ctx ls -A /ctx > /listing'].join('\n'),
      'only-here': 'context\n',
    });
    const result = await fx.build(['-t', 'bind-context', dir]);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.status).toBe(0);
    expect((await imageFiles(fx, 'bind-context')).get('listing')?.text).toBe('Dockerfile\nonly-here\n');
    const absolute = await fx.context('bind-context-etc', { Dockerfile: ['FROM busybox', 'RUN --mount=type=bind,source=/etc,target=/e cat /e/passwd'].join('\n') });
    const refused = await fx.build([absolute]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('"/etc": not found');
    expect(refused.stderr).not.toContain('root:x:0:0');
  }, 60_000);

  it('reads a named --build-context directory as a context: its links to the host are links, never followed out of it', async () => {
    const named = await fx.context('named-links', {
      abs: { symlink: host },
      up: { symlink: `../../../../../../../..${host}` },
      file: { symlink: join(host, 'secret') },
      'inner/own': 'named\n',
    });
    const probe = (name: string, lines: readonly string[]): Promise<string> => fx.context(name, { Dockerfile: ['FROM busybox', ...lines].join('\n') });
    // Through a link: the path inside the named context, where nothing is.
    for (const [name, line] of [
      ['named-through-abs', 'COPY --from=named abs/secret /x'],
      ['named-through-up', 'COPY --from=named up/secret /x'],
      ['named-bind-through', 'RUN --mount=type=bind,from=named,source=abs,target=/n cat /n/secret'],
    ] as const) {
      const result = await fx.build(['--build-context', `named=${named}`, await probe(name, [line])]);
      expect([name, result.status]).toEqual([name, 1]);
      expect(result.stderr).not.toContain('HOST SECRET');
    }
    // The links themselves: copied as links, and a bind sees them as links.
    const dir = await probe('named-links-copied', ['COPY --from=named / /n/', 'RUN --mount=type=bind,from=named,target=/b cat /b/inner/own > /bound; cat /b/file > /bound-link 2>&1 || true']);
    const result = await fx.build(['-t', 'named-links-copied', '--build-context', `named=${named}`, dir]);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.status).toBe(0);
    const files = await imageFiles(fx, 'named-links-copied');
    expect([files.get('n/abs')?.linkname, files.get('n/file')?.linkname, files.get('bound')?.text]).toEqual([host, join(host, 'secret'), 'named\n']);
    expect(files.get('bound-link')?.text).not.toContain('HOST SECRET');
  }, 120_000);

  it('lets no step open a device node but the ones the runtime gives: made with mknod anywhere, or shipped in a layer', async () => {
    // Writing /dev/kmsg (1:11) needs no capability: a line in the host's kernel log is the proof.
    const marker = `tsbuild-hostile-${process.pid}-${Date.now()}`;
    const layer = Buffer.concat([encodeHeader({ path: 'shipped-kmsg', type: 'character-device', devmajor: 1, devminor: 11, mode: 0o666, uid: 0, gid: 0, mtime: 0 }), endOfArchive]);
    const context = await fx.context('devices', {
      Dockerfile: [
        'FROM busybox',
        'ADD shipped.tar /',
        [
          'RUN --mount=type=cache,id=hostile-devices,target=/cache --mount=type=tmpfs,target=/scratch',
          'for node in /made /dev/made /cache/made /scratch/made /tmp/made; do mknod $node c 1 11 || exit 9; done;',
          `for node in /made /dev/made /cache/made /scratch/made /tmp/made /shipped-kmsg; do (echo ${marker} > $node) 2>/dev/null && echo "opened $node"; done;`,
          'echo ok > /dev/null && head -c 4 /dev/zero | wc -c > /zero && head -c 4 /dev/urandom | wc -c > /urandom; true',
        ].join(' '),
      ].join('\n'),
    });
    await writeFile(join(context, 'shipped.tar'), layer);
    const result = await fx.build(['-t', 'devices', context]);
    expect(result.stderr).not.toMatch(/^#\d+ [\d.]+ opened/m);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.status).toBe(0);
    const files = await imageFiles(fx, 'devices');
    expect([files.get('zero')?.text, files.get('urandom')?.text]).toEqual(['4\n', '4\n']);
    expect(execFileSync('dmesg', { encoding: 'utf8' })).not.toContain(marker);
    // BuildKit's --security=insecure is the exception: every device opens, as on the host.
    const insecure = await fx.context('devices-insecure', {
      Dockerfile: [
        '# syntax=docker/dockerfile:1-labs',
        'FROM busybox',
        'RUN --security=insecure mknod /zero-insecure c 1 5 && head -c 4 /zero-insecure | wc -c > /insecure',
        'RUN mknod /zero-sandbox c 1 5 && (head -c 4 /zero-sandbox > /dev/null 2>&1 && echo opened || echo refused) > /sandbox',
      ].join('\n'),
    });
    const allowed = await fx.build(['-t', 'devices-insecure', '--allow', 'security.insecure', insecure]);
    expect(allowed.stderr).not.toMatch(/ERROR/);
    expect(allowed.status).toBe(0);
    const insecureFiles = await imageFiles(fx, 'devices-insecure');
    expect([insecureFiles.get('insecure')?.text, insecureFiles.get('sandbox')?.text]).toEqual(['4\n', 'refused\n']);
  }, 60_000);

  it('names an ADDed URL after the last component of its decoded path, whatever %2F and .. it encodes', async () => {
    const server = createServer((_request, response) => void response.writeHead(200, { 'content-type': 'text/plain' }).end('DOWNLOADED\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const climb = encodeURIComponent(`${'../'.repeat(12)}${host.slice(1)}/planted`);
    try {
      const dir = await fx.context('url-names', {
        Dockerfile: [
          'FROM busybox',
          `RUN mkdir /d && ln -s ${host} /d/link`,
          // Encoded, `..` and `/` are one path component to the URL; decoded, they would climb out of /d/.
          `ADD ${base}/${climb} /d/`,
          `ADD ${base}/link%2Fthrough /d/`,
          `ADD ${base}/%2E%2E /d/`,
        ].join('\n'),
      });
      const result = await fx.build(['-t', 'url-names', dir]);
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(result.status).toBe(0);
      const files = await imageFiles(fx, 'url-names');
      // As BuildKit (path.Base of the decoded path): the last component only.
      expect(files.get('d/planted')?.text).toBe('DOWNLOADED\n');
      expect(files.get('d/through')?.text).toBe('DOWNLOADED\n');
      expect(files.get('d/__unnamed__')?.text).toBe('DOWNLOADED\n');
      expect(files.get('d/link')?.linkname).toBe(host);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 60_000);

  it('keeps build arguments out of what runs from the image: only what ENV sets reaches run, exec and a later build (buildah CVE-2021-3602)', async () => {
    const dir = await fx.context('build-args', {
      Dockerfile: [
        'ARG GLOBAL_VALUE',
        'FROM busybox',
        'ARG GLOBAL_VALUE',
        'ARG DEFAULTED=default-value-secret',
        'ARG PROMOTED',
        'ENV PROMOTED=$PROMOTED',
        // The steps see them: they are what a leak would carry.
        'RUN test "$GLOBAL_VALUE" = global-value-secret && test "$DEFAULTED" = default-value-secret && test "$http_proxy" = http://proxy-secret:3128',
      ].join('\n'),
    });
    const built = await fx.build(['-t', 'build-args', '--build-arg', 'GLOBAL_VALUE=global-value-secret', '--build-arg', 'PROMOTED=promoted', '--build-arg', 'http_proxy=http://proxy-secret:3128', dir]);
    expect(built.stderr).not.toMatch(/ERROR/);
    expect(built.status).toBe(0);
    const image = await fx.image('build-args');
    expect(image.config.config?.Env ?? []).toContain('PROMOTED=promoted');
    expect(JSON.stringify(image.config.config?.Env ?? [])).not.toMatch(/value-secret|proxy-secret/);
    const cli = (args: readonly string[]): string => execFileSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: fx.root }, timeout: 30_000 });
    const seen = [cli(['run', '--rm', 'build-args', 'env'])];
    cli(['run', '-d', '--name', 'build-args', 'build-args', 'sleep', '60']);
    try {
      seen.push(cli(['exec', 'build-args', 'env']));
    } finally {
      cli(['rm', '-f', 'build-args']);
    }
    const later = await fx.context('build-args-later', { Dockerfile: 'FROM build-args\nRUN env > /env\n' });
    expect((await fx.build(['-t', 'build-args-later', later])).status).toBe(0);
    seen.push((await imageFiles(fx, 'build-args-later')).get('env')?.text ?? '');
    for (const env of seen) {
      expect(env).toContain('PROMOTED=promoted');
      expect(env).not.toMatch(/GLOBAL_VALUE|DEFAULTED|value-secret|proxy-secret/);
    }
  }, 120_000);

  it('takes no cache record made on another base or for another instruction, imported or carried by an image (moby CVE-2024-24557)', async () => {
    const made = 'RUN echo made > /made';
    const cache = join(fx.dir, 'poison-cache');
    const exported = await fx.build(['--cache-to', `type=local,dest=${cache},mode=max`, '-t', 'poison', await fx.context('poison', { Dockerfile: `FROM busybox\n${made}\n` })]);
    expect(exported.status, exported.stderr).toBe(0);
    const archive = join(fx.dir, 'poison.tar');
    execFileSync(process.execPath, [bin, 'save', '-o', archive, 'poison'], { env: { ...process.env, TSBUILD_ROOT: fx.root } });
    const other = await buildFixture();
    try {
      const from = ['--cache-from', `type=local,src=${cache}`];
      const base = await other.build(['-t', 'other-base', await other.context('other-base', { Dockerfile: 'FROM busybox\nRUN echo other > /other\n' })]);
      expect(base.status, base.stderr).toBe(0);
      // The same instruction on another base, another instruction on the same base: both run.
      for (const [name, dockerfile] of [
        ['on-other-base', `FROM other-base\n${made}\n`],
        ['other-instruction', 'FROM busybox\nRUN echo made  > /made\n'],
      ] as const) {
        const result = await other.build([...from, await other.context(name, { Dockerfile: dockerfile })]);
        expect(result.status, result.stderr).toBe(0);
        expect(cachedSteps(result.stderr), name).toEqual([]);
        expect(ranSteps(result.stderr), name).toHaveLength(1);
      }
      // The records do serve what they were made for.
      const hit = await other.build([...from, await other.context('same', { Dockerfile: `FROM busybox\n${made}\n` })]);
      expect(hit.status, hit.stderr).toBe(0);
      expect(cachedSteps(hit.stderr)).toEqual(['[2/2] RUN echo made > /made']);
      // An image holding what the step made, with the step in its history, is no record: on a
      // root that never ran the step, loading it leaves the step to run.
      const third = await buildFixture();
      try {
        execFileSync(process.execPath, [bin, 'load', '-i', archive], { env: { ...process.env, TSBUILD_ROOT: third.root } });
        const loaded = await third.build([await third.context('loaded', { Dockerfile: `FROM busybox\n${made}\n` })]);
        expect(loaded.status, loaded.stderr).toBe(0);
        expect(ranSteps(loaded.stderr)).toEqual(['[2/2] RUN echo made > /made']);
      } finally {
        await third.cleanup();
      }
    } finally {
      await other.cleanup();
    }
  }, 120_000);
});
