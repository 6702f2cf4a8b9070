import { execFileSync } from 'node:child_process';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TsbuildError } from '../../src/common/index.js';
import { checkoutGit, parseGitRef, resolveGitRef } from '../../src/executor/git-source.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

// Repositories that name commands or the host's own repositories: git must run none of them and
// read none of them, whatever the user's global git config allows.

let dir: { path: string; cleanup: () => Promise<void> };
let server: GitServer;
const gitEnv = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.invalid', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.invalid', GIT_CONFIG_NOSYSTEM: '1' };
const git = (cwd: string, args: string[]): string => execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8' });
const previousGlobal = process.env.GIT_CONFIG_GLOBAL;

beforeAll(async () => {
  dir = await temporaryDirectory();
  server = await startGitServer(join(dir.path, 'server'));
  // A global config that lets every transport through, as some machines have for their own tests.
  const global = join(dir.path, 'gitconfig');
  await writeFile(global, '[protocol "file"]\n\tallow = always\n[protocol "ext"]\n\tallow = always\n[protocol]\n\tallow = always\n');
  process.env.GIT_CONFIG_GLOBAL = global;
});
afterAll(async () => {
  if (previousGlobal === undefined) delete process.env.GIT_CONFIG_GLOBAL;
  else process.env.GIT_CONFIG_GLOBAL = previousGlobal;
  await server.close();
  await dir.cleanup();
});

let checkout: string;
beforeEach(async () => {
  checkout = join(dir.path, `checkout-${Math.random().toString(16).slice(2)}`);
  await mkdir(checkout);
});

/** Repository NAME on the server whose one submodule, at path `sub`, has URL and points at COMMIT. */
async function withSubmodule(name: string, url: string, commit: string): Promise<string> {
  const work = join(dir.path, 'work', name);
  await mkdir(work, { recursive: true });
  git(work, ['init', '-q', '-b', 'main', '.']);
  await writeFile(join(work, '.gitmodules'), `[submodule "sub"]\n\tpath = sub\n\turl = ${url}\n`);
  await writeFile(join(work, 'README'), 'hostile\n');
  git(work, ['add', '.gitmodules', 'README']);
  git(work, ['update-index', '--add', '--cacheinfo', `160000,${commit},sub`]);
  git(work, ['commit', '-q', '-m', 'submodule']);
  const bare = join(dir.path, 'server', 'repos', `${name}.git`);
  git(dir.path, ['init', '-q', '--bare', '-b', 'main', bare]);
  git(work, ['push', '-q', bare, 'main:main']);
  return `${server.gitBase}/${name}.git`;
}

async function checkoutFailure(source: string, keepGitDir: boolean): Promise<TsbuildError> {
  const ref = parseGitRef(source);
  if (ref === undefined) throw new Error(`not a git source: ${source}`);
  const error = await checkoutGit(ref, await resolveGitRef(ref), checkout, keepGitDir).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TsbuildError);
  return error as TsbuildError;
}

