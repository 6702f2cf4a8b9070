import { closeSync, constants, fstatSync } from 'node:fs';
import { chmod, lchown, lstat, mkdir, open, readlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { errnoOf, TsbuildError } from './errors.js';
import { readXattr } from './extended-attributes.js';
import { decodeFileName, fsPath } from './file-names.js';
import { loadFsAddon } from './native-addons.js';

/** As Linux's MAXSYMLINKS, and BuildKit's (continuity's) walk of a path inside a root. */
export const maxSymlinkHops = 40;

export interface ResolveInRootOptions {
  /** Whether a symlink as the last component is followed too; defaults to true. */
  readonly followFinal?: boolean;
  /**
   * Whether a path that exists is seen at all (a build context hides what .dockerignore
   * excludes); one that is not is taken as missing. RELATIVEPATH is below ROOT, without `/` first.
   */
  readonly visible?: (relativePath: string, isDirectory: boolean) => boolean | Promise<boolean>;
  /**
   * Whether a symlink whose target climbs above ROOT with `..` fails (UNSAFE_PATH) instead of
   * stopping at ROOT. Such a link means nothing inside a root but the host beyond it: one met
   * where something from outside is to be mounted was planted to lead the mount out.
   */
  readonly refuseEscape?: boolean;
}

export interface MkdirInRootOptions {
  /**
   * Mode of each directory made, applied after mkdir so that this process's umask does not narrow
   * it; defaults to 0o755. Below a directory with a default ACL, which the kernel applies instead
   * of the umask, the mode is the one mkdir gave, as Go's os.MkdirAll leaves it (unless `exactMode`).
   */
  readonly mode?: number;
  /** The mode asked even below a default ACL: moby's MkdirAllAndChown, which chmods what differs. */
  readonly exactMode?: boolean;
  /** Owner given to each directory made (both or neither); by default the process's. */
  readonly uid?: number;
  readonly gid?: number;
}

export interface MkdirInRootResult {
  /** The host path of the directory PATH names inside ROOT. */
  readonly path: string;
  /** The host paths of the directories made, parents first. */
  readonly created: readonly string[];
}


function tooManyLinks(root: string, path: string): TsbuildError {
  return new TsbuildError('UNSAFE_PATH', `resolve ${JSON.stringify(path)} in ${root}: too many levels of symbolic links`);
}

/**
 * What a component met on the walk is: a directory to step into, a symlink to follow (with its
 * target), or anything else (missing, a file, a device), after which the walk is only lexical.
 */
type Step = { readonly kind: 'directory' } | { readonly kind: 'symlink'; readonly target: string } | { readonly kind: 'other' };

async function step(path: string, relativePath: string, visible: ResolveInRootOptions['visible'], changes = 0): Promise<Step> {
  let info;
  try {
    info = await lstat(fsPath(path));
  } catch (error) {
    // ENOTDIR: a component before this one is a file; the rest of the path is then missing too.
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return { kind: 'other' };
    throw error;
  }
  if (visible !== undefined && !(await visible(relativePath, info.isDirectory()))) return { kind: 'other' };
  if (info.isDirectory()) return { kind: 'directory' };
  if (info.isSymbolicLink()) {
    try {
      return { kind: 'symlink', target: decodeFileName(await readlink(fsPath(path), { encoding: 'buffer' })) };
    } catch (error) {
      // The link went, or became something else, after its lstat (a tree another process
      // changes meanwhile, a build context above all): taken as it is now, as lstat sees it.
      const code = errnoOf(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'other' };
      if (code === 'EINVAL' && changes < maxStepChanges) return step(path, relativePath, visible, changes + 1);
      throw error;
    }
  }
  return { kind: 'other' };
}

/** How often one component may change between its lstat and readlink before the walk gives up. */
const maxStepChanges = 8;

/**
 * Walks PATH below ROOT as the kernel would after chroot(ROOT): each symlink met is followed, an
 * absolute target restarting at ROOT, and `..` never climbs above ROOT. Components that do not
 * exist are kept as written (ONMISSING may make them), so a path to be created resolves too.
 * Returns the components below ROOT, none of them a symlink (except the last one when FOLLOWFINAL
 * is false) and none `..`.
 */
async function walkInRoot(
  root: string,
  path: string,
  followFinal: boolean,
  onMissing?: (hostPath: string, rest: string) => Promise<void>,
  visible?: ResolveInRootOptions['visible'],
  refuseEscape = false,
): Promise<string[]> {
  if (path.includes('\0')) throw new TsbuildError('UNSAFE_PATH', `resolve ${JSON.stringify(path)} in ${root}: NUL in path`);
  const resolved: string[] = [];
  const queue = path.split('/');
  let hops = 0;
  // Once a component is missing (or not a directory), nothing after it can be a symlink.
  let missingFrom = Number.POSITIVE_INFINITY;
  while (queue.length > 0) {
    const part = queue.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      // PATH itself may say `..` at the top (a chroot takes it as `.`); after a symlink, the link did.
      if (refuseEscape && resolved.length === 0 && hops > 0) {
        throw new TsbuildError('UNSAFE_PATH', `resolve ${JSON.stringify(path)} in ${root}: a symbolic link on the way leads out of the root`);
      }
      resolved.pop();
      if (resolved.length < missingFrom) missingFrom = Number.POSITIVE_INFINITY;
      continue;
    }
    if (resolved.length >= missingFrom) {
      resolved.push(part);
      continue;
    }
    const hostPath = join(root, ...resolved, part);
    const found = await step(hostPath, [...resolved, part].join('/'), visible);
    const isLast = queue.every((rest) => rest === '' || rest === '.');
    if (found.kind === 'symlink' && (followFinal || !isLast)) {
      if (++hops > maxSymlinkHops) throw tooManyLinks(root, path);
      if (found.target.startsWith('/')) resolved.length = 0;
      queue.unshift(...found.target.split('/'));
      continue;
    }
    if (found.kind === 'other') {
      if (onMissing === undefined) missingFrom = resolved.length;
      else await onMissing(hostPath, queue.filter((rest) => rest !== '' && rest !== '.').join('/'));
    }
    resolved.push(part);
  }
  return resolved;
}

