import { chmodSync, closeSync, constants, fchmodSync, fchownSync, ftruncateSync, lchownSync, linkSync, lstatSync, mkdirSync, openSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { chmod, lstat, readlink, rm } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { Decompress as ZstdDecompress } from 'fzstd';
import { ZstdFrameGuard } from './zstd-frames.js';
import { decodeFileName, entryMtimeNs, errnoOf, fsPath, isSparseHole, isTsbuildError, makeSpecialFile, messageOf, mkdirInRoot, nodeZlib, readDirectoryNames, readTar, maxSymlinkHops, resolveInRoot, setExactFdTimes, setExactTimes, setXattr, TsbuildError, type TarEntryHeader } from '../common/index.js';

export interface UnpackOptions {
  /** Whether ownership is applied and device nodes may be made; defaults to running as uid 0. */
  readonly root?: boolean;
  /**
   * Whether `.wh.` names are OCI whiteouts (a layer: the default) or names like any other (an
   * archive ADD unpacks: BuildKit's untar writes them as the files they are).
   */
  readonly whiteouts?: boolean;
  /**
   * Whether an entry name or hard link target that climbs above the target (`../x`,
   * `a/../../x`) stays at the target (`x`), as BuildKit's ADD, untarring in a chroot, takes an
   * archive's, instead of being refused (a layer's).
   */
  readonly climbingNamesStay?: boolean;
  /**
   * Whether directory entries take their times as moby's untar (BuildKit's ADD, in a chroot of
   * the destination) gives them: last, in archive order, on whatever the entry's name then
   * leads to, symlinks followed inside TARGET, so a later entry of that name (a file, a fifo, a
   * hard link, a symlink to a directory) or a symlink put in place of a parent takes the
   * directory's times, and a name that leads nowhere fails the unpack. Otherwise (a layer) a
   * directory's times are set only while it is still a directory.
   */
  readonly directoryTimesByName?: boolean;
  /**
   * Whether a hard link's own mode and times apply to the file it shares only when its link name
   * as written, looked up from TARGET as moby's untar does in its chroot (`os.Lstat(Linkname)`),
   * names something that is not a symlink: a trailing slash after a file, or a `..` after a
   * missing or non-directory component, leaves the file's own. Otherwise (a layer) they apply
   * whenever the target is no symlink.
   */
  readonly linkHeadersByName?: boolean;
  /**
   * Once aborted, the unpack stops at the next chunk of the layer (`CANCELED`): a layer of a
   * few MiB may hold terabytes of zeros, which an interrupted build or run must not wait for.
   */
  readonly signal?: AbortSignal;
}

/** TAR's chunks until SIGNAL is aborted, then CANCELED naming TARGET. */
async function* untilAborted(tar: AsyncIterable<Uint8Array>, signal: AbortSignal, target: string): AsyncGenerator<Uint8Array> {
  for await (const chunk of tar) {
    if (signal.aborted) throw new TsbuildError('CANCELED', `unpack layer into ${target}: canceled`);
    yield chunk;
  }
}

export interface UnpackResult {
  readonly entries: number;
  /**
   * What was not materialised, with the reason (device nodes without privilege, xattrs the file
   * system refused, unsupported entry types): the first `maxSkippedListed` of them.
   */
  readonly skipped: ReadonlyArray<{ readonly path: string; readonly reason: string }>;
  /** How many entries or attributes were skipped in all. */
  readonly skippedCount: number;
}

/**
 * Skipped entries listed in the result. A layer may hold millions of entries that make nothing
 * on disk (a device node unprivileged, an unknown type: a few bytes each once compressed), and
 * a list of them all would hold the layer's size many times over in memory.
 */
export const maxSkippedListed = 1000;

const whiteoutPrefix = '.wh.';
const opaqueMarker = '.wh..wh..opq';

function unsafe(path: string, cause: string): TsbuildError {
  return new TsbuildError('UNSAFE_PATH', `unpack ${JSON.stringify(path.slice(0, 300))}: ${cause}`);
}

/**
 * Splits an entry name into components. Leading `/` and `./` are dropped (the entry is taken
 * relative to the target, as tar does); `..` that climbs above the target is refused outright
 * (no legitimate layer needs it and it is the first tool of a path traversal), unless STAY says
 * it stays at the target.
 */
function components(name: string, entry = name, what = 'entry name', stay = false): string[] {
  const quoted = what === 'entry name' ? what : `${what} ${JSON.stringify(name.slice(0, 300))}`;
  if (name.includes('\0')) throw unsafe(entry, `NUL in ${quoted}`);
  // Cleaned as moby's untar cleans a name (filepath.Clean): `x/../y` is `y`, and `..` above an
  // absolute name's root stays at the root. A name that still leads out of the root is refused
  // (moby, unpacking in a chroot, would put it at the root instead).
  const rooted = (name.startsWith('/') && what === 'entry name') || stay;
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') parts.push(part);
    else if (parts.length > 0) parts.pop();
    else if (!rooted) throw unsafe(entry, `${quoted} contains ..`);
  }
  return parts;
}

