/**
 * The trees `tsbuild cp` moves, as a stream of entries read from and written into directories
 * held open. A directory is reached only from an open parent, one name at a time
 * (`/proc/self/fd/N/NAME` is openat(N, NAME)), and never through a symbolic link: a link a
 * container plants, or swaps in while the copy runs, is copied as a link or refused, never
 * followed to whatever it names on the host (CVE-2018-15664). Nothing is loaded or run from the
 * trees themselves (CVE-2019-14271).
 */
import { constants, type Stats } from 'node:fs';
import { link, lchown, lstat, lutimes, mkdir, open, readlink, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { decodeFileName, errnoOf, fsPath, makeSpecialFile, readDirectoryEntries, readXattr, setXattr, TsbuildError, type TarEntry, type TarEntryType } from '../common/index.js';
import { encodeHeader, endOfArchive, type TarHeader } from '../exporter/index.js';

/**
 * One file of a copied tree, its path relative to where it is extracted, described as a tar
 * header describes it (without PAX records), with its size always given (0 for what has no content).
 */
export interface CopyEntry extends Omit<TarHeader, 'size' | 'pax'> {
  /** Files: bytes of content. */
  readonly size: number;
  /** Files: `security.capability`, the one extended attribute docker's archive carries. */
  readonly capability?: Buffer;
  /** Files: the content, read when asked (before the next entry is taken). */
  readonly body?: () => AsyncIterable<Buffer>;
}

const directoryFlags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;


/** NAME inside the directory open as HANDLE, for calls that take a path: openat's meaning. */
export function below(handle: FileHandle, name: string): string {
  return `/proc/self/fd/${handle.fd}/${name}`;
}

/**
 * Opens the directory HOSTPATH and checks that the kernel opened that very path: a component
 * swapped for a symbolic link since HOSTPATH was resolved (a container changing its tree
 * meanwhile) leads elsewhere, and is refused. HOSTPATH must be canonical (no link in it).
 */
export async function openExactDirectory(hostPath: string, what: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(fsPath(hostPath), directoryFlags);
  } catch (error) {
    // A link where the walk saw a directory: swapped in since.
    if (errnoOf(error) === 'ELOOP') throw new TsbuildError('UNSAFE_PATH', `copy ${what}: the path changed while it was being copied`, { cause: error });
    throw error;
  }
  try {
    const opened = decodeFileName(await readlink(`/proc/self/fd/${handle.fd}`, { encoding: 'buffer' }));
    if (opened !== hostPath) throw new TsbuildError('UNSAFE_PATH', `copy ${what}: the path changed while it was being copied`);
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** What lstat says NAME in PARENT is; undefined when it does not exist. */
export async function entryStats(parent: FileHandle, name: string): Promise<Stats | undefined> {
  try {
    return await lstat(fsPath(below(parent, name)));
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** Opens the directory NAME in PARENT, the one lstat saw as INFO; never through a link. */
async function openChildDirectory(parent: FileHandle, name: string, info: Stats | undefined, path: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(fsPath(below(parent, name)), directoryFlags);
  } catch (error) {
    if (errnoOf(error) === 'ELOOP' || errnoOf(error) === 'ENOTDIR' || errnoOf(error) === 'ENOENT') {
      throw new TsbuildError('UNSAFE_PATH', `copy ${path}: not a directory (it changed while it was being copied)`);
    }
    throw error;
  }
  if (info !== undefined) {
    const opened = await handle.stat();
    if (opened.ino !== info.ino || opened.dev !== info.dev) {
      await handle.close();
      throw new TsbuildError('UNSAFE_PATH', `copy ${path}: it changed while it was being copied`);
    }
  }
  return handle;
}

function typeOf(info: Stats): TarEntryType | undefined {
  if (info.isFile()) return 'file';
  if (info.isDirectory()) return 'directory';
  if (info.isSymbolicLink()) return 'symlink';
  if (info.isCharacterDevice()) return 'character-device';
  if (info.isBlockDevice()) return 'block-device';
  if (info.isFIFO()) return 'fifo';
  // Sockets: docker's archive leaves them out too.
  return undefined;
}

/** Reads exactly SIZE bytes of the file NAME in PARENT (zeros if it shrank), refusing anything but the file lstat saw. */
async function* fileContent(parent: FileHandle, name: string, info: Stats, path: string): AsyncGenerator<Buffer> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a fifo swapped in never blocks the copy; O_NOFOLLOW: nor does a link lead out.
    handle = await open(fsPath(below(parent, name)), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    throw new TsbuildError('UNSAFE_PATH', `copy ${path}: ${errnoOf(error) === 'ELOOP' ? 'it changed while it was being copied' : (error as Error).message}`, { cause: error });
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile() || opened.ino !== info.ino || opened.dev !== info.dev) throw new TsbuildError('UNSAFE_PATH', `copy ${path}: it changed while it was being copied`);
    let left = info.size;
    const chunk = Buffer.alloc(Math.min(left, 1 << 20));
    while (left > 0) {
      const { bytesRead } = await handle.read(chunk, 0, Math.min(left, chunk.length), null);
      if (bytesRead === 0) break;
      left -= bytesRead;
      yield Buffer.from(chunk.subarray(0, bytesRead));
    }
    // The tar header promised SIZE bytes: a file cut short meanwhile is padded.
    if (left > 0) yield Buffer.alloc(left);
  } finally {
    await handle.close();
  }
}

/** Hard links met so far in one walk: device and inode to the first entry's path. */
type LinkMap = Map<string, string>;

/**
 * The entries of NAME in PARENT (lstat's INFO) and, for a directory, everything below it, named
 * from ENTRYPATH. Links are entries, never followed.
 */
async function* entriesAt(parent: FileHandle, name: string, info: Stats, entryPath: string, links: LinkMap): AsyncGenerator<CopyEntry> {
  const type = typeOf(info);
  if (type === undefined) return;
  const common = { path: entryPath, mode: info.mode & 0o7777, uid: info.uid, gid: info.gid, mtime: Math.floor(info.mtimeMs / 1000), size: 0 };
  if (type === 'directory') {
    yield { ...common, type };
    const handle = await openChildDirectory(parent, name, info, entryPath);
    try {
      yield* directoryEntries(handle, entryPath, links);
    } finally {
      await handle.close();
    }
    return;
  }
  if (type === 'symlink') {
    yield { ...common, type, linkname: decodeFileName(await readlink(fsPath(below(parent, name)), { encoding: 'buffer' })) };
    return;
  }
  if (type === 'file') {
    if (info.nlink > 1) {
      const key = `${info.dev}:${info.ino}`;
      const first = links.get(key);
      if (first !== undefined) {
        yield { ...common, type: 'link', linkname: first };
        return;
      }
      links.set(key, entryPath);
    }
    const capability = readXattr(below(parent, name), capabilityXattr);
    yield { ...common, type, size: info.size, ...(capability === undefined ? {} : { capability }), body: () => fileContent(parent, name, info, entryPath) };
    return;
  }
  // Devices and fifos: their numbers only, never opened.
  yield { ...common, type, devmajor: Math.floor(info.rdev / 256) & 0xfff, devminor: (info.rdev & 0xff) | ((info.rdev >> 12) & 0xfff00) };
}

/** Everything in the directory open as HANDLE, named below PREFIX, in name order. */
async function* directoryEntries(handle: FileHandle, prefix: string, links: LinkMap): AsyncGenerator<CopyEntry> {
  const names = readDirectoryEntries(`/proc/self/fd/${handle.fd}`).map((entry) => entry.name).sort();
  for (const name of names) {
    const info = await entryStats(handle, name);
    // Removed since the listing: as if it had never been there.
    if (info === undefined) continue;
    yield* entriesAt(handle, name, info, `${prefix}/${name}`, links);
  }
}

/** The tree at NAME in PARENT (as lstat saw it: INFO), its top entry named TOPNAME. */
export function treeEntries(parent: FileHandle, name: string, info: Stats, topName: string): AsyncGenerator<CopyEntry> {
  return entriesAt(parent, name, info, topName, new Map());
}

/** The directory open as HANDLE and everything below it, the directory itself named TOPNAME. */
export async function* directoryTreeEntries(handle: FileHandle, topName: string): AsyncGenerator<CopyEntry> {
  const info = await handle.stat();
  yield { path: topName, type: 'directory', mode: info.mode & 0o7777, uid: info.uid, gid: info.gid, mtime: Math.floor(info.mtimeMs / 1000), size: 0 };
  yield* directoryEntries(handle, topName, new Map());
}

/** ENTRIES as a tar stream (PAX where ustar cannot hold a value), ended by two zero blocks. */
export async function* tarOf(entries: AsyncIterable<CopyEntry>): AsyncGenerator<Buffer> {
  for await (const entry of entries) {
    yield encodeHeader({
      path: entry.path,
      type: entry.type,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      mtime: entry.mtime,
      ...(entry.type === 'file' ? { size: entry.size } : {}),
      ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }),
      ...(entry.devmajor === undefined ? {} : { devmajor: entry.devmajor, devminor: entry.devminor ?? 0 }),
      ...(entry.capability === undefined ? {} : { pax: { [`SCHILY.xattr.${capabilityXattr}`]: entry.capability } }),
    });
    if (entry.type !== 'file') continue;
    let written = 0;
    for await (const chunk of entry.body?.() ?? []) {
      written += chunk.length;
      yield chunk;
    }
    const rest = written % 512;
    if (rest !== 0) yield Buffer.alloc(512 - rest);
  }
  yield endOfArchive;
}

