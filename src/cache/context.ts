import { closeSync, fstatSync, read, readSync } from 'node:fs';
import { mkdir, readFile, realpath, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, posix, relative } from 'node:path';
import { promisify } from 'node:util';
import pLimit, { type LimitFunction } from 'p-limit';
import xxhash, { type XXHashAPI } from 'xxhash-wasm';
import { constants as osConstants } from 'node:os';
import { decodeFileName, encodeFileName, fsPath, hashHex, isTextName, loadContextAddon, messageOf, readDirectoryEntries, readFileInRoot, resolveInRoot, TsbuildError, uniqueHex, type ContextAddon, type EntryStats, type NamedDirent } from '../common/index.js';
import { fileSummary } from './explain.js';
import { goClean, PatternMatcher, readIgnoreFile } from './patterns.js';
import { CacheKeyError, matchSource, openWalkedEntry, readWalkedLink, walkSource, type MatchedSource, type SourceRoot, type TreeEntry } from './tree.js';

const readAsync = promisify(read);

export interface OpenContextOptions {
  /** The absolute path of the Dockerfile: `<Dockerfile>.dockerignore` beside it comes before the context's own. */
  readonly dockerfile?: string;
  /** Where the persistent hash index lives; none, no index (every file is hashed). */
  readonly indexDir?: string;
  /** The ignore file, read already (readContextIgnoreFile); none, read here. */
  readonly ignore?: ContextIgnoreFile;
  /** Walk and hash without tsbuild-context.node even where it loads: one lstat per entry, hashes on the main thread (its fallback, which tests hold to the same answers). */
  readonly withoutContextAddon?: boolean;
  /**
   * Once aborted (the build interrupted), hashing stops at the file's next piece (CANCELED): a
   * sparse file of a terabyte of holes, a few blocks of a context, reads as a terabyte of zeros.
   */
  readonly signal?: AbortSignal;
  /** The paths of it a build reads (SourceRoot.sentPaths); none: all of it. */
  readonly sentPaths?: readonly string[];
}

/** A build context: a directory as docker sends it, what .dockerignore excludes left out. */
export interface BuildContext extends SourceRoot {
  /** The context directory, symlinks resolved. */
  readonly root: string;
  /** The ignore file read (host path), if any. */
  readonly ignoreFile: string | undefined;
  /** Its patterns as docker reads them (ignorefile.ReadAll). */
  readonly ignorePatterns: readonly string[];
  /** Whether .dockerignore excludes RELPATH (relative to the context, `/` and `./` allowed first). */
  excluded(relPath: string): boolean;
  /** @internal The content hashes, shared by every digest of this context. */
  readonly hashes: ContentHasher;
}

export interface SourceDigestOptions {
  /** COPY --exclude patterns, relative to each matched source. */
  readonly exclude?: readonly string[];
  /** Whether a source that is a symlink is followed (inside the context); COPY and ADD do. Defaults to true. */
  readonly followLinks?: boolean;
  /**
   * COPY --parents: each source is split at `/./` (none: at the context root) into where the
   * copy starts and a pattern of what it takes; entries are keyed relative to that start.
   */
  readonly parents?: boolean;
}

export interface SourceDigest {
  /** `xxh128:` and 32 hex digits: a cache key only, never an OCI digest. */
  readonly digest: string;
  /** What the sources matched, relative to the context, in order. */
  readonly matched: readonly string[];
  /** Each file read, by its path in the source → explain.ts's file summary (content and metadata apart). */
  readonly files: ReadonlyMap<string, string>;
}

/** A build context's ignore file as read: its host path and text, both undefined when it has none. */
export interface ContextIgnoreFile {
  readonly path: string | undefined;
  /** Whether it is the Dockerfile's own (`<Dockerfile>.dockerignore`), which BuildKit reads with the Dockerfile. */
  readonly besideDockerfile: boolean;
  readonly text: string | undefined;
}

/**
 * The ignore file of the build context in DIR: `<Dockerfile>.dockerignore` beside DOCKERFILE when
 * it names one and that exists, else `DIR/.dockerignore` (read inside DIR, as BuildKit loads it
 * from the context).
 */