/**
 * Resolves directory components below ROOT the way a chroot would (`mkdirInRoot`): symlinks met
 * on the way are followed, but an absolute target restarts at ROOT and `..` stops at ROOT, so
 * the result is always inside ROOT whatever earlier entries planted. Missing directories are
 * created. Returns the path relative to ROOT as real components.
 */
async function resolveDirectory(root: string, wanted: readonly string[], created: Set<string>, entry: string): Promise<string[]> {
  let result;
  try {
    result = await mkdirInRoot(root, wanted.join('/'), { mode: 0o755 });
  } catch (error) {
    // A symlink loop, or a file where a directory is wanted: the layer's doing either way.
    if (isTsbuildError(error)) throw unsafe(entry, error.message);
    throw error;
  }
  for (const path of result.created) created.add(relative(root, path));
  const inside = relative(root, result.path);
  return inside === '' ? [] : inside.split(sep);
}

/** Whether PATH (inside ROOT) and every directory between ROOT and it are directories, not symlinks. */
async function isRealDirectory(root: string, path: string): Promise<boolean> {
  if (path === root) return true;
  const parts = relative(root, path).split(sep);
  if (parts.includes('..')) return false;
  for (let length = 1; length <= parts.length; length++) {
    const info = await lstat(fsPath(join(root, ...parts.slice(0, length)))).catch(() => undefined);
    if (info === undefined || !info.isDirectory()) return false;
  }
  return true;
}

/**
 * What lstat(2) finds at NAME, taken as the kernel walks it from ROOT as its root and working
 * directory: symlinks before the last component (or before a trailing `/` or `.`) followed, an
 * absolute target restarting at ROOT, `..` the physical parent (none above ROOT), and a missing
 * or non-directory component before anything else fails. The last component is not followed.
 */
async function lstatAsKernel(root: string, name: string): Promise<Stats | undefined> {
  const queue = name.split('/');
  const resolved: string[] = [];
  let hops = 0;
  let current: Stats | undefined = name.startsWith('/') ? await lstat(root) : undefined;
  while (queue.length > 0) {
    const part = queue.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      current = await lstat(fsPath(join(root, ...resolved)));
      continue;
    }
    const info = await lstat(fsPath(join(root, ...resolved, part))).catch(() => undefined);
    if (info === undefined) return undefined;
    // Anything after it, a trailing slash included, makes the kernel step into it.
    if (queue.length === 0) return info;
    if (info.isSymbolicLink()) {
      if (++hops > maxSymlinkHops) return undefined;
      const target = decodeFileName(await readlink(fsPath(join(root, ...resolved, part)), { encoding: 'buffer' }));
      if (target.startsWith('/')) resolved.length = 0;
      queue.unshift(...target.split('/'));
      continue;
    }
    if (!info.isDirectory()) return undefined;
    resolved.push(part);
    current = info;
  }
  return current;
}

/** Removes whatever is at PATH without following it (a symlink is removed, not its target). */
async function removeEntry(path: string): Promise<void> {
  await rm(fsPath(path), { recursive: true, force: true });
}