/** A tar stream's entries (`cp -` reads one on stdin). */
export async function* entriesOfTar(tar: AsyncIterable<TarEntry>): AsyncGenerator<CopyEntry> {
  for await (const { header, body } of tar) {
    if (header.type === 'unsupported') throw new TsbuildError('INVALID_ARCHIVE', `copy ${header.name}: unhandled tar header type ${JSON.stringify(header.typeflag)}`);
    yield {
      path: header.name,
      type: header.type,
      mode: header.mode & 0o7777,
      uid: header.uid,
      gid: header.gid,
      mtime: Math.floor(header.mtime),
      size: header.size,
      linkname: header.linkname,
      devmajor: header.devmajor,
      devminor: header.devminor,
      ...(header.type === 'file' && header.xattrs.has(capabilityXattr) ? { capability: header.xattrs.get(capabilityXattr) } : {}),
      body: () => body,
    };
  }
}

const capabilityXattr = 'security.capability';

/**
 * Gives the file just made as NAME in PARENT (open as HANDLE) its file capabilities, after its
 * owner (chown clears them). Set by name, so checked to be that very file before and after.
 */
async function setCapability(parent: FileHandle, name: string, handle: FileHandle, value: Buffer, path: string, what: string): Promise<void> {
  const made = await handle.stat();
  const same = async (): Promise<boolean> => {
    const now = await entryStats(parent, name);
    return now !== undefined && now.ino === made.ino && now.dev === made.dev;
  };
  if (!(await same())) throw new TsbuildError('UNSAFE_PATH', `copy to ${what}: ${path} changed while it was being copied`);
  setXattr(below(parent, name), capabilityXattr, value);
  if (!(await same())) throw new TsbuildError('UNSAFE_PATH', `copy to ${what}: ${path} changed while it was being copied`);
}

