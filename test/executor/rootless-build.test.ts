/**
 * Builds as an ordinary user the tests create. tsbuild, run by such a user, re-executes itself in
 * a user namespace of its own (the user as root there, plus its /etc/subuid range); the build
 * fixture suites run the same way, whole, inside such a namespace, and the real CLI is run as the
 * user to show the re-execution itself: a build whose files belong to ids other than the user's,
 * then `tsbuild run` of the result.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rootlessUnshareOptions } from '../../src/runtime/index.js';
import { asRootless, buildBinaries, chownTree, ensureRootlessUser, isRoot, repoRoot, rootlessUser, scratchDir, toolExists } from '../runtime/helpers.js';

let dir: string;
const bin = join(repoRoot, 'bin', 'tsbuild.js');

beforeAll(() => {
  buildBinaries();
  dir = scratchDir('tsbuild-rootless-build-');
  chmodSync(dir, 0o755);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The suites that build real images; each passes as root in its own right. */
const suites = ['test/executor/build-run.test.ts', 'test/executor/build-stages.test.ts', 'test/executor/build-copy.test.ts', 'test/executor/build-mounts.test.ts', 'test/executor/build-compression.test.ts', 'test/executor/build-sources.test.ts', 'test/executor/build-platforms.test.ts'];

/**
 * Runs vitest on FILES as the rootless user, inside a user namespace made as src/cli/rootless.ts
 * makes it (the user as root, its subordinate range after it), and expects every test to pass.
 */
