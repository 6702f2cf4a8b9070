import { writeFileSync } from 'node:fs';
import { readFile, stat, unlink, utimes } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoOf, messageOf, TsbuildError, uniqueHex } from '../common/index.js';

export interface LockOptions {
  /** How long to wait for another holder before failing with LOCKED. */
  readonly timeoutMs?: number;
  /** A lock older than this is taken as abandoned even if its pid is alive (pid reuse). */
  readonly staleMs?: number;
}

export interface FileLock {
  release(): Promise<void>;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return errnoOf(error) === 'EPERM';
  }
}

/**
 * Creates the lock file holding CONTENT, or finds it there. Synchronous on purpose: open and
 * write follow each other with no turn of the event loop between them, so a holder killed
 * while taking the lock almost never leaves it empty (an empty lock stands for two seconds,
 * see isStale, and a container a killed command froze stays frozen as long).
 */
async function tryCreate(path: string, content: string): Promise<boolean> {
  try {
    writeFileSync(path, content, { flag: 'wx', mode: 0o644 });
    return true;
  } catch (error) {
    if (errnoOf(error) === 'EEXIST') return false;
    throw new TsbuildError('INTERNAL', `create lock ${path}: ${messageOf(error)}`, { cause: error });
  }
}

/** Whether the lock file at PATH (with content CONTENT) was left by a dead or long-gone holder. */
async function isStale(path: string, content: string, staleMs: number): Promise<boolean> {
  const pid = Number.parseInt(content.split('\n')[0] ?? '', 10);
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    // A holder writes its pid right after creating the file: give it a moment before judging.
    const info = await stat(path).catch(() => undefined);
    return info !== undefined && Date.now() - info.mtimeMs > 2_000;
  }
  if (!processAlive(pid)) return true;
  const info = await stat(path).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > staleMs;
}

/**
 * Breaks a stale lock. Two processes may judge the same lock stale at once; only the one holding
 * `PATH.break` may unlink it, and it judges again under that guard, so a lock freshly taken by a
 * third process is never removed.
 */
async function breakStale(path: string, seen: string, staleMs: number): Promise<void> {
  const guard = `${path}.break`;
  if (!(await tryCreate(guard, `${process.pid}\n`))) {
    const info = await stat(guard).catch(() => undefined);
    // A breaker that died between its two steps leaves the guard behind.
    if (info !== undefined && Date.now() - info.mtimeMs > 10_000) await unlink(guard).catch(() => undefined);
    return;
  }
  try {
    const now = await readFile(path, 'utf8').catch(() => undefined);
    if (now === seen && (await isStale(path, now, staleMs))) await unlink(path).catch(() => undefined);
  } finally {
    await unlink(guard).catch(() => undefined);
  }
}

/**
 * Takes an exclusive lock across processes: a file created with O_CREAT|O_EXCL holding the
 * holder's pid. Waits (polling, bounded) while another live process holds it.
 */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<FileLock> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const staleMs = options.staleMs ?? 10 * 60_000;
  const token = `${process.pid}\n${uniqueHex(8)}\n`;
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    if (await tryCreate(path, token)) break;
    const content = await readFile(path, 'utf8').catch(() => undefined);
    if (content !== undefined && (await isStale(path, content, staleMs))) {
      await breakStale(path, content, staleMs);
      continue;
    }
    if (Date.now() > deadline) throw new TsbuildError('LOCKED', `acquire lock ${path}: held by another process (${(content ?? '').split('\n')[0] ?? ''})`);
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 100);
  }
  let released = false;
  // A long holder (a prune of a big store) keeps its lock fresh, so age alone never breaks it.
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, Math.max(1000, Math.floor(staleMs / 3)));
  heartbeat.unref();
  return {
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      const content = await readFile(path, 'utf8').catch(() => undefined);
      if (content === token) await unlink(path).catch(() => undefined);
    },
  };
}

/** Tries once; returns undefined when a live process holds the lock. */
export async function tryLock(path: string, options: LockOptions = {}): Promise<FileLock | undefined> {
  try {
    return await acquireLock(path, { ...options, timeoutMs: 0 });
  } catch (error) {
    if (error instanceof TsbuildError && error.code === 'LOCKED') return undefined;
    throw error;
  }
}

/**
 * Removes the lock file at PATH when its holder is gone (killed while holding it), and with it
 * the guard a breaker of stale locks killed between its two steps left (`PATH.break`); a lock a
 * live process holds stays.
 */
export async function removeAbandonedLock(path: string): Promise<void> {
  const guard = await readFile(`${path}.break`, 'utf8').catch(() => undefined);
  if (guard !== undefined && (await isStale(`${path}.break`, guard, 10_000))) await unlink(`${path}.break`).catch(() => undefined);
  await (await tryLock(path, { staleMs: 24 * 3600_000 }))?.release();
}
