/**
 * A build step whose /proc the image and the step's own mounts arrange to be something other
 * than the procfs the sandbox mounts (runc CVE-2025-52881 class): the image's /proc is a link
 * into the target of a cache mount, which then covers the procfs mounted through the link. The
 * step must not start with a /proc of the build's making.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture, type BuildFixture } from '../helpers/build.js';

const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)('a build step with a /proc of its own making', () => {
  let fx: BuildFixture;

  beforeAll(async () => {
    fx = await buildFixture();
  }, 120_000);

  afterAll(async () => {
    await fx.cleanup();
  });

  it('refuses a RUN whose /proc a cache mount covers through a link the image holds', async () => {
    const dir = await fx.context('proc-link', {
      Dockerfile: [
        'FROM busybox AS base',
        'FROM scratch',
        'COPY --from=base /bin /bin',
        'COPY root/ /',
        // An earlier step fills the cache with what the last one would see as /proc.
        'RUN --mount=type=cache,id=fake-proc,target=/cache mkdir -p /cache/p/self/fd',
        'RUN --mount=type=cache,id=fake-proc,target=/data echo "started$(true) with $(ls /proc | wc -l) entries in /proc"',
      ].join('\n'),
      'root/proc': { symlink: 'data/p' },
      'root/data/.keep': '',
    });
    const result = await fx.build(['--no-cache', dir]);
    expect(result.stderr).not.toContain('started with');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('/proc is not the container');
  }, 120_000);

  it('still runs a step whose image links /proc to a directory no mount covers', async () => {
    const dir = await fx.context('proc-link-plain', {
      Dockerfile: ['FROM busybox AS base', 'FROM scratch', 'COPY --from=base /bin /bin', 'COPY root/ /', 'RUN test -r /proc/self/status && echo "procfs$(true) is there"'].join('\n'),
      'root/proc': { symlink: 'elsewhere/p' },
      'root/elsewhere/.keep': '',
    });
    const result = await fx.build(['--no-cache', dir]);
    expect(result.stderr).toContain('procfs is there');
    expect(result.status).toBe(0);
  }, 120_000);
});
