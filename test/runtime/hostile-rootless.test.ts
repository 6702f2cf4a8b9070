/**
 * An unprivileged caller's own privileges never reach its containers or RUN steps.
 * - Supplementary groups (buildah CVE-2022-2990, podman CVE-2022-2989, containerd
 *   CVE-2023-25173): a user in a host group runs tsbuild, and the process inside has exactly the
 *   groups of the image's user, never the caller's (which would show as the overflow gid 65534,
 *   unmapped, and still open what that group opens on the host).
 * - Descriptors (runc CVE-2024-21626): the caller's shell holds a host directory open, and a
 *   WORKDIR /proc/self/fd/N of its build names nothing.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { asRootless, buildBinaries, ensureRootlessUser, isRoot } from './helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;
/** A host group the caller is in, as `disk` (6) gives raw access to block devices. */
const hostGroup = 6;

let dir: string;
let root: string;
let removeDir: () => Promise<void>;
let user: ReturnType<typeof ensureRootlessUser>;

/** Runs the CLI as the rootless user, with HOSTGROUP among its supplementary groups. */
function asUserInGroup(args: readonly string[], cwd = dir): { status: number | null; stdout: string; stderr: string } {
  const [command = '', ...prefix] = asRootless(user);
  // setpriv's --init-groups gives the user's own groups; the host group is added on top.
  const withGroup = prefix.map((part) => (part === '--init-groups' ? `--groups=${hostGroup},${user.gid}` : part));
  const result = spawnSync(command, [...withGroup, `TSBUILD_ROOT=${root}`, process.execPath, bin, ...args], { encoding: 'utf8', cwd, timeout: 90_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe.runIf(isRoot)('a rootless caller', () => {
  beforeAll(async () => {
    buildBinaries();
    user = ensureRootlessUser();
    ({ path: dir, cleanup: removeDir } = await temporaryDirectory('tsbuild-hostile-groups-'));
    chmodSync(dir, 0o755);
    root = join(dir, 'root');
    await busyboxImage(await openStore({ root }));
    expect(spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]).status).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await removeDir();
  });

  it('the caller is in the host group, and no container of its own holds it: run, as root and as a user', () => {
    const [command = '', ...prefix] = asRootless(user);
    const callerGroups = spawnSync(command, [...prefix.map((part) => (part === '--init-groups' ? `--groups=${hostGroup},${user.gid}` : part)), 'id', '-G'], { encoding: 'utf8' });
    expect(callerGroups.stdout.trim().split(' ')).toContain(String(hostGroup));
    for (const [flags, groups] of [
      [[], '0'],
      [['--user', '1000:1000'], '1000'],
    ] as const) {
      const result = asUserInGroup(['run', '--rm', ...flags, 'busybox', 'sh', '-c', 'grep ^Groups: /proc/self/status']);
      expect(result.stderr, flags.join(' ')).toBe('');
      expect(result.stdout.trim().split(/\s+/).slice(1).join(' '), flags.join(' ')).toBe(groups);
    }
  }, 120_000);

  it('nor does a RUN step of its build', () => {
    const context = join(dir, 'context');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), ['FROM busybox', 'RUN grep ^Groups: /proc/self/status', 'RUN test "$(grep ^Groups: /proc/self/status | cut -f2 | tr -d " ")" = 0', 'USER 1000:1000', 'RUN test "$(grep ^Groups: /proc/self/status | cut -f2 | tr -d " ")" = 1000', ''].join('\n'));
    expect(spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, context]).status).toBe(0);
    const result = asUserInGroup(['build', '--progress', 'plain', '--no-cache', context]);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.stderr).not.toMatch(/Groups:.*65534/);
    expect(result.status).toBe(0);
  }, 120_000);

  it('gives no RUN step a working directory through a descriptor the caller holds (WORKDIR /proc/self/fd/N)', () => {
    const host = join(dir, 'host');
    mkdirSync(host);
    writeFileSync(join(host, 'secret'), 'HOST SECRET\n');
    const context = join(dir, 'fd-context');
    mkdirSync(context);
    expect(spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, host, context]).status).toBe(0);
    for (const fd of [3, 5, 6, 7]) {
      writeFileSync(join(context, 'Dockerfile'), `FROM busybox\nWORKDIR /proc/self/fd/${fd}\nRUN pwd -P; cat secret ../secret 2>&1; true\n`);
      const [command = '', ...prefix] = asRootless(user);
      const script = `exec 5<${host} 6<${host} 7<${host}; exec env TSBUILD_ROOT=${root} ${process.execPath} ${bin} build --progress plain --no-cache ${context}`;
      const result = spawnSync(command, [...prefix, 'sh', '-c', script], { encoding: 'utf8', timeout: 90_000 });
      expect(result.stderr, `fd ${fd}`).not.toContain('HOST SECRET');
      expect(result.stderr, `fd ${fd}`).toContain(`chdir /proc/self/fd/${fd}`);
      expect(result.status, `fd ${fd}`).toBe(1);
    }
  }, 180_000);
});
