import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, realpathSync, type BigIntStats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { codeUnitsOrderAsBytes, decodeFileName, encodeFileName, errnoOf, fsPath, isTsbuildError, listDirectory, loadContextAddon, pathMatch, readDirectoryNames, resolveInRoot, TsbuildError, type ContextAddon, type EntryStats } from '../common/index.js';
import type { PatternMatcher} from './patterns.js';
import { containsWildcards, type MatchInfo } from './patterns.js';

/**
 * A tree COPY reads from: a build context (what .dockerignore excludes does not exist there) or
 * another stage's or image's root filesystem. Paths are relative to ROOT, `/`-separated, without
 * a leading `/`; symlinks are followed inside ROOT only.
 */
export interface SourceRoot {
  readonly root: string;
  /** Whether the existing path RELATIVEPATH is part of the tree (false: it does not exist there). */
  visible(relativePath: string, isDirectory: boolean): boolean | Promise<boolean>;
  /**
   * Whether everything below the visible directory RELATIVEPATH is visible too, so a walk below
   * it need not ask (absent: ask for every path).
   */
  visibleBelow?(relativePath: string): boolean;
  /**
   * Whether owners read from here are 0:0 whatever the files say: docker's client sends the
   * context with uid and gid reset (its resetUIDAndGID), so context files copy as root's, and
   * without security.capability, which the chown that resets them clears.
   */
  readonly ownersAreRoot: boolean;
  /**
   * Whether the visible file RELATIVEPATH arrives without its content (absent: every file has
   * its own). BuildKit's client walks a context deciding by each directory's results, but opens a
   * file to send it deciding by the file and its parents alone (fsutil's filterFS.Open, with
   * MatchesOrParentMatches); a file the walk sends and the open refuses arrives empty.
   */
  contentWithheld?(relativePath: string): boolean;
  /** tsbuild-context.node, which lists a directory with its entries' lstat in one call; absent, a walk makes one lstat per entry. */
  readonly nativeListing?: ContextAddon;
  /**
   * Of a build context, the paths its client sends (dockerfile2llb's FollowPaths: the context
   * sources of the build's COPY, ADD and bind mounts; see isSent); absent: all of it.
   */
  readonly sentPaths?: readonly string[];
}

/** A root filesystem as a COPY source: every file in it exists, with its owners. */
export function rootfsSource(dir: string): SourceRoot {
  // Canonical, as a context's root is: a walked file's opened path is compared with root + its path (see openedAsWalked).
  const nativeListing = loadContextAddon().module;
  return { root: canonicalPath(dir), visible: () => true, visibleBelow: () => true, ownersAreRoot: false, ...(nativeListing === undefined ? {} : { nativeListing }) };
}

