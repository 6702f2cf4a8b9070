/**
 * WORKDIR: BuildKit makes the directory (with its parents, owned by the stage's USER, if any) as a file
 * operation of its own, which becomes a layer when the directory was not there.
 */
import { utimes } from 'node:fs/promises';
import { mkdirInRoot } from '../common/index.js';
import type { LayerRef } from '../cache/index.js';
import type { Snapshotter } from './snapshots.js';
import { resolveChown } from './user.js';

export interface MkdirStep {
  readonly snapshots: Snapshotter;
  readonly layers: readonly LayerRef[];
  readonly path: string;
  /** The stage's USER ('' for root): the owner of the directories made. */
  readonly user: string;
  readonly sourceDateEpoch: number | undefined;
}

export async function mkdirStep(step: MkdirStep): Promise<LayerRef | undefined> {
  const active = await step.snapshots.prepare(step.layers);
  try {
    // The owner as BuildKit's file op reads a user (its --chown rules, not the RUN user's): a
    // numeric uid alone is uid:uid, a name takes its passwd entry's ids. Without USER it
    // chowns nothing: a directory made in a setgid directory keeps that directory's group.
    const owner = step.user === '' ? {} : await resolveChown(active.path, step.user, { emptyRoot: step.layers.length === 0 });
    const made = await mkdirInRoot(active.path, step.path, { mode: 0o755, ...owner });
    if (step.sourceDateEpoch !== undefined) {
      const time = new Date(step.sourceDateEpoch * 1000);
      for (const directory of made.created) await utimes(directory, time, time);
    }
    return await active.commit(step.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: step.sourceDateEpoch });
  } finally {
    await active.discard();
  }
}
