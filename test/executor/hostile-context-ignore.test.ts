/**
 * The ignore file of a context that is not the caller's (a git repository, a tar on standard
 * input or at a URL): `.dockerignore` and `<Dockerfile>.dockerignore` as links to a host file or
 * device, as fifos, as a sparse file of gigabytes. Read inside the context, as BuildKit reads
 * them from its snapshot, and bounded as a Dockerfile is: no host file decides what the build
 * sees, and none makes it wait for ever or read without end. `<Dockerfile>.dockerignore` beside
 * the Dockerfile was read at its host path, through any link, and whole: a repository holding
 * `Dockerfile.dockerignore -> /dev/zero` filled memory, a fifo in a context tar hung the build
 * past SIGTERM.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { busyboxStore, removeBusyboxStore, runInstalledCli } from '../runtime/helpers.js';

let store: { dir: string; root: string };
let server: GitServer;
/** A host file of ignore patterns that would leave the context's `f` out. */
let hostIgnore: string;

beforeAll(async () => {
  store = await busyboxStore('tsbuild-hostile-ignore-');
  server = await startGitServer(join(store.dir, 'git'));
  hostIgnore = join(store.dir, 'host-ignore');
  writeFileSync(hostIgnore, 'f\nDockerfile\n');
}, 120_000);

afterAll(async () => {
  await server.close();
  removeBusyboxStore(store);
});

const dockerfile = 'FROM busybox\nCOPY f /f\n';

/**
 * Builds CONTEXT (a git URL, or `-` with INPUT) into TAG; its status and errors. Never blocks this
 * process (the git server answers from it), and a build that hangs is killed at the timeout
 * (one waiting on a fifo took no notice of SIGTERM).
 */
async function build(context: string, tag: string, input?: Buffer): Promise<{ status: number | null; stderr: string }> {
  const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [bin, 'build', '--progress=plain', '-t', tag, context], { env: { ...process.env, TSBUILD_ROOT: store.root }, timeout: 60_000, killSignal: 'SIGKILL' });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.resume();
  child.stdin.on('error', () => undefined);
  child.stdin.end(input ?? '');
  const [status] = (await once(child, 'close')) as [number | null];
  return { status, stderr };
}

/** A tar of the directory made by FILL, as a context on standard input. */
function contextTar(name: string, fill: (dir: string) => void): Buffer {
  const dir = join(store.dir, 'contexts', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  writeFileSync(join(dir, 'f'), 'from the context\n');
  fill(dir);
  const tar = join(store.dir, 'contexts', `${name}.tar`);
  const result = spawnSync('tar', ['--sparse', '-cf', tar, '-C', dir, '.'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return readFileSync(tar);
}

describe('the ignore file of a context that is not the caller\'s', () => {
  it('resolves links of a git repository\'s .dockerignore and Dockerfile.dockerignore inside the checkout: a host file or /dev/zero they name is never read', async () => {
    for (const [name, link, target] of [
      ['beside-host', 'Dockerfile.dockerignore', hostIgnore],
      ['beside-zero', 'Dockerfile.dockerignore', '/dev/zero'],
      ['beside-climb', 'Dockerfile.dockerignore', `${'../'.repeat(16)}${hostIgnore.slice(1)}`],
      ['context-zero', '.dockerignore', '/dev/zero'],
    ] as const) {
      await server.commit(name, { Dockerfile: dockerfile, f: 'from the repository\n', [link]: { symlink: target } });
      const result = await build(`${server.httpBase}/${name}.git`, `ignore-${name}`);
      // The link leads to nothing inside the checkout: no ignore file, f is copied.
      expect(result.status, `${name}: ${result.stderr}`).toBe(0);
    }
  }, 120_000);

  it('refuses an ignore file of a context tar that is a fifo or a sparse file past 64 MiB, naming it, instead of waiting or reading it whole', async () => {
    for (const [name, file, fill] of [
      ['fifo', '.dockerignore', (dir: string) => spawnSync('mkfifo', [join(dir, '.dockerignore')])],
      ['beside-fifo', 'Dockerfile.dockerignore', (dir: string) => spawnSync('mkfifo', [join(dir, 'Dockerfile.dockerignore')])],
      [
        'sparse',
        '.dockerignore',
        (dir: string) => {
          writeFileSync(join(dir, '.dockerignore'), '');
          truncateSync(join(dir, '.dockerignore'), 4 * 1024 * 1024 * 1024);
        },
      ],
    ] as const) {
      const started = Date.now();
      const result = await build('-', `ignore-${name}`, contextTar(name, fill));
      expect(result.status, `${name}: ${result.stderr}`).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`read ${file.replace('.', '\\.')}: (not a regular file|exceeds 67108864 bytes)`));
      expect(result.stderr).not.toMatch(/internal error|\n\s+at /);
      expect(Date.now() - started).toBeLessThan(30_000);
    }
  }, 180_000);

  it('reads a context tar\'s Dockerfile.dockerignore linked to a host file inside the context: the host\'s patterns leave nothing out', async () => {
    const input = contextTar('beside-host-tar', (dir) => symlinkSync(hostIgnore, join(dir, 'Dockerfile.dockerignore')));
    const result = await build('-', 'ignore-beside-host-tar', input);
    expect(result.status, result.stderr).toBe(0);
    const listing = runInstalledCli(['run', '--rm', 'ignore-beside-host-tar', 'cat', '/f'], { root: store.root });
    expect(listing.stdout).toBe('from the context\n');
  }, 120_000);
});

afterAll(() => {
  rmSync(join(store.dir, 'contexts'), { recursive: true, force: true });
});