function canonicalPath(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

/**
 * Whether DESCRIPTOR, a file just opened by its walked host path, was reached by that very path:
 * the kernel's name for it (`/proc/self/fd/N`) is the path itself. A directory on the way that the
 * host swapped for a link since the walk gives the name of wherever the link led; an inode check
 * alone cannot tell, when the walk itself listed that directory through the link. Host paths are
 * canonical (roots resolved), so any difference is such a swap, or a rename meanwhile.
 */
export function openedAsWalked(descriptor: number, hostPath: string): boolean {
  let opened: Buffer;
  try {
    opened = readlinkSync(`/proc/self/fd/${descriptor}`, { encoding: 'buffer' });
  } catch {
    return false;
  }
  const expected = fsPath(hostPath);
  return typeof expected === 'string' ? opened.equals(Buffer.from(expected)) : opened.equals(expected);
}

/**
 * Opens the file the walk found, and that file only: not a link, the inode and device the walk
 * saw, reached by the very path walked (openedAsWalked). Where a directory on its path became a
 * link meanwhile (a context the host changes during the build), the name reaches another file,
 * whose content must not stand for the source's: CHANGED makes the error then.
 */
export function openWalkedEntry(entry: TreeEntry, changed: () => Error): { descriptor: number; opened: BigIntStats } {
  let descriptor: number;
  try {
    descriptor = openSync(fsPath(entry.hostPath), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') throw changed();
    throw error;
  }
  const opened = fstatSync(descriptor, { bigint: true });
  if (opened.ino !== entry.stats.ino || opened.dev !== entry.stats.dev || !opened.isFile() || !openedAsWalked(descriptor, entry.hostPath)) {
    closeSync(descriptor);
    throw changed();
  }
  return { descriptor, opened };
}

/**
 * The target of ENTRY, a symlink when walked; CHANGED's error when the name is gone or no longer
 * a link (a context the host changes while it is read), as openWalkedEntry does for a file.
 */
export function readWalkedLink(entry: Pick<TreeEntry, 'hostPath'>, changed: () => Error): Buffer {
  try {
    return readlinkSync(fsPath(entry.hostPath), { encoding: 'buffer' });
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT' || code === 'EINVAL' || code === 'ENOTDIR') throw changed();
    throw error;
  }
}

/**
 * A source that cannot be keyed: BuildKit's "failed to compute cache key", which its solver meets
 * while it keys the graph, not while a step runs, so that the steps running meanwhile run to their
 * end (see the build's watchContextKeys).
 */
export class CacheKeyError extends TsbuildError {}

/** The source changed while it was read: a directory the walk found is gone, or no longer that directory. */
function walkedChanged(path: string): TsbuildError {
  return new CacheKeyError('NOT_FOUND', `failed to compute cache key: ${JSON.stringify(posix.join('/', path))}: not found: the directory changed while the source was read`);
}

/** The host path of NAME (a directory entry's name) in the host directory DIRECTORY. */
function childPath(directory: string, name: string): string {
  return directory === '/' ? `/${name}` : `${directory}/${name}`;
}

/** One path a COPY source names, after wildcards and symlinks. */
export interface MatchedSource {
  /** The path as matched (before its own symlink, if any, is followed), relative to the root. */
  readonly path: string;
  /** The host path it resolves to inside the root. */
  readonly hostPath: string;
  readonly stats: BigIntStats;
}

/** One file or directory under a matched source. */
export interface TreeEntry {
  /** Relative to the matched source ('' for the source itself), `/`-separated. */
  readonly path: string;
  readonly hostPath: string;
  readonly stats: EntryStats;
  /** A directory taken only because something below it is (--parents, --exclude exceptions). */
  readonly parentOnly?: boolean;
}

export interface WalkOptions {
  /** COPY --exclude patterns, matched against paths relative to the source. */
  readonly exclude?: PatternMatcher;
  /** COPY --parents patterns: only what they match (and the directories above it) is taken. */
  readonly include?: PatternMatcher;
}

/** BuildKit's "not found" for a COPY source: the path as the Dockerfile names it, cleaned and absolute. */
export function sourceNotFound(path: string): TsbuildError {
  return new CacheKeyError('NOT_FOUND', `failed to compute cache key: ${JSON.stringify(posix.join('/', path))}: not found`);
}


/** Lstat of a path that may be missing (or under a non-directory). */
async function lstatIfAny(path: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(fsPath(path), { bigint: true });
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** The path relative to ROOT of a host path inside it. */
function relativeTo(root: string, hostPath: string): string {
  return hostPath === root ? '' : hostPath.slice(root.length + 1);
}

/**
 * Resolves PATH in SOURCE (symlinks followed inside it; the last one too when FOLLOWFINAL) and
 * returns where it is, or undefined when it does not exist there.
 */
export async function lookupInSource(source: SourceRoot, path: string, followFinal: boolean): Promise<{ hostPath: string; stats: BigIntStats } | undefined> {
  const hostPath = await resolveInRoot(source.root, path, { followFinal, visible: (relative, isDirectory) => source.visible(relative, isDirectory) });
  const stats = await lstatIfAny(hostPath);
  if (stats === undefined) return undefined;
  const relative = relativeTo(source.root, hostPath);
  if (relative !== '' && !(await source.visible(relative, stats.isDirectory()))) return undefined;
  return { hostPath, stats };
}

/**
 * Names in a directory in Go's order (their bytes), as ReadDir and Walk give them. JavaScript's
 * own order (UTF-16 units) is the same unless a name holds a surrogate (a pair, or a byte that is
 * not UTF-8, escaped) or a character from U+E000 up, which then takes the slower byte comparison.
 */
function sortedNames(names: string[]): string[] {
  return sortedBy(names, (name) => name);
}

/** ITEMS in Go's order of their names, as sortedNames. */
function sortedBy<T>(items: T[], nameOf: (item: T) => string): T[] {
  if (items.every((item) => codeUnitsOrderAsBytes(nameOf(item)))) {
    return items.sort((a, b) => {
      const first = nameOf(a);
      const second = nameOf(b);
      return first < second ? -1 : first > second ? 1 : 0;
    });
  }
  return items.sort((a, b) => Buffer.compare(encodeFileName(nameOf(a)), encodeFileName(nameOf(b))));
}

function readNames(hostPath: string): string[] {
  try {
    return sortedNames(readDirectoryNames(hostPath));
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return [];
    throw error;
  }
}

/**
 * The entries of HOSTPATH, a directory the walk found with the stats DIRECTORY, in Go's order:
 * listed from that very directory (not a link put in its place, through which the names would be
 * another directory's). Otherwise the source changed while it was read (SHOWN names it). Their
 * stats come with them from a native listing; without one, the walk makes an lstat of each it takes.
 */
function listedAsWalked(source: SourceRoot, hostPath: string, directory: EntryStats, shown: string): Array<{ readonly name: string; readonly stats?: EntryStats }> {
  if (source.nativeListing !== undefined) {
    const listing = listDirectory(source.nativeListing, hostPath, directory);
    if ('changed' in listing) throw walkedChanged(shown);
    return sortedBy(listing.entries, (entry) => entry.name);
  }
  return namesListedAsWalked(hostPath, directory, shown).map((name) => ({ name }));
}

/** listedAsWalked's names without a native listing: the directory read, then checked to be still the one walked. */
function namesListedAsWalked(hostPath: string, directory: EntryStats, shown: string): string[] {
  let names: string[];
  try {
    names = sortedNames(readDirectoryNames(hostPath));
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') throw walkedChanged(shown);
    throw error;
  }
  const after = lstatSyncIfAny(hostPath);
  if (after === undefined || !after.isDirectory() || after.ino !== directory.ino || after.dev !== directory.dev) throw walkedChanged(shown);
  return names;
}

function lstatSyncIfAny(path: string): BigIntStats | undefined {
  try {
    return lstatSync(fsPath(path), { bigint: true });
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return undefined;
    throw error;
  }
}

/**
 * The paths one COPY source names in SOURCE, as BuildKit resolves them (fsutil's
 * ResolveWildcards, then its rootPath): the source is cleaned as an absolute path; without
 * wildcards it is that one path, which must exist (NOT_FOUND otherwise); with them, the part
 * before the first wildcard component is resolved and walked (symlinks not followed), each path
 * below matched whole with Go's path.Match, a matched directory not entered, in walk order; no
 * match is no error. Each match is then resolved with its own symlink followed (FOLLOWLINKS),
 * inside the root.
 */
export async function matchSource(source: SourceRoot, pattern: string, followLinks = true): Promise<MatchedSource[]> {
  const cleaned = posix.join('/', pattern);
  const parts = cleaned.split('/').filter((part) => part !== '');
  const wildcardAt = parts.findIndex((part) => containsWildcards(part));
  if (wildcardAt === -1) {
    let found: Awaited<ReturnType<typeof lookupInSource>>;
    try {
      found = await lookupInSource(source, cleaned, followLinks);
    } catch (error) {
      // A loop: in BuildKit's words, with the path its checksum stopped at for a loop of last
      // links (`too many symlinks: PATH`), without one for a loop on the way (`too many links`).
      if (!(isTsbuildError(error) && error.code === 'UNSAFE_PATH' && error.message.endsWith(symlinkLoopWords))) throw error;
      try {
        if (followLinks) await followLastLinks(source, cleaned);
      } catch (followed) {
        if (!(isTsbuildError(followed) && followed.code === 'UNSAFE_PATH')) throw followed;
      }
      throw new CacheKeyError('INVALID_ARGUMENT', 'failed to compute cache key: too many links', { cause: error });
    }
    if (found === undefined) {
      // A last link that leads nowhere (missing, excluded, a loop) fails as BuildKit's checksum does, naming where it led.
      if (followLinks) await followLastLinks(source, cleaned);
      throw sourceNotFound(cleaned);
    }
    return [{ path: parts.join('/'), hostPath: found.hostPath, stats: found.stats }];
  }

  const remainder = parts.slice(wildcardAt).join('/');
  // A malformed pattern is an error even where nothing would match.
  pathMatch(remainder, '');
  const base = await lookupInSource(source, parts.slice(0, wildcardAt).join('/'), true);
  if (base === undefined || !base.stats.isDirectory()) return [];
  const baseRelative = relativeTo(source.root, base.hostPath);
  // `*` never matches `/`: a path deeper than the pattern cannot match it.
  const depth = parts.length - wildcardAt;
  const matches: string[] = [];
  // Each match as the pattern names it, through the links before its first wildcard, as
  // BuildKit's checksum names the paths it follows.
  const named: string[] = [];
  const walk = async (relative: string, level: number): Promise<void> => {
    for (const name of readNames(join(base.hostPath, relative))) {
      const child = relative === '' ? name : `${relative}/${name}`;
      const stats = lstatSyncIfAny(join(base.hostPath, child));
      if (stats === undefined) continue;
      const rootRelative = baseRelative === '' ? child : `${baseRelative}/${child}`;
      if (!(await source.visible(rootRelative, stats.isDirectory()))) continue;
      if (pathMatch(remainder, child)) {
        matches.push(rootRelative);
        named.push([...parts.slice(0, wildcardAt), child].join('/'));
        continue;
      }
      if (stats.isDirectory() && level + 1 < depth) await walk(child, level + 1);
    }
  };
  await walk('', 0);

  if (followLinks) for (const [index, match] of matches.entries()) await followLinksOfMatch(source, match, named[index] as string);
  const result: MatchedSource[] = [];
  for (const match of matches) {
    const found = await lookupInSource(source, match, followLinks);
    if (found === undefined) throw sourceNotFound(match);
    result.push({ path: match, hostPath: found.hostPath, stats: found.stats });
  }
  return result;
}

/** Where each sent path leads (sentPlaces), by the sent paths of a context. */
const sentPlacesOf = new WeakMap<readonly string[], Map<string, Promise<string[]>>>();

/**
 * The host paths a sent PATH reaches in SOURCE: each match as named and, where it is a link,
 * where it leads (fsutil's FollowLinks sends a named link's target too).
 */
function sentPlaces(source: SourceRoot, sent: readonly string[], path: string): Promise<string[]> {
  let places = sentPlacesOf.get(sent);
  if (places === undefined) {
    places = new Map();
    sentPlacesOf.set(sent, places);
  }
  let found = places.get(path);
  if (found === undefined) {
    const everything: SourceRoot = { ...source, sentPaths: undefined };
    const reached = async (followLinks: boolean): Promise<string[]> => (await matchSource(everything, path, followLinks).catch(() => [])).map((match) => match.hostPath);
    found = Promise.all([reached(false), reached(true)]).then(([named, followed]) => [...new Set([...named, ...followed])]);
    places.set(path, found);
  }
  return found;
}

/**
 * Whether the existing, visible path named by each of NAMED (relative paths: as given, as its
 * links lead), HOSTPATH in the root, reached a builder that reads only what SOURCE's sentPaths
 * select, as fsutil's walk with FollowPaths sends a context: a path selected (or a named link's
 * target) sends everything below it, and a directory not selected itself is sent only as the
 * parent of something selected below it. No sent paths, or `/` among them, send everything.
 */
async function isSent(source: SourceRoot, named: readonly string[], hostPath: string): Promise<boolean> {
  const sent = source.sentPaths;
  if (sent === undefined || sent.length === 0 || sent.some((path) => posix.join('/', path) === '/')) return true;
  const ancestorOrSelf = (selected: readonly string[], names: readonly string[]): boolean => {
    try {
      return selected.length <= names.length && selected.every((part, index) => pathMatch(part, names[index] ?? ''));
    } catch {
      return false;
    }
  };
  const namings = named.map((relative) => relative.split('/').filter((part) => part !== ''));
  for (const path of sent) {
    const selected = posix.join('/', path).split('/').filter((part) => part !== '');
    if (namings.some((names) => ancestorOrSelf(selected, names))) return true;
  }
  for (const path of sent) {
    for (const place of await sentPlaces(source, sent, path)) {
      if (place === hostPath || hostPath.startsWith(`${place}/`) || place.startsWith(`${hostPath}/`)) return true;
    }
  }
  return false;
}

/**
 * For a wildcard PATTERN that matched nothing, the path BuildKit's copy then fails to lstat, if
 * any (`lstat PATH: no such file or directory`): fsutil walks the part before the first wildcard
 * component, its links followed, and that part must exist, in a build context among what its
 * client sent (isSent). A file there is walked too, and matches nothing. Nothing is said where
 * the pattern's base is the root.
 */
export async function missingWildcardBase(source: SourceRoot, pattern: string): Promise<string | undefined> {
  const parts = posix.join('/', pattern).split('/').filter((part) => part !== '');
  const wildcardAt = parts.findIndex((part) => containsWildcards(part));
  if (wildcardAt <= 0) return undefined;
  const given = parts.slice(0, wildcardAt).join('/');
  const found = await lookupInSource(source, given, true);
  if (found === undefined) {
    // Named where its links lead, as the lstat that fails names it.
    const hostPath = await resolveInRoot(source.root, given, { followFinal: true, visible: (relative, isDirectory) => source.visible(relative, isDirectory) });
    return `/${relativeTo(source.root, hostPath)}`;
  }
  const resolved = relativeTo(source.root, found.hostPath);
  // Named as the pattern names it, or as its links lead: either path selected sends it.
  return (await isSent(source, [given, resolved], found.hostPath)) ? undefined : `/${resolved}`;
}

/** How resolveInRoot ends its error for a symlink loop. */
const symlinkLoopWords = 'too many levels of symbolic links';

/** Most links BuildKit's checksum follows from one path before it gives up. */
const maxLinksFollowed = 255;

/**
 * BuildKit's checksumFollow from START: while the path names a symlink, its target joined to the
 * link's directory (as the path spells it) is taken next; the first path that does not exist
 * fails, named so (a COPY of a link to an excluded or missing file names the target), and more
 * than 255 links fail with `too many symlinks`.
 */
async function followLastLinks(source: SourceRoot, start: string, onlySent = false): Promise<void> {
  let path = posix.join('/', start);
  for (let followed = 0; ; followed++) {
    if (followed > maxLinksFollowed) throw new CacheKeyError('INVALID_ARGUMENT', `failed to compute cache key: too many symlinks: ${path}`);
    const found = await lookupInSource(source, path, false);
    if (found === undefined) throw sourceNotFound(path);
    // A link's target the client did not send is not there for the builder either.
    if (onlySent && followed > 0 && !(await isSent(source, [relativeTo(source.root, found.hostPath)], found.hostPath))) throw sourceNotFound(path);
    if (!found.stats.isSymbolicLink()) return;
    const target = decodeFileName(readWalkedLink(found, () => sourceNotFound(path)));
    path = posix.isAbsolute(target) ? posix.normalize(target) : posix.join(posix.dirname(path), target);
  }
}

/**
 * BuildKit 0.13's cache key of a source with wildcards (contenthash's Checksum with Wildcard and
 * FollowLinks): every path it includes, a matched directory's whole tree with it, is hashed with
 * its symlinks followed (checksumFollow), each link's target joined to the link's directory, so
 * a COPY or ADD whose glob matches a directory that holds a dangling link anywhere below fails
 * with the target `not found`, and a link loop with `too many symlinks`, though a COPY naming
 * the same directory without a wildcard copies the links as they are. A matched link to a
 * directory is followed once; what is below its target is not walked. MATCH is the match's path
 * in the root, NAMED the same as the pattern names it (through the links before its wildcard).
 */
async function followLinksOfMatch(source: SourceRoot, match: string, named: string): Promise<void> {
  const follow = (start: string): Promise<void> => followLastLinks(source, start);
  const found = await lookupInSource(source, match, false);
  if (found === undefined) return;
  if (found.stats.isSymbolicLink()) {
    await follow(named);
    return;
  }
  if (!found.stats.isDirectory()) return;
  const walk = async (relative: string): Promise<void> => {
    for (const name of readNames(join(found.hostPath, relative))) {
      const child = relative === '' ? name : `${relative}/${name}`;
      const stats = lstatSyncIfAny(join(found.hostPath, child));
      if (stats === undefined) continue;
      // Visible by where it is; followed, and named in errors, as the pattern reaches it.
      if (!(await source.visible(`${match}/${child}`, stats.isDirectory()))) continue;
      if (stats.isSymbolicLink()) await followLastLinks(source, `${named}/${child}`, true);
      else if (stats.isDirectory()) await walk(child);
    }
  };
  await walk('');
}

/**
 * Every file and directory a COPY of MATCH takes, the source itself first (path ''), parents
 * before children, names in Go's order. Symlinks below the source are entries, never followed.
 * --exclude and --parents patterns apply as fsutil's copier applies them: to paths relative to
 * the source; an excluded directory is still entered when an exception may re-include something
 * below it, and a directory that is not itself taken appears only before a path below it that is.
 */
export async function walkSource(source: SourceRoot, match: MatchedSource, options: WalkOptions = {}): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [{ path: '', hostPath: match.hostPath, stats: match.stats }];
  if (!match.stats.isDirectory()) return entries;
  const include = options.include !== undefined && !options.include.empty ? options.include : undefined;
  const exclude = options.exclude !== undefined && !options.exclude.empty ? options.exclude : undefined;
  const sourceRelative = relativeTo(source.root, match.hostPath);

  // Directories entered but not taken, waiting for something below them to be taken.
  const pending: TreeEntry[] = [];
  const walk = async (relative: string, hostPath: string, includeInfo: MatchInfo, excludeInfo: MatchInfo, allVisible: boolean, directory: EntryStats): Promise<void> => {
    for (const { name, stats: listed } of listedAsWalked(source, hostPath, directory, relative === '' ? sourceRelative : `${sourceRelative}/${relative}`)) {
      const path = relative === '' ? name : `${relative}/${name}`;
      const childHost = childPath(hostPath, name);
      let taken = true;
      let excluded = false;
      let childInclude: MatchInfo;
      let childExclude: MatchInfo;
      if (include !== undefined) {
        const result = include.matchesUsingParentResults(path, includeInfo);
        taken = result.matched;
        childInclude = result.info;
      }
      if (exclude !== undefined) {
        const result = exclude.matchesUsingParentResults(path, excludeInfo);
        if (result.matched) {
          taken = false;
          excluded = true;
        }
        childExclude = result.info;
      }
      if (!taken && include === undefined && !(exclude?.exclusions ?? false)) continue;
      const stats = listed ?? lstatSyncIfAny(childHost);
      if (stats === undefined) continue;
      const rootRelative = sourceRelative === '' ? path : `${sourceRelative}/${path}`;
      if (!allVisible) {
        // Most answers need no promise; awaiting each would cost a turn of the event loop per entry.
        const visible = source.visible(rootRelative, stats.isDirectory());
        if (!(typeof visible === 'boolean' ? visible : await visible)) continue;
      }
      const entry: TreeEntry = { path, hostPath: childHost, stats };
      if (!stats.isDirectory()) {
        if (!taken) continue;
        entries.push(...pending.splice(0));
        entries.push(entry);
        continue;
      }
      if (taken) {
        entries.push(...pending.splice(0));
        entries.push(entry);
      } else {
        if (excluded && !(exclude?.exclusions ?? false)) continue;
        pending.push({ ...entry, parentOnly: true });
      }
      const depth = pending.length;
      await walk(path, childHost, childInclude, childExclude, allVisible || (source.visibleBelow?.(rootRelative) ?? false), stats);
      // A directory nothing below was taken from stays out.
      if (!taken && pending.length >= depth) pending.splice(depth - 1);
    }
  };
  await walk('', match.hostPath, undefined, undefined, source.visibleBelow?.(sourceRelative) ?? false, match.stats);
  return entries;
}


