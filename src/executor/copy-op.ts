/**
 * COPY and ADD as steps: what keys them (the selected context files by content, or the cache key
 * of the stage or image they come from), their history entry in BuildKit's words, and the copy
 * itself onto a writable snapshot.
 */
import { TsbuildError } from '../common/index.js';
import { openContext, rootfsSource, sourceDigest, type BuildContext, type ContextIgnoreFile, type SourceDigest, type SourceDigestOptions } from '../cache/index.js';
import type { LayerRef } from '../cache/index.js';
import type { CopyKeyInput } from '../planner/index.js';
import type { ResolvedInstruction, ResolvedStage } from '../planner/index.js';
import { rm } from 'node:fs/promises';
import { posix } from 'node:path';
import { copyInto, downloadUrls, type CopySource, type DownloadedUrl } from './copy.js';
import { isGitSource, parseGitRef, resolveGitRef, type ResolvedGit } from './git-source.js';
import type { HttpCache } from './http-cache.js';
import type { ConfigState } from './image-config.js';
import type { Snapshotter } from './snapshots.js';
import { makeTemporaryDirectory } from '../store/index.js';
import { resolveChown } from './user.js';
import { StepCanceled } from './progress.js';

export type CopyInstruction = Extract<ResolvedInstruction, { kind: 'COPY' | 'ADD' }>;

export interface ContextHandle {
  readonly context: BuildContext;
  /** The context's sourceDigest of SOURCES, made once however many ask (a step, and the build's early start). */
  digest(sources: readonly string[], options: SourceDigestOptions): Promise<SourceDigest>;
}

/**
 * SIGNAL (the build's interrupt) stops the hashing of the context's files (OpenContextOptions.signal);
 * SENTPATHS are what the build reads of it (contextPathsOf).
 */
export async function prepareContext(directory: string, dockerfile: string | undefined, indexDir: string, ignore?: ContextIgnoreFile, signal?: AbortSignal, sentPaths?: readonly string[]): Promise<ContextHandle> {
  const context = await openContext(directory, { ...(dockerfile === undefined ? {} : { dockerfile }), indexDir, ...(ignore === undefined ? {} : { ignore }), ...(signal === undefined ? {} : { signal }), ...(sentPaths === undefined ? {} : { sentPaths }) });
  const digests = new Map<string, Promise<SourceDigest>>();
  return {
    context,
    digest(sources, options) {
      const key = JSON.stringify([sources, options.exclude ?? [], options.parents === true, options.followLinks ?? true]);
      let digest = digests.get(key);
      if (digest === undefined) {
        digest = sourceDigest(context, sources, options);
        digests.set(key, digest);
      }
      return digest;
    },
  };
}

/** The paths a COPY or ADD reads from the build context: none of its URLs or git refs, nothing with --from. */
export function contextSources(instruction: CopyInstruction): readonly string[] {
  if (instruction.from !== undefined) return [];
  return instruction.sources.filter((path) => !isUrl(path) && !isGitSource(path));
}

/**
 * The paths of the build context the stages read, as dockerfile2llb gathers them for the
 * context's FollowPaths (cleaned, absolute): every context source of a COPY or ADD, and the
 * source of every bind or tmpfs mount without from= (`/` where it names none).
 */
export function contextPathsOf(stages: readonly ResolvedStage[]): string[] {
  const paths = new Set<string>();
  for (const stage of stages) {
    for (const instruction of stage.instructions) {
      if (instruction.kind === 'COPY' || instruction.kind === 'ADD') for (const source of contextSources(instruction)) paths.add(posix.join('/', source));
      // A tmpfs mount too: dockerfile2llb adds the source of every mount without from= but a
      // cache's (a secret's and an agent's go before), so that the whole context is sent.
      if (instruction.kind === 'RUN') for (const mount of instruction.mounts) if ((mount.type === 'bind' || mount.type === 'tmpfs') && mount.from === undefined) paths.add(posix.join('/', mount.source ?? ''));
    }
  }
  return [...paths];
}

/** What a COPY or ADD of INSTRUCTION's context sources digests them with. */
export function contextDigestOptions(instruction: CopyInstruction): SourceDigestOptions {
  return { exclude: instruction.exclude, parents: instruction.parents };
}

