/**
 * COPY and ADD as steps: what keys them (the selected context files by content, or the cache key
 * of the stage or image they come from), their history entry in BuildKit's words, and the copy
 * itself onto a writable snapshot.
 */
import { TsbuildError } from '../common/index.js';
import { openContext, sourceDigest, type BuildContext } from '../cache/index.js';
import type { LayerRef } from '../cache/index.js';
import type { CopyKeyInput } from '../planner/index.js';
import type { ResolvedInstruction } from '../planner/index.js';
import { copyInto, type CopySource } from './copy.js';
import type { ConfigState } from './image-config.js';
import type { Snapshotter } from './snapshots.js';
import { resolveChown } from './user.js';

type CopyInstruction = Extract<ResolvedInstruction, { kind: 'COPY' | 'ADD' }>;

export interface ContextHandle {
  readonly context: BuildContext;
}

export async function prepareContext(directory: string, dockerfile: string | undefined, indexDir: string): Promise<ContextHandle> {
  return { context: await openContext(directory, { ...(dockerfile === undefined ? {} : { dockerfile }), indexDir }) };
}

/** A root filesystem COPY --from reads: a stage's result or an image, known by its cache key. */
export interface SourceState {
  readonly key: string;
  readonly layers: readonly LayerRef[];
}

export interface CopySources {
  context(): Promise<ContextHandle>;
  stage(index: number): Promise<SourceState>;
  image(reference: string): Promise<SourceState>;
  readonly snapshots: Snapshotter;
}

export interface CopyExecution {
  readonly snapshots: Snapshotter;
  readonly layers: readonly LayerRef[];
  readonly sourceDateEpoch: number | undefined;
}

export interface CopyPlan {
  readonly keyInput: CopyKeyInput;
  readonly createdBy: string;
  execute(execution: CopyExecution): Promise<LayerRef | undefined>;
}

const isUrl = (source: string): boolean => /^https?:\/\//.test(source);

/** BuildKit's rule for --chmod: an octal number up to 07777. */
function parseChmod(value: string): number | undefined {
  if (value === '') return undefined;
  const mode = /^[0-7]+$/.test(value) ? Number.parseInt(value, 8) : Number.NaN;
  if (!Number.isInteger(mode) || mode > 0o7777) {
    throw new TsbuildError('INVALID_ARGUMENT', `invalid chmod parameter: '${value}'. it should be octal string and between 0 and 07777`);
  }
  return mode;
}

function createdBy(instruction: CopyInstruction): string {
  const parts: string[] = [instruction.kind];
  if (instruction.parents) parts.push('--parents');
  if (instruction.chown !== '') parts.push(`--chown=${instruction.chown}`);
  if (instruction.chmod !== '') parts.push(`--chmod=${instruction.chmod}`);
  parts.push(...instruction.sources, ...instruction.contents.map((content) => `<<${content.path}`), instruction.dest);
  return `${parts.join(' ')} # buildkit`;
}

export async function copyStep(instruction: CopyInstruction, config: ConfigState, sources: CopySources): Promise<CopyPlan> {
  const add = instruction.kind === 'ADD';
  const chmod = parseChmod(instruction.chmod);
  if (!add) {
    const url = instruction.sources.find(isUrl);
    if (url !== undefined) throw new TsbuildError('INVALID_ARGUMENT', `source can't be a URL for COPY`);
  }
  const cwd = config.workingDir === undefined || config.workingDir === '' ? '/' : config.workingDir;
  let source: () => Promise<CopySource>;
  let sourceName: string;
  let content: string | undefined;
  const from = instruction.from;
  if (from === undefined) {
    const local = instruction.sources.filter((path) => !isUrl(path));
    if (local.length > 0) {
      const handle = await sources.context();
      content = (await sourceDigest(handle.context, local, { exclude: instruction.exclude, parents: instruction.parents })).digest;
      source = () => Promise.resolve({ kind: 'context', context: handle.context });
    } else {
      // URLs and heredocs only: nothing is read from the context.
      source = () => Promise.resolve({ kind: 'rootfs', dir: '' });
    }
    sourceName = 'context';
  } else {
    const state = from.kind === 'stage' ? await sources.stage(from.stage) : await sources.image(from.reference);
    sourceName = state.key;
    source = async () => ({ kind: 'rootfs', dir: await sources.snapshots.view(state.layers) });
  }
  const keyInput: CopyKeyInput = {
    add,
    source: sourceName,
    ...(content === undefined ? {} : { content }),
    sources: instruction.sources,
    contents: instruction.contents.map((c) => ({ path: c.path, data: c.data })),
    dest: instruction.dest,
    cwd,
    chown: instruction.chown,
    chmod: instruction.chmod,
    link: instruction.link,
    parents: instruction.parents,
    exclude: instruction.exclude,
    checksum: instruction.checksum,
    unpack: instruction.unpack,
  };
  return {
    keyInput,
    createdBy: createdBy(instruction),
    async execute(execution: CopyExecution): Promise<LayerRef | undefined> {
      const from = await source();
      const active = await execution.snapshots.prepare(execution.layers);
      try {
        const owner = instruction.chown === '' ? undefined : await resolveChown(active.path, instruction.chown);
        await copyInto(from, active.path, {
          sources: [...instruction.sources],
          contents: instruction.contents.map((c) => ({ path: c.path, data: c.data })),
          dest: instruction.dest,
          workdir: cwd,
          ...(owner === undefined ? {} : { chown: { uid: owner.uid, gid: owner.gid } }),
          ...(chmod === undefined ? {} : { chmod }),
          parents: instruction.parents,
          exclude: [...instruction.exclude],
          add,
          ...(instruction.checksum === '' ? {} : { checksum: instruction.checksum }),
          ...(instruction.keepGitDir === undefined ? {} : { keepGitDir: instruction.keepGitDir }),
          ...(instruction.unpack === undefined ? {} : { unpack: instruction.unpack }),
        });
        return await active.commit(execution.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: execution.sourceDateEpoch });
      } finally {
        await active.discard();
      }
    },
  };
}
