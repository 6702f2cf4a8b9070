/**
 * ADD of a git repository, as BuildKit's Dockerfile frontend tells one (dfgitutil.ParseGitRef)
 * and its git source checks it out (source/git): the ref is resolved with `git ls-remote`
 * first, and the commit it names keys the step, so a new commit misses and the same commit
 * hits without a clone; only a step that runs fetches (one commit deep) and checks out. The
 * system `git` does the work, with no prompt, no system config, and the umask BuildKit gives it.
 */
import { spawn } from 'node:child_process';
import { lstat, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { lutimesSync } from 'node:fs';
import { TsbuildError, fsPath, messageOf, readDirectoryEntries, uniqueHex } from '../common/index.js';
import { makeTemporaryDirectory } from '../store/index.js';

/** What a git source names: `REMOTE[?query][#ref[:subdir]]`. */
export interface GitRef {
  /** The URL given to git, without fragment or query. */
  readonly remote: string;
  /** A branch, tag, full ref or commit; `''` for the remote's default branch. */
  readonly ref: string;
  /** A directory of the checkout to take instead of its root; `''` for the root. */
  readonly subdir: string;
  /** `?checksum=` or `?commit=`: a hex prefix the resolved commit must have. */
  readonly checksum: string;
  /** `?keep-git-dir=`: overrides nothing when undefined. */
  readonly keepGitDir: boolean | undefined;
  /** `?submodules=false` skips submodules; they are checked out by default. */
  readonly submodules: boolean;
  /** `?mtime=commit` gives every file the commit's time; the default keeps the checkout's. */
  readonly mtime: 'checkout' | 'commit';
}

/** A ref resolved on the remote: the commit that keys the step, and the full ref name that named it. */
export interface ResolvedGit {
  readonly commit: string;
  /** `refs/heads/main`, `refs/tags/v1`; `''` when the source named a commit. */
  readonly fullRef: string;
}

const supportedSchemes = new Set(['http', 'https', 'ssh', 'git']);
/** BuildKit's sshutil pattern for `user@host:path` without a scheme. */
const scpStyle = /^([a-zA-Z0-9-_]+)@([a-zA-Z0-9-.]+):(.*?)(?:\?(.*?))?(?:#(.*))?$/;
const commitPattern = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * The git source SOURCE names, or undefined when it names none (a local path, an http(s) URL
 * whose path does not end in `.git`, an unknown scheme). A malformed query on what is a git
 * source is an error, as in BuildKit.
 */
export function parseGitRef(source: string): GitRef | undefined {
  // `github.com/x/y` is a git ref only for build contexts; ADD takes it as a local path.
  if (source.startsWith('./') || source.startsWith('../') || source.startsWith('github.com/')) return undefined;
  let remote: string;
  let query: URLSearchParams;
  let fragment: string;
  const scheme = /^([a-zA-Z0-9]+):\/\//.exec(source)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (!supportedSchemes.has(scheme)) return undefined;
    let url: URL;
    try {
      url = new URL(source);
    } catch {
      return undefined;
    }
    if ((scheme === 'http' || scheme === 'https') && !url.pathname.endsWith('.git')) return undefined;
    fragment = decodeURIComponent(url.hash.replace(/^#/, ''));
    // A copy: the live searchParams empty with the search cleared below.
    query = new URLSearchParams(url.search);
    url.hash = '';
    url.search = '';
    remote = url.toString();
  } else {
    const match = scpStyle.exec(source);
    if (match === null) return undefined;
    remote = `${match[1] ?? ''}@${match[2] ?? ''}:${match[3] ?? ''}`;
    query = new URLSearchParams(match[4] ?? '');
    fragment = match[5] ?? '';
  }
  const cut = fragment.indexOf(':');
  const fields = {
    ref: cut < 0 ? fragment : fragment.slice(0, cut),
    subdir: cut < 0 ? '' : cleanSubdir(fragment.slice(cut + 1)),
    checksum: '',
    keepGitDir: undefined as boolean | undefined,
    submodules: true,
    mtime: 'checkout' as 'checkout' | 'commit',
  };
  applyQuery(source, query, fields);
  return { remote, ...fields };
}

function cleanSubdir(subdir: string): string {
  // Go's path.Join: cleaned, no trailing slash.
  return posix.join('/', subdir).replace(/^\/+/, '').replace(/\/+$/, '');
}

function gitError(source: string, message: string): TsbuildError {
  return new TsbuildError('INVALID_ARGUMENT', `parse git source ${redactRemote(source)}: ${message}`);
}

/** dfgitutil's loadQuery: the options a git URL can carry after `?`. */
function applyQuery(source: string, query: URLSearchParams, fields: { ref: string; subdir: string; checksum: string; keepGitDir: boolean | undefined; submodules: boolean; mtime: 'checkout' | 'commit' }): void {
  let tag = '';
  let branch = '';
  const flag = (key: string, value: string): boolean => {
    if (value === '') return true;
    const parsed = parseGoBool(value);
    if (parsed === undefined) throw gitError(source, `invalid ${key} value: ${JSON.stringify(value)}`);
    return parsed;
  };
  for (const key of new Set(query.keys())) {
    const values = query.getAll(key);
    if (values.length > 1) throw gitError(source, `query ${JSON.stringify(key)} has multiple values`);
    const value = values[0] ?? '';
    if (value === '' && !['submodules', 'keep-git-dir', 'fetch-by-commit'].includes(key)) throw gitError(source, `query ${JSON.stringify(key)} has no value`);
    switch (key) {
      case 'ref':
        if (fields.ref !== '' && fields.ref !== value) throw gitError(source, `ref conflicts: ${JSON.stringify(fields.ref)} vs ${JSON.stringify(value)}`);
        fields.ref = value;
        break;
      case 'tag':
        tag = value;
        break;
      case 'branch':
        branch = value;
        break;
      case 'subdir':
        if (fields.subdir !== '' && fields.subdir !== cleanSubdir(value)) throw gitError(source, `subdir conflicts: ${JSON.stringify(fields.subdir)} vs ${JSON.stringify(value)}`);
        fields.subdir = cleanSubdir(value);
        break;
      case 'checksum':
      case 'commit':
        fields.checksum = value;
        break;
      case 'keep-git-dir':
        fields.keepGitDir = flag(key, value);
        break;
      case 'submodules':
        fields.submodules = flag(key, value);
        break;
      case 'mtime':
        if (value !== 'checkout' && value !== 'commit') throw gitError(source, `invalid mtime value: ${JSON.stringify(value)} (must be "checkout" or "commit")`);
        fields.mtime = value;
        break;
      case 'fetch-by-commit':
        // A commit is always fetched by itself here; the flag changes nothing.
        flag(key, value);
        break;
      default:
        throw gitError(source, `unexpected query ${JSON.stringify(key)}`);
    }
  }
  if (tag !== '') {
    const full = tag.startsWith('refs/tags/') ? tag : `refs/tags/${tag}`;
    if (fields.ref !== '' && fields.ref !== full) throw gitError(source, `ref conflicts: ${JSON.stringify(fields.ref)} vs ${JSON.stringify(full)}`);
    fields.ref = full;
  }
  if (branch !== '') {
    if (tag !== '') throw gitError(source, 'branch conflicts with tag');
    const full = branch.startsWith('refs/heads/') ? branch : `refs/heads/${branch}`;
    if (fields.ref !== '' && fields.ref !== full) throw gitError(source, `ref conflicts: ${JSON.stringify(fields.ref)} vs ${JSON.stringify(full)}`);
    fields.ref = full;
  }
}

/** Go's strconv.ParseBool. */
function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

/**
 * URL with the password of its user info replaced by MASK. The user info ends at the
 * authority's last `@`, as URL parsers take it: a password holding a raw `@` is replaced whole.
 */
export function maskUrlPassword(url: string, mask: string): string {
  return url.replace(/^([a-zA-Z0-9][a-zA-Z0-9+.-]*:\/\/[^/?#\\:]*):[^/?#\\]*@/, `$1:${mask}@`);
}

/** The remote with any password replaced, for messages (BuildKit's RedactCredentials). */
export function redactRemote(remote: string): string {
  return maskUrlPassword(remote, 'xxxxx');
}

/**
 * The transports git may use, given on the command line so that no global config can widen them:
 * a repository names its submodules' URLs, and `ext::` runs a command, `file://` reads the host's
 * own repositories, `fd::` reads descriptors (git's defaults refuse these to submodules, but a
 * user's ~/.gitconfig may allow them; BuildKit blocks file:// submodules the same way). file://
 * stays open to what tsbuild itself names (the repository a --keep-git-dir checkout fetches
 * through).
 */
const transportPolicy = [
  'protocol.allow=never',
  'protocol.http.allow=always',
  'protocol.https.allow=always',
  'protocol.ssh.allow=always',
  'protocol.git.allow=always',
  'protocol.file.allow=user',
  // Named, as a protocol's own setting in a global config outranks protocol.allow.
  'protocol.ext.allow=never',
  'protocol.fd.allow=never',
].flatMap((setting) => ['-c', setting]);

/** Runs git with no prompt and no system config; files it writes get umask 022, as BuildKit's. */
async function git(args: readonly string[], options: { readonly cwd?: string; readonly what: string }): Promise<string> {
  const child = spawn('sh', ['-c', 'umask 022 && exec git "$@"', 'git', ...transportPolicy, ...args], {
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_ASKPASS: '', SSH_ASKPASS: '', LC_ALL: 'C' },
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  }).catch((error: unknown) => {
    throw new TsbuildError('INTERNAL', `${options.what}: run git: ${messageOf(error)}`, { cause: error });
  });
  if (code !== 0) {
    const detail = redactRemote(Buffer.concat(err).toString('utf8').trim().split('\n').slice(-3).join('; '));
    throw new TsbuildError('REGISTRY', `${options.what}: git ${args[0] ?? ''} exited with ${code}${detail === '' ? '' : `: ${detail}`}`, { temporary: true });
  }
  return Buffer.concat(out).toString('utf8');
}

/**
 * The commit REF names on its remote (BuildKit's resolveMetadataFromURL): a branch before a tag
 * of the same name, an annotated tag's commit; a commit given in full is taken as it is. The
 * checksum, when given, must be a prefix of the commit.
 */
export async function resolveGitRef(ref: GitRef): Promise<ResolvedGit> {
  const what = `resolve git source ${redactRemote(ref.remote)}${ref.ref === '' ? '' : `#${ref.ref}`}`;
  if (ref.checksum !== '' && !/^[a-fA-F0-9]+$/.test(ref.checksum)) throw new TsbuildError('INVALID_ARGUMENT', `${what}: invalid checksum ${ref.checksum} for Git URL, expected hex commit hash`);
  if (commitPattern.test(ref.ref)) {
    if (ref.checksum !== '' && !ref.ref.startsWith(ref.checksum.toLowerCase())) throw new TsbuildError('DIGEST_MISMATCH', `${what}: expected checksum to match ${ref.checksum}, got ${ref.ref}`);
    return { commit: ref.ref, fullRef: '' };
  }
  let name = ref.ref;
  if (name === '') {
    const head = await git(['ls-remote', '--symref', '--', ref.remote, 'HEAD'], { what });
    const symbolic = /^ref: (\S+)\tHEAD$/m.exec(head);
    if (symbolic === null) throw new TsbuildError('NOT_FOUND', `${what}: the remote names no default branch`);
    name = symbolic[1] as string;
  }
  const listing = await git(['ls-remote', '--', ref.remote, name, `${name}^{}`], { what });
  const bare = name.replace(/^refs\//, '');
  const partial = `refs/${bare}`;
  const head = `refs/heads/${name.replace(/^refs\/heads\//, '')}`;
  const tag = `refs/tags/${name.replace(/^refs\/tags\//, '')}`;
  const found = new Map<string, string>();
  for (const line of listing.split('\n')) {
    const [sha, lineRef] = line.split('\t');
    if (sha !== undefined && lineRef !== undefined) found.set(lineRef, sha);
  }
  let commit = found.get(partial);
  let fullRef = partial;
  let peeled: string | undefined;
  if (commit === undefined && found.has(head)) [commit, fullRef] = [found.get(head), head];
  if (commit === undefined && found.has(tag)) {
    [commit, fullRef] = [found.get(tag), tag];
    peeled = found.get(`${tag}^{}`);
  }
  if (commit === undefined) throw new TsbuildError('NOT_FOUND', `${what}: repository does not contain ref ${name}`);
  if (!commitPattern.test(commit)) throw new TsbuildError('REGISTRY', `${what}: invalid commit sha ${JSON.stringify(commit)}`);
  if (ref.checksum !== '') {
    const prefix = ref.checksum.toLowerCase();
    if (!commit.startsWith(prefix) && !(peeled?.startsWith(prefix) ?? false)) {
      throw new TsbuildError('DIGEST_MISMATCH', `${what}: expected checksum to match ${ref.checksum}, got ${commit}${peeled === undefined ? '' : ` or ${peeled}`}`);
    }
  }
  // An annotated tag keys by the commit it points at, as BuildKit does without --keep-git-dir.
  return { commit: peeled ?? commit, fullRef };
}

/**
 * Checks RESOLVED out into DIRECTORY (empty, made by the caller in a private scratch directory
 * of its own, where the fetch may stage a repository beside it) one commit deep, submodules
 * too unless turned off. With KEEPGITDIR the `.git` directory stays with BuildKit's refs (see
 * fetchKept), HEAD detached at the commit and origin the (redacted) remote; otherwise it is
 * removed. Returns the directory to copy: DIRECTORY or its SUBDIR, which must
 * be a directory reached through directories only (no symlink may lead out of the checkout).
 */
export async function checkoutGit(ref: GitRef, resolved: ResolvedGit, directory: string, keepGitDir: boolean): Promise<string> {
  const what = `checkout git source ${redactRemote(ref.remote)}${ref.ref === '' ? '' : `#${ref.ref}`}`;
  const run = (args: readonly string[]): Promise<string> => git(args, { cwd: directory, what });
  await run(['-c', 'init.defaultBranch=master', 'init', '-q', '.']);
  let fetched: string;
  if (keepGitDir) {
    fetched = await fetchKept(ref, resolved, directory, what);
  } else {
    await run(['remote', 'add', '--', 'origin', ref.remote]);
    const refspec = resolved.fullRef !== '' ? resolved.fullRef : resolved.commit;
    try {
      await run(['fetch', '-q', '--depth=1', '--no-tags', '--', 'origin', refspec]);
      fetched = (await run(['rev-parse', 'FETCH_HEAD^{commit}'])).trim();
    } catch (error) {
      // A server that will not give a commit no ref advertises (protocol v0 without
      // allowReachableSHA1InWant) gives it with the history of every branch and tag.
      if (resolved.fullRef !== '') throw error;
      await run(['fetch', '-q', '--', 'origin', '+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*']);
      fetched = (await run(['rev-parse', '--verify', `${resolved.commit}^{commit}`])).trim();
    }
  }
  if (fetched !== resolved.commit) {
    throw new TsbuildError('REGISTRY', `${what}: the ref moved while the build ran (resolved ${resolved.commit}, fetched ${fetched})`, { temporary: true });
  }
  await run(['-c', 'advice.detachedHead=false', 'checkout', '-q', resolved.commit]);
  if (ref.submodules && (await lstat(join(directory, '.gitmodules')).catch(() => undefined)) !== undefined) {
    await run(['submodule', 'update', '-q', '--init', '--recursive', '--depth=1']);
  }
  if (ref.mtime === 'commit') {
    const time = Number((await run(['log', '-1', '--format=%ct', resolved.commit])).trim());
    await setTimes(directory, time, keepGitDir);
  }
  if (keepGitDir) {
    await run(['remote', 'set-url', '--', 'origin', redactRemote(ref.remote)]);
    await run(['reflog', 'expire', '--all', '--expire=now']);
    await rm(join(directory, '.git', 'FETCH_HEAD'), { force: true });
  } else {
    await rm(join(directory, '.git'), { recursive: true, force: true });
  }
  if (ref.subdir === '') return directory;
  let current = directory;
  for (const part of ref.subdir.split('/')) {
    current = join(current, part);
    const stats = await lstat(current).catch(() => undefined);
    if (stats === undefined || !stats.isDirectory()) {
      throw new TsbuildError(stats === undefined ? 'NOT_FOUND' : 'UNSAFE_PATH', `${what}: invalid subdir ${ref.subdir}: ${posix.relative('/', `/${ref.subdir}`)} is ${stats === undefined ? 'missing' : 'not a directory'} at ${part}`);
    }
  }
  return current;
}

/**
 * The fetch of a checkout whose `.git` stays, as BuildKit's git source makes it, so that the refs
 * it keeps are BuildKit's (a tag a RUN's `git describe` finds is there): the remote is fetched
 * first into a bare repository of its own, REF under `tags/REF` one commit deep with the tags
 * that come along (for a commit: every branch and tag), and the checkout, its origin that
 * repository, fetches from it `REF:REF` (an annotated tag `REF:refs/tags/REF`, a commit through a
 * ref made for it). REF is the ref as written, the default branch's name when none was. Returns
 * the commit fetched; the checkout's origin is the remote again.
 */
async function fetchKept(ref: GitRef, resolved: ResolvedGit, directory: string, what: string): Promise<string> {
  const cache = await mkdtemp(join(dirname(directory), 'git-cache-'));
  try {
    const inCache = (args: readonly string[]): Promise<string> => git(args, { cwd: cache, what });
    const inCheckout = (args: readonly string[]): Promise<string> => git(args, { cwd: directory, what });
    const name = ref.ref !== '' ? ref.ref : resolved.fullRef.replace(/^refs\/heads\//, '');
    const isCommit = commitPattern.test(name);
    await inCache(['init', '-q', '--bare']);
    await inCache(['remote', 'add', '--', 'origin', ref.remote]);
    if (isCommit) await inCache(['fetch', '-q', '--tags', '--', 'origin']);
    else await inCache(['fetch', '-q', '--depth=1', '--force', '--', 'origin', `${name}:tags/${name}`]);
    await inCheckout(['remote', 'add', 'origin', `file://${cache}`]);
    const type = (await inCache(['cat-file', '-t', '--end-of-options', name])).trim();
    let pullref = `${name}:${name}`;
    if (type === 'tag') {
      pullref = `${name}:refs/tags/${name}`;
    } else if (isCommit) {
      pullref = `refs/buildkit/${uniqueHex(16)}`;
      await inCache(['update-ref', pullref, name]);
    }
    await inCheckout(['fetch', '-q', '-u', '--depth=1', '--', 'origin', pullref]);
    // Origin the remote again before anything else reads it: submodules at relative URLs.
    await inCheckout(['remote', 'set-url', '--', 'origin', ref.remote]);
    return (await inCheckout(['rev-parse', 'FETCH_HEAD^{commit}'])).trim();
  } finally {
    await rm(cache, { recursive: true, force: true });
  }
}

/** Every file's (and directory's, deepest first) times set to SECONDS: `?mtime=commit`. */
async function setTimes(directory: string, seconds: number, withGitDir: boolean): Promise<void> {
  const visit = async (path: string): Promise<void> => {
    // A checkout may hold names that are not UTF-8: listed and touched by their bytes.
    for (const entry of readDirectoryEntries(path)) {
      if (path === directory && entry.name === '.git' && !withGitDir) continue;
      const child = join(path, entry.name);
      if (entry.isDirectory()) await visit(child);
      else lutimesSync(fsPath(child), seconds, seconds);
    }
    lutimesSync(fsPath(path), seconds, seconds);
  };
  await visit(directory);
}

/**
 * A git repository as a whole build context (`tsbuild build https://host/repo.git#ref:subdir`)
 * or a named one: checked out into a private scratch directory in SCRATCHPARENT (a store's
 * temporary directory, swept if the build is killed), without `.git` unless KEEPGITDIR
 * (BuildKit's BUILDKIT_CONTEXT_KEEP_GIT_DIR). CLEANUP removes it.
 */
export async function checkoutContext(source: string, scratchParent: string, keepGitDir = false): Promise<{ readonly dir: string; cleanup(): Promise<void> }> {
  const ref = parseGitRef(source);
  if (ref === undefined) throw new TsbuildError('INVALID_ARGUMENT', `checkout ${redactRemote(source)}: not a git source`);
  const scratch = await makeTemporaryDirectory(scratchParent, 'git-context');
  const cleanup = (): Promise<void> => rm(scratch, { recursive: true, force: true });
  try {
    const checkout = join(scratch, 'checkout');
    await mkdir(checkout, { mode: 0o755 });
    const dir = await checkoutGit(ref, await resolveGitRef(ref), checkout, (ref.keepGitDir ?? keepGitDir) && ref.subdir === '');
    return { dir, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/**
 * Whether SOURCE (an ADD source or a build's context argument) names a git repository as
 * BuildKit's ParseGitRef tells them: git://, ssh://, user@host:path, or an http(s) URL whose
 * path ends in .git.
 */
export function isGitSource(source: string): boolean {
  try {
    return parseGitRef(source) !== undefined;
  } catch {
    // A git URL with a malformed query is still one; parsing it again reports the error.
    return true;
  }
}
