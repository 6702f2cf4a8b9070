/**
 * Builds as an ordinary user the tests create. tsbuild, run by such a user, re-executes itself in
 * a user namespace of its own (the user as root there, plus its /etc/subuid range); the build
 * fixture suites run the same way, whole, inside such a namespace, and the real CLI is run as the
 * user to show the re-execution itself: a build whose files belong to ids other than the user's,
 * then `tsbuild run` of the result.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asRootless, buildBinaries, chownTree, ensureRootlessUser, isRoot, repoRoot, scratchDir, toolExists } from '../runtime/helpers.js';

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
const suites = ['test/executor/build-run.test.ts', 'test/executor/build-stages.test.ts'];

describe.runIf(isRoot && toolExists('newuidmap') && toolExists('unshare'))('rootless builds', () => {
  it('pass the build fixture suites inside the user namespace tsbuild makes for an ordinary user', () => {
    const user = ensureRootlessUser();
    const home = join(dir, 'suites');
    mkdirSync(home);
    chownTree(home, user);
    // As src/cli/rootless.ts enters it: the user as root, its subordinate range after it.
    const command = [
      ...asRootless(user),
      `TMPDIR=${home}`,
      'TSBUILD_USER_NAMESPACE=1',
      'unshare',
      '--map-root-user',
      '--map-auto',
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
      ...suites,
    ];
    const result = spawnSync(command[0] ?? '', command.slice(1), { encoding: 'utf8', cwd: repoRoot, timeout: 600_000 });
    // The nested runner colours its summary.
    const summary = (result.stdout + result.stderr).replace(/\x1b\[[0-9;]*m/g, '');
    expect(summary).toMatch(/Tests\s+\d+ passed \(\d+\)/);
    expect(result.status).toBe(0);
  }, 600_000);

  it('re-executes the CLI in its own user namespace: files owned by other ids keep them, and the image runs', () => {
    const user = ensureRootlessUser();
    const work = join(dir, 'cli');
    mkdirSync(join(work, 'context'), { recursive: true });
    writeFileSync(join(work, 'context', 'Dockerfile'), ['FROM busybox', 'RUN echo hello > /hello && chown 1000:1000 /hello && mkdir /owned && chown 4242:4343 /owned', 'USER nobody', 'CMD ["sh", "-c", "id -u; stat -c %u:%g /hello /owned"]'].join('\n'));
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
    expect(ran.stdout).toBe('65534\n1000:1000\n4242:4343\n');
    expect(ran.status).toBe(0);
    // Without a subordinate range an image with such ids cannot be unpacked: that is doctor's to say.
    const doctor = run([process.execPath, bin, 'doctor']);
    expect(doctor.stdout).toContain('/etc/subuid range');
  }, 300_000);
});