export async function readContextIgnoreFile(dir: string, dockerfile?: string): Promise<ContextIgnoreFile> {
  let root: string;
  try {
    root = await realpath(dir);
  } catch (error) {
    throw new TsbuildError('NOT_FOUND', `open build context ${dir}: ${messageOf(error)}`, { cause: error });
  }
  return readIgnoreFileOf(root, dockerfile, dir);
}

/** Whether the relative path PATH leads out of the directory it is relative to. */
const leadsOut = (path: string): boolean => path === '..' || path.startsWith('../') || isAbsolute(path);

async function readIgnoreFileOf(root: string, dockerfile: string | undefined, dir = root): Promise<ContextIgnoreFile> {
  if (dockerfile !== undefined) {
    const beside = join(dirname(dockerfile), `${basename(dockerfile)}.dockerignore`);
    // A Dockerfile of the context (always so for a git or tar context, whose files are not the
    // caller's) has its ignore file resolved inside the context, as BuildKit reads it there: a
    // link there to a host file or device reads nothing of the host. One outside the context
    // (`-f ../other/Dockerfile`) is the caller's own path, read as docker's client reads it.
    // (DIR as given, or its real path: a Dockerfile path is made from either.)
    const inside = [relative(root, beside), relative(dir, beside)].find((path) => !leadsOut(path));
    const text = inside === undefined ? await readIgnoreText('/', beside) : await readIgnoreText(root, inside);
    if (text !== undefined) return { path: beside, besideDockerfile: true, text };
  }
  const text = await readIgnoreText(root, '.dockerignore');
  return { path: text === undefined ? undefined : await resolveInRoot(root, '.dockerignore'), besideDockerfile: false, text };
}

/**
 * Opens DIR as a build context, its ignore file (readContextIgnoreFile) parsed as docker does.
 */
export async function openContext(dir: string, options: OpenContextOptions = {}): Promise<BuildContext> {
  let root: string;
  try {
    root = await realpath(dir);
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
  } catch (error) {
    throw new TsbuildError('NOT_FOUND', `open build context ${dir}: ${messageOf(error)}`, { cause: error });
  }

  const { path: ignoreFile, text } = options.ignore ?? (await readIgnoreFileOf(root, options.dockerfile, dir));
  const ignorePatterns = text === undefined ? [] : readIgnoreFile(text);
  let matcher: PatternMatcher;
  try {
    matcher = new PatternMatcher(ignorePatterns);
  } catch (error) {
    // BuildKit's words (fsutil's, Go's %s of the list, then patternmatcher's), after the file's name.
    const message = messageOf(error);
    const why = message.includes('illegal exclusion pattern') ? 'illegal exclusion pattern: "!"' : message.includes('syntax error in pattern') ? 'syntax error in pattern' : message;
    throw new TsbuildError('INVALID_ARGUMENT', `read ${ignoreFile ?? '.dockerignore'}: invalid excludepatterns: [${ignorePatterns.join(' ')}]: ${why}`, { cause: error });
  }

  // Decided as BuildKit's client decides while it walks the context to send it.
  const decide = matcher.walkDecisions();
  const excluded = (relPath: string): boolean => {
    if (matcher.empty) return false;
    const cleaned = goClean(relPath.replace(/^\/+/, ''));
    if (cleaned === '.' || cleaned === '/') return false;
    return decide(cleaned);
  };

  // Whether an excluded directory holds something an exception re-includes: BuildKit's walk
  // then sends the directory too, with just those children.
  const includesBelow = new Map<string, boolean>();
  const hasIncludedBelow = (relative: string): boolean => {
    const known = includesBelow.get(relative);
    if (known !== undefined) return known;
    let found = false;
    if (matcher.mayIncludeBelow(relative)) {
      let children: NamedDirent[];
      try {
        children = readDirectoryEntries(join(root, relative));
      } catch {
        children = [];
      }
      for (const child of children) {
        const path = `${relative}/${child.name}`;
        if (!excluded(path) || (child.isDirectory() && hasIncludedBelow(path))) {
          found = true;
          break;
        }
      }
    }
    includesBelow.set(relative, found);
    return found;
  };

  const withheld = matcher.parentDecisions();
  const addon = options.withoutContextAddon === true ? undefined : loadContextAddon().module;
  return {
    root,
    ignoreFile,
    ignorePatterns,
    excluded,
    ownersAreRoot: true,
    visible: (relative, isDirectory) => !excluded(relative) || (isDirectory && hasIncludedBelow(goClean(relative))),
    ...(matcher.empty ? {} : { contentWithheld: (relative: string) => withheld(goClean(relative.replace(/^\/+/, ''))) }),
    visibleBelow: (relative) => {
      if (matcher.empty) return true;
      const cleaned = goClean(relative.replace(/^\/+/, ''));
      return matcher.decidesBelow(cleaned === '.' ? '' : cleaned) && !excluded(relative);
    },
    hashes: new ContentHasher(root, options.indexDir, addon, options.signal),
    ...(addon === undefined ? {} : { nativeListing: addon }),
    ...(options.sentPaths === undefined ? {} : { sentPaths: options.sentPaths }),
  };
}

