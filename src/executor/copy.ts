import { spawn } from 'node:child_process';
import { chmodSync, closeSync, constants, createReadStream, lchownSync, linkSync, lstatSync, mkdirSync, openSync, symlinkSync, unlinkSync } from 'node:fs';
import { chmod, copyFile, lchown, lstat, mkdtemp, open, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';
import {
  matchSource,
  missingWildcardBase,
  PatternMatcher,
  readWalkedLink,
  rootfsSource,
  splitParents,
  walkSource,
  type BuildContext,
  type MatchedSource,
  type SourceRoot,
  type TreeEntry,
} from '../cache/index.js';
import { createHasher, fsPath, withProxies, type ContextAddon, type EntryStats, makeSpecialFile, messageOf, nodeZlib, setExactTimes, mkdirInRoot, parseDigest, parseHttpTime, readTar, readXattrs, resolveInRoot, setXattr, TsbuildError } from '../common/index.js';
import { decompressStream, makeTemporaryDirectory, unpackLayer } from '../store/index.js';
import { changedSource, copyWalkedContent, copyWalkedContentSync, cutWhileCopied, descriptorPath, openWalked } from './walked-file.js';
import { checkoutGit, isGitSource, maskUrlPassword, parseGitRef, resolveGitRef, type ResolvedGit } from './git-source.js';
import type { HttpCache } from './http-cache.js';
import { gzipMembers } from './gzip-members.js';
import { StepCanceled } from './progress.js';

/** Files up to this size are copied whole in one call (batched on the thread pool, or synchronously); larger ones on the thread pool, several at once. */
const smallFileBytes = 256n * 1024n;

/**
 * Small files handed to tsbuild-context.node's copyFiles at once: enough that one call carries
 * many files' system calls, few enough that the thread pool's threads share a context's
 * thousands (the busybox bench's COPY of 2,000 files: 4 batches).
 */
const filesPerBatch = 512;

/** The owner a copied entry is given, whether chown is called for it, and the mode set after (none: the one it has stays). */
interface Ownership {
  readonly uid: number;
  readonly gid: number;
  readonly chown: boolean;
  readonly mode?: number;
}

/** Small files waiting for one copyFiles call, and its outcome once made. */
interface CopyBatch {
  readonly entries: TreeEntry[];
  readonly destinations: string[];
  readonly fields: bigint[];
  readonly done: Promise<void>;
  start(): void;
}

/** Where COPY reads from: the build context, or another stage's or image's root filesystem. */
export type CopySource = { readonly kind: 'context'; readonly context: BuildContext } | { readonly kind: 'rootfs'; readonly dir: string };

export interface CopyRequest {
  /** Source paths (wildcards allowed), or http(s) URLs for ADD. */
  readonly sources: readonly string[];
  /** Heredoc sources: a file named PATH holding DATA. */
  readonly contents: ReadonlyArray<{ readonly path: string; readonly data: string }>;
  /** Relative to WORKDIR unless absolute; a trailing `/` makes it a directory. */
  readonly dest: string;
  readonly workdir: string;
  readonly chown?: { readonly uid: number; readonly gid: number };
  /** --chmod, octal already parsed (up to 0o7777). */
  readonly chmod?: number;
  readonly parents: boolean;
  readonly exclude: readonly string[];
  readonly add: boolean;
  /** ADD --checksum=sha256:HEX for a URL source. */
  readonly checksum?: string;
  /** ADD --keep-git-dir: a git source keeps its `.git` directory (false by default, as BuildKit). */
  readonly keepGitDir?: boolean;
  /** ADD --unpack: local archives are unpacked unless false; URLs only when true. */
  readonly unpack?: boolean;
  /** URL sources downloaded already (to key the step by what they served), by URL: not fetched again. */
  readonly downloaded?: ReadonlyMap<string, DownloadedUrl>;
  /** Git sources resolved already (to key the step by their commit), by source: not resolved again. */
  readonly git?: ReadonlyMap<string, ResolvedGit>;
  /**
   * Where downloads and checkouts are staged: a store's temporary directory, swept when the
   * process is killed before it removes them (see makeTemporaryDirectory); the system's
   * temporary directory when none is given.
   */
  readonly scratchDirectory?: string;
}

/** What an http(s) source served: the file it was written to, its digest and its Last-Modified. */
export interface DownloadedUrl {
  readonly path: string;
  readonly digest: string;
  readonly lastModified: Date | undefined;
}

export interface CopyOptions {
  /** At most this many redirects are followed for a URL source; defaults to 10. */
  readonly maxRedirections?: number;
  /** Files copied at once; defaults to 8. */
  readonly parallelFiles?: number;
  /**
   * Aborted when the build is canceled: an archive being unpacked stops at its next chunk
   * (StepCanceled), its decompressor killed. A bomb of a few KiB otherwise held an interrupted
   * build until it had written its terabytes or filled the disk.
   */
  readonly signal?: AbortSignal;
}

/**
 * Applies COPY or ADD to ROOTFS (a mounted root filesystem directory) with BuildKit's rules
 * (dockerfile2llb's dispatchCopy, then fsutil's copier):
 * - DEST is relative to WORKDIR; it is a directory when it ends with `/` (or is `.`) or is one
 *   already; else each source, and each path a wildcard matches, is copied onto DEST in turn, as
 *   BuildKit's copies are (a second file replaces the first, a file then goes into a directory an
 *   earlier source made, a directory onto a file fails; docker's documentation asks for a `/`
 *   but BuildKit 0.13 does not refuse); missing parents are made 0755 (even with --chmod) with
 *   the --chown owner;
 * - a source is matched in its root (wildcards per path with Go's path.Match, none matching is no
 *   error; a missing path fails with NOT_FOUND before anything is written); a source that is a
 *   symlink is followed inside its root; a directory's contents are copied, symlinks below it
 *   as symlinks, hard links as hard links, fifos and devices as such;
 * - owners: --chown, else 0:0 for the context (as docker sends it), else the source's; modes:
 *   --chmod (files and directories alike), else the source's; times (atime and mtime) kept;
 *   extended attributes copied where the target takes them;
 * - --parents keeps the path below the pivot (`/./`, else the root); --exclude patterns match
 *   paths relative to each source, `!` exceptions re-including; .dockerignore'd files never exist;
 * - ADD: a local file that is a tar (plain, gzip, bzip2, xz or zstd, told by its content) is
 *   unpacked into DEST (unless unpack is false) with the archive's owners and modes; an http(s) URL is downloaded (bounded
 *   redirects) to DEST, or into it under the URL's file name, 0600 unless --chmod, its mtime
 *   from Last-Modified, and checked against --checksum; it is unpacked only with unpack true.
 * Nothing is read outside the source root, nor written outside ROOTFS, whatever symlinks, `..`
 * or absolute paths say: DEST is resolved inside ROOTFS, and below it every directory is one
 * this copy made or checked, every file made with O_EXCL after the name was cleared.
 */
export async function copyInto(source: CopySource, rootfs: string, request: CopyRequest, options: CopyOptions = {}): Promise<void> {
  const from: SourceRoot = source.kind === 'context' ? source.context : rootfsSource(source.dir);
  const copier = new Copier(rootfs, from, request, options.parallelFiles ?? 8, options.signal);
  const dest = destinationPath(request.dest, request.workdir);
  const local = request.sources.filter((item) => !(request.add && (isUrl(item) || isGitSource(item))));
  const exclude = new PatternMatcher(request.exclude);
  // Resolve every local source first: a missing one fails the step before anything is written.
  const matched: Array<{ readonly source: string; readonly matches: readonly MatchedSource[] }> = [];
  if (!request.parents) {
    for (const item of local) {
      const matches = await matchSource(from, item, true);
      const missing = matches.length === 0 ? await missingWildcardBase(from, item) : undefined;
      if (missing !== undefined) throw new TsbuildError('NOT_FOUND', `lstat ${missing}: no such file or directory`);
      matched.push({ source: item, matches });
    }
  }

  try {
    await copySources();
  } catch (error) {
    // No copy still running once the caller hears of the failure.
    await copier.settle();
    throw error;
  }
  await copier.finish();

  async function copySources(): Promise<void> {
    for (const item of request.sources) {
      if (request.add && isGitSource(item)) {
        await copier.addGit(item, dest);
        continue;
      }
      if (request.add && isUrl(item)) {
        await copier.addUrl(item, dest, options.maxRedirections ?? 10);
        continue;
      }
      if (request.parents) {
        await copier.copyParents(item, dest, exclude);
        await copier.finish();
        continue;
      }
      const matches = matched.find((entry) => entry.source === item)?.matches ?? [];
      for (const match of matches) {
        // A context file that arrives empty (contentWithheld) is no archive.
        const withheld = from.contentWithheld?.(relative(from.root, match.hostPath)) === true;
        if (request.add && request.unpack !== false && match.stats.isFile() && !withheld) {
          // Read through the descriptor of the very file matched: its name may lead elsewhere by now.
          const archive = openWalked({ path: match.path, hostPath: match.hostPath, stats: match.stats });
          try {
            if (await isArchive(descriptorPath(archive))) {
              await copier.unpackArchive(descriptorPath(archive), dest, match.path.replace(/^\/+/, '') || basename(match.hostPath), basename(match.hostPath));
              continue;
            }
          } finally {
            closeSync(archive);
          }
        }
        await copier.copyMatch(match, dest, exclude);
        // Each source is one copy, as BuildKit makes it: a later one sets a shared directory's metadata last.
        await copier.finish();
      }
    }
    for (const content of request.contents) await copier.copyContent(content.path, content.data, dest);
  }
}

/** BuildKit's pathRelativeToWorkingDir: DEST against WORKDIR, cleaned, a trailing `/` (or `.`) kept. */
export function destinationPath(dest: string, workdir: string): string {
  const wanted = dest === '' || dest === '.' ? './' : dest;
  const joined = posix.isAbsolute(wanted) ? posix.normalize(wanted) : posix.join(posix.join('/', workdir || '/'), wanted);
  const cleaned = joined.length > 1 && joined.endsWith('/') ? joined.slice(0, -1) : joined;
  return (wanted.endsWith('/') || wanted.endsWith('/.') || wanted === './') && cleaned !== '/' ? `${cleaned}/` : cleaned;
}

function endsAsDirectory(dest: string): boolean {
  return dest.endsWith('/');
}

/**
 * URL as Go's http client quotes it in its errors (and so BuildKit's http source): a password
 * replaced by `***`, which a failed download's message would otherwise carry to the terminal and
 * to logs.
 */
function quotedUrl(url: string): string {
  return maskUrlPassword(url, '***');
}

function isUrl(source: string): boolean {
  return source.startsWith('http://') || source.startsWith('https://');
}

function copyError(what: string, cause: unknown): TsbuildError {
  if (cause instanceof TsbuildError) return cause;
  return new TsbuildError('INVALID_ARGUMENT', `copy ${what}: ${messageOf(cause)}`, { cause });
}

interface PendingDirectory {
  readonly target: string;
  readonly stats: EntryStats;
  readonly sourcePath: string | undefined;
  /** Owner and mode too (an entry taken, or made by us), or times only (the top directory, merged into). */
  readonly full: boolean;
  /** The times are the copy's own, not the source's (the root of a build context). */
  readonly timesNow?: boolean;
}

/** One COPY or ADD at work: owners, modes, hard links and the directory times set last. */
class Copier {
  private readonly rootfs: string;
  private readonly from: SourceRoot;
  private readonly request: CopyRequest;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly work: Array<Promise<void>> = [];
  /** Targets already made for a source inode, so hard links stay links (fsutil's getLinkSource). */
  private readonly links = new Map<string, Promise<string>>();
  /** Directories whose mode and times are set once everything below them is written. */
  private readonly directories: PendingDirectory[] = [];
  private readonly privileged = process.getuid?.() === 0;
  private readonly signal: AbortSignal | undefined;
  /** Small files not yet handed to copyFiles (tsbuild-context.node, where it loads). */
  private batch: CopyBatch | undefined;

  constructor(rootfs: string, from: SourceRoot, request: CopyRequest, parallelFiles: number, signal?: AbortSignal) {
    this.rootfs = rootfs;
    this.from = from;
    this.request = request;
    this.limit = pLimit(Math.max(1, parallelFiles));
    this.signal = signal;
  }

  /** A private directory for a download or a checkout, outside the root filesystem. */
  private scratch(prefix: string): Promise<string> {
    const parent = this.request.scratchDirectory;
    return parent === undefined ? mkdtemp(join(tmpdir(), `tsbuild-${prefix}-`)) : makeTemporaryDirectory(parent, prefix);
  }

  /** The path relative to the root filesystem of a host path inside it. */
  private inside(hostPath: string): string {
    return hostPath === this.rootfs ? '/' : hostPath.slice(this.rootfs.length);
  }

  /**
   * fsutil's MkdirAll: missing directories 0755 with the --chown owner. --chmod is for what is
   * copied, never for the directories made to hold it (BuildKit makes DEST/ and its parents 0755).
   */
  private async ensureDirectory(pathInRoot: string, mode = 0o755): Promise<string> {
    const chown = this.request.chown;
    const made = await mkdirInRoot(this.rootfs, pathInRoot, {
      mode,
      ...(chown === undefined ? {} : { uid: chown.uid, gid: chown.gid }),
    });
    return made.path;
  }

  /**
   * Where one source goes (fsutil's Copy and prepareTargetDir): the directory DEST names (or its
   * parent) is made; DEST is resolved inside the root, its own symlink followed; a file copied
   * onto an existing directory goes into it under its own name; a directory's contents go into
   * DEST, made when missing.
   */
  private async prepareTarget(dest: string, name: string, sourceIsDirectory: boolean): Promise<string> {
    const lastPart = dest.split('/').at(-1);
    const ensure = dest.endsWith('/') || lastPart === '.' ? dest : posix.dirname(dest);
    await this.ensureDirectory(ensure);
    let target = await resolveInRoot(this.rootfs, dest);
    const existing = await lstat(fsPath(target)).catch(() => undefined);
    if (!sourceIsDirectory && existing?.isDirectory() === true) {
      // Joined below a directory resolved inside the root: one component, or it could climb out.
      if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new TsbuildError('UNSAFE_PATH', `copy to ${dest}: ${JSON.stringify(name)} is not a file name`);
      target = join(target, name);
    }
    if (sourceIsDirectory && existing === undefined) await this.ensureDirectory(this.inside(target));
    else await this.ensureDirectory(this.inside(dirname(target)));
    return target;
  }

  async copyMatch(match: MatchedSource, dest: string, exclude: PatternMatcher): Promise<void> {
    const entries = await walkSource(this.from, match, { exclude });
    const target = await this.prepareTarget(dest, basename(match.path) || basename(this.from.root), match.stats.isDirectory());
    await this.copyEntries(entries, target, true);
  }

  /** COPY --parents: each path below the pivot (`/./`, or the root) keeps its parents under DEST. */
  async copyParents(source: string, dest: string, exclude: PatternMatcher): Promise<void> {
    const { start, include, required } = splitParents(source);
    if (required !== undefined) await matchSource(this.from, required, true);
    const destination = endsAsDirectory(dest) ? dest : `${dest}/`;
    for (const pivot of await matchSource(this.from, start, true)) {
      if (!pivot.stats.isDirectory()) continue;
      const entries = await walkSource(this.from, pivot, { exclude, include: new PatternMatcher([include]) });
      // As BuildKit, DEST is made even when the pattern takes nothing.
      const target = await this.prepareTarget(destination, basename(pivot.path), true);
      await this.copyEntries(entries, target, false);
    }
  }

  /** A heredoc source: a 0644 file owned by root, written now (BuildKit's Mkfile in scratch, then copied). */
  async copyContent(path: string, data: string, dest: string): Promise<void> {
    const target = await this.prepareTarget(dest, basename(path), false);
    this.replaceWithFile(target);
    await writeFile(target, data, { mode: 0o600, flag: constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW });
    this.applyOwnership(target, this.ownership(0, 0, 0o644, false));
  }

  /**
   * Copies ENTRIES (from walkSource: the source first, parents before children) to TARGET. The
   * source itself, when a directory, is merged into TARGET, which only takes its times (fsutil
   * copies a directory's contents, not its metadata); WITHROOT false leaves TARGET alone.
   */
  private async copyEntries(entries: readonly TreeEntry[], target: string, withRoot: boolean): Promise<void> {
    // Files another walk queued (batched or large) are on disk first: one of these may take its
    // name (--parents pivots that meet at one destination), and the last copied wins.
    this.startBatch();
    await Promise.all(this.work);
    // Metadata calls and small files synchronously: a context is thousands of them, each a few
    // microseconds, which through the thread pool took ten times as long (2,000 files with
    // --chown: 1.6 s against 0.2 s). Large files are copied on the pool, several at once.
    // Directories this walk made hold only what it puts there, each name once: nothing to
    // look for before writing into them.
    const made = new Set<string>();
    for (const entry of entries) {
      const destination = entry.path === '' ? target : join(target, ...entry.path.split('/'));
      // Names are the bytes on disk, those that are not UTF-8 too (common/file-names.ts).
      const onDisk = fsPath(destination);
      const { stats } = entry;
      try {
        if (entry.path === '') {
          if (!withRoot) continue;
          if (stats.isDirectory()) {
            const existing = lstatSync(onDisk, { throwIfNoEntry: false });
            if (existing !== undefined && !existing.isDirectory()) throw new Error(`cannot copy to non-directory: ${this.inside(destination)}`);
            // A context's root is made by BuildKit when the context arrives: what it gives the
            // directory merged into is the time of the build, not the client directory's.
            const contextRoot = this.from.ownersAreRoot && relative(this.from.root, entry.hostPath) === '';
            this.directories.push({ target: destination, stats, sourcePath: entry.hostPath, full: false, ...(contextRoot ? { timesNow: true } : {}) });
            continue;
          }
        }
        const inMadeDirectory = made.has(dirname(destination));
        if (stats.isDirectory()) {
          const existing = inMadeDirectory ? undefined : lstatSync(onDisk, { throwIfNoEntry: false });
          if (existing === undefined) {
            mkdirSync(onDisk, { mode: 0o700 });
            made.add(destination);
          } else if (!existing.isDirectory()) throw new Error(`cannot copy to non-directory: ${this.inside(destination)}`);
          // A directory taken only for what is below it keeps an existing one's metadata.
          if (existing === undefined || entry.parentOnly !== true) this.directories.push({ target: destination, stats, sourcePath: entry.hostPath, full: true });
          continue;
        }
        if (!inMadeDirectory) this.replaceWithFile(destination);
        if (stats.isSymbolicLink()) {
          symlinkSync(readWalkedLink(entry, () => changedSource(entry.path)), onDisk);
          this.applyMetadata(destination, stats, undefined);
        } else if (stats.isFile()) {
          this.copyFileLater(entry, destination);
        } else if (stats.isFIFO() || stats.isCharacterDevice() || stats.isBlockDevice()) {
          const type = stats.isFIFO() ? 'fifo' : stats.isCharacterDevice() ? 'character-device' : 'block-device';
          const rdev = Number(stats.rdev);
          makeSpecialFile(destination, type, 0o600, Math.floor(rdev / 256) & 0xfff, (rdev & 0xff) | ((rdev >> 12) & 0xfff00));
          this.applyMetadata(destination, stats, undefined);
        } else if (stats.isSocket()) {
          this.copySocketStub(entry, destination);
        }
      } catch (error) {
        throw copyError(entry.path === '' ? this.inside(destination) : entry.path, error);
      }
    }
  }

  /** fsutil's ensureEmptyFileTarget: a file or link replaces anything but a directory. */
  private replaceWithFile(destination: string): void {
    const existing = lstatSync(fsPath(destination), { throwIfNoEntry: false });
    if (existing === undefined) return;
    if (existing.isDirectory()) throw new TsbuildError('INVALID_ARGUMENT', `copy: cannot replace to directory ${this.inside(destination)} with file`);
    unlinkSync(fsPath(destination));
  }

  /**
   * A socket is copied as an empty regular file with its permissions, owner and times: fsutil's
   * copier clears a socket's type bits before mknod, which leaves a file, one for each name.
   * The context's receiver has already written its sockets as files, keeping their hard links
   * as a file's, so a context socket's second name is a hard link.
   */
  private copySocketStub(entry: TreeEntry, destination: string): void {
    const { stats } = entry;
    const key = `${stats.dev}:${stats.ino}`;
    const linked = this.from.ownersAreRoot && stats.nlink > 1n;
    const first = linked ? this.links.get(key) : undefined;
    if (first !== undefined) {
      this.work.push(first.then((stub) => linkSync(fsPath(stub), fsPath(destination))));
      return;
    }
    closeSync(openSync(fsPath(destination), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
    this.applyMetadata(destination, stats, undefined);
    if (linked) this.links.set(key, Promise.resolve(destination));
  }

  private copyFileLater(entry: TreeEntry, destination: string): void {
    const { stats } = entry;
    const key = `${stats.dev}:${stats.ino}`;
    const first = stats.nlink > 1n ? this.links.get(key) : undefined;
    if (first !== undefined) {
      this.work.push(
        first.then((linked) => {
          linkSync(fsPath(linked), fsPath(destination));
        }),
      );
      return;
    }
    if (this.from.contentWithheld?.(relative(this.from.root, entry.hostPath)) === true) {
      // What BuildKit's context holds of it: the file's metadata, no content.
      closeSync(openSync(fsPath(destination), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
      this.applyMetadata(destination, stats, entry.hostPath);
      if (stats.nlink > 1n) this.links.set(key, Promise.resolve(destination));
      return;
    }
    const addon = this.from.nativeListing;
    if (stats.size <= smallFileBytes && addon !== undefined) {
      const copied = this.copyInBatch(addon, entry, destination);
      if (stats.nlink > 1n) this.links.set(key, copied);
      return;
    }
    if (stats.size <= smallFileBytes) {
      const source = openWalked(entry);
      try {
        // EXCL: the name was just cleared, so a symlink planted there is never written through.
        copyWalkedContentSync(source, entry, destination);
      } finally {
        closeSync(source);
      }
      this.applyMetadata(destination, stats, entry.hostPath, true);
      if (stats.nlink > 1n) this.links.set(key, Promise.resolve(destination));
      return;
    }
    const copied = this.limit(async () => {
      const source = openWalked(entry);
      try {
        await copyWalkedContent(source, entry, destination, this.signal, this.from.nativeListing);
      } finally {
        closeSync(source);
      }
      this.applyMetadata(destination, stats, entry.hostPath, true);
      return destination;
    });
    if (stats.nlink > 1n) this.links.set(key, copied);
    this.work.push(copied.then(() => undefined));
  }

  /**
   * A small file copied with its metadata by copyFiles, as copyWalkedContentSync and
   * applyMetadata copy one: resolves to DESTINATION once its batch is written.
   */
  private copyInBatch(addon: ContextAddon, entry: TreeEntry, destination: string): Promise<string> {
    const batch = (this.batch ??= this.newBatch(addon));
    const { stats } = entry;
    const { uid, gid, chown, mode } = this.ownershipOf(stats, true);
    const flags = 1 | (this.from.ownersAreRoot ? 2 : 0);
    batch.entries.push(entry);
    batch.destinations.push(destination);
    batch.fields.push(stats.ino, stats.dev, stats.size, stats.mode & 0o7777n, BigInt(chown ? uid : -1), BigInt(gid), BigInt(mode ?? -1), stats.atimeNs, stats.mtimeNs, BigInt(flags));
    if (batch.entries.length >= filesPerBatch) this.startBatch();
    const copied = batch.done.then(() => destination);
    // Awaited by a hard link to it, if any; the batch's own failure is this.work's to report.
    copied.catch(() => undefined);
    return copied;
  }

  private newBatch(addon: ContextAddon): CopyBatch {
    let start = (): void => undefined;
    const entries: TreeEntry[] = [];
    const destinations: string[] = [];
    const fields: bigint[] = [];
    const done = new Promise<void>((resolve, reject) => {
      start = () => {
        addon
          .copyFiles(
            entries.map((entry) => fsPath(entry.hostPath)),
            destinations.map((destination) => fsPath(destination)),
            BigInt64Array.from(fields),
          )
          .then(({ codes, copied, errors }) => {
            const failed = codes.findIndex((code) => code !== 0);
            const entry = entries[failed];
            if (entry === undefined) return resolve();
            const code = codes[failed] ?? 0;
            reject(code === -1 ? changedSource(entry.path) : code === -2 ? cutWhileCopied(entry.path, copied[failed] ?? 0, Number(entry.stats.size)) : copyError(entry.path, errors[failed]));
          }, reject);
      };
    });
    this.work.push(done);
    return { entries, destinations, fields, done, start };
  }

  /** Hands the waiting small files to copyFiles. */
  private startBatch(): void {
    this.batch?.start();
    this.batch = undefined;
  }

  /** fsutil's copyFileInfo: owner (--chown, else the source's; root's for a context), mode (--chmod, else the source's), times, xattrs. */
  private applyMetadata(destination: string, stats: EntryStats, sourcePath: string | undefined, modeCopied = false): void {
    this.applyOwnership(destination, this.ownershipOf(stats, modeCopied));
    if (sourcePath !== undefined) this.copyXattrs(sourcePath, destination);
    // To the nanosecond and before 1970 too, as BuildKit's copy keeps a source's times.
    setExactTimes(destination, stats.atimeNs, stats.mtimeNs);
  }

  /** What a copied entry of STATS is given: its source's owner (root's for a context) and mode, unless MODECOPIED (the copy gave it already). */
  private ownershipOf(stats: EntryStats, modeCopied: boolean): Ownership {
    const mode = Number(stats.mode) & 0o7777;
    // The copy gave the file its source's mode already; only set-id bits, which chown clears, need it again.
    const skipMode = modeCopied && this.request.chmod === undefined && (mode & 0o6000) === 0;
    const uid = this.from.ownersAreRoot ? 0 : Number(stats.uid);
    const gid = this.from.ownersAreRoot ? 0 : Number(stats.gid);
    return this.ownership(uid, gid, mode, stats.isSymbolicLink() || skipMode);
  }

  /** --chown, else UID and GID, with chown called only where it changes something or may (as root); --chmod, else MODE, unless KEEPMODE. */
  private ownership(uid: number, gid: number, mode: number, keepMode: boolean): Ownership {
    const owner = this.request.chown ?? { uid, gid };
    const chown = this.privileged || owner.uid !== process.getuid?.() || owner.gid !== process.getgid?.();
    return { ...owner, chown, ...(keepMode ? {} : { mode: this.request.chmod ?? mode }) };
  }

  private applyOwnership(destination: string, ownership: Ownership): void {
    if (ownership.chown) lchownSync(fsPath(destination), ownership.uid, ownership.gid);
    // After chown, which clears set-id bits.
    if (ownership.mode !== undefined) chmodSync(fsPath(destination), ownership.mode);
  }

  private copyXattrs(sourcePath: string, destination: string): void {
    let attributes: Map<string, Buffer>;
    try {
      attributes = readXattrs(sourcePath);
    } catch {
      return;
    }
    for (const [name, value] of attributes) {
      // A context arrives through fsutil's receiver, which sets a file's xattrs before its
      // chown, and a chown clears security.capability: no context file keeps a capability.
      if (this.from.ownersAreRoot && name === 'security.capability') continue;
      try {
        setXattr(destination, name, value);
      } catch {
        // As BuildKit's file op: an attribute the target refuses is logged and skipped.
      }
    }
  }

  /**
   * ADD of a local archive: unpacked into DEST (made 0755 as a directory, with the --chown
   * owner), its entries with the archive's owners, modes and times: BuildKit's untar takes no
   * --chown (nor --chmod) for them, and `.wh.` names are files like any other. The archive's
   * own `.` entry is skipped, as moby's untar skips it over an existing directory: DEST keeps
   * its mode and owner.
   */
  async unpackArchive(hostPath: string, dest: string, shownAs = basename(hostPath), fileName = basename(hostPath)): Promise<void> {
    const target = await this.ensureDirectory(dest, 0o755);
    const before = await lstat(target);
    try {
      await unpackLayer(archiveStream(hostPath, fileName, this.signal), target, { whiteouts: false, climbingNamesStay: true, directoryTimesByName: true, linkHeadersByName: true });
    } catch (error) {
      // The unpacker wraps what its stream threw: a canceled build is canceled, not a bad archive.
      if (error instanceof StepCanceled || this.signal?.aborted === true) throw new StepCanceled();
      throw new TsbuildError('INVALID_ARCHIVE', `unpack ${shownAs} into ${dest}: ${messageOf(error)}`, { cause: error });
    }
    const after = await lstat(target);
    if (after.uid !== before.uid || after.gid !== before.gid) await lchown(target, before.uid, before.gid);
    if ((after.mode & 0o7777) !== (before.mode & 0o7777)) await chmod(target, before.mode & 0o7777);
    // Its time is the unpack's, as the entries made in it leave it, not the `.` entry's.
    if (after.mtimeMs !== before.mtimeMs) {
      const now = new Date();
      await utimes(target, now, now);
    }
  }

  /**
   * ADD of an http(s) URL (BuildKit's http source, then a copy): the file is named after the URL
   * path (`__unnamed__` when it has none) unless DEST names a file, written 0600 and owned by
   * root (then --chown and --chmod), its mtime from Last-Modified as Go reads it (else the Unix
   * epoch); --checksum is verified.
   */
  async addUrl(url: string, dest: string, maxRedirections: number): Promise<void> {
    let name = '__unnamed__';
    try {
      // Decoded first, as Go's URL.Path is: `..%2F..%2Fx` is the path `/../../x`, named `x`.
      const base = posix.basename(decodeURIComponent(new URL(url).pathname));
      if (base !== '' && base !== '.' && base !== '..' && base !== '/') name = base;
    } catch {
      // BuildKit keeps the default name for a URL it cannot parse.
    }
    const expected = this.request.checksum;
    const algorithm = expected === undefined ? 'sha256' : checksumAlgorithm(expected);
    if (algorithm === undefined) throw new TsbuildError('INVALID_ARGUMENT', `ADD ${quotedUrl(url)}: invalid checksum digest format ${JSON.stringify(expected)}`);
    const known = this.request.downloaded?.get(url);
    // Outside ROOTFS: a download must not leave even a directory's mtime behind in the layer.
    const scratch = known === undefined ? await this.scratch('add') : undefined;
    try {
      const downloaded = known ?? { path: join(scratch as string, 'download'), ...(await download(url, join(scratch as string, 'download'), maxRedirections, algorithm)) };
      const { lastModified, digest } = downloaded;
      if (expected !== undefined && expected !== digest) {
        throw new TsbuildError('DIGEST_MISMATCH', `ADD ${quotedUrl(url)}: checksum mismatch: expected ${expected}, got ${digest}`);
      }
      if (this.request.unpack === true && (await isArchive(downloaded.path))) {
        // Named by its URL: the file it was saved to has a name of tsbuild's own.
        await this.unpackArchive(downloaded.path, dest, quotedUrl(url));
        return;
      }
      const target = await this.prepareTarget(dest, name, false);
      this.replaceWithFile(target);
      await copyFile(downloaded.path, target, constants.COPYFILE_EXCL);
      this.applyOwnership(target, this.ownership(0, 0, 0o600, false));
      // Without a Last-Modified that Go reads, BuildKit's http source leaves the Unix epoch.
      const mtime = lastModified ?? new Date(0);
      await utimes(target, mtime, mtime);
    } finally {
      if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
    }
  }

  /**
   * ADD of a git source (BuildKit's git source, then a copy of its root): checked out at the
   * commit the step was keyed by into a scratch directory outside ROOTFS, and its contents (or
   * its subdir's) copied into DEST as a directory: owners root's (or --chown), modes as git
   * wrote them with umask 022 (or --chmod), times of the checkout (or the commit's with
   * `?mtime=commit`). Symlinks in the checkout are copied as symlinks, never followed.
   */
  async addGit(source: string, dest: string): Promise<void> {
    const ref = parseGitRef(source);
    if (ref === undefined) throw new TsbuildError('INTERNAL', `ADD ${source}: not a git source`);
    const resolved = this.request.git?.get(source) ?? (await resolveGitRef(ref));
    if (this.request.keepGitDir !== undefined && ref.keepGitDir !== undefined && this.request.keepGitDir !== ref.keepGitDir) {
      throw new TsbuildError('INVALID_ARGUMENT', `ADD ${source}: inconsistent keep-git-dir configuration`);
    }
    // As BuildKit: the .git directory is kept only with the whole repository.
    const keepGitDir = (ref.keepGitDir ?? this.request.keepGitDir ?? false) && ref.subdir === '';
    const scratch = await this.scratch('git');
    try {
      const checkout = join(scratch, 'checkout');
      mkdirSync(checkout, { mode: 0o755 });
      const root = await checkoutGit(ref, resolved, checkout, keepGitDir);
      const from: SourceRoot = { root, visible: () => true, ownersAreRoot: true };
      const copier = new Copier(this.rootfs, from, this.request, 8, this.signal);
      const [match] = await matchSource(from, '/', false);
      if (match === undefined) throw new TsbuildError('INTERNAL', `ADD ${source}: checkout has no root`);
      try {
        await copier.copyMatch(match, endsAsDirectory(dest) ? dest : `${dest}/`, new PatternMatcher(this.request.exclude));
      } catch (error) {
        await copier.settle();
        throw error;
      }
      await copier.finish();
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** Waits for the file copies under way, whatever their outcome. */
  async settle(): Promise<void> {
    this.startBatch();
    await Promise.allSettled(this.work);
  }

  /** Waits for the file copies, then sets directories' modes and times, deepest first; hard links start over. */
  async finish(): Promise<void> {
    this.startBatch();
    await Promise.all(this.work.splice(0));
    this.links.clear();
    for (const directory of this.directories.splice(0).reverse()) {
      if (directory.full) {
        this.applyMetadata(directory.target, directory.stats, directory.sourcePath);
      } else if (directory.timesNow === true) {
        const now = new Date();
        await utimes(fsPath(directory.target), now, now);
      } else {
        setExactTimes(directory.target, directory.stats.atimeNs, directory.stats.mtimeNs);
      }
    }
  }
}

/** Magic bytes of the compressions moby's DecompressStream knows. */
function compressionOf(start: Buffer): 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none' {
  if (start[0] === 0x1f && start[1] === 0x8b) return 'gzip';
  if (start.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (start.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (start.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  return 'none';
}

/**
 * The uncompressed bytes of the file at PATH: gzip (member by member, gzip-members.ts) and zstd in
 * process, bzip2 and xz through their commands. NAME names it in errors (PATH may be a descriptor's).
 * Once SIGNAL is aborted the next chunk is StepCanceled instead, and a command is killed.
 */
export async function* archiveStream(path: string, name = basename(path), signal?: AbortSignal): AsyncGenerator<Buffer> {
  for await (const chunk of uncompressedArchive(path, name)) {
    if (signal?.aborted === true) throw new StepCanceled();
    yield chunk;
  }
}

async function* uncompressedArchive(path: string, name: string): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r');
  const start = Buffer.alloc(6);
  try {
    await handle.read(start, 0, 6, 0);
  } finally {
    await handle.close();
  }
  const kind = compressionOf(start);
  if (kind === 'gzip') {
    yield* gzipMembers(path, name);
    return;
  }
  if (kind !== 'bzip2' && kind !== 'xz') {
    yield* decompressStream(createReadStream(path), `read archive ${name}`);
    return;
  }
  const child = spawn(kind, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const errors: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => errors.push(chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const feeding = pipeline(createReadStream(path), child.stdin).catch(() => undefined);
  let finished = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    finished = true;
  } finally {
    if (!finished) child.kill();
    await feeding;
    const code = await exited;
    if (finished && code !== 0) {
      throw new TsbuildError('INVALID_ARCHIVE', `read archive ${name}: ${kind} exited with ${code}: ${Buffer.concat(errors).toString('utf8').trim()}`);
    }
  }
}

/**
 * Whether the file at PATH is an archive ADD unpacks, as BuildKit's isArchivePath: it
 * decompresses (or is plain) and a first tar header reads; an empty or foreign file is copied.
 */
export async function isArchive(path: string): Promise<boolean> {
  try {
    for await (const entry of readTar(archiveStream(path))) {
      void entry;
      return true;
    }
    return false;
  } catch {
    return false;
  }
}

/** The algorithm of a --checksum digest, as go-digest parses them; undefined when malformed. */
function checksumAlgorithm(checksum: string): 'sha256' | 'sha384' | 'sha512' | undefined {
  const match = /^(sha256|sha384|sha512):([0-9a-f]+)$/.exec(checksum);
  if (match === null) return undefined;
  const algorithm = match[1] as 'sha256' | 'sha384' | 'sha512';
  const hexLength = { sha256: 64, sha384: 96, sha512: 128 }[algorithm];
  return (match[2] as string).length === hexLength ? algorithm : undefined;
}

/**
 * Downloads each http(s) URL among SOURCES into DIRECTORY (which must exist), as BuildKit's http
 * source does to key an ADD without --checksum: by what the URL serves now, never by its text
 * alone. With CACHE, a URL served before with an ETag or Last-Modified is asked for only if it
 * changed; unchanged (304), its content comes from the store.
 */
export async function downloadUrls(sources: readonly string[], directory: string, options: DownloadOptions = {}): Promise<Map<string, DownloadedUrl>> {
  const downloaded = new Map<string, DownloadedUrl>();
  for (const url of new Set(sources.filter((source) => isUrl(source) && !isGitSource(source)))) {
    const path = join(directory, `url-${downloaded.size}`);
    downloaded.set(url, { path, ...(await download(url, path, options.maxRedirections ?? 10, 'sha256', options.cache, options.label, options.signal)) });
  }
  return downloaded;
}

export interface DownloadOptions {
  /** At most this many redirects are followed; defaults to 10. */
  readonly maxRedirections?: number;
  readonly cache?: HttpCache;
  /** What the errors say is downloading (`import`, `download`); defaults to ADD. */
  readonly label?: string;
  /**
   * Aborted when the build is canceled (interrupted, or another step failed): the download ends
   * at once (StepCanceled). A server that stops sending mid-body otherwise held a canceled build
   * until undici's five-minute body timeout.
   */
  readonly signal?: AbortSignal;
}

/** Downloads URL to PATH, following at most MAXREDIRECTIONS redirects; returns its digest (ALGORITHM) and Last-Modified. LABEL opens its errors. */
async function download(url: string, path: string, maxRedirections: number, algorithm: string, cache?: HttpCache, label = 'ADD', signal?: AbortSignal): Promise<{ lastModified: Date | undefined; digest: string }> {
  // undici's index is loaded only when an ADD names a URL.
  const { Agent, Dispatcher, ProxyAgent, interceptors, request } = await import('undici');
  // Through the environment's proxies, as BuildKit's http source goes (Go's ProxyFromEnvironment),
  // each redirect routed again by its own origin.
  const routed = withProxies(new Agent(), { requestTls: {} }, () => Promise.resolve(ProxyAgent));
  const dispatcher = Dispatcher.prototype.compose.call(routed as InstanceType<typeof Dispatcher>, interceptors.redirect({ maxRedirections }));
  const known = cache === undefined ? undefined : await cache.lookup(url);
  const dateOf = (header: string | undefined): Date | undefined => (header === undefined ? undefined : parseHttpTime(header));
  try {
    // Go's http transport, which BuildKit's http source uses, asks for gzip itself and then
    // hands on a body sent with Content-Encoding: gzip decoded: the file (and its checksum) is
    // what the server encoded, not the encoding.
    const headers: Record<string, string> = { 'accept-encoding': 'gzip' };
    if (known?.etag !== undefined) headers['if-none-match'] = known.etag;
    if (known?.lastModified !== undefined) headers['if-modified-since'] = known.lastModified;
    // A user and password in the URL are sent as basic authentication (percent-decoded), as Go's
    // http client sends them; undici would send neither.
    const target = new URL(url);
    if (target.username !== '' || target.password !== '') {
      headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`;
      target.username = '';
      target.password = '';
    }
    if (signal?.aborted === true) throw new StepCanceled();
    const response = await request(target, { dispatcher, method: 'GET', headers, ...(signal === undefined ? {} : { signal }) });
    if (response.statusCode === 304 && known !== undefined && cache !== undefined) {
      await response.body.dump();
      await cache.materialize(known, path);
      return { lastModified: dateOf(known.lastModified), digest: known.digest };
    }
    if (response.statusCode < 200 || response.statusCode >= 300) {
      await response.body.dump();
      // The redirect interceptor hands back the last redirect once it has followed its share.
      if (response.statusCode >= 300 && response.statusCode < 400) throw new TsbuildError('INVALID_ARGUMENT', `${label} ${quotedUrl(url)}: too many redirects (more than ${maxRedirections})`);
      const code = response.statusCode === 404 || response.statusCode === 410 ? 'NOT_FOUND' : 'REGISTRY';
      throw new TsbuildError(code, `${label} ${quotedUrl(url)}: invalid response status ${response.statusCode}`, { temporary: response.statusCode >= 500 || response.statusCode === 429 });
    }
    const hash = createHasher(algorithm);
    const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    const save = async (chunks: AsyncIterable<Buffer>): Promise<void> => {
      for await (const bytes of chunks) {
        hash.update(bytes);
        for (let offset = 0; offset < bytes.length; ) offset += (await handle.write(bytes, offset)).bytesWritten;
      }
    };
    try {
      const encoding = [response.headers['content-encoding']].flat()[0];
      if (encoding?.toLowerCase() === 'gzip') await pipeline(response.body, nodeZlib().createGunzip(), save);
      else await save(response.body);
    } finally {
      await handle.close();
    }
    const header = response.headers['last-modified'];
    const etag = response.headers.etag;
    const digest = `${algorithm}:${hash.digest('hex')}`;
    if (cache !== undefined && algorithm === 'sha256') {
      await cache.remember(url, path, {
        digest: parseDigest(digest),
        ...(typeof etag === 'string' ? { etag } : {}),
        ...(typeof header === 'string' ? { lastModified: header } : {}),
      });
    }
    return { lastModified: dateOf(typeof header === 'string' ? header : undefined), digest };
  } catch (error) {
    if (signal?.aborted === true) throw new StepCanceled();
    if (error instanceof TsbuildError) throw error;
    throw new TsbuildError('REGISTRY', `${label} ${quotedUrl(url)}: ${messageOf(error)}`, { cause: error, temporary: true });
  } finally {
    // Canceled: the connection is dropped, not waited on.
    await (signal?.aborted === true ? dispatcher.destroy() : dispatcher.close());
  }
}