/**
 * Resolves PATH (absolute or relative to ROOT) inside ROOT the way a chroot would: every symlink
 * met is followed with absolute targets restarting at ROOT, `..` stops at ROOT, at most 40 hops.
 * Returns the host path, always ROOT or below it. Missing trailing components are allowed and
 * returned as written (so are the components after a non-directory: using them fails later).
 */
export async function resolveInRoot(root: string, path: string, options: ResolveInRootOptions = {}): Promise<string> {
  const parts = await walkInRoot(root, path, options.followFinal ?? true, undefined, options.visible, options.refuseEscape);
  return join(root, ...parts);
}

/** S_ISGID, which node:fs's constants lack. */
const setgidBit = 0o2000;
/** Where a directory's default ACL lives: the modes of what is made in it, in place of the umask. */
const defaultAclXattr = 'system.posix_acl_default';

/**
 * Makes the directory PATH names inside ROOT and its missing parents, each component resolved
 * inside ROOT as `resolveInRoot` does, so a symlink on the way (even to `/` or `../..`) never
 * leads outside ROOT. A component that exists and is not a directory fails with INVALID_ARGUMENT.
 * A directory made in a setgid directory keeps the setgid bit (and group) mkdir gave it.
 */
export async function mkdirInRoot(root: string, path: string, options: MkdirInRootOptions = {}): Promise<MkdirInRootResult> {
  const mode = options.mode ?? 0o755;
  const created: string[] = [];
  const parts = await walkInRoot(root, path, true, async (hostPath, rest) => {
    try {
      await mkdir(fsPath(hostPath), { mode });
    } catch (error) {
      // Made by someone else since the walk looked: a directory is as good as ours.
      if (errnoOf(error) === 'EEXIST' && (await lstat(fsPath(hostPath))).isDirectory()) return;
      // In Go's words, as BuildKit's copy and WORKDIR fail, the path as the root sees it: the
      // last component there but no directory (a link to a file followed) is mkdir's, the first
      // below a file lstat's.
      const inRoot = hostPath.slice(root.length) || '/';
      if (errnoOf(error) === 'EEXIST' && rest === '') throw new TsbuildError('INVALID_ARGUMENT', `mkdir ${inRoot}: not a directory`);
      if (errnoOf(error) === 'EEXIST' || errnoOf(error) === 'ENOTDIR') throw new TsbuildError('INVALID_ARGUMENT', `lstat ${posix.join(inRoot, rest.split('/')[0] ?? '')}: not a directory`);
      throw error;
    }
    created.push(hostPath);
    // mkdir's mode passed through the umask; the asked mode is the one wanted, plus the setgid
    // bit a directory made in a setgid directory takes from it (with its group), as Go's
    // os.MkdirAll leaves it in BuildKit's copies, WORKDIRs and archives (/var/local, /var/mail).
    const inherited = (await lstat(fsPath(hostPath))).mode & setgidBit;
    if (options.exactMode === true || readXattr(dirname(hostPath), defaultAclXattr) === undefined) await chmod(fsPath(hostPath), mode | inherited);
    if (options.uid !== undefined || options.gid !== undefined) await lchown(fsPath(hostPath), options.uid ?? -1, options.gid ?? -1);
  });
  return { path: join(root, ...parts), created };
}

