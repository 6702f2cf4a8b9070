/**
 * `tsbuild doctor` as root and as the unprivileged test user: what it finds must match what the
 * machine has (read independently here), and what is missing must come with a fix.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runDoctor, type DoctorCheck } from '../../src/runtime/index.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { asRootless, buildBinaries, ensureRootlessUser, isRoot, repoRoot, rootlessUser, shimBinary } from './helpers.js';

const byName = (checks: readonly DoctorCheck[]): Record<string, DoctorCheck> => Object.fromEntries(checks.map((c) => [c.name, c]));
const parseLines = (stdout: string): DoctorCheck[] => stdout.trim().split('\n').map((line) => JSON.parse(line) as DoctorCheck);
const unshareWorks = (): boolean => spawnSync('unshare', ['-Ur', 'true']).status === 0;

beforeAll(() => {
  buildBinaries();
});

describe('tsbuild doctor', () => {
  it('prints one JSON object per check with --format json, and a line per check otherwise', async () => {
    const json = await runCliCaptured(['doctor', '--format', 'json']);
    const checks = parseLines(json.stdout);
    expect(checks.map((c) => c.name)).toEqual(['code cache', 'runtime-shim', 'native fs addon', 'native hashing writer', 'native context hasher', 'native runtime addon', 'user namespaces', '/etc/subuid range', '/etc/subgid range', 'newuidmap and newgidmap', 'overlay in a user namespace', 'cgroups', 'rootless networks', 'rootless builds']);
    for (const check of checks) {
      expect(['ok', 'warn', 'fail']).toContain(check.status);
      if (check.status !== 'ok') expect(check.fix).toBeTruthy();
    }
    expect(json.status).toBe(checks.some((c) => c.status === 'fail') ? 1 : 0);
    const unknown = await runCliCaptured(['doctor', '--format', 'yaml']);
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toContain('check the machine: unknown format "yaml"');
    const text = await runCliCaptured(['doctor']);
    expect(text.stdout.split('\n').filter((l) => /^(OK|WARN|FAIL) /.test(l))).toHaveLength(checks.length);
  });

  it('finds the built shim, and says how to build it when it is missing', () => {
    expect(byName(runDoctor())['runtime-shim']).toEqual({ name: 'runtime-shim', status: 'ok', detail: shimBinary });
    expect(byName(runDoctor())['native fs addon']?.status).toBe('ok');
    expect(byName(runDoctor())['native hashing writer']?.status).toBe('ok');
    expect(byName(runDoctor())['native context hasher']?.status).toBe('ok');
    expect(byName(runDoctor())['native runtime addon']?.status).toBe('ok');
    const missing = byName(runDoctor({ shimPath: '/nonexistent/tsbuild-runtime' }))['runtime-shim'];
    expect(missing).toMatchObject({ status: 'fail', fix: expect.stringContaining('build:shim') });
  });

  it('agrees with the kernel on user namespaces and overlay in them', () => {
    const checks = byName(runDoctor());
    expect(checks['user namespaces']?.status).toBe(unshareWorks() ? 'ok' : 'fail');
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-doctor-test-'));
    try {
      const overlay = spawnSync('unshare', ['-Urm', 'sh', '-c', `cd ${dir} && mkdir l u w m && mount -t overlay o -o lowerdir=l,upperdir=u,workdir=w m`]);
      expect(checks['overlay in a user namespace']?.status).toBe(overlay.status === 0 ? 'ok' : 'warn');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports the cgroup version the host mounts', () => {
    const detail = byName(runDoctor())['cgroups']?.detail ?? '';
    // mountinfo: field 5 is the mount point, the first field after " - " the filesystem type.
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').map((line) => ({ target: line.split(' ')[4], type: line.split(' - ')[1]?.split(' ')[0] }));
    const typeAt = (target: string): string | undefined => mounts.findLast((m) => m.target === target)?.type;
    if (typeAt('/sys/fs/cgroup') === 'cgroup2') expect(detail).toMatch(/^v2/);
    else if (typeAt('/sys/fs/cgroup/unified') === 'cgroup2') expect(detail).toMatch(/^v1 \(hybrid\)/);
    else expect(detail).toMatch(/^v1/);
  });
});

describe.runIf(isRoot)('tsbuild doctor as an unprivileged user', () => {
  let user: { uid: number; gid: number; runtimeDir: string };

  beforeAll(() => {
    user = ensureRootlessUser();
  });

  const doctorAs = (extra: readonly string[] = []): { status: number; checks: Record<string, DoctorCheck> } => {
    const argv = [...asRootless(user), process.execPath, '--import', 'tsx', join(repoRoot, 'src', 'cli', 'bin.ts'), 'doctor', '--format', 'json', ...extra];
    const result = spawnSync(argv[0] ?? '', argv.slice(1), { encoding: 'utf8', cwd: repoRoot });
    expect(result.stderr).toBe('');
    return { status: result.status ?? -1, checks: byName(parseLines(result.stdout)) };
  };

  it('reports the user\'s subordinate ranges, the id map helpers, and cgroups it cannot write', () => {
    const { checks } = doctorAs();
    const line = (file: string): string | undefined => readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${rootlessUser}:`));
    const [, start, count] = (line('/etc/subuid') ?? '').split(':');
    expect(checks['/etc/subuid range']).toMatchObject({ status: Number(count) >= 65536 ? 'ok' : 'warn', detail: `${start}:${count}` });
    const [, gstart, gcount] = (line('/etc/subgid') ?? '').split(':');
    expect(checks['/etc/subgid range']).toMatchObject({ detail: `${gstart}:${gcount}` });
    const newuidmap = spawnSync('sh', ['-c', 'command -v newuidmap'], { encoding: 'utf8' }).stdout.trim();
    expect(checks['newuidmap and newgidmap']?.status).toBe(newuidmap === '' ? 'warn' : 'ok');
    // The test user owns no cgroup on these hosts: limits are skipped, and doctor says so.
    const writable = spawnSync(asRootless(user)[0] ?? '', [...asRootless(user).slice(1), 'sh', '-c', 'test -w /sys/fs/cgroup/memory || test -w /sys/fs/cgroup/cgroup.procs']).status === 0;
    expect(checks['cgroups']?.status).toBe(writable ? 'ok' : 'warn');
    if (!writable) expect(checks['cgroups']?.fix).toBeTruthy();
  });

  it('says whether an ordinary user\'s containers get networks: slirp4netns, nsenter and an open /dev/net/tun', () => {
    const user = { username: 'someone', uid: 4245 };
    const present = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-doctor-tun-'));
    try {
      const closed = join(dir, 'tun-closed');
      const open = join(dir, 'tun-open');
      writeFileSync(closed, '', { mode: 0o600 });
      writeFileSync(open, '', { mode: 0o666 });
      chmodSync(open, 0o666);
      const tools = present('slirp4netns') && present('nsenter');
      const shut = byName(runDoctor({ user, tunDevice: closed }))['rootless networks'];
      expect(shut).toMatchObject({ status: 'warn', fix: expect.stringMatching(tools ? /chmod 0666/ : /apt-get install slirp4netns/) });
      if (tools) expect(shut?.detail).toContain('mode 0600');
      expect(byName(runDoctor({ user, tunDevice: open }))['rootless networks']?.status).toBe(tools ? 'ok' : 'warn');
      expect(byName(runDoctor({ user: { username: 'root', uid: 0 }, tunDevice: closed }))['rootless networks']?.status).toBe('ok');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('warns, with the usermod line to run, when a user has no subordinate range or a short one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-doctor-subuid-'));
    try {
      const file = join(dir, 'subuid');
      writeFileSync(file, 'someone-else:100000:65536\nshort:200000:1000\n');
      const none = byName(runDoctor({ subuidFile: file, subgidFile: file, user: { username: 'lonely', uid: 4242 } }));
      expect(none['/etc/subuid range']).toMatchObject({ status: 'warn', fix: 'usermod --add-subuids 100000-165535 --add-subgids 100000-165535 lonely' });
      expect(none['/etc/subgid range']?.status).toBe('warn');
      const short = byName(runDoctor({ subuidFile: file, subgidFile: file, user: { username: 'short', uid: 4243 } }));
      expect(short['/etc/subuid range']).toMatchObject({ status: 'warn', detail: '200000:1000' });
      const root = byName(runDoctor({ subuidFile: file, user: { username: 'root', uid: 0 } }));
      expect(root['/etc/subuid range']).toEqual({ name: '/etc/subuid range', status: 'ok', detail: 'not needed as root' });
      // What it means for a build, in one line.
      expect(none['rootless builds']?.status).toBe(none['user namespaces']?.status === 'ok' && none['overlay in a user namespace']?.status === 'ok' ? 'warn' : 'fail');
      expect(none['rootless builds']?.detail).toMatch(/fails to unpack|cannot|refuses/);
      const full = byName(runDoctor({ subuidFile: file, subgidFile: file, user: { username: 'someone-else', uid: 4244 } }));
      if (full['newuidmap and newgidmap']?.status === 'ok' && full['overlay in a user namespace']?.status === 'ok') {
        expect(full['rootless builds']).toMatchObject({ status: 'ok', detail: expect.stringContaining('files keep ids 0 to 65536') });
      }
      expect(root['rootless builds']?.detail).toContain('running as root');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
