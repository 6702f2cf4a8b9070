/**
 * tsbuild's rootless defaults, end to end, as the unprivileged user the tests create: the id
 * maps it chooses by itself (the caller as root plus its /etc/subuid range, newuidmap being
 * installed) and runtime-shim running with them from its default state directory.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asRootless, buildBinaries, chownTree, ensureRootlessUser, isRoot, makeRootfs, repoRoot, rootlessUser, scratchDir, toolExists } from './helpers.js';

let dir: string;

beforeAll(() => {
  buildBinaries();
  dir = scratchDir('tsbuild-rootless-');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(isRoot && toolExists('newuidmap') && toolExists('crun'))('rootless defaults', () => {
  it('map the user to root with its whole subordinate range, and run under runtime-shim', () => {
    const user = ensureRootlessUser();
    const rootfs = makeRootfs(dir);
    mkdirSync(join(dir, 'bundles'));
    chownTree(dir, user);
    // crun is tried too: it is what `--runtime crun` gives this user.
    const child = [...asRootless(user), process.execPath, '--import', 'tsx', join(repoRoot, 'test', 'runtime', 'rootless-child.ts'), rootfs, join(dir, 'bundles')];
    const result = spawnSync(child[0] ?? '', child.slice(1), { encoding: 'utf8', cwd: repoRoot });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const range = (file: string): [number, number] => {
      const [, start, count] = (readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${rootlessUser}:`)) ?? '').split(':');
      return [Number(start), Number(count)];
    };
    const [uidStart, uidCount] = range('/etc/subuid');
    const [gidStart, gidCount] = range('/etc/subgid');
    const hybrid = readFileSync('/proc/self/mountinfo', 'utf8').includes(' /sys/fs/cgroup/unified ');
    expect(JSON.parse(result.stdout.replace(/rootless-child-crun-\d+/, 'rootless-child-crun-PID'))).toEqual({
      runtime: 'runtime-shim',
      uidMappings: [{ containerID: 0, hostID: user.uid, size: 1 }, { containerID: 1, hostID: uidStart, size: uidCount }],
      gidMappings: [{ containerID: 0, hostID: user.gid, size: 1 }, { containerID: 1, hostID: gidStart, size: gidCount }],
      namespaces: ['pid', 'ipc', 'uts', 'mount', 'cgroup', 'network', 'user'],
      results: {
        root: { status: 0, ids: { uid: 0, gid: 0, euid: 0, egid: 0, groups: [] }, stderr: '' },
        user1000: { status: 0, ids: { uid: 1000, gid: 1000, euid: 1000, egid: 1000, groups: [10] }, stderr: '' },
        crun: hybrid ? { error: 'run container rootless-child-crun-PID: crun refuses cgroup v1 "hybrid" hosts as an unprivileged user; use the default runtime or --runtime runc' } : { status: 0 },
      },
    });
  });
});