/**
 * Gives an entry its owner. In a user namespace (rootless tsbuild) an id outside the ones the
 * user was granted cannot be given: EINVAL. That is the machine's limit, not the layer's fault,
 * so the error says which id and where to look.
 */
function owned(header: TarEntryHeader, chown: () => void): void {
  try {
    chown();
  } catch (error) {
    if (errnoOf(error) !== 'EINVAL') throw error;
    throw new TsbuildError(
      'RUNTIME',
      `unpack ${JSON.stringify(header.name.slice(0, 300))}: owned by ${header.uid}:${header.gid}, an id this user cannot map (its /etc/subuid or /etc/subgid range is missing or too small); \`tsbuild doctor\` says what this machine allows`,
      { cause: error },
    );
  }
}

interface PendingDirectory {
  readonly path: string;
  readonly mode: number;
  /** Nanoseconds since 1970. */
  readonly mtime: bigint | undefined;
}

/**
 * Whether NAME is one of overlayfs's own attributes (`trusted.overlay.*`, and `user.overlay.*`,
 * which an unprivileged overlay reads with userxattr): an unpacked layer is a lower directory of
 * the overlays that make a root filesystem, which take them as marks (an opaque directory hides
 * the layers below it, a metacopy file refuses to open) and copy `user.overlay.*` up into a
 * step's changes, where the layer writer read it as an opaque directory and deleted what the
 * layers below had there from the image built (BuildKit's issue 2720). A layer never sets them:
 * they are noted as skipped, as umoci leaves them out of what it applies.
 */
function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

/**
 * Applies one layer (an uncompressed tar stream) onto TARGET, an existing directory holding the
 * layers below it. OCI whiteouts (`.wh.NAME`) remove NAME from below; an opaque marker
 * (`.wh..wh..opq`) hides everything below in its directory. Nothing is ever written outside
 * TARGET: names with `..` above TARGET are refused (or kept at TARGET: `climbingNamesStay`), absolute names are taken relative to TARGET, and every
 * parent directory is resolved inside TARGET (symlinks in the way, including ones planted by
 * earlier entries, are followed only as a chroot would). Symlink targets are stored as written,
 * never followed while unpacking. A later duplicate entry replaces the earlier one.
 */
