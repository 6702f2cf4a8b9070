import { execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readdir, readFile, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentHasher, matchSource, openContext, rootfsSource, sourceDigest, walkSource, type BuildContext, type MatchedSource } from '../../src/cache/index.js';
import { isTsbuildError, loadContextAddon } from '../../src/common/index.js';
import { codeOf } from '../helpers/error-code.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { writeTree } from '../helpers/file-tree.js';

const run = promisify(execFile);
const nativeHasher = loadContextAddon().module;
/** The context hasher on the thread pool (tsbuild-context.node) and its fallback on the main thread: the same answers. */
const hashers = [
  { name: 'tsbuild-context.node', native: nativeHasher, options: {} },
  { name: 'main thread', native: undefined, options: { withoutContextAddon: true } },
];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let dir: { path: string; cleanup: () => Promise<void> };
let root: string;
let outside: string;

async function digestOf(context: BuildContext, sources: readonly string[], options: Parameters<typeof sourceDigest>[2] = {}): Promise<string> {
  return (await sourceDigest(context, sources, options)).digest;
}

async function errorMessage(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return '';
  } catch (error) {
    return isTsbuildError(error) ? `${error.code} ${error.message}` : String(error);
  }
}

beforeEach(async () => {
  dir = await temporaryDirectory();
  root = join(dir.path, 'context');
  outside = join(dir.path, 'outside');
  await mkdir(root);
  await writeTree(outside, { secret: 'outside secret' });
});
afterEach(async () => dir.cleanup());