describe('ADD of a hostile git repository', () => {
  it('refuses a submodule at a file:// URL (a repository of the host), with or without --keep-git-dir', async () => {
    const secret = join(dir.path, 'secret');
    await mkdir(secret);
    git(secret, ['init', '-q', '-b', 'main', '.']);
    await writeFile(join(secret, 'secret.txt'), 'host secret\n');
    git(secret, ['add', 'secret.txt']);
    git(secret, ['commit', '-q', '-m', 'secret']);
    const commit = git(secret, ['rev-parse', 'HEAD']).trim();
    const source = await withSubmodule('file-submodule', `file://${secret}`, commit);
    for (const keep of [false, true]) {
      await checkoutFailure(source, keep);
      await expect(stat(join(checkout, 'sub', 'secret.txt'))).rejects.toThrow();
      checkout = `${checkout}-kept`;
      await mkdir(checkout);
    }
  });

  it('takes refs that read as options (-p, --textconv) as refs, --keep-git-dir too', async () => {
    await server.commit('dash-refs', { 'file.txt': 'dash\n' });
    const bare = join(dir.path, 'server', 'repos', 'dash-refs.git');
    git(bare, ['update-ref', 'refs/heads/-p', 'refs/heads/main']);
    git(bare, ['update-ref', 'refs/heads/--textconv', 'refs/heads/main']);
    for (const name of ['-p', '--textconv']) {
      for (const keep of [false, true]) {
        const ref = parseGitRef(`${server.gitBase}/dash-refs.git#${name}`);
        if (ref === undefined) throw new Error('not a git source');
        const target = join(dir.path, `dash-${name}-${String(keep)}`);
        await mkdir(target);
        await checkoutGit(ref, await resolveGitRef(ref), target, keep);
        expect(await readdir(target)).toContain('file.txt');
      }
    }
  });

  it('runs no command an ext:: submodule URL names', async () => {
    const marker = join(dir.path, 'ext-ran');
    const source = await withSubmodule('ext-submodule', `ext::sh -c touch% ${marker}`, '1'.repeat(40));
    await checkoutFailure(source, false);
    expect(await readdir(dir.path)).not.toContain('ext-ran');
  });

  it('reaches a #ref:subdir (or ?subdir=) through directories of the checkout only: .. stays inside, a link in the repository is refused', async () => {
    await server.commit('subdirs', { 'real/r.txt': 'r\n', 'real/deep/d.txt': 'd\n', linked: { symlink: '/etc' }, up: { symlink: '../../../../../../../../etc' }, 'inner-link': { symlink: 'real' }, 'real/back': { symlink: '..' } });
    const base = `${server.gitBase}/subdirs.git`;
    const cases: Array<[string, string | undefined]> = [
      // Climbing names are cleaned as a path from the checkout's root: they never leave it.
      ['../../../../etc', undefined],
      ['real/../../../etc', undefined],
      ['real/deep/../..', 'root'],
      ['/real/./deep/', 'real/deep'],
      // Any link on the way is refused, whatever it points at.
      ['linked', 'refused'],
      ['up', 'refused'],
      ['inner-link', 'refused'],
      ['real/back', 'refused'],
      ['real/back/linked', 'refused'],
    ];
    for (const [subdir, expected] of cases) {
      for (const source of [`${base}#main:${subdir}`, `${base}?ref=main&subdir=${encodeURIComponent(subdir)}`]) {
        const ref = parseGitRef(source);
        if (ref === undefined) throw new Error(`not a git source: ${source}`);
        const target = join(dir.path, `subdir-${Math.random().toString(16).slice(2)}`);
        await mkdir(target);
        const outcome = await checkoutGit(ref, await resolveGitRef(ref), target, false).then(
          (found) => (found === target ? 'root' : found.startsWith(`${target}/`) ? found.slice(target.length + 1) : `outside: ${found}`),
          (error: unknown) => (error instanceof TsbuildError && /invalid subdir/.test(error.message) ? (error.code === 'NOT_FOUND' ? 'missing' : 'refused') : String(error)),
        );
        // `etc` climbed to is the checkout's own, which does not exist: missing, never the host's.
        expect([source, outcome]).toEqual([source, expected ?? 'missing']);
        if (outcome !== 'refused' && outcome !== 'missing') expect((await stat(join(target, outcome === 'root' ? '' : outcome))).isDirectory()).toBe(true);
      }
    }
  });

  it('takes a ref or a remote that reads as a git option (#--upload-pack=CMD, ssh://-oProxyCommand=CMD) as a name, never an option: no command runs, as context and ADD alike (docker CVE-2019-13139)', async () => {
    await server.commit('upload-pack', { Dockerfile: 'FROM scratch\nCOPY file.txt /\n', 'file.txt': 'ok\n' });
    const marker = join(dir.path, 'upload-pack-ran');
    const root = join(dir.path, 'cli-root');
    const context = join(dir.path, 'upload-pack-context');
    await mkdir(context);
    // As the advisory's URL: the fragment, handed to git fetch as it was, became its option.
    const hostile = [
      `${server.gitBase}/upload-pack.git#--upload-pack=touch%20${marker}`,
      `${server.gitBase}/upload-pack.git#--upload-pack=touch%20${marker}:sub`,
      `${server.gitBase}/upload-pack.git?ref=--upload-pack%3Dtouch%20${marker}`,
      `${server.gitBase}/upload-pack.git#-u%20touch%20${marker}`,
      `ssh://-oProxyCommand=touch%20${marker}/upload-pack.git`,
    ];
    for (const source of hostile) {
      const asContext = await runCliCaptured(['build', '--root', root, '--progress', 'plain', source]);
      expect([source, asContext.status]).toEqual([source, 1]);
      // A ref is looked up as a name; a host git itself refuses to hand ssh.
      expect(asContext.stderr).toMatch(source.startsWith('ssh:') ? /strange hostname '-oProxyCommand=touch ' blocked/ : /repository does not contain ref -/);
      await writeFile(join(context, 'Dockerfile'), `FROM scratch\nADD ${source} /src/\n`);
      const asAdd = await runCliCaptured(['build', '--root', root, '--progress', 'plain', context]);
      expect([source, asAdd.status]).toEqual([source, 1]);
      expect(asAdd.stderr).not.toContain('TypeError');
      expect(await readdir(dir.path)).not.toContain('upload-pack-ran');
    }
    // The same repository by its own ref builds: the refusals above are the options' only.
    const built = await runCliCaptured(['build', '--root', root, '--progress', 'plain', `${server.gitBase}/upload-pack.git#main`]);
    expect(built.stderr).not.toContain('ERROR');
    expect(built.status).toBe(0);
  }, 120_000);
});
