/**
 * Users whose ids do not fit a uid_t as a signed 32-bit number (containerd CVE-2024-40635): a
 * uid or gid above 2^31-1, given by `run --user`, `exec --user`, an image's USER, a Dockerfile's
 * USER or an /etc/passwd or /etc/group entry of the image, must be an error. Wrapped to 32 bits,
 * 4294967296 is 0, and 4294967295 is the -1 that setresuid takes as "keep root": either would
 * run the process as root.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform, type ContainerConfig } from '../../src/common/index.js';
import { writeImage, writeLayer, type LayerEntry } from '../../src/exporter/index.js';
import { openStore, resolveImage } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { buildBinaries, isRoot, runInstalledCli } from './helpers.js';


let dir: string;
let root: string;
let removeDir: () => Promise<void>;

function tsbuild(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  return runInstalledCli(args, { root });
}

const file = (path: string, text: string): LayerEntry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: Buffer.byteLength(text), content: () => Buffer.from(text) });

/**
 * What a process that did start prints: `ran as UID GID GROUPS`. The command's own text (which
 * a build's progress shows) does not hold those words.
 */
const whoami = 'echo "ran$(true) as $(id -u) $(id -g) $(id -G)"';

describe.runIf(isRoot)('users out of range', () => {
  beforeAll(async () => {
    buildBinaries();
    ({ path: dir, cleanup: removeDir } = await temporaryDirectory('tsbuild-hostile-users-'));
    root = join(dir, 'root');
    const store = await openStore({ root });
    await busyboxImage(store);
    const base = await resolveImage(store, (await store.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
    const baseLayer = { descriptor: base.manifest.layers[0] ?? expect.fail('no layer'), diffId: base.config.rootfs.diff_ids[0] ?? expect.fail('no diff id') };
    const users = await writeLayer(
      [
        { path: 'etc', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
        file('etc/group', ['root:x:0:', 'app:x:1000:', 'huge:x:4294967295:', 'wrap:x:4294967296:', 'listed:x:2147483648:member'].join('\n') + '\n'),
        file(
          'etc/passwd',
          ['root:x:0:0:root:/root:/bin/sh', 'app:x:1000:1000::/:/bin/sh', 'huge:x:4294967295:1000::/:/bin/sh', 'wrap:x:4294967296:1000::/:/bin/sh', 'biggid:x:1000:4294967295::/:/bin/sh', 'member:x:1000:1000::/:/bin/sh'].join('\n') + '\n',
        ),
      ],
      store,
    );
    const configs: Record<string, ContainerConfig> = { users: {}, 'user-huge': { User: 'huge' }, 'user-numeric': { User: '4294967295:0' } };
    for (const [name, config] of Object.entries(configs)) {
      await writeImage(store, { layers: [baseLayer, users], platform: hostPlatform(), config: { Cmd: ['sh'], ...config } }, `docker.io/library/${name}:latest`);
    }
  }, 120_000);

  afterAll(async () => {
    await removeDir();
  });

  const refusals: [string, readonly string[]][] = [
    ['a numeric uid of 2^32-1', ['--user', '4294967295']],
    ['a numeric uid of 2^31', ['--user', '2147483648']],
    ['a numeric uid of 2^32', ['--user', '4294967296']],
    ['a numeric gid of 2^32-1', ['--user', '0:4294967295']],
    ['both of 2^32-1', ['--user', '4294967295:4294967295']],
    ['a name whose passwd uid is 2^32-1', ['--user', 'huge']],
    ['a name whose passwd uid is 2^32', ['--user', 'wrap']],
    ['a name whose passwd gid is 2^32-1', ['--user', 'biggid']],
    ['a group whose gid is 2^32', ['--user', 'app:wrap']],
    ['a user listed in a group whose gid is 2^31', ['--user', 'member']],
    ['a --group-add of 2^32', ['--group-add', '4294967296']],
  ];

  it.each(refusals)('refuses `run` with %s', (_what, flags) => {
    const result = tsbuild(['run', '--rm', ...flags, 'users', 'sh', '-c', whoami]);
    expect(result.stdout).not.toContain('ran as');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/range|not an id/);
  });

  it("refuses an image's USER out of range, in run and in exec", () => {
    for (const image of ['user-huge', 'user-numeric']) {
      const result = tsbuild(['run', '--rm', image, 'sh', '-c', whoami]);
      expect([image, result.stdout]).toEqual([image, '']);
      expect(result.status).not.toBe(0);
    }
    const name = `users-${process.pid}`;
    expect(tsbuild(['run', '-d', '--name', name, 'users', 'sleep', '30']).status).toBe(0);
    try {
      for (const user of ['huge', '4294967295', '0:4294967296']) {
        const result = tsbuild(['exec', '--user', user, name, 'sh', '-c', whoami]);
        expect([user, result.stdout]).toEqual([user, '']);
        expect(result.status).not.toBe(0);
      }
      expect(tsbuild(['exec', '--user', 'app', name, 'id', '-u'])).toMatchObject({ status: 0, stdout: '1000\n' });
    } finally {
      tsbuild(['rm', '-f', name]);
    }
  });

  it('refuses a Dockerfile USER out of range before RUN starts, and a base image USER out of range', () => {
    for (const [index, lines] of [
      ['FROM users', 'USER 4294967295:0'],
      ['FROM users', 'USER 0:4294967295'],
      ['FROM users', 'USER 4294967296:4294967296'],
      ['FROM users', 'USER 2147483648'],
      ['FROM users', 'USER huge'],
      ['FROM users', 'USER wrap'],
      ['FROM users', 'USER biggid'],
      ['FROM users', 'USER member'],
      ['FROM users', 'USER app:wrap'],
      ['FROM user-huge'],
      ['FROM user-numeric'],
    ].entries()) {
      const context = join(dir, `context-${index}`);
      mkdirSync(context, { recursive: true });
      writeFileSync(join(context, 'Dockerfile'), [...lines, `RUN ${whoami}`].join('\n') + '\n');
      const result = tsbuild(['build', '--progress', 'plain', '--no-cache', context]);
      expect([lines, result.stderr]).not.toEqual([lines, expect.stringContaining('ran as')]);
      expect([lines, result.status]).not.toEqual([lines, 0]);
      expect(result.stderr).toMatch(/range|not an id/);
    }
    // The largest id that is one is still a user.
    const context = join(dir, 'context-max');
    mkdirSync(context, { recursive: true });
    writeFileSync(join(context, 'Dockerfile'), ['FROM users', 'USER 2147483647:2147483647', `RUN ${whoami}`].join('\n') + '\n');
    const result = tsbuild(['build', '--progress', 'plain', '--no-cache', context]);
    expect(result.stderr).toContain('ran as 2147483647 2147483647 2147483647');
    expect(result.status).toBe(0);
  }, 240_000);
});