export interface ExtractOptions {
  /**
   * Owner of what is made: the entries' own (`cp -a`), one for all (the container's root), or
   * none (the calling user's, as a copy to the host).
   */
  readonly owner: 'entry' | { readonly uid: number; readonly gid: number } | undefined;
  /** Names the destination in errors (`CONTAINER:PATH` or a host path). */
  readonly what: string;
}

/** ENTRY's path made relative and clean, or undefined for the destination itself (`.`); one leading out is refused. */
function cleanEntryPath(path: string, what: string): string | undefined {
  const cleaned = posix.normalize(`/${path}`).slice(1).replace(/\/+$/, '');
  // normalize('/..') is '/': a path climbing out was named so.
  if (posix.normalize(path).split('/')[0] === '..') throw new TsbuildError('UNSAFE_PATH', `copy to ${what}: ${JSON.stringify(path)} is outside of the destination`);
  return cleaned === '' ? undefined : cleaned;
}

/**
 * Writes ENTRIES into the directory open as DESTINATION, as docker's untar with
 * NoOverwriteDirNonDir: missing parents made (0755), an existing file replaced, a directory
 * never replaced by a non-directory nor a non-directory by a directory. Every name is reached
 * from DESTINATION one component at a time without following a link: a link on the way is
 * refused, a link at the end replaced, never written through.
 */
