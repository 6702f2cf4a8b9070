/**
 * Builds that aim RUN's mounts and privileges at the host, after the CVEs of BuildKit and
 * buildah: a mount target reached through a link a cache mount holds (runc CVE-2021-30465, as
 * BuildKit's CVE-2024-23651), a cache raced by a concurrent build that swaps a directory for a
 * link, the mount-stub cleaner led through a link the step planted at a stub's parent
 * (CVE-2024-23652), privileged or host-network steps without the entitlement, directly or
 * through a base image's ONBUILD (CVE-2024-23653), and bind or cache sources that climb, are
 * absolute or are links in the source stage or the context, raced from the host meanwhile
 * (buildah CVE-2024-1753, CVE-2024-9675, CVE-2024-11218). The host directory the steps aim
 * at never changes, and the store verifies after each build.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifyStore } from '../../src/store/index.js';
import { buildFixture, imageFiles, type BuildFixture } from '../helpers/build.js';

const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)('RUN mounts and privileges aimed at the host', () => {
  let fx: BuildFixture;
  /** A host directory the steps aim at: it must stay as it is. */
  let host: string;
  /** What an escaped mount-stub cleaner would remove: empty, as the stubs it removes are. */
  let victim: string;

  beforeAll(async () => {
    fx = await buildFixture();
    host = join(fx.dir, 'host');
    victim = join(fx.dir, 'victim');
    await mkdir(host);
    await writeFile(join(host, 'secret'), 'HOST SECRET\n');
    await mkdir(join(victim, 'inner'), { recursive: true });
    await writeFile(join(victim, 'empty'), '');
  }, 120_000);

  afterEach(async () => {
    expect(readdirSync(host)).toEqual(['secret']);
    expect(readFileSync(join(host, 'secret'), 'utf8')).toBe('HOST SECRET\n');
    expect(readdirSync(victim).sort()).toEqual(['empty', 'inner']);
    const report = await verifyStore(fx.store);
    expect(report.problems).toEqual([]);
  });

  afterAll(async () => {
    await fx.cleanup();
  });

  it('mounts below a link that a cache mount holds inside the step, never where the link names on the host', async () => {
    const dir = await fx.context('cache-planted', {
      Dockerfile: [
        'FROM busybox',
        `RUN --mount=type=cache,id=planted,target=/c ln -s ${host} /c/abs && ln -s ../../../../../../../..${host} /c/up`,
        [
          'RUN --mount=type=cache,id=planted,target=/c --mount=type=bind,source=bound,target=/c/abs/bound --mount=type=tmpfs,target=/c/up/scratch',
          `ls /c/abs/bound > /bound-listing && grep -c " ${host}/bound " /proc/mounts > /bound-mounts && grep -c " ${host}/scratch " /proc/mounts > /scratch-mounts`,
        ].join(' '),
      ].join('\n'),
      'bound/from-context': 'context\n',
    });
    const result = await fx.build(['-t', 'cache-planted', dir]);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.status).toBe(0);
    const files = await imageFiles(fx, 'cache-planted');
    // The links resolved in the step's root: the host path the links name, as a path of the container.
    expect([files.get('bound-listing')?.text, files.get('bound-mounts')?.text, files.get('scratch-mounts')?.text]).toEqual(['from-context\n', '1\n', '1\n']);
  }, 120_000);

  it('mounts below a link of a bound context inside the step, never where the link names on the host', async () => {
    const dir = await fx.context('context-link-target', {
      Dockerfile: ['FROM busybox', `RUN --mount=type=bind,target=/ctx --mount=type=tmpfs,target=/ctx/abs/t --mount=type=tmpfs,target=/ctx/up/u grep -cE " ${host}/(t|u) " /proc/mounts > /count`].join('\n'),
      abs: { symlink: host },
      up: { symlink: `../../../../../../../..${host}` },
    });
    const result = await fx.build(['-t', 'context-link-target', dir]);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.status).toBe(0);
    expect((await imageFiles(fx, 'context-link-target')).get('count')?.text).toBe('2\n');
  }, 120_000);

  it('keeps mounts inside the step while a concurrent build swaps a cache directory for a link to the host', async () => {
    const racer = await fx.context('race-swapper', {
      Dockerfile: [
        'FROM busybox',
        [
          'RUN --mount=type=cache,id=raced,target=/c',
          `end=$(($(date +%s) + 6)); while [ $(date +%s) -lt $end ]; do rm -rf /c/sub; mkdir /c/sub; rm -rf /c/sub; ln -s ${host} /c/sub; done; echo swapped > /swapped`,
        ].join(' '),
      ].join('\n'),
    });
    const victim = await fx.context('race-victim', {
      Dockerfile: ['FROM busybox', 'ARG ATTEMPT', 'RUN --mount=type=cache,id=raced,target=/c --mount=type=tmpfs,target=/c/sub/t --mount=type=bind,source=bound,target=/c/sub/b ls /c/sub/b > /listing 2>&1; true'].join('\n'),
      'bound/from-context': 'context\n',
    });
    const swapping = fx.build(['-t', 'race-swapper', racer]);
    // The swapper's loop runs for 6 s from its start: the steps below start while it runs.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    let ran = 0;
    try {
      for (let attempt = 0; attempt < 6; attempt++) {
        // A new ATTEMPT makes the step run again; --no-cache would give it a cache of its own.
        const raced = await fx.build(['--build-arg', `ATTEMPT=${attempt}`, '-t', 'race-victim', victim]);
        // Each step found /c/sub a directory (mounted there), a link (followed inside the root), or
        // changing under it (refused): never the host, which is checked after the test.
        expect(raced.stderr).not.toContain('HOST SECRET');
        if (raced.status !== 0) {
          // Refused: the path could not be resolved inside the root (a link on the way vanished
          // as it was read, among others), or the directory it resolved to was removed before
          // the mount was made on it, or replaced between the mount and the setting of its
          // options (EINVAL: the path is no longer a mount point).
          expect(raced.stderr).toMatch(/openat2|mkdirat|readlinkat|resolve inside the root|mount \/c\/sub\/[tb]: (No such file or directory|Invalid argument)/);
          continue;
        }
        ran += 1;
        // The swapper may have moved /c/sub since the mount was made: the path then leads elsewhere.
        expect((await imageFiles(fx, 'race-victim')).get('listing')?.text ?? '').not.toContain('secret');
      }
    } finally {
      // Nothing of the store is removed while the swapper's step still runs.
      await swapping;
    }
    const swapper = await swapping;
    expect(swapper.stderr).not.toMatch(/ERROR/);
    expect(swapper.status).toBe(0);
    expect(ran).toBeGreaterThan(0);
  }, 180_000);

  it("removes no file through a link the step put in place of a mount stub's parent", async () => {
    const dir = await fx.context('stub-links', {
      Dockerfile: [
        'FROM busybox',
        // The stubs /abs and /up (and their `inner` and `empty` mount points) were made for the mounts;
        // the step moves them away and leaves links to the host in their place.
        `RUN --mount=type=tmpfs,target=/abs/inner --mount=type=bind,source=empty,target=/abs/empty mv /abs /moved-abs && ln -s ${victim} /abs`,
        `RUN --mount=type=tmpfs,target=/up/inner --mount=type=bind,source=empty,target=/up/empty mv /up /moved-up && ln -s ../../../../../../../..${victim} /up`,
      ].join('\n'),
      empty: '',
    });
    const result = await fx.build(['-t', 'stub-links', dir]);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.status).toBe(0);
    const files = await imageFiles(fx, 'stub-links');
    // The links are the step's change and stay; the cleaner went through neither.
    expect([files.get('abs')?.linkname, files.get('up')?.linkname]).toEqual([victim, `../../../../../../../..${victim}`]);
  }, 120_000);

  it('takes RUN --mount options as its own keys only: bind-propagation and bare mount options are refused, a value with commas stays one value (buildah CVE-2024-9407)', async () => {
    for (const [name, mount, message] of [
      ['propagation', `type=bind,source=/,target=/host,bind-propagation=rshared`, "unexpected key 'bind-propagation' in 'bind-propagation=rshared'"],
      ['cache-propagation', `type=cache,target=/c,bind-propagation=shared`, "unexpected key 'bind-propagation' in 'bind-propagation=shared'"],
      ['bare-options', `type=bind,source=/,target=/host,rbind,suid`, "invalid field 'rbind' must be a key=value pair"],
      ['quoted-options', `type=bind,source=/,"target=/host,rbind,dev"`, "invalid field 'rbind' must be a key=value pair"],
      ['tmpfs-options', `type=tmpfs,target=/t,size=1m,exec`, "invalid field 'exec' must be a key=value pair"],
    ]) {
      const dir = await fx.context(`mount-options-${name}`, { Dockerfile: ['FROM busybox', `RUN --mount=${mount} ls /host > /listing`].join('\n') });
      const result = await fx.build([dir]);
      expect([name, result.status]).toEqual([name, 1]);
      expect(result.stderr).toContain(message);
    }
    // Options through a variable: the expanded value is one target, a path with commas, mounted as
    // a plain tmpfs (the same options as one without), never options of the mount.
    const dir = await fx.context('mount-options-expanded', {
      Dockerfile: [
        'FROM busybox',
        'ARG T=/t,suid,dev,exec,size=1g',
        'RUN --mount=type=tmpfs,target=$T --mount=type=tmpfs,target=/plain grep -E " (/t,suid[^ ]*|/plain) " /proc/mounts | cut -d" " -f2,4 > /mounts',
      ].join('\n'),
    });
    const result = await fx.build(['-t', 'mount-options-expanded', dir]);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.status).toBe(0);
    const lines = ((await imageFiles(fx, 'mount-options-expanded')).get('mounts')?.text ?? '').trim().split('\n').sort();
    expect(lines.map((line) => line.split(' ')[0])).toEqual(['/plain', '/t,suid,dev,exec,size=1g']);
    expect(lines[1]?.split(' ')[1]).toBe(lines[0]?.split(' ')[1]);
  }, 120_000);

  describe('entitlements', () => {
    it('runs RUN --security=insecure only with --allow security.insecure, cached or not', async () => {
      const dir = await fx.context('insecure-gate', {
        Dockerfile: ['# syntax=docker/dockerfile:1-labs', 'FROM busybox', 'RUN --security=insecure mknod /zero c 1 5 && head -c 3 /zero | wc -c > /privileged'].join('\n'),
      });
      const allowed = await fx.build(['-t', 'insecure-gate', '--allow', 'security.insecure', dir]);
      expect(allowed.stderr).not.toMatch(/ERROR/);
      expect(allowed.status).toBe(0);
      expect((await imageFiles(fx, 'insecure-gate')).get('privileged')?.text).toBe('3\n');
      // The same step, now in the cache: still refused without the entitlement.
      const refused = await fx.build(['-t', 'insecure-gate-again', dir]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('security.insecure is not allowed');
      // The step itself is not served from the cache (its base image may show CACHED).
      expect(refused.stderr).not.toMatch(/\[2\/2\] RUN[^\n]*\n#\d+ CACHED$/m);
    }, 120_000);

    it("runs a RUN under docker's default seccomp rules, as BuildKit: no user namespace for the step; --security=insecure lifts them", async () => {
      const probe = 'grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\\t " " "; unshare -U true 2>/dev/null && echo unshared || echo refused';
      const dir = await fx.context('seccomp', {
        Dockerfile: ['# syntax=docker/dockerfile:1-labs', 'FROM busybox', `RUN (${probe}) > /confined`, `RUN --security=insecure (${probe}) > /insecure`].join('\n'),
      });
      const result = await fx.build(['-t', 'seccomp', '--allow', 'security.insecure', dir]);
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(result.status).toBe(0);
      const files = await imageFiles(fx, 'seccomp');
      expect(files.get('confined')?.text).toBe('NoNewPrivs: 0\nSeccomp: 2\nrefused\n');
      expect(files.get('insecure')?.text).toBe('NoNewPrivs: 0\nSeccomp: 0\nunshared\n');
    }, 120_000);

    it("refuses a base image's ONBUILD RUN --security=insecure or --network=host without the entitlement", async () => {
      const base = await fx.context('onbuild-base', {
        Dockerfile: ['FROM busybox', 'ONBUILD RUN --security=insecure mknod /zero c 1 5 && head -c 3 /zero | wc -c > /privileged'].join('\n'),
      });
      expect((await fx.build(['-t', 'onbuild-insecure', base])).status).toBe(0);
      const hostBase = await fx.context('onbuild-host-base', { Dockerfile: ['FROM busybox', 'ONBUILD RUN --network=host echo host > /host-network'].join('\n') });
      expect((await fx.build(['-t', 'onbuild-host', hostBase])).status).toBe(0);

      for (const syntax of [['# syntax=docker/dockerfile:1-labs'], []]) {
        const child = await fx.context(`onbuild-child-${syntax.length}`, { Dockerfile: [...syntax, 'FROM onbuild-insecure', 'RUN echo child > /child'].join('\n') });
        const result = await fx.build(['-t', 'onbuild-child', child]);
        expect(result.status, syntax.join('')).toBe(1);
        // Labs reads the flag and refuses it; the stable syntax knows no such flag.
        expect(result.stderr, syntax.join('')).toMatch(syntax.length > 0 ? /security\.insecure is not allowed/ : /unknown flag: (--)?security/);
      }
      const child = await fx.context('onbuild-child-allowed', { Dockerfile: ['# syntax=docker/dockerfile:1-labs', 'FROM onbuild-insecure', 'RUN echo child > /child'].join('\n') });
      const allowed = await fx.build(['-t', 'onbuild-child', '--allow', 'security.insecure', child]);
      expect(allowed.stderr).not.toMatch(/ERROR/);
      expect(allowed.status).toBe(0);
      expect((await imageFiles(fx, 'onbuild-child')).get('privileged')?.text).toBe('3\n');

      const hostChild = await fx.context('onbuild-host-child', { Dockerfile: ['FROM onbuild-host', 'RUN echo child > /child'].join('\n') });
      const refused = await fx.build(['-t', 'onbuild-host-child', hostChild]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('network.host is not allowed');
    }, 180_000);

    it('runs RUN --network=host only with --allow network.host or a build on the host network, as BuildKit and buildx', async () => {
      const dir = await fx.context('network-gate', { Dockerfile: ['FROM busybox', 'RUN --network=host tail -n +3 /proc/net/dev | wc -l > /interfaces'].join('\n') });
      const refused = await fx.build(['-t', 'network-gate', dir]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('network.host is not allowed');
      for (const grant of [['--allow', 'network.host'], ['--network', 'host']]) {
        const allowed = await fx.build(['-t', 'network-gate', ...grant, dir]);
        expect(allowed.stderr, grant.join(' ')).not.toMatch(/ERROR/);
        expect(allowed.status, grant.join(' ')).toBe(0);
      }
      // RUN --network=none and the default need nothing.
      const plain = await fx.context('network-plain', { Dockerfile: ['FROM busybox', 'RUN --network=none true', 'RUN --network=default true', 'RUN true'].join('\n') });
      expect((await fx.build([plain])).status).toBe(0);
    }, 120_000);
  });

  describe('bind and cache sources', () => {
    let stage: string[];

    beforeAll(() => {
      stage = [
        'FROM busybox AS s',
        `RUN echo stage > /stage-file && ln -s / /rootlink && ln -s ${host} /abs && ln -s ../../../../../../../..${host} /up && mkdir /d && ln -s ${host}/secret /d/secret-link`,
        'FROM busybox',
      ];
    });

    it('reads a stage through its links inside the stage: a link to / is its root', async () => {
      const dir = await fx.context('source-rootlink', {
        Dockerfile: [...stage, 'RUN --mount=type=bind,from=s,source=/rootlink,target=/m ls /m > /listing', 'RUN --mount=type=bind,from=s,source=/rootlink,target=/m,rw echo changed > /m/stage-file'].join('\n'),
      });
      const result = await fx.build(['-t', 'source-rootlink', dir]);
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(result.status).toBe(0);
      expect((await imageFiles(fx, 'source-rootlink')).get('listing')?.text).toContain('stage-file\n');
    }, 120_000);

    it.each([
      ['bind from a stage, an absolute link', 'type=bind,from=s,source=/abs/secret,target=/m'],
      ['bind from a stage, a climbing link', 'type=bind,from=s,source=/up/secret,target=/m'],
      ['bind from a stage, a link to a host file', 'type=bind,from=s,source=/d/secret-link,target=/m'],
      ['bind from a stage, a climbing source', `type=bind,from=s,source=../../../../../../../..${host}/secret,target=/m`],
      ['bind from the context, an absolute source', `type=bind,source=${host}/secret,target=/m`],
      ['bind from the context, a link in it', 'type=bind,source=ctxlink/secret,target=/m'],
      ['cache filled from a stage through a link', 'type=cache,id=filled,from=s,source=/abs,target=/m'],
      ['cache filled from a stage through a climbing source', `type=cache,id=filled-up,from=s,source=../../../../../../..${host},target=/m`],
    ])('finds no host file for a %s', async (what, mount) => {
      const dir = await fx.context(`source-${what.replace(/[^a-z]+/g, '-')}`, {
        Dockerfile: [...stage, `RUN --mount=${mount} cat /m /m/secret > /stolen 2>&1; true`].join('\n'),
        ctxlink: { symlink: host },
      });
      const result = await fx.build(['-t', 'source-refused', dir]);
      expect(result.stderr).not.toContain('HOST SECRET');
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/not found/);
    }, 120_000);

    it('takes no host path for the source of a cache without from: the cache itself is mounted', async () => {
      const dir = await fx.context('cache-source', { Dockerfile: ['FROM busybox', `RUN --mount=type=cache,id=sourced,source=../../../../../../../..${host},target=/m ls -A /m > /listing`].join('\n') });
      const result = await fx.build(['-t', 'cache-source', dir]);
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(result.status).toBe(0);
      expect((await imageFiles(fx, 'cache-source')).get('listing')?.text).toBe('');
    }, 120_000);

    it('takes a cache id with / and .. as a name below the store, never a path', async () => {
      const id = `../../../../../../../..${host}/escaped-id`;
      const dir = await fx.context('cache-id-path', { Dockerfile: ['FROM busybox', `RUN --mount=type=cache,id=${id},target=/m echo cached > /m/file`, 'RUN --mount=type=cache,id=a/b,target=/m echo cached > /m/file'].join('\n') });
      const result = await fx.build(['-t', 'cache-id-path', dir]);
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(result.status).toBe(0);
      const caches = await readdir(join(fx.root, 'cache-mounts'));
      expect(caches).toContain('a%2Fb');
      expect(caches.filter((name) => name.includes('escaped-id'))).toHaveLength(1);
      for (const name of caches) expect(name).not.toContain('/');
    }, 120_000);

    it('binds a context directory the host swaps for a link to the host meanwhile: its content or nothing, never the host', async () => {
      const dir = await fx.context('context-race', {
        Dockerfile: ['FROM busybox', 'RUN --mount=type=bind,source=sub,target=/m cat /m/* > /seen 2>&1; true'].join('\n'),
        // Named as the host's file, so that a copy through the link would find one.
        'sub/secret': 'context\n',
      });
      // Swaps DIR/sub between the directory and a link to the host directory for at most the test's time.
      const swapper = spawn('timeout', ['170', 'sh', '-c', `cd ${dir} && while :; do mv sub sub.dir && ln -s ${host} sub && sleep 0.02; rm sub && mv sub.dir sub && sleep 0.2; done`], { stdio: 'ignore' });
      let ran = 0;
      try {
        for (let round = 0; round < 10; round++) {
          const result = await fx.build(['--no-cache', '-t', 'context-race', dir]);
          expect(result.stderr).not.toContain('HOST SECRET');
          if (result.status !== 0) {
            // The key was computed, or the source copied, while the link was there: not found.
            expect(result.stderr).toContain('not found');
            continue;
          }
          ran += 1;
          const files = await imageFiles(fx, 'context-race');
          // The copy read the name after the link took the directory's place: the link itself
          // was copied, and the step could not follow it (the host's path is not in its root).
          const seen = files.get('seen')?.text;
          if (seen !== 'context\n') expect(seen).toBe("cat: can't open '/m/sub': No such file or directory\n");
        }
      } finally {
        swapper.kill();
        await new Promise((resolve) => swapper.once('exit', resolve));
      }
      expect(ran).toBeGreaterThan(0);
    }, 180_000);
  });
});
