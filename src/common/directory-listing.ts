import type { BigIntStats, Stats } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { constants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { decodeFileName, fsPath } from './file-names.js';
import type { ContextAddon } from './native-addons.js';

/**
 * What a walk reads of an entry's lstat: BigIntStats, or the same fields of a native listing.
 * The steps after the walk (the cache key, the copy) read only these.
 */
export type EntryStats = Pick<
  BigIntStats,
  'dev' | 'ino' | 'mode' | 'nlink' | 'uid' | 'gid' | 'rdev' | 'size' | 'atimeNs' | 'mtimeNs' | 'ctimeNs' | 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isFIFO' | 'isSocket' | 'isBlockDevice' | 'isCharacterDevice'
>;

/** The order of native/src/context-hasher.c's LISTED_FIELDS. */
const field = { mode: 0, nlink: 1, uid: 2, gid: 3, rdev: 4, size: 5, ino: 6, dev: 7, atimeNs: 8, mtimeNs: 9, ctimeNs: 10 } as const;
const fieldCount = 11;

/** The file-type tests of Node's stats, from a mode. */
abstract class FileTypes {
  protected abstract modeBits(): number;

  private type(): number {
    return this.modeBits() & constants.S_IFMT;
  }
  isFile(): boolean {
    return this.type() === constants.S_IFREG;
  }
  isDirectory(): boolean {
    return this.type() === constants.S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return this.type() === constants.S_IFLNK;
  }
  isFIFO(): boolean {
    return this.type() === constants.S_IFIFO;
  }
  isSocket(): boolean {
    return this.type() === constants.S_IFSOCK;
  }
  isBlockDevice(): boolean {
    return this.type() === constants.S_IFBLK;
  }
  isCharacterDevice(): boolean {
    return this.type() === constants.S_IFCHR;
  }
}

/**
 * One entry's lstat as listDirectory gave it, read from the listing's array when asked: most
 * entries of a rebuild are asked for their type and stat key only, and a BigInt made for every
 * field of 2,000 entries was most of a warm build's walk.
 */
class ListedStats extends FileTypes implements EntryStats {
  constructor(
    private readonly fields: BigInt64Array,
    private readonly at: number,
  ) {
    super();
  }

  private get(index: number): bigint {
    return this.fields[this.at + index] ?? 0n;
  }

  get mode(): bigint {
    return this.get(field.mode);
  }
  get nlink(): bigint {
    return this.get(field.nlink);
  }
  get uid(): bigint {
    return this.get(field.uid);
  }
  get gid(): bigint {
    return this.get(field.gid);
  }
  get rdev(): bigint {
    return BigInt.asUintN(64, this.get(field.rdev));
  }
  get size(): bigint {
    return this.get(field.size);
  }
  get ino(): bigint {
    return BigInt.asUintN(64, this.get(field.ino));
  }
  get dev(): bigint {
    return BigInt.asUintN(64, this.get(field.dev));
  }
  get atimeNs(): bigint {
    return this.get(field.atimeNs);
  }
  get mtimeNs(): bigint {
    return this.get(field.mtimeNs);
  }
  get ctimeNs(): bigint {
    return this.get(field.ctimeNs);
  }

  protected modeBits(): number {
    return Number(this.get(field.mode));
  }
}

/** What a layer's walk (exporter/layer.ts) reads of an entry's lstat: Node's Stats, or the same numbers of a native listing. */
export type EntryNumberStats = Pick<Stats, 'dev' | 'ino' | 'mode' | 'nlink' | 'uid' | 'gid' | 'rdev' | 'size' | 'mtimeMs' | 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isFIFO' | 'isSocket' | 'isBlockDevice' | 'isCharacterDevice'>;

/** ListedStats as numbers, as Node's Stats give them (mtimeMs from the nanoseconds, rounded down to whole ones first). */
class ListedNumberStats extends FileTypes implements EntryNumberStats {
  constructor(private readonly listed: ListedStats) {
    super();
  }

  get mode(): number {
    return Number(this.listed.mode);
  }
  get nlink(): number {
    return Number(this.listed.nlink);
  }
  get uid(): number {
    return Number(this.listed.uid);
  }
  get gid(): number {
    return Number(this.listed.gid);
  }
  get rdev(): number {
    return Number(this.listed.rdev);
  }
  get size(): number {
    return Number(this.listed.size);
  }
  get ino(): number {
    return Number(this.listed.ino);
  }
  get dev(): number {
    return Number(this.listed.dev);
  }
  get mtimeMs(): number {
    const ns = this.listed.mtimeNs;
    return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
  }
  protected modeBits(): number {
    return this.mode;
  }
}

/** A directory's entry as listed: its name byte-exact (see file-names.ts) and its lstat. */
export interface ListedEntry {
  readonly name: string;
  readonly stats: EntryStats;
  /** The same lstat as numbers. */
  numbers(): EntryNumberStats;
}

export type DirectoryListing = { readonly entries: ListedEntry[] } | { readonly changed: true };

/**
 * The entries of HOSTPATH, the directory a walk found with DIRECTORY's inode and device, listed
 * by tsbuild-context.node in one call (its listDirectory): the directory opened without following
 * a link and checked to be that one, each entry's lstat made relative to it. `changed` when the
 * path no longer leads to that directory (gone, a link now, another directory); unordered.
 */
export function listDirectory(addon: ContextAddon, hostPath: string, directory: EntryStats): DirectoryListing {
  const listed = addon.listDirectory(fsPath(hostPath), directory.ino, directory.dev);
  if ('error' in listed) {
    const { ENOENT, ENOTDIR, ELOOP } = osConstants.errno;
    if (listed.error === -1 || listed.error === ENOENT || listed.error === ENOTDIR || listed.error === ELOOP) return { changed: true };
    const code = getSystemErrorName(-listed.error);
    throw Object.assign(new Error(`${code}: ${listed.call} '${hostPath}'`), { code, errno: -listed.error, syscall: listed.call, path: hostPath });
  }
  const names = namesOf(listed.names);
  return {
    entries: names.map((name, index) => {
      const stats = new ListedStats(listed.stats, index * fieldCount);
      return { name, stats, numbers: () => new ListedNumberStats(stats) };
    }),
  };
}

/** Each name of BYTES (each followed by NUL), decoded as readDirectoryNames decodes them. */
function namesOf(bytes: Buffer): string[] {
  if (bytes.length === 0) return [];
  if (isUtf8(bytes)) return bytes.toString('utf8', 0, bytes.length - 1).split('\0');
  const names: string[] = [];
  for (let start = 0; start < bytes.length; ) {
    const end = bytes.indexOf(0, start);
    names.push(decodeFileName(bytes.subarray(start, end)));
    start = end + 1;
  }
  return names;
}