/**
 * The most of an ignore file tsbuild reads, as of a Dockerfile: a context's ignore file that is a
 * sparse file of gigabytes is refused by its size, not held whole.
 */
const maxIgnoreFileBytes = 64 * 1024 * 1024;

/**
 * The text of the ignore file PATH names inside ROOT, undefined when there is none (nor a file
 * but a directory). A fifo, a device or a file past maxIgnoreFileBytes is refused naming it: an
 * untrusted context (a git repository, a tar) holding one made the build wait for a writer for
 * ever, or read /dev/zero until memory ran out.
 */
async function readIgnoreText(root: string, path: string): Promise<string | undefined> {
  try {
    if ((await stat(await resolveInRoot(root, path))).isDirectory()) return undefined;
  } catch {
    // Missing, or a loop of links: readFileInRoot tells which.
  }
  return readFileInRoot(root, path, maxIgnoreFileBytes);
}

/**
 * A digest of what a COPY of SOURCES reads from CONTEXT, with BuildKit's contenthash semantics:
 * for each source (wildcards expanded, see matchSource) and each file or directory under it, its
 * path relative to the matched source, type, permission bits, owner (0:0 for a context, as docker
 * sends it), symlink target and content; never its times. Files .dockerignore excludes do not
 * exist; a missing source without wildcards fails with NOT_FOUND; nothing outside the context
 * is read. An http(s) source (ADD) reads nothing here and keys by its text only: what the URL
 * serves is for the caller to key (its --checksum, or the download). Works on any SourceRoot (`rootfsSource(dir)` for a stage), with owners as they are.
 */