export async function extractEntries(destination: FileHandle, entries: AsyncIterable<CopyEntry>, options: ExtractOptions): Promise<{ bytes: number }> {
  const held = new Map<string, FileHandle>();
  let bytes = 0;
  const ownerOf = (entry: CopyEntry): { uid: number; gid: number } | undefined => (options.owner === 'entry' ? { uid: entry.uid, gid: entry.gid } : options.owner);

  /**
   * The directory PATH (clean, relative; '' the destination) held open, made when missing;
   * undefined when missing and MAKE is false (a hard link's target makes nothing on its way).
   */
  async function directoryAt(path: string): Promise<FileHandle>;
  async function directoryAt(path: string, make: false): Promise<FileHandle | undefined>;
  async function directoryAt(path: string, make = true): Promise<FileHandle | undefined> {
    if (path === '') return destination;
    const open = held.get(path);
    if (open !== undefined) return open;
    const parentPath = posix.dirname(path) === '.' ? '' : posix.dirname(path);
    const parent = make ? await directoryAt(parentPath) : await directoryAt(parentPath, false);
    if (parent === undefined) return undefined;
    const name = posix.basename(path);
    let info = await entryStats(parent, name);
    if (info === undefined && !make) return undefined;
    if (info === undefined) {
      await mkdir(fsPath(below(parent, name)), { mode: 0o755 });
      const owner = options.owner === 'entry' ? undefined : options.owner;
      if (owner !== undefined) await lchown(fsPath(below(parent, name)), owner.uid, owner.gid);
      info = await entryStats(parent, name);
    }
    if (info === undefined || !info.isDirectory()) {
      throw new TsbuildError('UNSAFE_PATH', `copy to ${options.what}: ${path} is not a directory${info?.isSymbolicLink() === true ? ' (a symbolic link is never followed)' : ''}`);
    }
    // Too many held at once would exhaust descriptors in a wide tree: start again.
    if (held.size >= 256) await closeAll();
    const handle = await openChildDirectory(parent, name, info, path);
    held.set(path, handle);
    return handle;
  }
  const closeAll = async (): Promise<void> => {
    const handles = [...held.values()];
    held.clear();
    await Promise.all(handles.map((handle) => handle.close()));
  };

  // Directories' times are set last, as docker's untar does: what is made in them changes them.
  const directoryTimes: Array<readonly [path: string, mtime: number]> = [];
  try {
    for await (const entry of entries) {
      const path = cleanEntryPath(entry.path, options.what);
      if (path === undefined) {
        // docker skips `.` over an existing directory: the destination keeps its own mode.
        if (entry.type === 'directory') continue;
        throw new TsbuildError('INVALID_ARGUMENT', `copy to ${options.what}: cannot overwrite directory with non-directory ${JSON.stringify(entry.path)}`);
      }
      const parentPath = posix.dirname(path) === '.' ? '' : posix.dirname(path);
      const name = posix.basename(path);
      const parent = await directoryAt(parentPath);
      const target = fsPath(below(parent, name));
      const existing = await entryStats(parent, name);
      if (existing !== undefined) {
        if (existing.isDirectory() && entry.type !== 'directory') {
          throw new TsbuildError('CONFLICT', `copy to ${options.what}: cannot overwrite directory ${JSON.stringify(path)} with non-directory`);
        }
        if (!existing.isDirectory() && entry.type === 'directory') {
          throw new TsbuildError('CONFLICT', `copy to ${options.what}: cannot overwrite non-directory ${JSON.stringify(path)} with directory`);
        }
        if (!existing.isDirectory()) await unlink(target);
      }
      // A handle held for this path (made as a missing parent earlier) stays valid: the same directory.
      const owner = ownerOf(entry);
      switch (entry.type) {
        case 'directory': {
          if (existing === undefined) await mkdir(target, { mode: 0o700 });
          const handle = await openChildDirectory(parent, name, undefined, path);
          try {
            if (owner !== undefined) await handle.chown(owner.uid, owner.gid);
            await handle.chmod(entry.mode);
          } finally {
            await handle.close();
          }
          directoryTimes.push([path, entry.mtime]);
          break;
        }
        case 'file': {
          // O_EXCL with O_NOFOLLOW: a link that appeared since the unlink fails the copy.
          const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          try {
            for await (const chunk of entry.body?.() ?? []) {
              await handle.write(chunk);
              bytes += chunk.length;
            }
            if (owner !== undefined) await handle.chown(owner.uid, owner.gid);
            // After chown, which clears setuid and setgid.
            await handle.chmod(entry.mode);
            await handle.utimes(entry.mtime, entry.mtime);
            if (entry.capability !== undefined) await setCapability(parent, name, handle, entry.capability, path, options.what);
          } finally {
            await handle.close();
          }
          break;
        }
        case 'symlink': {
          await symlink(fsPath(entry.linkname ?? ''), target);
          if (owner !== undefined) await lchown(target, owner.uid, owner.gid);
          await lutimes(target, entry.mtime, entry.mtime);
          break;
        }
        case 'link': {
          const linked = cleanEntryPath(entry.linkname ?? '', options.what);
          if (linked === undefined) throw new TsbuildError('UNSAFE_PATH', `copy to ${options.what}: hard link ${JSON.stringify(path)} to the destination itself`);
          // As docker's untar: the target is an entry already inside the destination; nothing is made
          // on the way to it (a hard link to a missing path left its directories in the container).
          const missing = (): TsbuildError => new TsbuildError('NOT_FOUND', `copy to ${options.what}: hard link ${JSON.stringify(path)} to ${JSON.stringify(entry.linkname ?? '')}: no such file or directory`);
          const linkedParent = await directoryAt(posix.dirname(linked) === '.' ? '' : posix.dirname(linked), false);
          if (linkedParent === undefined) throw missing();
          // link(2) never follows a link at its source's last component.
          await link(fsPath(below(linkedParent, posix.basename(linked))), target).catch((error: unknown) => {
            throw errnoOf(error) === 'ENOENT' ? missing() : error;
          });
          break;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo': {
          makeSpecialFile(below(parent, name), entry.type, entry.mode, entry.devmajor ?? 0, entry.devminor ?? 0);
          if (owner !== undefined) await lchown(target, owner.uid, owner.gid);
          break;
        }
      }
    }
    for (const [path, mtime] of directoryTimes.reverse()) await (await directoryAt(path)).utimes(mtime, mtime);
  } finally {
    await closeAll();
  }
  return { bytes };
}