describe('.dockerignore', () => {
  it('excludes as docker does: comments, leading / and ./, **, last match wins, ! exceptions', async () => {
    await writeTree(root, {
      '.dockerignore': '# comment\n/build\n./tmp/\n**/*.log\nnode_modules\n!node_modules/keep.js\ndocs/*\n!docs/README.md\n*.md\n!README*.md\nREADME-secret.md\n',
      'build/out': 'x',
      'tmp/t': 'x',
      'a/b/c.log': 'x',
      'top.log': 'x',
      'node_modules/pkg/index.js': 'x',
      'node_modules/keep.js': 'x',
      'docs/README.md': 'x',
      'docs/other.txt': 'x',
      'README.md': 'x',
      'README-secret.md': 'x',
      'notes.md': 'x',
      'src/main.c': 'x',
    });
    const context = await openContext(root);
    expect(context.ignoreFile).toBe(join(root, '.dockerignore'));
    expect(context.ignorePatterns).toEqual(['build', 'tmp', '**/*.log', 'node_modules', '!node_modules/keep.js', 'docs/*', '!docs/README.md', '*.md', '!README*.md', 'README-secret.md']);
    const excluded = (path: string): boolean => context.excluded(path);
    expect(excluded('build')).toBe(true);
    expect(excluded('build/out')).toBe(true);
    expect(excluded('/build/out')).toBe(true);
    expect(excluded('./tmp/t')).toBe(true);
    expect(excluded('a/b/c.log')).toBe(true);
    expect(excluded('top.log')).toBe(true);
    expect(excluded('node_modules/pkg/index.js')).toBe(true);
    expect(excluded('node_modules/keep.js')).toBe(false);
    expect(excluded('docs/README.md')).toBe(false);
    expect(excluded('docs/other.txt')).toBe(true);
    expect(excluded('README.md')).toBe(false);
    expect(excluded('README-secret.md')).toBe(true);
    expect(excluded('notes.md')).toBe(true);
    expect(excluded('src/main.c')).toBe(false);
    expect(excluded('.')).toBe(false);

    // What a COPY . sees: excluded directories with an exception inside are walked, and kept.
    const all = await sourceDigest(context, ['.']);
    expect(all.matched).toEqual(['']);
    const wildcard = await sourceDigest(context, ['*']);
    expect(wildcard.matched).toEqual(['.dockerignore', 'README.md', 'a', 'docs', 'node_modules', 'src']);
    expect((await sourceDigest(context, ['node_modules/*'])).matched).toEqual(['node_modules/keep.js']);
    expect(await codeOf(sourceDigest(context, ['build/out']))).toBe('NOT_FOUND');
    expect(await codeOf(sourceDigest(context, ['node_modules/pkg']))).toBe('NOT_FOUND');
    expect((await sourceDigest(context, ['node_modules/keep.js'])).matched).toEqual(['node_modules/keep.js']);
  });

  it('refuses a .dockerignore with a bad pattern in BuildKit\'s words', async () => {
    await writeTree(root, { '.dockerignore': 'a\n!a\n[\n' });
    expect(await errorMessage(openContext(root))).toBe(`INVALID_ARGUMENT read ${join(root, '.dockerignore')}: invalid excludepatterns: [a !a []: syntax error in pattern`);
    await writeTree(root, { '.dockerignore': 'a\n\n# c\n!\n' });
    expect(await errorMessage(openContext(root))).toBe(`INVALID_ARGUMENT read ${join(root, '.dockerignore')}: invalid excludepatterns: [a !]: illegal exclusion pattern: "!"`);
  });

  it('decides as the walk that sends a context does: a pattern met by an excluded directory does not reach its children', async () => {
    // BuildKit's client walks the context with MatchesUsingParentResults: `deploy/helm/templates`
    // comes when its directory is already excluded (by `*`), so it is not tried there and its
    // children are not taken as matched through it; the exception for yaml files keeps them.
    await writeTree(root, {
      '.dockerignore': '*\n!deploy/**/*.yaml\ndeploy/helm/templates\n!cfg/**\ncfg/sub\n',
      'deploy/helm/Chart.yaml': 'c',
      'deploy/helm/templates/svc.yaml': 's',
      'deploy/helm/templates/notes.txt': 'n',
      'deploy/k8s/app.yaml': 'a',
      'cfg/sub/x': 'x',
      'cfg/y': 'y',
    });
    const context = await openContext(root);
    expect(context.excluded('deploy')).toBe(true);
    expect(context.excluded('deploy/helm/templates')).toBe(true);
    expect(context.excluded('deploy/helm/templates/svc.yaml')).toBe(false);
    expect(context.excluded('deploy/helm/templates/notes.txt')).toBe(true);
    expect(context.excluded('deploy/helm/Chart.yaml')).toBe(false);
    // The client's open decides by the file and its parents alone: svc.yaml arrives empty.
    expect(context.contentWithheld?.('deploy/helm/templates/svc.yaml')).toBe(true);
    expect(context.contentWithheld?.('deploy/helm/Chart.yaml')).toBe(false);
    // Where the directory was not excluded when the pattern came, the pattern holds below it.
    expect(context.excluded('cfg/sub')).toBe(true);
    expect(context.excluded('cfg/sub/x')).toBe(true);
    expect(context.excluded('cfg/y')).toBe(false);
    const deploy = await sourceDigest(context, ['deploy']);
    expect([...deploy.files.keys()].filter((path) => !path.endsWith('/') && path.includes('.')).sort()).toEqual(['deploy/helm/Chart.yaml', 'deploy/helm/templates/svc.yaml', 'deploy/k8s/app.yaml']);
  });

  it('walks a COPY source taking exactly the files .dockerignore leaves, however deep its patterns reach', async () => {
    const tree: Record<string, string> = {};
    for (const top of ['src', 'docs', 'build'])
      for (const middle of ['a', 'b.tmp', 'keep'])
        for (const leaf of ['x.md', 'y.tmp', 'z', 'README.md']) tree[`${top}/${middle}/${leaf}`] = `${top}${middle}${leaf}`;
    const ignoreFiles = ['*.md\nbuild\n', 'src/*/y.tmp\n', '**/*.tmp\n!src/keep/y.tmp\n', 'docs/b.tmp\ndocs/a/z\n', 'src/a[/]x.md\nsrc/?/z\n', '*/keep\n!*/keep/README.md\n'];
    for (const ignore of ignoreFiles) {
      await writeTree(root, { ...tree, '.dockerignore': ignore });
      const context = await openContext(root);
      for (const source of ['src', 'docs', 'build']) {
        const expected = Object.keys(tree)
          .filter((path) => path.startsWith(`${source}/`) && !context.excluded(path))
          .sort();
        // An excluded source does not exist: nothing is taken.
        const walked = [...(await sourceDigest(context, [source]).catch(() => ({ files: new Map<string, string>() }))).files.keys()];
        const files = walked.filter((path) => tree[path] !== undefined).sort();
        expect({ ignore, source, files }).toEqual({ ignore, source, files: expected });
      }
    }
  });

  it('changes nothing when an excluded file changes', async () => {
    await writeTree(root, { '.dockerignore': 'ignored\n*.tmp\n', 'ignored/a': '1', 'x.tmp': '1', 'kept': '1' });
    const before = await digestOf(await openContext(root), ['.']);
    await writeTree(root, { 'ignored/a': '2', 'ignored/b': 'new', 'x.tmp': '2', 'y.tmp': 'new' });
    expect(await digestOf(await openContext(root), ['.'])).toBe(before);
    await writeFile(join(root, 'kept'), '2');
    expect(await digestOf(await openContext(root), ['.'])).not.toBe(before);
  });

  it('prefers <Dockerfile>.dockerignore beside the Dockerfile to the context one', async () => {
    const dockerfiles = join(dir.path, 'dockerfiles');
    await writeTree(root, { '.dockerignore': 'a\n', a: 'a', b: 'b' });
    await writeTree(dockerfiles, { 'app.Dockerfile': 'FROM scratch\n', 'app.Dockerfile.dockerignore': 'b\n', 'other.Dockerfile': 'FROM scratch\n' });
    const withOwn = await openContext(root, { dockerfile: join(dockerfiles, 'app.Dockerfile') });
    expect(withOwn.ignoreFile).toBe(join(dockerfiles, 'app.Dockerfile.dockerignore'));
    expect(withOwn.excluded('a')).toBe(false);
    expect(withOwn.excluded('b')).toBe(true);
    const withoutOwn = await openContext(root, { dockerfile: join(dockerfiles, 'other.Dockerfile') });
    expect(withoutOwn.excluded('a')).toBe(true);
    expect(withoutOwn.excluded('b')).toBe(false);
    const none = await openContext(outside);
    expect(none.ignoreFile).toBeUndefined();
    expect(none.excluded('secret')).toBe(false);
  });

  it('reads the context .dockerignore inside the context only', async () => {
    await writeTree(outside, { ignore: 'secret-name\n' });
    await symlink(join(outside, 'ignore'), join(root, '.dockerignore'));
    const context = await openContext(root);
    expect(context.ignorePatterns).toEqual([]);
  });

  it('fails clearly on a malformed pattern and a missing context', async () => {
    await writeTree(root, { '.dockerignore': 'a[\n' });
    expect(await codeOf(openContext(root))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(openContext(join(dir.path, 'missing')))).toBe('NOT_FOUND');
  });
});

