/**
 * The user namespace mapping a store's files were made under. Unpacked layers, the changes of
 * steps, volumes, containers and cache mounts hold owners as the kernel wrote them: host ids,
 * which a process reads through its namespace's uid and gid maps. A store filled by root (the
 * identity map) and then used by an ordinary user's tsbuild (the user as root, its subordinate
 * range from id 1), or by that user after /etc/subuid moved its range, would show every owner
 * shifted or as 65534 (nobody): images built from it would carry owners no Dockerfile asked for.
 * The first process that opens the store as root in its namespace records the maps it has; a
 * later one whose maps differ is refused while such files exist, as podman refuses a storage
 * made under other mappings until `podman system migrate`. Blobs and names need no mapping.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errnoOf, messageOf, TsbuildError } from '../common/index.js';
import { writeFileAtomic } from './atomic.js';

/** The record's name under the root. */
export const idMappingFile = 'id-mapping.json';

/** Directories under the root whose files keep owners as the kernel wrote them. */
const mappedDirectories = ['layers/sha256', 'layers/diff', 'volumes', 'containers', 'cache-mounts'];

/** One line of /proc/PID/uid_map: ids from INSIDE onward are the parent's from OUTSIDE onward, COUNT of them. */
type MapLine = readonly [inside: number, outside: number, count: number];

interface IdMapping {
  readonly uid: readonly MapLine[];
  readonly gid: readonly MapLine[];
}

function readMap(path: string): MapLine[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const [inside = NaN, outside = NaN, count = NaN] = line.split(/\s+/).map(Number);
      return [inside, outside, count] as const;
    });
}

function sameMaps(a: readonly MapLine[], b: readonly MapLine[]): boolean {
  return a.length === b.length && a.every((line, i) => line.every((value, j) => value === b[i]?.[j]));
}

function describe(map: readonly MapLine[]): string {
  return map.map(([inside, outside, count]) => `${inside}:${outside}:${count}`).join(',');
}

function parseRecord(text: string): IdMapping | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { uid, gid } = value as { uid?: unknown; gid?: unknown };
    const valid = (map: unknown): map is MapLine[] => Array.isArray(map) && map.every((line) => Array.isArray(line) && line.length === 3 && line.every((n) => Number.isSafeInteger(n) && n >= 0));
    return valid(uid) && valid(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/** Whether ROOT holds files whose owners depend on the mapping they were written under. */
function holdsMappedFiles(root: string): boolean {
  return mappedDirectories.some((directory) => {
    try {
      return readdirSync(join(root, directory)).length > 0;
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return false;
      throw error;
    }
  });
}

/**
 * Records this process's uid and gid maps in ROOT when none is recorded (or nothing there
 * depends on one), and refuses the store when another mapping made its files. Only a process
 * that is root in its namespace writes owners; an ordinary user's outer process only reads.
 */
export async function checkIdMapping(root: string): Promise<void> {
  if ((process.getuid?.() ?? 0) !== 0) return;
  let current: IdMapping;
  try {
    current = { uid: readMap('/proc/self/uid_map'), gid: readMap('/proc/self/gid_map') };
  } catch (error) {
    // Without /proc (or user namespaces) there is one mapping only: nothing to compare.
    if (errnoOf(error) === 'ENOENT') return;
    throw error;
  }
  const path = join(root, idMappingFile);
  let recorded: IdMapping | undefined;
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
    recorded = parseRecord(text);
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT') throw new TsbuildError('INTERNAL', `read ${path}: ${messageOf(error)}`, { cause: error });
  }
  if (recorded !== undefined && sameMaps(recorded.uid, current.uid) && sameMaps(recorded.gid, current.gid)) return;
  if (text !== undefined && holdsMappedFiles(root)) {
    const made = recorded === undefined ? 'an unreadable id mapping record' : `uid map ${describe(recorded.uid)} and gid map ${describe(recorded.gid)}`;
    throw new TsbuildError(
      'CONFLICT',
      `store ${root} holds files made under ${made} (${path}); this process maps uid ${describe(current.uid)} and gid ${describe(current.gid)}, under which their owners would change. ` +
        'Use the store as the user (and with the /etc/subuid and /etc/subgid ranges) that made it, or remove it and pull or build again',
    );
  }
  // A store made before mappings were recorded is taken as made under this one: the likeliest.
  try {
    await writeFileAtomic(path, `${JSON.stringify(current)}\n`);
  } catch (error) {
    // A store on a read-only file system, or another's, is read as it is: nothing writes owners there.
    if (!['EROFS', 'EACCES', 'EPERM'].includes(errnoOf(error) ?? '')) throw new TsbuildError('INTERNAL', `write ${path}: ${messageOf(error)}`, { cause: error });
  }
}
