/**
 * `--volumes-from CONTAINER[:ro|:rw]`, docker's: the new container mounts what the other one
 * mounts from volumes and the host, at the same places; `:ro` or `:rw` overrides the mode, which
 * is otherwise the other container's. tmpfs mounts are its own and do not go along, and a place
 * the new container's own -v or --mount names keeps that mount.
 */
import { basename, dirname, join } from 'node:path';
import { TsbuildError } from '../common/index.js';
import type { Store } from '../store/index.js';
import { findContainer } from './container-store.js';
import { volumesDirectory, type MountRequest } from './volumes/index.js';

export async function volumesFromRequests(store: Store, specs: readonly string[], own: readonly MountRequest[]): Promise<MountRequest[]> {
  const taken = new Set(own.map((request) => request.target));
  const requests: MountRequest[] = [];
  for (const spec of specs) {
    const match = /^(.+?)(?::(ro|rw))?$/.exec(spec);
    if (match === null || match[1] === undefined) throw new TsbuildError('INVALID_ARGUMENT', `invalid volumes-from: ${JSON.stringify(spec)}`);
    const [, nameOrId, mode] = match;
    const source = await findContainer(store, nameOrId);
    for (const mount of source.hostConfig?.mounts ?? []) {
      if (taken.has(mount.destination) || mount.source === undefined || (mount.type !== undefined && mount.type !== 'bind')) continue;
      const readonly = mode === undefined ? (mount.options ?? []).includes('ro') : mode === 'ro';
      const volume = dirname(mount.source);
      if (basename(mount.source) === '_data' && dirname(volume) === volumesDirectory(store) && join(volume, '_data') === mount.source) {
        requests.push({ kind: 'volume', name: basename(volume), target: mount.destination, readonly, noCopy: true });
      } else {
        requests.push({ kind: 'bind', source: mount.source, target: mount.destination, readonly, createSource: false, recursive: (mount.options ?? []).includes('rbind') });
      }
      taken.add(mount.destination);
    }
  }
  return requests;
}