function runSuitesRootless(name: string, files: readonly string[]): void {
  const user = ensureRootlessUser();
  const home = join(dir, name);
  mkdirSync(home);
  chownTree(home, user);
  const command = [
    ...asRootless(user),
    `TMPDIR=${home}`,
    'TSBUILD_USER_NAMESPACE=1',
    'unshare',
    ...rootlessUnshareOptions({ username: rootlessUser, uid: user.uid }),
    '--mount',
    '--propagation',
    'private',
    '--',
    process.execPath,
    join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs'),
    'run',
    // The config is bundled to a temporary file next to it unless loaded as a module: the
    // repository is not the user's to write.
    '--configLoader',
    'runner',
    ...files,
  ];
  const result = spawnSync(command[0] ?? '', command.slice(1), { encoding: 'utf8', cwd: repoRoot, timeout: 600_000 });
  // The nested runner colours its summary.
  const summary = (result.stdout + result.stderr).replace(/\x1b\[[0-9;]*m/g, '');
  // Known differences run as `it.fails` and count as expected failures.
  expect(summary).toMatch(/Tests\s+\d+ passed( \| \d+ expected fail)? \(\d+\)/);
  expect(result.status, summary.slice(-4000)).toBe(0);
}

describe.runIf(isRoot && toolExists('newuidmap') && toolExists('unshare'))('rootless builds', () => {
  it('pass the build fixture suites inside the user namespace tsbuild makes for an ordinary user', () => {
    runSuitesRootless('suites', suites);
  }, 600_000);

  // The corpus's images must be BuildKit's rootless too; what a user namespace cannot do (device
  // nodes, ids beyond the range, the host's unmapped owners) is listed in parity.test.ts's
  // rootlessKnownDifferences. About two minutes on two cores.
  it('build the BuildKit parity corpus as BuildKit does, inside the user namespace', () => {
    runSuitesRootless('parity', ['test/parity/parity.test.ts']);
  }, 600_000);

  it('re-executes the CLI in its own user namespace: files owned by other ids keep them, and the image runs', () => {
    const user = ensureRootlessUser();
    const work = join(dir, 'cli');
    mkdirSync(join(work, 'context'), { recursive: true });
    writeFileSync(join(work, 'context', 'Dockerfile'), ['FROM busybox', 'RUN echo hello > /hello && chown 1000:1000 /hello && mkdir /owned && chown 4242:4343 /owned && touch /last && chown 65536:65536 /last', 'USER nobody', 'CMD ["sh", "-c", "id -u; stat -c %u:%g /hello /owned /last"]'].join('\n'));
    chownTree(work, user);
    const root = join(work, 'root');
    const as = asRootless(user);
    // From the repository, where tsx resolves; the user reads it, never writes it.
    const run = (args: readonly string[]): { status: number | null; stdout: string; stderr: string } =>
      spawnSync(as[0] ?? '', [...as.slice(1), `TSBUILD_ROOT=${root}`, ...args], { encoding: 'utf8', cwd: repoRoot, timeout: 120_000 });
    const base = run([process.execPath, '--import', 'tsx', join(repoRoot, 'scripts', 'make-busybox-image.ts')]);
    expect(base.stderr).toBe('');
    const built = run([process.execPath, bin, 'build', '-q', '-t', 'owned', join(work, 'context')]);
    expect(built.stderr).toBe('');
    expect(built.status).toBe(0);
    expect(built.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const ran = run([process.execPath, bin, 'run', '--rm', 'owned']);
    expect(ran.stderr).toBe('');
    // 65536: the last id of the user's 65536 subordinate ids, mapped as RootlessKit maps it.
    expect(ran.stdout).toBe('65534\n1000:1000\n4242:4343\n65536:65536\n');
    expect(ran.status).toBe(0);
    // Without a subordinate range an image with such ids cannot be unpacked: that is doctor's to say.
    const doctor = run([process.execPath, bin, 'doctor']);
    expect(doctor.stdout).toContain('/etc/subuid range');
  }, 300_000);

  it('names tsbuild doctor when an image holds ids a user without a subordinate range cannot map', () => {
    const name = 'tsbuild-norange';
    execFileSync('flock', ['/tmp/tsbuild-rootless-user.lock', 'sh', '-c', `id -u ${name} >/dev/null 2>&1 || useradd --shell /bin/sh ${name}; usermod --del-subuids 0-4294967294 --del-subgids 0-4294967294 ${name} 2>/dev/null || true`]);
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
    const user = { uid, gid, runtimeDir: `/run/user/${uid}` };
    mkdirSync(user.runtimeDir, { recursive: true, mode: 0o700 });
    chownTree(user.runtimeDir, user);
    const work = join(dir, 'norange');
    mkdirSync(join(work, 'base'), { recursive: true });
    mkdirSync(join(work, 'child'), { recursive: true });
    const root = join(work, 'root');
    // As root: a base image with a file owned by 1000, in a store then handed to the user.
    writeFileSync(join(work, 'base', 'Dockerfile'), 'FROM busybox\nRUN touch /owned && chown 1000:1000 /owned\n');
    writeFileSync(join(work, 'child', 'Dockerfile'), 'FROM owned-base\nRUN true\n');
    const asRoot = (args: readonly string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, args, { encoding: 'utf8', cwd: repoRoot, env: { ...process.env, TSBUILD_ROOT: root }, timeout: 120_000 });
    expect(asRoot(['--import', 'tsx', join(repoRoot, 'scripts', 'make-busybox-image.ts')]).status).toBe(0);
    expect(asRoot([bin, 'build', '-q', '-t', 'owned-base', join(work, 'base')]).status).toBe(0);
    // Only the blobs and names go to the user: unpacked layers are the machine's own.
    rmSync(join(root, 'layers'), { recursive: true, force: true });
    chownTree(work, user);
    const as = asRootless(user);
    const result = spawnSync(as[0] ?? '', [...as.slice(1), `TSBUILD_ROOT=${root}`, process.execPath, bin, 'build', '--progress', 'plain', '-t', 'child', join(work, 'child')], { encoding: 'utf8', cwd: repoRoot, timeout: 120_000 });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('owned by 1000:1000');
    expect(result.stderr).toContain('tsbuild doctor');
  }, 300_000);

  it("kills the re-executed build and its step's command with the user's tsbuild, even on SIGKILL", async () => {
    const user = ensureRootlessUser();
    const work = join(dir, 'killed');
    mkdirSync(join(work, 'context'), { recursive: true });
    writeFileSync(join(work, 'context', 'Dockerfile'), 'FROM busybox\nRUN sleep 736\n');
    chownTree(work, user);
    const root = join(work, 'root');
    const as = asRootless(user);
    const base = spawnSync(as[0] ?? '', [...as.slice(1), `TSBUILD_ROOT=${root}`, process.execPath, '--import', 'tsx', join(repoRoot, 'scripts', 'make-busybox-image.ts')], { encoding: 'utf8', cwd: repoRoot, timeout: 120_000 });
    expect(base.status).toBe(0);
    // setpriv and env exec: the process spawned is the user's tsbuild itself.
    const outer = spawn(as[0] ?? '', [...as.slice(1), `TSBUILD_ROOT=${root}`, process.execPath, bin, 'build', '-q', join(work, 'context')], { cwd: repoRoot, stdio: 'ignore' });
    const exited = new Promise((resolve) => outer.once('exit', resolve));
    const running = (command: string): boolean => spawnSync('pgrep', ['-f', command]).status === 0;
    const until = async (condition: () => boolean, ms: number): Promise<boolean> => {
      for (const start = Date.now(); Date.now() - start < ms && !condition(); ) await new Promise((resolve) => setTimeout(resolve, 100));
      return condition();
    };
    expect(await until(() => running('sleep 736'), 60_000)).toBe(true);
    outer.kill('SIGKILL');
    await exited;
    expect(await until(() => !running('sleep 736') && !running(`${bin} build -q ${join(work, 'context')}`), 10_000)).toBe(true);
  }, 300_000);
});