export async function unpackLayer(tar: Readable | AsyncIterable<Uint8Array>, target: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  const privileged = options.root ?? process.getuid?.() === 0;
  const whiteouts = options.whiteouts ?? true;
  const created = new Set<string>();
  const directories = new Map<string, PendingDirectory>();
  // Every directory entry's name and its last time, in the order of each name's last entry
  // (directoryTimesByName): applied in that order, they leave each directory the time that
  // applying every entry in archive order would, and an entry repeated a million times (a few
  // bytes of a compressed archive) is held once.
  const directoryTimes = new Map<string, bigint>();
  const noteDirectoryTime = (name: string, mtime: bigint): void => {
    directoryTimes.delete(name);
    directoryTimes.set(name, mtime);
  };
  // Directories an opaque marker names, once each however often it is repeated.
  const opaque = new Set<string>();
  const skipped: Array<{ path: string; reason: string }> = [];
  let skippedCount = 0;
  const skip = (path: string, reason: string): void => {
    skippedCount++;
    if (skipped.length < maxSkippedListed) skipped.push({ path, reason });
  };
  let entries = 0;
  // Parent directories already resolved, by the components an entry named: most entries of a
  // layer share their parents, and resolving walks every component. Anything removed (a
  // whiteout, an entry replacing another) may have been one of them: the memo is cleared then.
  const resolvedParents = new Map<string, string[]>();
  const parentOf = async (wanted: readonly string[], entry: string): Promise<string[]> => {
    const key = wanted.join('/');
    const known = resolvedParents.get(key);
    if (known !== undefined) return known;
    const resolved = await resolveDirectory(target, wanted, created, entry);
    resolvedParents.set(key, resolved);
    return resolved;
  };
  const remove = (path: string): void => {
    resolvedParents.clear();
    rmSync(fsPath(path), { recursive: true, force: true });
  };

  try {
    // What an entry does not read of its body (directories, links, skipped entries) the reader skips.
    for await (const entry of readTar(options.signal === undefined ? tar : untilAborted(tar, options.signal, target), { what: `layer unpacked into ${target}` })) {
      entries += 1;
      await applyEntry(entry.header, entry.body);
    }
  } catch (error) {
    if (error instanceof TsbuildError) throw error;
    throw new TsbuildError('UNSAFE_PATH', `unpack layer into ${target}: ${messageOf(error)}`, { cause: error });
  }

  for (const directory of opaque) await hideBelow(directory);
  // Directory modes and times last: a read-only directory must still receive its children, and
  // writing children changes a directory's mtime.
  const pending = [...directories.values()].sort((a, b) => b.path.length - a.path.length);
  for (const directory of pending) {
    // A later entry may have replaced the directory or one of its parents (by a symlink even):
    // chmod and utimes follow symlinks, so only a path made of real directories is touched.
    if (!(await isRealDirectory(target, directory.path))) continue;
    await chmod(fsPath(directory.path), directory.mode);
    if (directory.mtime !== undefined && options.directoryTimesByName !== true) setExactTimes(directory.path, directory.mtime, directory.mtime);
  }
  for (const [name, mtime] of directoryTimes) {
    // Resolved as the chroot would, so the final object is never a symlink: lutimes touches it alone.
    const path = await resolveInRoot(target, name);
    try {
      setExactTimes(path, mtime, mtime);
    } catch (error) {
      // In moby's words (its chroot shows the name from the destination), without the host path.
      const code = errnoOf(error);
      const reason = code === 'ENOENT' ? 'no such file or directory' : code === 'ENOTDIR' ? 'not a directory' : messageOf(error);
      throw new TsbuildError('INVALID_ARGUMENT', `chtimes /${name.slice(0, 300)}: ${reason}`, { cause: error });
    }
  }
  return { entries, skipped, skippedCount };

  async function hideBelow(relative: string): Promise<void> {
    const directory = join(target, relative);
    // Later entries of the layer may have turned the directory (or a parent) into a symlink.
    if (!(await isRealDirectory(target, directory))) return;
    let names: string[];
    try {
      names = readDirectoryNames(directory);
    } catch {
      names = [];
    }
    for (const name of names) {
      const child = relative === '' ? name : `${relative}/${name}`;
      if (!created.has(child)) {
        await removeEntry(join(directory, name));
      } else if ((await lstat(fsPath(join(directory, name)))).isDirectory()) {
        await hideBelow(child);
      }
    }
  }

  /**
   * Extended attributes after ownership (chown clears security.capability) and before times.
   * A file system or a user namespace that refuses one (security.* without privilege, no xattr
   * support) is noted, not fatal, as containerd does.
   */
  function applyXattrs(path: string, relative: string, header: TarEntryHeader): void {
    for (const [name, value] of header.xattrs) {
      if (isOverlayXattr(name)) {
        skip(relative, `xattr ${name} (overlay's own)`);
        continue;
      }
      try {
        setXattr(path, name, value);
      } catch (error) {
        const code = errnoOf(error);
        if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') {
          throw new TsbuildError('INTERNAL', `unpack ${JSON.stringify(relative)}: set xattr ${name}: ${messageOf(error)}`, { cause: error });
        }
        skip(relative, `xattr ${name} (${code})`);
      }
    }
  }

  async function applyEntry(header: TarEntryHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const parts = components(header.name, header.name, 'entry name', options.climbingNamesStay === true);
    const type = header.type;
    // moby's untar sets times with its system.Chtimes, which takes one before 1970 as the epoch,
    // and so one past what nanoseconds in an int64 hold (2262, its unixMaxTime); a symlink's
    // (lutimes) are kept as they are, but past an int64 of nanoseconds there is no such time
    // (Go's UnixNano wraps; the system call cannot take it): the epoch too. Both to the nanosecond.
    const exact = entryMtimeNs(header);
    const representable = exact >= -(2n ** 63n) && exact < 2n ** 63n;
    const mtime = representable && (header.type === 'symlink' || exact >= 0n) ? exact : 0n;
    const leaf = parts.at(-1);
    if (leaf === undefined) {
      // The entry names TARGET itself (`./`): only a directory may, and only its metadata applies.
      if (type !== 'directory') throw unsafe(header.name, `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type} entry cannot replace the unpack root`);
      directories.set(target, { path: target, mode: header.mode & 0o7777, mtime });
      if (options.directoryTimesByName === true) noteDirectoryTime('', mtime);
      return;
    }
    const parent = await parentOf(parts.slice(0, -1), header.name);
    const parentPath = join(target, ...parent);

    if (leaf === opaqueMarker && whiteouts) {
      opaque.add(parent.join('/'));
      return;
    }
    if (leaf.startsWith(whiteoutPrefix) && whiteouts) {
      const hidden = leaf.slice(whiteoutPrefix.length);
      if (hidden === '' || hidden === '.' || hidden === '..') throw unsafe(header.name, 'invalid whiteout');
      remove(join(parentPath, hidden));
      return;
    }

    // Synchronous metadata calls from here: a layer is thousands of them, a few microseconds
    // each, which one thread-pool round trip at a time made ten times as slow.
    const relative = [...parent, leaf].join('/');
    const path = join(parentPath, leaf);
    // What Node's fs calls take: the name's bytes when it is not UTF-8 (common/file-names.ts).
    const onDisk = fsPath(path);
    const existing = lstatSync(onDisk, { throwIfNoEntry: false });
    if (type === 'directory') {
      if (existing !== undefined && !existing.isDirectory()) remove(path);
      if (existing === undefined || !existing.isDirectory()) mkdirSync(onDisk, { mode: 0o700 });
      created.add(relative);
      if (privileged) owned(header, () => lchownSync(onDisk, header.uid, header.gid));
      applyXattrs(path, relative, header);
      directories.set(path, { path, mode: header.mode & 0o7777, mtime });
      if (options.directoryTimesByName === true) noteDirectoryTime(parts.join('/'), mtime);
      return;
    }
    if (existing !== undefined) {
      remove(path);
      directories.delete(path);
    }
    switch (type) {
      case 'file': {
        // O_EXCL|O_NOFOLLOW: the name was just cleared, so nothing (no planted symlink) is reused.
        const fd = openSync(onDisk, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          let position = 0;
          let holes = false;
          for await (const bytes of body) {
            // A sparse file's hole is seeked over, not written: it takes no disk, as Go's reader leaves it.
            if (isSparseHole(bytes)) holes = true;
            else for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset, bytes.length - offset, position + offset);
            position += bytes.length;
          }
          // A hole at the end gives the file its size.
          if (holes) ftruncateSync(fd, position);
          if (privileged) owned(header, () => fchownSync(fd, header.uid, header.gid));
          // After chown, which clears set-id bits.
          fchmodSync(fd, header.mode & 0o7777);
          applyXattrs(path, relative, header);
          setExactFdTimes(fd, mtime, mtime);
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'symlink': {
        const linkname = header.linkname;
        if (linkname === '' || linkname.includes('\0')) throw unsafe(header.name, 'empty or invalid symlink target');
        symlinkSync(fsPath(linkname), onDisk);
        if (privileged) owned(header, () => lchownSync(onDisk, header.uid, header.gid));
        applyXattrs(path, relative, header);
        setExactTimes(path, mtime, mtime);
        break;
      }
      case 'link': {
        const linkParts = components(header.linkname, header.name, 'hard link target', options.climbingNamesStay === true);
        const linkLeaf = linkParts.at(-1);
        if (linkLeaf === undefined) throw unsafe(header.name, 'hard link to the unpack root');
        const linkParent = await parentOf(linkParts.slice(0, -1), header.name);
        const source = join(target, ...linkParent, linkLeaf);
        const info = lstatSync(fsPath(source), { throwIfNoEntry: false });
        if (info === undefined) throw unsafe(header.name, `hard link target ${JSON.stringify(header.linkname.slice(0, 300))} does not exist in the layer`);
        if (info.isDirectory()) throw unsafe(header.name, 'hard link to a directory');
        linkSync(fsPath(source), onDisk);
        // As moby's untar: the link's own header then applies to the inode it shares, its owner
        // and xattrs always, its mode and times unless the target is a symlink (a tar rewritten
        // after its link was written can say other than the target's header did).
        if (privileged) owned(header, () => lchownSync(onDisk, header.uid, header.gid));
        applyXattrs(path, relative, header);
        const named = options.linkHeadersByName === true ? await lstatAsKernel(target, header.linkname) : info;
        if (!info.isSymbolicLink() && named !== undefined && !named.isSymbolicLink()) {
          chmodSync(onDisk, header.mode & 0o7777);
          setExactTimes(path, mtime, mtime);
        }
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        // Without privilege a device node must never be made; a fifo is harmless.
        if (type !== 'fifo' && !privileged) {
          skip(relative, `${type} (not root)`);
          return;
        }
        try {
          makeSpecialFile(path, type, 0o600, header.devmajor, header.devminor);
        } catch (error) {
          // Root in a user namespace may not make device nodes either.
          if (errnoOf(error) !== 'EPERM') throw error;
          skip(relative, `${type} (${messageOf(error)})`);
          return;
        }
        if (privileged) owned(header, () => lchownSync(onDisk, header.uid, header.gid));
        // mknod applied the umask; and after chown, as for files.
        chmodSync(onDisk, header.mode & 0o7777);
        applyXattrs(path, relative, header);
        setExactTimes(path, mtime, mtime);
        break;
      }
      default:
        skip(relative, `unsupported entry type ${JSON.stringify(header.typeflag)}`);
        return;
    }
    created.add(relative);
  }
}