export async function sourceDigest(context: SourceRoot & { readonly hashes?: ContentHasher }, sources: readonly string[], options: SourceDigestOptions = {}): Promise<SourceDigest> {
  const api = await hashApi();
  const hasher = context.hashes ?? new ContentHasher(context.root, undefined, loadContextAddon().module);
  const exclude = new PatternMatcher(options.exclude ?? []);
  const followLinks = options.followLinks ?? true;
  const matched: string[] = [];
  const trees: Array<{ readonly label: string; readonly entries: readonly TreeEntry[] }> = [];

  for (const source of sources) {
    if (source.startsWith('http://') || source.startsWith('https://')) {
      // An ADD URL reads nothing from the context: its text is its whole part of this key.
      trees.push({ label: `url ${source}`, entries: [] });
      continue;
    }
    if (options.parents === true) {
      const { start, include, required } = splitParents(source);
      // A --parents path without wildcards must exist, as BuildKit's RequiredPaths.
      if (required !== undefined) await matchSource(context, required, followLinks);
      const starts = await matchSource(context, start, followLinks);
      for (const from of starts) {
        const entries = await walkSource(context, from, { exclude, include: new PatternMatcher([include]) });
        const taken = entries.filter((entry) => entry.path !== '');
        const chosen = taken.filter((entry) => entry.parentOnly !== true);
        for (const entry of chosen) if (!chosen.some((other) => entry.path.startsWith(`${other.path}/`))) matched.push(joinRelative(from.path, entry.path));
        trees.push({ label: `parents ${include}`, entries: taken });
      }
      continue;
    }
    const matches: MatchedSource[] = await matchSource(context, source, followLinks);
    for (const match of matches) {
      matched.push(match.path);
      trees.push({ label: `source ${match.path}`, entries: await walkSource(context, match, { exclude }) });
    }
  }

  const contentOf = await hasher.hashAll(trees.flatMap((tree) => tree.entries));
  const state = [api.create64(0n), api.create64(0x9e3779b97f4a7c15n)];
  // Text is handed to the hashes in large pieces: one call per entry costs more than the hashing.
  let text: string[] = [];
  const flush = (): void => {
    if (text.length === 0) return;
    const joined = text.join('');
    for (const hash of state) hash.update(joined);
    text = [];
  };
  const feed = (piece: string): void => {
    if (isTextName(piece)) {
      text.push(piece);
      if (text.length >= 4096) flush();
      return;
    }
    // A name that is not UTF-8 keys by its bytes: the hasher's own encoding would make each
    // stray byte U+FFFD, and two such names one.
    flush();
    const bytes = encodeFileName(piece);
    for (const hash of state) hash.update(bytes);
  };
  feed(`tsbuild-source-digest-v1\0${sources.length}\0`);
  const files = new Map<string, string>();
  for (const tree of trees) {
    feed(`${tree.label}\0${tree.entries.length}\0`);
    const base = tree.label.startsWith('source ') ? tree.label.slice('source '.length) : '';
    for (const entry of tree.entries) {
      const fields = entryFields(entry, context.ownersAreRoot, contentOf.get(entry.hostPath));
      if (fields === undefined) {
        feed('\0dir\n');
        continue;
      }
      const { type, mode, owner, data } = fields;
      feed(`${entry.path}\0${type}\0${mode}\0${owner}\0${data}\n`);
      files.set(joinRelative(base, entry.path), fileSummary(data, `${type} ${mode} ${owner}`));
    }
  }
  flush();
  await hasher.save();
  const digest = state.map((hash) => hash.digest().toString(16).padStart(16, '0')).join('');
  return { digest: `xxh128:${digest}`, matched, files };
}

function joinRelative(base: string, path: string): string {
  if (base === '') return path;
  return path === '' ? base : `${base}/${path}`;
}

