import { closeSync, constants, fchmodSync, openSync, read as readCallback, readSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { openWalkedEntry, type TreeEntry } from '../cache/index.js';
import { fsPath, TsbuildError, type ContextAddon } from '../common/index.js';
import { StepCanceled } from './progress.js';

const read = promisify(readCallback);

/**
 * Opens a file the walk found, for its copy, refusing anything but that very file (openWalkedEntry):
 * a directory on its path swapped for a link since the walk (a context the host changes
 * meanwhile) would otherwise hand over whatever the link reaches, a host file of the same name
 * included.
 */
export function openWalked(entry: TreeEntry): number {
  return openWalkedEntry(entry, () => changedSource(entry.path)).descriptor;
}

export function changedSource(path: string): TsbuildError {
  return new TsbuildError('NOT_FOUND', `copy ${path}: not found: the file changed since the source was read`);
}

/** The open file itself by name, for the calls that take names (an archive sniffed and unpacked). */
export function descriptorPath(descriptor: number): string {
  return `/proc/self/fd/${descriptor}`;
}

/** How much of a large file one read takes: big enough that a copy runs near the disk's speed. */
const chunkBytes = 4 * 1024 * 1024;

/** How much one copy in the kernel takes: a canceled build stops at the next. */
const rangeBytes = 64 * 1024 * 1024;

/**
 * Copies the content of SOURCE (a descriptor openWalked gave) into a new file at DESTINATION (never
 * through a link there: O_EXCL), with the source's mode, reading at most the size the walk saw.
 * A file that ends before that size was cut while it was copied: an error naming it, where a copy
 * that trusts its first size (libuv's copyfile, Node's copyFile) waits forever for bytes that
 * will not come. Bytes appended meanwhile are left out, as the walk never saw them. Once SIGNAL
 * is aborted (the build canceled) the copy stops at its next chunk (StepCanceled): a sparse file
 * of a terabyte of holes, a few blocks in a context tar, is a terabyte of zeros to copy.
 */
export async function copyWalkedContent(source: number, entry: TreeEntry, destination: string, signal?: AbortSignal, addon?: ContextAddon): Promise<void> {
  const target = await open(fsPath(destination), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    const size = Number(entry.stats.size);
    let copied = 0;
    // In the kernel where tsbuild-context.node loads: 50 MiB in about 20 ms, where Node's reads
    // and writes of it take 60 to 100.
    while (addon !== undefined && copied < size) {
      if (signal?.aborted === true) throw new StepCanceled();
      const moved = await addon.copyRange(source, target.fd, copied, Math.min(rangeBytes, size - copied));
      if (moved === 0) throw cutWhileCopied(entry.path, copied, size);
      copied += moved;
    }
    const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(size - copied, 1)));
    while (copied < size) {
      if (signal?.aborted === true) throw new StepCanceled();
      const { bytesRead } = await read(source, buffer, 0, Math.min(buffer.length, size - copied), copied);
      if (bytesRead === 0) throw cutWhileCopied(entry.path, copied, size);
      await writeAll(target, buffer, bytesRead, copied);
      copied += bytesRead;
    }
    await target.chmod(Number(entry.stats.mode) & 0o7777);
  } finally {
    await target.close();
  }
}

/** copyWalkedContent for a small file, without a turn of the event loop per read. */
export function copyWalkedContentSync(source: number, entry: TreeEntry, destination: string): void {
  const target = openSync(fsPath(destination), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    const size = Number(entry.stats.size);
    const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(size, 1)));
    let copied = 0;
    while (copied < size) {
      const bytesRead = readSync(source, buffer, 0, Math.min(buffer.length, size - copied), copied);
      if (bytesRead === 0) throw cutWhileCopied(entry.path, copied, size);
      for (let written = 0; written < bytesRead; ) written += writeSync(target, buffer, written, bytesRead - written, copied + written);
      copied += bytesRead;
    }
    fchmodSync(target, Number(entry.stats.mode) & 0o7777);
  } finally {
    closeSync(target);
  }
}

async function writeAll(target: FileHandle, buffer: Buffer, length: number, position: number): Promise<void> {
  for (let written = 0; written < length; ) written += (await target.write(buffer, written, length - written, position + written)).bytesWritten;
}

export function cutWhileCopied(path: string, copied: number, size: number): TsbuildError {
  return new TsbuildError('NOT_FOUND', `copy ${path}: the file changed while it was copied: it ended after ${copied} of the ${size} bytes it had when the source was read`);
}
