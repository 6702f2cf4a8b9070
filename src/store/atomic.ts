import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errnoOf, messageOf, TsbuildError, uniqueHex } from '../common/index.js';

/** A name no other writer will pick, for temporary files beside their final place. */
export function temporaryName(prefix: string): string {
  return `${prefix}.${process.pid}.${uniqueHex(6)}.tmp`;
}

/**
 * A new private directory in PARENT named as a temporary (see temporaryName): when the process
 * that made it is killed before removing it, the next build or prune of a store whose temporary
 * directory PARENT is takes it away.
 */
export async function makeTemporaryDirectory(parent: string, prefix: string): Promise<string> {
  const path = join(parent, temporaryName(prefix));
  await mkdir(path, { mode: 0o700 });
  return path;
}

/** The pid of the process that named a temporary (see temporaryName), if the name holds one. */
export function temporaryOwner(name: string): number | undefined {
  const pid = Number(/\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name)?.[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Whether the process that named a temporary (see temporaryName) still runs. A prune must not
 * take a file another process is still writing, however short the grace period; a reused pid
 * only delays the cleanup of an abandoned file until a later prune.
 */
export function temporaryOwnerAlive(name: string): boolean {
  const pid = temporaryOwner(name);
  if (pid === undefined) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoOf(error) === 'EPERM';
  }
}

/** Writes all of BYTES at the handle's position: a write may take only part of them. */
export async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length; ) offset += (await handle.write(bytes, offset, bytes.length - offset)).bytesWritten;
}

/** Makes a rename durable: the directory entry itself must reach the disk. */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a whole small file atomically: temporary name in the same directory, fsync, rename, fsync
 * of the directory. SYNC false leaves out both fsyncs, for a memo that may be lost to a crash
 * (it is made again) but never read half written.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, { sync = true }: { readonly sync?: boolean } = {}): Promise<void> {
  const directory = dirname(path);
  const temporary = join(directory, temporaryName(`.${basename(path)}`));
  try {
    const handle = await open(temporary, 'wx', mode);
    try {
      await handle.writeFile(data);
      if (sync) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
    if (sync) await fsyncDirectory(directory);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw new TsbuildError('INTERNAL', `write ${path}: ${messageOf(error)}`, { cause: error });
  }
}