/** A root filesystem COPY --from reads: a stage's result or an image, known by its cache key. */
export interface SourceState {
  readonly key: string;
  readonly layers: readonly LayerRef[];
}

export interface CopySources {
  context(): Promise<ContextHandle>;
  /** What URLs served before, revalidated rather than downloaded again; none: always downloaded. */
  readonly httpCache?: HttpCache;
  stage(index: number): Promise<SourceState>;
  image(reference: string): Promise<SourceState>;
  readonly snapshots: Snapshotter;
  /** Aborted when the build is canceled: a download under way ends. */
  readonly canceled?: AbortSignal;
  /**
   * Called as the step's own work begins before its key is known: the download of its URLs,
   * which BuildKit runs as a source named as the ADD, so a build canceled meanwhile shows the
   * step CANCELED.
   */
  readonly begin?: () => void;
}

export interface CopyExecution {
  readonly snapshots: Snapshotter;
  readonly layers: readonly LayerRef[];
  readonly sourceDateEpoch: number | undefined;
}

export interface CopyPlan {
  readonly keyInput: CopyKeyInput;
  /** The context files read, path → summary (for why a step missed); not part of the key. */
  readonly files?: ReadonlyMap<string, string>;
  /**
   * COPY --from a stage: the key input by the content of the files it selects (BuildKit's
   * content-based key), for when the key by the stage's own key misses. Not for images: a new
   * image digest almost always brings new files, and hashing a whole toolchain image's tree
   * would slow every cold build for nothing.
   */
  readonly contentKeyInput?: () => Promise<CopyKeyInput>;
  readonly createdBy: string;
  execute(execution: CopyExecution): Promise<LayerRef | undefined>;
  /** Removes what keying the step fetched (URL downloads); the step is not executed after. */
  release(): Promise<void>;
}

const isUrl = (source: string): boolean => /^https?:\/\//.test(source);

/**
 * --chmod as BuildKit 0.13 reads it: Go's strconv.ParseUint in base 8 within 32 bits, so only
 * octal digits (no sign, `0o` prefix or `_`; `u+x` and `$MODE`, never expanded, are no number
 * either). A value that is no such number is no mode: the copy keeps the sources' modes. The
 * file op carries the mode as an int32 where -1 means "none", so 037777777777 is none as well;
 * the copier then applies the permission, setuid, setgid and sticky bits alone (017777 is 07777).
 */