const gzipMagic = Buffer.from([0x1f, 0x8b]);
const zstdMagic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
/**
 * Compressed bytes handed to the zstd decoder at a time. It decodes every block a push
 * completes before returning, and a hostile frame packs a 128 KiB run into 4 bytes: 1 KiB in
 * can mean up to 32 MiB out, and no more. Normal layers decode at about 130 MB/s this way.
 */
const zstdSliceBytes = 1024;

/** Enough of a stream's start to tell every format below (bzip2's magic is the longest). */
const sniffBytes = 10;

/**
 * The size of the buffers gunzip fills. zlib's default of 16 KiB makes a 50 MB layer some 3,200
 * chunks, each a trip to the thread pool and back and a buffer for the reader to take: at 128
 * KiB, decompressing and hashing such a layer takes a third of the time here (a layer that
 * barely compresses, which gunzip copies through, gains most), and a small one is unchanged.
 */
export const gunzipChunkBytes = 128 * 1024;

/**
 * The least gunzip is handed at once. Each write to it is a trip to the thread pool too, and a
 * registry's response arrives in pieces of 16 to 64 KiB: a 52 MB layer fetched from the
 * registry took 200–300 ms to decompress and hash in those pieces, 70 ms joined into these.
 */
const gunzipInputBytes = 512 * 1024;