/** BuildKit's --parents split: `a/./b/c` copies `b/c` from `a`; without `/./` from the root. */
export function splitParents(source: string): { start: string; include: string; required: string | undefined } {
  const pivot = source.indexOf('/./');
  const start = pivot === -1 ? '/' : source.slice(0, pivot);
  const rest = pivot === -1 ? source : source.slice(pivot + 3);
  const include = posix.join('/', rest).replace(/^\/+/, '');
  const hasWildcards = /[*?[]/.test(start) || /[*?[]/.test(include);
  return { start, include, required: hasWildcards ? undefined : posix.join(start, include) };
}

function entryType(stats: EntryStats): string {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isCharacterDevice()) return 'char';
  if (stats.isBlockDevice()) return 'block';
  if (stats.isFIFO()) return 'fifo';
  return 'socket';
}

/** What keys one entry of a copied tree; undefined for the copied directory itself. */
function entryFields(entry: TreeEntry, ownersAreRoot: boolean, content: string | undefined): { type: string; mode: string; owner: string; data: string } | undefined {
  const { stats } = entry;
  // A copied directory's own mode and owner never reach the destination (fsutil keeps the
  // destination directory's), so they do not key the copy either.
  if (entry.path === '' && stats.isDirectory()) return undefined;
  const owner = ownersAreRoot ? '0:0' : `${stats.uid}:${stats.gid}`;
  let data = '';
  if (stats.isFile()) data = content ?? '';
  else if (stats.isSymbolicLink()) data = content ?? '';
  else if (stats.isCharacterDevice() || stats.isBlockDevice()) data = String(stats.rdev);
  return { type: entryType(stats), mode: (Number(stats.mode) & 0o7777).toString(8), owner, data };
}

let hashApiPromise: Promise<XXHashAPI> | undefined;
function hashApi(): Promise<XXHashAPI> {
  hashApiPromise ??= xxhash();
  return hashApiPromise;
}

/** Files read at once while hashing: enough to keep the disk busy, few enough for small machines. */
const parallelReads = 8;
/** Files up to this size are read whole; larger ones in chunks of it. */
const chunkBytes = 1 << 20;
/**
 * Files up to this size are read and hashed synchronously, in one read: a context is mostly
 * small files, and six thread-pool round trips each (open, stat, read, read, stat, close) cost
 * more than the reading (2,000 files of 64 B to 2 KiB: about 140 against 40 ms of CPU).
 */
const smallFileBytes = 64 * 1024;

/**
 * How close to a file's ctime a hash may have started and still be trusted later. Within it, a
 * write after the hash could leave every stat field as it was (the "racy git" problem): kernel
 * timestamps come from a clock that lags by up to a tick, and some file systems keep seconds only.
 * A ctime with no nanoseconds says the file system keeps seconds (or two, FAT).
 */
function granularityNs(ctimeNs: bigint): bigint {
  return ctimeNs % 1_000_000_000n === 0n ? 2_000_000_000n : 100_000_000n;
}

/**
 * One remembered hash, and the stat fields (size, mtime, ctime, inode, device) of the file it was
 * made from, as one string: a lookup compares one string, not five numbers. As the index file
 * holds it, so that reading the index makes no object per file.
 */
type IndexEntry = readonly [statKey: string, hash: string];

interface StoredIndex {
  readonly version: 2;
  readonly root: string;
  readonly entries: Record<string, IndexEntry>;
}

function statKey(stats: EntryStats): string {
  return `${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}:${stats.ino}:${stats.dev}`;
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/**
 * Content hashes of a context's files (xxh64 under two seeds: a cache key, never an OCI digest),
 * with a persistent index of (path, size, mtime, ctime, inode, device) → hash so unchanged files
 * are not read again. An entry is kept only when the file's ctime and mtime were older than the
 * hash by more than the timestamp granularity (see hashFile), and used only when every field is
 * the same: a rewrite changes ctime, and one within the granularity never made an entry. The
 * index file is replaced atomically (temporary file and rename); two processes sharing it at
 * worst lose each other's new entries.
 */
export class ContentHasher {
  private readonly root: string;
  private readonly indexPath: string | undefined;
  private entries: Map<string, IndexEntry> | undefined;
  private loading: Promise<Map<string, IndexEntry>> | undefined;
  /** Hashes made by this process, by host path and stat key: digests running at once share them. */
  private readonly session = new Map<string, Promise<string>>();
  private dirty = false;
  private readonly limit = pLimit(parallelReads);
  private readonly nativeLimit = pLimit(nativeBatchesAtOnce);
  /** Files read and hashed, and files whose hash the index gave: to see the index work. */
  readonly counts = { hashed: 0, reused: 0 };

  /**
   * NATIVE: tsbuild-context.node, which hashes on the thread pool; without it, the main thread
   * hashes. SIGNAL: see OpenContextOptions.signal.
   */
  constructor(
    root: string,
    indexDir: string | undefined,
    private readonly native: ContextAddon | undefined,
    private readonly signal?: AbortSignal,
  ) {
    this.root = root;
    this.indexPath = indexDir === undefined ? undefined : join(indexDir, `context-${hashHex('sha256', root).slice(0, 32)}.json`);
    // Read while the walk runs: the first digest needs the index as soon as it has walked.
    void this.load();
  }

  /** Hashes of every regular file (content) and symlink (target) among ENTRIES, by host path. */
  async hashAll(entries: readonly TreeEntry[]): Promise<Map<string, string>> {
    const api = await hashApi();
    const index = await this.load();
    const result = new Map<string, string>();
    const work: Array<Promise<void>> = [];
    const native = this.native === undefined ? undefined : new NativeHashing(this.native, this.nativeLimit, this.signal);
    for (const entry of entries) {
      if (result.has(entry.hostPath)) continue;
      if (entry.stats.isSymbolicLink()) {
        const key = relativeKey(this.root, entry.hostPath);
        result.set(entry.hostPath, decodeFileName(readWalkedLink(entry, () => fileChanged(key === undefined ? entry.hostPath : `/${key}`))));
        continue;
      }
      if (!entry.stats.isFile()) continue;
      const key = relativeKey(this.root, entry.hostPath);
      const known = key === undefined ? undefined : index.get(key);
      if (known !== undefined && known[0] === statKey(entry.stats)) {
        this.counts.reused += 1;
        result.set(entry.hostPath, known[1]);
        continue;
      }
      // A file another digest of this context is hashing, or hashed, as it is now: once is enough.
      const sessionKey = `${entry.hostPath}\0${statKey(entry.stats)}`;
      let hashing = this.session.get(sessionKey);
      if (hashing === undefined) {
        const shown = key === undefined ? entry.hostPath : `/${key}`;
        // A large file is hashed here, in pieces between which an interrupt is seen: the addon
        // hashes a file whole, and its thread, which nothing stops, holds the process's exit.
        const hashed =
          native === undefined || entry.stats.size > nativeFileBytes
            ? this.limit(async () => (entry.stats.size <= smallFileBytes ? hashSmallFile(api, entry, shown) : await hashFile(api, entry, shown, this.signal)))
            : native.add(entry, shown);
        hashing = hashed.then((done) => {
          this.counts.hashed += 1;
          if (key !== undefined && done.stable !== undefined) {
            index.set(key, done.stable);
            this.dirty = true;
          }
          return done.hash;
        });
        this.session.set(sessionKey, hashing);
        // A failed read is not remembered.
        hashing.catch(() => this.session.delete(sessionKey));
      }
      result.set(entry.hostPath, '');
      work.push(hashing.then((hash) => void result.set(entry.hostPath, hash)));
    }
    native?.start();
    await Promise.all(work);
    return result;
  }

  /** The index, read once however many digests of the context run at the same time. */
  private load(): Promise<Map<string, IndexEntry>> {
    this.loading ??= this.read().then((entries) => {
      this.entries = entries;
      return entries;
    });
    return this.loading;
  }

  private async read(): Promise<Map<string, IndexEntry>> {
    const entries = new Map<string, IndexEntry>();
    if (this.indexPath === undefined) return entries;
    let stored: StoredIndex;
    try {
      stored = JSON.parse(await readFile(this.indexPath, 'utf8')) as StoredIndex;
    } catch {
      // Missing, or torn by a crash: an index is only a shortcut.
      return entries;
    }
    if (stored?.version !== 2 || stored.root !== this.root || typeof stored.entries !== 'object' || stored.entries === null) return entries;
    const storedEntries: Record<string, unknown> = stored.entries;
    for (const key in storedEntries) {
      const value = Object.hasOwn(storedEntries, key) ? storedEntries[key] : undefined;
      if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string' || typeof value[1] !== 'string') continue;
      entries.set(key, value as unknown as IndexEntry);
    }
    return entries;
  }

  /** Writes the index when something was added to it. */
  async save(): Promise<void> {
    if (this.indexPath === undefined || !this.dirty || this.entries === undefined) return;
    const stored: StoredIndex = {
      version: 2,
      root: this.root,
      entries: Object.fromEntries(this.entries),
    };
    const directory = dirname(this.indexPath);
    await mkdir(directory, { recursive: true });
    const temporary = join(directory, `.${basename(this.indexPath)}.${process.pid}.${uniqueHex(6)}.tmp`);
    try {
      // No fsync: after a crash a torn index is ignored, and every file hashed again.
      await writeFile(temporary, JSON.stringify(stored), { mode: 0o600 });
      await rename(temporary, this.indexPath);
      this.dirty = false;
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw new TsbuildError('INTERNAL', `write context index ${this.indexPath}: ${messageOf(error)}`, { cause: error });
    }
  }
}

/**
 * Native batches hashed at once: each holds one of libuv's four pool threads, and the steps
 * running beside the hashing need the others for their own file system calls.
 */
const nativeBatchesAtOnce = 2;
/** A batch ends at this many files or bytes, so that the pool thread it holds is soon free again. */
const nativeBatchFiles = 64;
const nativeBatchBytes = 8 << 20;
/**
 * The largest file the addon hashes: a larger one is read in pieces on the main thread (see
 * hashAll), so that a batch holds its pool thread for a bounded time, tens of milliseconds.
 */
const nativeFileBytes = 64n << 20n;

interface HashedFile {
  readonly hash: string;
  readonly stable: IndexEntry | undefined;
}

/** Files hashed by tsbuild-context.node in batches on the thread pool: the main thread stays free for the steps. */
class NativeHashing {
  private readonly queued: Array<{ entry: TreeEntry; shown: string; resolve: (hashed: HashedFile) => void; reject: (error: unknown) => void }> = [];

  constructor(
    private readonly addon: ContextAddon,
    private readonly limit: LimitFunction,
    private readonly signal: AbortSignal | undefined,
  ) {}

  add(entry: TreeEntry, shown: string): Promise<HashedFile> {
    return new Promise((resolve, reject) => this.queued.push({ entry, shown, resolve, reject }));
  }

  start(): void {
    let batch: typeof this.queued = [];
    let bytes = 0;
    for (const file of this.queued) {
      if (batch.length > 0 && (batch.length >= nativeBatchFiles || bytes + Number(file.entry.stats.size) > nativeBatchBytes)) {
        this.run(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(file);
      bytes += Number(file.entry.stats.size);
    }
    if (batch.length > 0) this.run(batch);
    this.queued.length = 0;
  }

  private run(batch: typeof this.queued): void {
    const hashed = this.limit(() => {
      // A batch not started once the build is interrupted is not started at all.
      if (this.signal?.aborted === true) throw hashingCanceled(batch[0]?.shown ?? '');
      return this.addon.hashFiles(
        batch.map((file) => fsPath(file.entry.hostPath)),
        BigUint64Array.from(batch.map((file) => file.entry.stats.ino)),
        BigUint64Array.from(batch.map((file) => file.entry.stats.dev)),
      );
    });
    hashed.then(
      (results) => {
        batch.forEach((file, i) => {
          const error = results.errors[i] ?? 0;
          if (error === 0) {
            const hash = results.hashes[i] as string;
            file.resolve({ hash, stable: results.stable[i] === 1 ? [results.statKeys[i] as string, hash] : undefined });
          } else file.reject(error < 0 ? fileChanged(file.shown) : systemError(error, results.calls[i] ?? '', file.entry.hostPath));
        });
      },
      (error: unknown) => {
        for (const file of batch) file.reject(error);
      },
    );
  }
}

const errnoNames = new Map(Object.entries(osConstants.errno).map(([name, value]) => [value, name]));

/** An error as Node's file system calls throw it, for an errno the addon met. */
function systemError(errno: number, syscall: string, path: string): Error {
  const code = errnoNames.get(errno) ?? 'EUNKNOWN';
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { errno: -errno, code, syscall, path });
}

function hashingCanceled(shown: string): TsbuildError {
  return new TsbuildError('CANCELED', `failed to compute cache key: ${JSON.stringify(shown)}: canceled`);
}

function fileChanged(shown: string): TsbuildError {
  return new CacheKeyError('NOT_FOUND', `failed to compute cache key: ${JSON.stringify(shown)}: not found: the file changed while the context was read`);
}

function relativeKey(root: string, hostPath: string): string | undefined {
  return hostPath.startsWith(`${root}/`) ? hostPath.slice(root.length + 1) : undefined;
}

/**
 * Hashes one file. Returns the hash, and the index entry to keep when it can be trusted later:
 * the file did not change while it was read (same stat before and after), and its ctime and
 * mtime were older than the start of the read by more than the timestamp granularity, so any
 * later write must give it a later ctime (which no one can set back, unlike mtime).
 */
/** A file's content hash as the index keeps it: its size, then its xxh64 under each seed (native/src/context-hasher.c writes the same). */
function contentHashText(total: bigint, digests: readonly bigint[]): string {
  return `${total.toString(16)}-${digests.map((value) => value.toString(16).padStart(16, '0')).join('')}`;
}

/** The content hash of a file, and whether the index may keep it: see hashFile. */
function contentHash(api: XXHashAPI, chunks: readonly Uint8Array[]): { hash: string; total: bigint } {
  const [only] = chunks;
  if (chunks.length === 1 && only !== undefined) {
    // One piece (a small file): the one-shot hash gives the streaming one's value without its two states.
    const total = BigInt(only.length);
    return { hash: contentHashText(total, [api.h64Raw(only, 0n), api.h64Raw(only, 0x9e3779b97f4a7c15n)]), total };
  }
  const state = [api.create64(0n), api.create64(0x9e3779b97f4a7c15n)];
  let total = 0n;
  for (const chunk of chunks) {
    total += BigInt(chunk.length);
    for (const hash of state) hash.update(chunk);
  }
  return { hash: contentHashText(total, state.map((one) => one.digest())), total };
}

/** hashFile for a small file: one synchronous read of it whole (one byte more tells it grew). */
function hashSmallFile(api: XXHashAPI, entry: TreeEntry, shown: string): HashedFile {
  const hashedAtNs = nowNs();
  const { descriptor, opened: before } = openWalkedEntry(entry, () => fileChanged(shown));
  try {
    const buffer = Buffer.allocUnsafe(Number(before.size) + 1);
    let length = 0;
    for (;;) {
      const bytesRead = readSync(descriptor, buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) return { ...hashFileSyncGrown(api, descriptor, buffer), stable: undefined };
    }
    const after = fstatSync(descriptor, { bigint: true });
    const { hash, total } = contentHash(api, [buffer.subarray(0, length)]);
    return { hash, stable: stableEntry(before, after, total, hash, hashedAtNs) };
  } finally {
    closeSync(descriptor);
  }
}

/** A small file that grew while it was read: the rest, read on, hashed without an index entry. */
function hashFileSyncGrown(api: XXHashAPI, descriptor: number, start: Buffer): { hash: string } {
  const chunks: Uint8Array[] = [start];
  for (;;) {
    const buffer = Buffer.allocUnsafe(chunkBytes);
    const bytesRead = readSync(descriptor, buffer, 0, buffer.length, null);
    if (bytesRead === 0) break;
    chunks.push(buffer.subarray(0, bytesRead));
  }
  return { hash: contentHash(api, chunks).hash };
}

/**
 * The index entry for a file hashed between BEFORE and AFTER, when it can be trusted later: the
 * file did not change while it was read, and its ctime and mtime were older than the start of
 * the read by more than the timestamp granularity.
 */
function stableEntry(before: EntryStats, after: EntryStats, total: bigint, hash: string, hashedAtNs: bigint): IndexEntry | undefined {
  const unchanged = statKey(before) === statKey(after) && total === after.size;
  const margin = granularityNs(after.ctimeNs);
  const settled = after.ctimeNs + margin < hashedAtNs && after.mtimeNs + margin < hashedAtNs;
  return unchanged && settled ? [statKey(after), hash] : undefined;
}

async function hashFile(api: XXHashAPI, entry: TreeEntry, shown: string, signal?: AbortSignal): Promise<HashedFile> {
  const hashedAtNs = nowNs();
  const { descriptor, opened: before } = openWalkedEntry(entry, () => fileChanged(shown));
  try {
    const state = [api.create64(0n), api.create64(0x9e3779b97f4a7c15n)];
    const buffer = Buffer.allocUnsafe(Number(before.size < BigInt(chunkBytes) ? before.size : BigInt(chunkBytes)) || 1);
    let total = 0n;
    for (;;) {
      if (signal?.aborted === true) throw hashingCanceled(shown);
      const { bytesRead } = await readAsync(descriptor, buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      total += BigInt(bytesRead);
      const chunk = buffer.subarray(0, bytesRead);
      for (const hash of state) hash.update(chunk);
    }
    const after = fstatSync(descriptor, { bigint: true });
    const hash = contentHashText(total, state.map((one) => one.digest()));
    return { hash, stable: stableEntry(before, after, total, hash, hashedAtNs) };
  } finally {
    closeSync(descriptor);
  }
}