describe('sourceDigest', () => {
  it('gives the same digests hashed on the thread pool (tsbuild-context.node) and on the main thread', async () => {
    expect(nativeHasher).toBeDefined();
    await writeTree(root, { empty: '', 'small.txt': 'small\n', 'dir/mid.bin': 'm'.repeat(64 * 1024 + 1), 'dir/big.bin': 'b'.repeat(3 * (1 << 20) + 7) });
    // A name that is not UTF-8 reaches the addon as its bytes.
    await writeFile(Buffer.concat([Buffer.from(`${root}/caf`), Buffer.from([0xe9])]), 'latin-1 name');
    const byNative = await sourceDigest(await openContext(root), ['.']);
    const byMainThread = await sourceDigest(await openContext(root, { withoutContextAddon: true }), ['.']);
    expect(byNative.digest).toBe(byMainThread.digest);
    expect(byNative.files).toEqual(byMainThread.files);
    expect([...byNative.files.keys()].sort()).toEqual(['caf\udce9', 'dir', 'dir/big.bin', 'dir/mid.bin', 'empty', 'small.txt']);
    await writeFile(join(root, 'dir/big.bin'), 'c'.repeat(3 * (1 << 20) + 7));
    expect((await sourceDigest(await openContext(root), ['.'])).digest).not.toBe(byNative.digest);
  });

  it('keys paths, types, modes, link targets and content, never times', async () => {
    await writeTree(root, { 'app/a.txt': 'hello', 'app/sub/b.txt': 'world' });
    await symlink('a.txt', join(root, 'app/link'));
    const context = await openContext(root);
    const first = await digestOf(context, ['app']);
    expect(first).toMatch(/^xxh128:[0-9a-f]{32}$/);

    await utimes(join(root, 'app/a.txt'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    await utimes(join(root, 'app/sub'), new Date(2002, 1, 1), new Date(2002, 1, 1));
    expect(await digestOf(await openContext(root), ['app'])).toBe(first);

    await chmod(join(root, 'app/a.txt'), 0o755);
    const moded = await digestOf(await openContext(root), ['app']);
    expect(moded).not.toBe(first);
    await chmod(join(root, 'app/a.txt'), 0o644);
    expect(await digestOf(await openContext(root), ['app'])).toBe(first);

    await writeFile(join(root, 'app/sub/b.txt'), 'World');
    expect(await digestOf(await openContext(root), ['app'])).not.toBe(first);
    await writeFile(join(root, 'app/sub/b.txt'), 'world');
    expect(await digestOf(await openContext(root), ['app'])).toBe(first);

    await rename(join(root, 'app/sub/b.txt'), join(root, 'app/sub/c.txt'));
    expect(await digestOf(await openContext(root), ['app'])).not.toBe(first);
    await rename(join(root, 'app/sub/c.txt'), join(root, 'app/sub/b.txt'));

    await (await import('node:fs/promises')).unlink(join(root, 'app/link'));
    await symlink('sub/b.txt', join(root, 'app/link'));
    expect(await digestOf(await openContext(root), ['app'])).not.toBe(first);
  });

  it('keys context files as owned by root, as docker sends them, and rootfs files by their owners', async () => {
    if (process.getuid?.() !== 0) return;
    await writeTree(root, { 'f': 'x' });
    const before = await digestOf(await openContext(root), ['f']);
    await chown(join(root, 'f'), 1234, 1234);
    expect(await digestOf(await openContext(root), ['f'])).toBe(before);
    const rootfs = rootfsSource(root);
    const asStage = await digestOf(rootfs as BuildContext, ['f']);
    await chown(join(root, 'f'), 0, 0);
    expect(await digestOf(rootfs as BuildContext, ['f'])).not.toBe(asStage);
  });

  it('names where a source\'s last links lead when they lead nowhere, as BuildKit\'s checksum does', async () => {
    await writeTree(root, { '.dockerignore': 'secret\nsecretdir\n', secret: 's', 'secretdir/f': 'f', 'keep/k': 'k' });
    await symlink('nowhere', join(root, 'dangling'));
    await symlink('secret', join(root, 'link'));
    await symlink('link', join(root, 'chain'));
    await symlink('../secretdir', join(root, 'keep/up'));
    await symlink('/abs/../secret', join(root, 'abslink'));
    await symlink('loop-b', join(root, 'loop-a'));
    await symlink('loop-a', join(root, 'loop-b'));
    const context = await openContext(root);
    const cases: ReadonlyArray<readonly [string, string]> = [
      ['dangling', 'NOT_FOUND failed to compute cache key: "/nowhere": not found'],
      ['link', 'NOT_FOUND failed to compute cache key: "/secret": not found'],
      ['chain', 'NOT_FOUND failed to compute cache key: "/secret": not found'],
      ['keep/up', 'NOT_FOUND failed to compute cache key: "/secretdir": not found'],
      // A link on the way is no last link: the path is named as written.
      ['keep/up/f', 'NOT_FOUND failed to compute cache key: "/keep/up/f": not found'],
      ['abslink', 'NOT_FOUND failed to compute cache key: "/secret": not found'],
      ['loop-a', 'INVALID_ARGUMENT failed to compute cache key: too many symlinks: /loop-a'],
      ['loop-a/f', 'INVALID_ARGUMENT failed to compute cache key: too many links'],
    ];
    for (const [source, message] of cases) expect([source, await errorMessage(sourceDigest(context, [source]))]).toEqual([source, message]);
  });

  it('names a missing source as BuildKit does; a wildcard matching nothing is no error', async () => {
    await writeTree(root, { 'a.txt': 'a' });
    const context = await openContext(root);
    expect(await errorMessage(sourceDigest(context, ['missing/file']))).toBe('NOT_FOUND failed to compute cache key: "/missing/file": not found');
    expect(await errorMessage(sourceDigest(context, ['./x/../nothere']))).toBe('NOT_FOUND failed to compute cache key: "/nothere": not found');
    const none = await sourceDigest(context, ['*.go', 'nodir/*.c']);
    expect(none.matched).toEqual([]);
    expect(none.digest).toMatch(/^xxh128:/);
    expect(none.digest).not.toBe((await sourceDigest(context, ['*.txt'])).digest);
  });

  it('keys an ADD URL source by its text, reading nothing', async () => {
    const context = await openContext(root);
    const one = await sourceDigest(context, ['https://example.com/a.tar']);
    expect(one.matched).toEqual([]);
    expect(one.digest).not.toBe((await sourceDigest(context, ['https://example.com/b.tar'])).digest);
  });

  it('expands wildcards per path with Go patterns, in walk order', async () => {
    await writeTree(root, { 'b.txt': 'b', 'a.txt': 'a', 'c.md': 'c', 'dir/x.txt': 'x', 'dir/deeper/y.txt': 'y', 'd1/f': '1', 'd2/f': '2', 'e[1]': 'e' });
    const context = await openContext(root);
    expect((await sourceDigest(context, ['*.txt'])).matched).toEqual(['a.txt', 'b.txt']);
    expect((await sourceDigest(context, ['*/*.txt'])).matched).toEqual(['dir/x.txt']);
    expect((await sourceDigest(context, ['d?'])).matched).toEqual(['d1', 'd2']);
    expect((await sourceDigest(context, ['[ab].txt', 'c.*'])).matched).toEqual(['a.txt', 'b.txt', 'c.md']);
    // An escaped wildcard is no wildcard: BuildKit then takes the name as written, backslash included.
    expect((await sourceDigest(context, ['e[[]1]'])).matched).toEqual(['e[1]']);
    expect(await codeOf(sourceDigest(context, ['e\\[1]']))).toBe('NOT_FOUND');
    expect(await codeOf(sourceDigest(context, ['a['])).catch(() => 'x')).toBe('INVALID_ARGUMENT');
  });

  it('never reads outside the context, whatever symlinks say', async () => {
    await writeTree(root, { 'inside/ok': 'ok' });
    await symlink(join(outside, 'secret'), join(root, 'abs-link'));
    await symlink('../outside/secret', join(root, 'rel-link'));
    await symlink(outside, join(root, 'dir-link'));
    await symlink('../outside', join(root, 'inside/up'));
    const context = await openContext(root);
    // A source that is a symlink is followed inside the context, where its target does not exist.
    for (const source of ['abs-link', 'rel-link', 'dir-link/secret', '../outside/secret', '/../../outside/secret', 'inside/up/secret']) {
      expect(await codeOf(sourceDigest(context, [source])), source).toBe('NOT_FOUND');
    }
    // A symlink inside a copied directory is keyed by its target text, never followed.
    const before = await digestOf(context, ['inside']);
    await writeFile(join(outside, 'secret'), 'changed secret');
    expect(await digestOf(await openContext(root), ['inside'])).toBe(before);
    expect(await digestOf(await openContext(root), ['.'])).toBe(await digestOf(await openContext(root), ['.']));
    // The same names made inside the context are what the links reach.
    await writeTree(root, { [`${outside.slice(1)}/secret`]: 'inside copy' });
    expect((await sourceDigest(await openContext(root), ['abs-link'])).matched).toEqual(['abs-link']);
  });

  it('follows a source symlink inside the context', async () => {
    await writeTree(root, { 'real/file': 'data' });
    await symlink('real', join(root, 'alias'));
    await symlink('/real/file', join(root, 'file-alias'));
    const context = await openContext(root);
    const viaAlias = await sourceDigest(context, ['alias']);
    expect(viaAlias.matched).toEqual(['alias']);
    expect(viaAlias.digest).not.toBe((await sourceDigest(context, ['real'])).digest);
    expect((await sourceDigest(context, ['file-alias'])).matched).toEqual(['file-alias']);
    expect((await sourceDigest(context, ['alias/file'])).matched).toEqual(['alias/file']);
  });

  it('follows, as BuildKit 0.13 keys a source with wildcards, every link below a directory the wildcard matches', async () => {
    await writeTree(root, { 'pkg/lib/file': 'f', 'pkg/keep': 'k', 'ignored/secret': 's', 'other/x': 'x' });
    await symlink('missing', join(root, 'pkg/lib/dangling'));
    await writeFile(join(root, '.dockerignore'), 'ignored\n');
    let context = await openContext(root);
    // Without a wildcard the links are keyed by their text; with one, a dangling link anywhere
    // below a matched directory is its target not found, named through the pattern's own path.
    expect((await sourceDigest(context, ['pkg'])).matched).toEqual(['pkg']);
    expect(await errorMessage(sourceDigest(context, ['pk?']))).toBe('NOT_FOUND failed to compute cache key: "/pkg/lib/missing": not found');
    expect(await errorMessage(sourceDigest(context, ['*/lib']))).toBe('NOT_FOUND failed to compute cache key: "/pkg/lib/missing": not found');
    // A matched link to a directory is followed once, its target's tree not walked.
    await symlink('pkg', join(root, 'alias'));
    expect((await sourceDigest(await openContext(root), ['alia?'])).matched).toEqual(['alias']);
    // Targets are joined to the link's directory; one .dockerignore hides is missing too.
    await rm(join(root, 'pkg/lib/dangling'));
    await symlink('file', join(root, 'pkg/lib/sibling'));
    await symlink('../keep', join(root, 'pkg/lib/up'));
    await symlink('/other/x', join(root, 'pkg/lib/absolute'));
    context = await openContext(root);
    expect((await sourceDigest(context, ['pk?'])).matched).toEqual(['pkg']);
    await symlink('../../ignored/secret', join(root, 'pkg/lib/hidden'));
    expect(await errorMessage(sourceDigest(await openContext(root), ['pk?']))).toBe('NOT_FOUND failed to compute cache key: "/ignored/secret": not found');
    // A loop gives up after 255 links, on the path it reached.
    await rm(join(root, 'pkg/lib/hidden'));
    await symlink('loop-b', join(root, 'pkg/lib/loop-a'));
    await symlink('loop-a', join(root, 'pkg/lib/loop-b'));
    expect(await errorMessage(sourceDigest(await openContext(root), ['pk?']))).toBe('INVALID_ARGUMENT failed to compute cache key: too many symlinks: /pkg/lib/loop-a');
    // Through a link before the wildcard: named by the pattern's path, hidden by the real one.
    await rm(join(root, 'pkg/lib/loop-a'));
    await rm(join(root, 'pkg/lib/loop-b'));
    await symlink('gone', join(root, 'pkg/lib/dangling'));
    expect(await errorMessage(sourceDigest(await openContext(root), ['alias/li?']))).toBe('NOT_FOUND failed to compute cache key: "/alias/lib/gone": not found');
    await writeFile(join(root, '.dockerignore'), 'ignored\npkg/lib/dangling\n');
    expect((await sourceDigest(await openContext(root), ['alias/li?'])).matched).toEqual(['pkg/lib']);
  });

  it('follows those links only to what the build reads of the context, as BuildKit only has what its client sent (FollowPaths)', async () => {
    await writeTree(root, { 'd/file': 'd', 'other/f': 'f', 'other/sub/g': 'g' });
    await symlink('../other/f', join(root, 'd/l'));
    await symlink('../other/sub', join(root, 'd/ldir'));
    await symlink('../other', join(root, 'd/lo'));
    const reading = async (...sentPaths: string[]): Promise<string> => {
      const context = await openContext(root, { sentPaths: ['/d*', ...sentPaths] });
      return (await sourceDigest(context, ['d*']).then(() => 'ok', (error: unknown) => (error as Error).message)) as string;
    };
    // Compared with docker 26 on the same context: each as BuildKit 0.13 ends.
    expect(await reading()).toBe('failed to compute cache key: "/other/f": not found');
    // A file sent sends its parents, not their other files.
    expect(await reading('/other/f')).toBe('failed to compute cache key: "/other/sub": not found');
    expect(await reading('/other/sub')).toBe('failed to compute cache key: "/other/f": not found');
    expect(await reading('/other')).toBe('ok');
    expect(await reading('/oth*')).toBe('ok');
    expect(await reading('/')).toBe('ok');
    // A sent link sends where it leads (fsutil's FollowLinks), and what is below that.
    await writeTree(root, { 'real/dir/f': 'r' });
    await symlink('real/dir', join(root, 'lnk'));
    await symlink('../real/dir/f', join(root, 'd/lr'));
    expect(await reading('/other')).toBe('failed to compute cache key: "/real/dir/f": not found');
    expect(await reading('/other', '/lnk')).toBe('ok');
    expect(await reading('/other', '/lnk/f')).toBe('ok');
    // Without a wildcard, nothing below is followed; with no paths given, all of the context is there.
    expect((await sourceDigest(await openContext(root, { sentPaths: ['/d'] }), ['d'])).matched).toEqual(['d']);
    expect((await sourceDigest(await openContext(root), ['d*'])).matched).toEqual(['d']);
  });

  it('applies --exclude relative to the source, with exceptions', async () => {
    await writeTree(root, { 'app/a.go': '1', 'app/a_test.go': '2', 'app/vendor/v.go': '3', 'app/vendor/keep.go': '4' });
    const context = await openContext(root);
    const all = await digestOf(context, ['app']);
    const excluded = await digestOf(context, ['app'], { exclude: ['*_test.go', 'vendor', '!vendor/keep.go'] });
    expect(excluded).not.toBe(all);
    await writeFile(join(root, 'app/a_test.go'), 'changed');
    await writeFile(join(root, 'app/vendor/v.go'), 'changed');
    expect(await digestOf(await openContext(root), ['app'], { exclude: ['*_test.go', 'vendor', '!vendor/keep.go'] })).toBe(excluded);
    await writeFile(join(root, 'app/vendor/keep.go'), 'changed');
    expect(await digestOf(await openContext(root), ['app'], { exclude: ['*_test.go', 'vendor', '!vendor/keep.go'] })).not.toBe(excluded);
  });

  it('keys --parents by the path below the pivot', async () => {
    await writeTree(root, { 'x/y/z.txt': 'z', 'x/y/other': 'o', 'w/y/z.txt': 'z' });
    const context = await openContext(root);
    const full = await sourceDigest(context, ['x/y/z.txt'], { parents: true });
    expect(full.matched).toEqual(['x/y/z.txt']);
    const pivoted = await sourceDigest(context, ['x/./y/z.txt'], { parents: true });
    expect(pivoted.matched).toEqual(['x/y/z.txt']);
    // Same file below the pivot, another place: the same key.
    expect((await sourceDigest(context, ['w/./y/z.txt'], { parents: true })).digest).toBe(pivoted.digest);
    expect(full.digest).not.toBe(pivoted.digest);
    await writeFile(join(root, 'x/y/other'), 'changed');
    expect((await sourceDigest(await openContext(root), ['x/y/z.txt'], { parents: true })).digest).toBe(full.digest);
    expect(await codeOf(sourceDigest(context, ['x/y/missing'], { parents: true }))).toBe('NOT_FOUND');
    expect((await sourceDigest(context, ['*/y/*.txt'], { parents: true })).matched).toEqual(['w/y/z.txt', 'x/y/z.txt']);
  });
});

describe.each(hashers)('the hash index ($name)', ({ options }) => {
  it('skips rehashing unchanged files, and never trusts a rewrite with the same size and mtime', async () => {
    const indexDir = join(dir.path, 'index');
    await writeTree(root, { 'a.txt': 'content-1', 'b.txt': 'other' });
    const fixed = new Date(Date.UTC(2020, 0, 1));
    await utimes(join(root, 'a.txt'), fixed, fixed);
    // Files written just now are too young to trust: the index waits out the timestamp granularity.
    await sleep(250);
    const first = await openContext(root, { indexDir, ...options });
    const digest = await digestOf(first, ['.']);
    expect(first.hashes.counts).toEqual({ hashed: 2, reused: 0 });
    expect(await readdir(indexDir)).toHaveLength(1);

    const second = await openContext(root, { indexDir, ...options });
    expect(await digestOf(second, ['.'])).toBe(digest);
    expect(second.hashes.counts).toEqual({ hashed: 0, reused: 2 });

    const before = await stat(join(root, 'a.txt'), { bigint: true });
    await writeFile(join(root, 'a.txt'), 'content-2');
    await utimes(join(root, 'a.txt'), fixed, fixed);
    const after = await stat(join(root, 'a.txt'), { bigint: true });
    expect([after.size, after.mtimeNs, after.ino]).toEqual([before.size, before.mtimeNs, before.ino]);
    const third = await openContext(root, { indexDir, ...options });
    const rewritten = await digestOf(third, ['.']);
    expect(rewritten).not.toBe(digest);
    expect(third.hashes.counts).toEqual({ hashed: 1, reused: 1 });

    // Without an index the same answers.
    expect(await digestOf(await openContext(root, options), ['.'])).toBe(rewritten);
  });

  it("keeps files named as Object's own properties in the index, and passes over entries that are not [key, hash]", async () => {
    const indexDir = join(dir.path, 'index');
    await writeTree(root, { ['__proto__']: 'p', constructor: 'c', 'hasOwnProperty/x': 'h' });
    await sleep(250);
    const first = await openContext(root, { indexDir, ...options });
    const digest = await digestOf(first, ['.']);
    expect(first.hashes.counts).toEqual({ hashed: 3, reused: 0 });
    const second = await openContext(root, { indexDir, ...options });
    expect(await digestOf(second, ['.'])).toBe(digest);
    expect(second.hashes.counts).toEqual({ hashed: 0, reused: 3 });
    // Malformed entries are hashed again, not used.
    const [name] = await readdir(indexDir);
    const path = join(indexDir, name as string);
    const stored = JSON.parse(await readFile(path, 'utf8')) as { entries: Record<string, unknown> };
    stored.entries['constructor'] = { 0: 'x', 1: 'y' };
    stored.entries['hasOwnProperty/x'] = [(stored.entries['hasOwnProperty/x'] as string[])[0], 'forged', 'extra'];
    await writeFile(path, JSON.stringify(stored));
    const third = await openContext(root, { indexDir, ...options });
    expect(await digestOf(third, ['.'])).toBe(digest);
    expect(third.hashes.counts).toEqual({ hashed: 2, reused: 1 });
  });

  it('rehashes a file rewritten right after it was hashed, within the timestamp granularity', async () => {
    const indexDir = join(dir.path, 'index');
    await writeTree(root, { 'a.txt': 'aaaa' });
    const first = await openContext(root, { indexDir, ...options });
    const digest = await digestOf(first, ['a.txt']);
    const again = await openContext(root, { indexDir, ...options });
    expect(await digestOf(again, ['a.txt'])).toBe(digest);
    expect(again.hashes.counts.reused).toBe(0);
  });

  it('hashes a file once for digests of one context running at the same time', async () => {
    await writeTree(root, { 'a/x': 'x', 'a/y': 'y', 'b/z': 'z' });
    const context = await openContext(root, options);
    const [first, second] = await Promise.all([sourceDigest(context, ['a', 'b']), sourceDigest(context, ['a'])]);
    expect(context.hashes.counts.hashed).toBe(3);
    expect(first.digest).not.toBe(second.digest);
    expect((await sourceDigest(context, ['a'])).digest).toBe(second.digest);
    expect(context.hashes.counts.hashed).toBe(3);
    // A change seen by a later digest is hashed again.
    await writeFile(join(root, 'a/x'), 'changed');
    expect((await sourceDigest(context, ['a'])).digest).not.toBe(second.digest);
    expect(context.hashes.counts.hashed).toBe(4);
  });

  it('ignores a torn or foreign index', async () => {
    const indexDir = join(dir.path, 'index');
    await writeTree(root, { 'a.txt': 'a' });
    await sleep(250);
    const digest = await digestOf(await openContext(root, { indexDir, ...options }), ['a.txt']);
    const [name] = await readdir(indexDir);
    const path = join(indexDir, name as string);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.slice(0, text.length / 2));
    const torn = await openContext(root, { indexDir, ...options });
    expect(await digestOf(torn, ['a.txt'])).toBe(digest);
    expect(torn.hashes.counts.hashed).toBe(1);
    // A forged hash for a file whose stat fields do not match is not used.
    const stored = JSON.parse(await readFile(path, 'utf8')) as { entries: Record<string, string[]> };
    const entry = stored.entries['a.txt'] as string[];
    entry[0] = `999${(entry[0] as string).slice((entry[0] as string).indexOf(':'))}`;
    entry[1] = 'forged';
    await writeFile(path, JSON.stringify(stored));
    expect(await digestOf(await openContext(root, { indexDir, ...options }), ['a.txt'])).toBe(digest);
  });

  it('stays whole when processes share it', async () => {
    const indexDir = join(dir.path, 'index');
    const worker = join(import.meta.dirname, 'fixtures/context-index-worker.ts');
    const results = await Promise.all(['1', '2', '3'].map((id) => run(process.execPath, ['--import', 'tsx', worker, root, indexDir, id, '15'], { cwd: join(import.meta.dirname, '../..') })));
    const [name, ...others] = await readdir(indexDir);
    expect(others).toEqual([]);
    const stored = JSON.parse(await readFile(join(indexDir, name as string), 'utf8')) as { version: number; root: string; entries: Record<string, unknown> };
    expect(stored.version).toBe(2);
    expect(Object.keys(stored.entries).length).toBeGreaterThan(0);
    for (const [index, result] of results.entries()) {
      expect(result.stdout.trim()).toBe(await digestOf(await openContext(root, { indexDir, ...options }), [`w${index + 1}`]));
    }
  }, 120_000);
});

type WalkedEntry = Parameters<ContentHasher['hashAll']>[0][number];

describe.each(hashers)('content hashes of files the walk found ($name)', ({ native }) => {
  it('hash the very file walked: one whose directory became a link meanwhile is not found, its namesake beyond the link never read', async () => {
    await writeTree(root, { 'sub/secret': 'context\n', 'sub/big': 'x'.repeat(256 * 1024) });
    const walked = async (name: string): Promise<WalkedEntry> => {
      const hostPath = join(root, 'sub', name);
      return { path: name, hostPath, stats: await lstat(hostPath, { bigint: true }) };
    };
    const entries = [await walked('secret'), await walked('big')];
    const hashes = new ContentHasher(root, undefined, native);
    const before = await hashes.hashAll(entries);
    expect([...before.values()].every((hash) => hash !== '')).toBe(true);
    // The host swaps sub for a link to a directory holding files of the same names.
    await writeTree(outside, { big: 'y'.repeat(256 * 1024) });
    await rename(join(root, 'sub'), join(root, 'sub.dir'));
    await symlink(outside, join(root, 'sub'));
    for (const entry of entries) {
      const message = await errorMessage(new ContentHasher(root, undefined, native).hashAll([entry]));
      expect(message).toBe(`NOT_FOUND failed to compute cache key: "/sub/${entry.path}": not found: the file changed while the context was read`);
    }
    // Gone altogether: the same, not the system's ENOENT.
    await rm(join(root, 'sub'));
    for (const entry of entries) expect(await codeOf(new ContentHasher(root, undefined, native).hashAll([entry]))).toBe('NOT_FOUND');
    // A walk that listed sub while the link stood there saw the host's files, their inodes too:
    // still not read, the path they were opened by being the link's target, not the walked one.
    await symlink(outside, join(root, 'sub'));
    const throughLink = [await walked('big')];
    expect(await errorMessage(new ContentHasher(root, undefined, native).hashAll(throughLink))).toBe('NOT_FOUND failed to compute cache key: "/sub/big": not found: the file changed while the context was read');
  });

  it('name a walked link gone or no longer a link when hashed as not found, not the system error', async () => {
    const hostPath = join(root, 'sub');
    await symlink('target', hostPath);
    const entry: WalkedEntry = { path: '', hostPath, stats: await lstat(hostPath, { bigint: true }) };
    expect([...(await new ContentHasher(root, undefined, native).hashAll([entry])).values()]).toEqual(['target']);
    await rm(hostPath);
    expect(await errorMessage(new ContentHasher(root, undefined, native).hashAll([entry]))).toBe('NOT_FOUND failed to compute cache key: "/sub": not found: the file changed while the context was read');
    await writeFile(hostPath, 'now a file\n');
    expect(await codeOf(new ContentHasher(root, undefined, native).hashAll([entry]))).toBe('NOT_FOUND');
  });

  it('come from a walk that refuses a directory swapped for a link while it was listed', async () => {
    await writeTree(root, { 'sub/secret': 'context\n' });
    const context = await openContext(root, native === undefined ? { withoutContextAddon: true } : {});
    const [match] = await matchSource(context, 'sub');
    await rename(join(root, 'sub'), join(root, 'sub.dir'));
    await symlink(outside, join(root, 'sub'));
    expect(await errorMessage(walkSource(context, match as MatchedSource))).toBe('NOT_FOUND failed to compute cache key: "/sub": not found: the directory changed while the source was read');
    await rm(join(root, 'sub'));
    expect(await codeOf(walkSource(context, match as MatchedSource))).toBe('NOT_FOUND');
  });
});