/** SOURCE's bytes in pieces of at least MINIMUM bytes (the last may be shorter). */
async function* inPiecesOf(source: AsyncIterable<Buffer>, minimum: number): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let heldBytes = 0;
  for await (const chunk of source) {
    if (held.length === 0 && chunk.length >= minimum) {
      yield chunk;
      continue;
    }
    held.push(chunk);
    heldBytes += chunk.length;
    if (heldBytes >= minimum) {
      yield Buffer.concat(held, heldBytes);
      held = [];
      heldBytes = 0;
    }
  }
  if (heldBytes > 0) yield Buffer.concat(held, heldBytes);
}

/**
 * Whether START opens a zstd skippable frame (magic 0x184D2A50 to 0x184D2A5F, then its size),
 * which containerd's and moby's format detection take for zstd as they take a frame's magic:
 * seekable zstd writers put one first.
 */
function startsWithSkippableFrame(start: Buffer): boolean {
  return start.length >= 8 && (start.readUInt32LE(0) & 0xfffffff0) >>> 0 === 0x184d2a50;
}

/** xz or bzip2, which docker load also takes and tsbuild does not: named, to say so clearly. */
function otherCompression(start: Buffer): string | undefined {
  if (start.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  // "BZh", a block size digit, then the block magic (the digits of pi): never a tar's first name.
  if (/^BZh[1-9]$/.test(start.subarray(0, 4).toString('latin1')) && start.subarray(4, 10).equals(Buffer.from([0x31, 0x41, 0x59, 0x26, 0x53, 0x59]))) return 'bzip2';
  return undefined;
}

/** Wraps a layer blob's stream into an uncompressed tar stream, whatever its media type says. */
export function decompressLayer(source: AsyncIterable<Uint8Array>, mediaType: string): AsyncGenerator<Buffer> {
  return decompressStream(source, `decompress layer (${mediaType})`);
}

/**
 * Wraps a stream into its uncompressed bytes. The format is told by the magic bytes, as
 * containerd does: gzip, zstd (a frame or a skippable frame first), or none. WHAT names the
 * stream in errors.
 */
export async function* decompressStream(source: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  // The first bytes, enough to tell the format (a first chunk may be shorter).
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < sniffBytes) {
    const next = await iterator.next();
    if (next.done === true) {
      ended = true;
      break;
    }
    head.push(Buffer.from(next.value));
    headBytes += next.value.length;
  }
  const start = Buffer.concat(head);
  const rest = async function* (): AsyncGenerator<Buffer> {
    try {
      if (start.length > 0) yield start;
      if (ended) return;
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) yield Buffer.from(next.value.buffer, next.value.byteOffset, next.value.length);
    } finally {
      // A reader that stops early (a bad tar entry) closes the blob under it too.
      await iterator.return?.();
    }
  };
  const other = otherCompression(start);
  if (other !== undefined) {
    await iterator.return?.();
    throw new TsbuildError('INVALID_ARCHIVE', `${what}: the data is ${other}-compressed; only gzip and zstd are read (decompress it first)`);
  }
  if (start.subarray(0, 2).equals(gzipMagic)) yield* gunzipLayer(rest(), what);
  else if (start.subarray(0, 4).equals(zstdMagic) || startsWithSkippableFrame(start)) yield* unzstdLayer(rest(), what);
  else yield* rest();
}