export function parseChmod(value: string): number | undefined {
  if (!/^[0-7]+$/.test(value)) return undefined;
  const parsed = Number.parseInt(value, 8);
  if (parsed >= 0xffffffff) return undefined;
  return parsed & 0o7777;
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
  // dockerfile2llb's order: a git ref is told before a URL.
  const gitSources = instruction.from === undefined ? instruction.sources.filter(isGitSource) : [];
  if (!add) {
    if (gitSources.length > 0) throw new TsbuildError('INVALID_ARGUMENT', `source can't be a git ref for COPY`);
    const url = instruction.sources.find(isUrl);
    if (url !== undefined) throw new TsbuildError('INVALID_ARGUMENT', `source can't be a URL for COPY`);
  }
  // dockerfile2llb's rules: --checksum verifies one download or one commit, nothing else.
  if (instruction.checksum !== '') {
    if (instruction.sources.length !== 1) throw new TsbuildError('INVALID_ARGUMENT', `checksum can't be specified for multiple sources`);
    if (!isUrl(instruction.sources[0] as string) && gitSources.length === 0) throw new TsbuildError('INVALID_ARGUMENT', `checksum can't be specified for non-HTTP sources`);
  }
  const cwd = config.workingDir === undefined || config.workingDir === '' ? '/' : config.workingDir;
  let source: () => Promise<CopySource>;
  let sourceName: string;
  let content: string | undefined;
  let files: ReadonlyMap<string, string> | undefined;
  let contentOf: (() => Promise<string>) | undefined;
  const from = instruction.from;
  if (from === undefined) {
    const local = contextSources(instruction);
    if (local.length > 0) {
      const handle = await sources.context();
      // Hashing stops when the build is interrupted: the step is canceled, not failed.
      const digested = await handle.digest(local, contextDigestOptions(instruction)).catch((error: unknown) => {
        throw sources.canceled?.aborted === true ? new StepCanceled() : error;
      });
      content = digested.digest;
      files = digested.files;
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
    if (from.kind === 'stage') {
      contentOf = async () => {
        const dir = await sources.snapshots.view(state.layers);
        return (await sourceDigest(rootfsSource(dir), instruction.sources, { exclude: instruction.exclude, parents: instruction.parents })).digest;
      };
    }
  }
  // An ADD of a URL without --checksum is keyed by what the URL serves now: fetched once here,
  // the copy takes the same files.
  let downloaded: ReadonlyMap<string, DownloadedUrl> | undefined;
  let scratch: string | undefined;
  // A git source is keyed by the commit its ref names now (BuildKit's git source CacheKey):
  // resolved once here, the copy checks out that commit.
  const git = new Map<string, ResolvedGit>();
  for (const source of gitSources) {
    const ref = parseGitRef(source);
    if (ref === undefined) continue;
    git.set(source, await resolveGitRef(instruction.checksum === '' || ref.checksum !== '' ? ref : { ...ref, checksum: instruction.checksum }));
    if (instruction.checksum !== '' && ref.checksum !== '' && instruction.checksum !== ref.checksum) {
      throw new TsbuildError('DIGEST_MISMATCH', `checksum mismatch ${JSON.stringify(instruction.checksum)} != ${JSON.stringify(ref.checksum)}`);
    }
  }
  if (add && instruction.checksum === '' && instruction.sources.some((source) => isUrl(source) && !gitSources.includes(source))) {
    scratch = await makeTemporaryDirectory(sources.snapshots.temporaryDirectory, 'add');
    try {
      sources.begin?.();
      downloaded = await downloadUrls(instruction.sources, scratch, { cache: sources.httpCache, ...(sources.canceled === undefined ? {} : { signal: sources.canceled }) });
    } catch (error) {
      await rm(scratch, { recursive: true, force: true });
      throw error;
    }
  }
  const release = async (): Promise<void> => {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  };
  const keyInput: CopyKeyInput = {
    add,
    source: sourceName,
    ...(content === undefined ? {} : { content }),
    sources: instruction.sources,
    ...(downloaded === undefined && git.size === 0
      ? {}
      : {
          served: [
            ...[...(downloaded?.values() ?? [])].map((url) => `${url.digest} ${url.lastModified?.toISOString() ?? ''}`),
            // With the .git directory kept, the ref it checks out is part of the result.
            ...[...git].map(([source, resolved]) => `git ${resolved.commit}${(parseGitRef(source)?.keepGitDir ?? instruction.keepGitDir) === true ? ` ${resolved.fullRef}` : ''}`),
          ],
        }),
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
    ...(files === undefined ? {} : { files }),
    ...(contentOf === undefined ? {} : { contentKeyInput: async () => ({ ...keyInput, source: 'rootfs', content: await (contentOf as () => Promise<string>)() }) }),
    createdBy: createdBy(instruction),
    release,
    async execute(execution: CopyExecution): Promise<LayerRef | undefined> {
      const from = await source();
      // COPY --link is an ordinary copy over the stage, as in docker's builder: dockerfile2llb
      // makes it a MergeOp of a copy on an empty root only where the worker has CapMergeOp,
      // which docker's (graphdriver) worker has not. So DEST's existing parents keep their mode
      // and owner, and a symlink in the stage on DEST's path is followed.
      const active = await execution.snapshots.prepare(execution.layers, sources.canceled).catch((error: unknown) => {
        throw sources.canceled?.aborted === true ? new StepCanceled() : error;
      });
      try {
        const owner = instruction.chown === '' ? undefined : await resolveChown(active.path, instruction.chown, { emptyRoot: execution.layers.length === 0 });
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
          ...(downloaded === undefined ? {} : { downloaded }),
          ...(git.size === 0 ? {} : { git }),
          scratchDirectory: execution.snapshots.temporaryDirectory,
        }, sources.canceled === undefined ? {} : { signal: sources.canceled });
        // A canceled build writes no layer of what the copy made (it may be huge: an archive).
        if (sources.canceled?.aborted === true) throw new StepCanceled();
        return await active.commit(execution.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: execution.sourceDateEpoch });
      } finally {
        await active.discard();
      }
    },
  };
}