/**
 * The text of the regular file PATH names inside ROOT (resolved as `resolveInRoot` does), at most
 * MAXBYTES of it; undefined when it does not exist. Anything else an image may hold there fails
 * at once with INVALID_ARGUMENT: a fifo (never opened to wait for a writer), a device (never read
 * without end), a file larger than MAXBYTES (never held whole).
 */
export async function readFileInRoot(root: string, path: string, maxBytes: number): Promise<string | undefined> {
  return (await readBytesInRoot(root, path, maxBytes))?.toString('utf8');
}

/** Linux's O_PATH (the same on x86-64 and arm64), which node:fs's constants lack. */
const oPath = 0o10000000;

/** ENOSYS once seen: the kernel has no openat2 (before 5.6), so every later open walks in JavaScript. */
let kernelLacksOpenat2 = false;

/**
 * A descriptor of what PATH names inside ROOT, opened `O_PATH` by the kernel's resolution inside
 * ROOT (openat2, RESOLVE_IN_ROOT): resolved at the moment of the open, so no link swapped in
 * after a check can lead it out, as a walk in JavaScript then an open could be while the tree's
 * owner (a running container, under /proc/PID/root) changes it. 'missing' when nothing is there,
 * undefined where tsbuild-fs does not load or the kernel lacks openat2 (the caller walks instead).
 */
function openPathByKernel(root: string, path: string): number | 'missing' | undefined {
  const addon = kernelLacksOpenat2 ? undefined : loadFsAddon().module;
  if (addon === undefined) return undefined;
  try {
    return addon.openInRoot(fsPath(root), fsPath(path), oPath);
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    if (code === 'ENOSYS') {
      kernelLacksOpenat2 = true;
      return undefined;
    }
    if (code === 'ELOOP') throw tooManyLinks(root, path);
    throw new TsbuildError('INVALID_ARGUMENT', `read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The regular file PATH names inside ROOT (resolved as `resolveInRoot` does), open for reading,
 * and its size; undefined when it does not exist. A fifo is never waited on, a device never
 * opened for reading without end: anything but a regular file fails with INVALID_ARGUMENT.
 * Where the kernel can, it resolves PATH itself (`openPathByKernel`) and only a regular file is
 * then opened for reading, so a tree that changes meanwhile still leads nowhere else.
 * The caller closes the handle.
 */
export async function openRegularFileInRoot(root: string, path: string): Promise<{ handle: FileHandle; size: number } | undefined> {
  const pathFd = openPathByKernel(root, path);
  if (pathFd === 'missing') return undefined;
  if (pathFd !== undefined) {
    try {
      if (!fstatSync(pathFd).isFile()) throw new TsbuildError('INVALID_ARGUMENT', `read ${path}: not a regular file`);
      // Reopened through the descriptor itself: the very file openat2 found, for reading.
      const handle = await open(`/proc/self/fd/${pathFd}`, constants.O_RDONLY | constants.O_NONBLOCK);
      const info = await handle.stat().catch(async (error: unknown) => {
        await handle.close();
        throw error;
      });
      return { handle, size: info.size };
    } finally {
      closeSync(pathFd);
    }
  }
  const hostPath = await resolveInRoot(root, path);
  let handle;
  try {
    // O_NONBLOCK: opening a fifo returns at once; the last component was resolved above, so a
    // symlink there now was swapped in since and is refused.
    handle = await open(fsPath(hostPath), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return undefined;
    throw new TsbuildError('INVALID_ARGUMENT', `read ${path}: ${(error as Error).message}`, { cause: error });
  }
  const info = await handle.stat().catch(async (error: unknown) => {
    await handle.close();
    throw error;
  });
  if (!info.isFile()) {
    await handle.close();
    throw new TsbuildError('INVALID_ARGUMENT', `read ${path}: not a regular file`);
  }
  return { handle, size: info.size };
}

/** `readFileInRoot`, the bytes as they are (a document whose digest is checked). */
export async function readBytesInRoot(root: string, path: string, maxBytes: number): Promise<Buffer | undefined> {
  const opened = await openRegularFileInRoot(root, path);
  if (opened === undefined) return undefined;
  const { handle } = opened;
  try {
    if (opened.size > maxBytes) throw new TsbuildError('INVALID_ARGUMENT', `read ${path}: exceeds ${maxBytes} bytes`);
    // One byte more than it said: a file that grows meanwhile is still caught.
    const bytes = Buffer.alloc(Math.min(opened.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(bytes, length, bytes.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new TsbuildError('INVALID_ARGUMENT', `read ${path}: exceeds ${maxBytes} bytes`);
      if (length === bytes.length) break;
    }
    return bytes.subarray(0, length);
  } finally {
    await handle.close();
  }
}