async function* gunzipLayer(source: AsyncIterable<Buffer>, what: string): AsyncGenerator<Buffer> {
  const gunzip = nodeZlib().createGunzip({ chunkSize: gunzipChunkBytes });
  const feeding = pipeline(inPiecesOf(source, gunzipInputBytes), gunzip);
  feeding.catch(() => undefined);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
    await feeding;
  } catch (error) {
    if (error instanceof TsbuildError) throw error;
    throw new TsbuildError('DIGEST_MISMATCH', `${what}: ${messageOf(error)}`, { cause: error });
  } finally {
    gunzip.destroy();
  }
}

async function* unzstdLayer(source: AsyncIterable<Buffer>, what: string): AsyncGenerator<Buffer> {
  // Each frame's window is checked before the decoder allocates it.
  const frames = new ZstdFrameGuard(what);
  const output: Buffer[] = [];
  const decoder = new ZstdDecompress((chunk) => {
    output.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  });
  const push = (bytes: Uint8Array, final: boolean): void => {
    try {
      decoder.push(bytes, final);
    } catch (error) {
      throw new TsbuildError('DIGEST_MISMATCH', `${what}: ${messageOf(error)}`, { cause: error });
    }
  };
  for await (const chunk of source) {
    for (let offset = 0; offset < chunk.length; offset += zstdSliceBytes) {
      const slice = chunk.subarray(offset, offset + zstdSliceBytes);
      frames.check(slice);
      push(slice, false);
      while (output.length > 0) yield output.shift() as Buffer;
    }
  }
  push(new Uint8Array(0), true);
  while (output.length > 0) yield output.shift() as Buffer;
}
