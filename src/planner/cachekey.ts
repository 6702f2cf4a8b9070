/**
 * Every rule that turns a step's inputs into its cache key, in one pure module. A key is the
 * sha256 of a canonical JSON document holding the parent step's key, what the step does after
 * expansion, and the digests of the content it reads. Two steps with equal keys give equal
 * results, so a key found in the cache is a step that need not run.
 *
 * As in BuildKit, only steps that change files have keys (the base image, RUN, COPY, ADD and
 * a WORKDIR that creates its directory); metadata instructions change the image config only
 * and never invalidate a later step, except through what they feed into one (ENV and ARG
 * values are part of a RUN's environment, WORKDIR of its working directory, USER of its user).
 */
import { hashHex, parseDigest, type Digest } from '../common/index.js';

/**
 * Bumped when the meaning of a key changes, or when what a step makes from the same inputs was
 * corrected, so that old records are never taken for new ones. 2: directories made below a
 * setgid or default-ACL directory, hard links to non-regular files in layers, `USER :GROUP`,
 * and ADD's decoded downloads and their times follow BuildKit. 3: the times of an ADD archive's
 * directory entries, and the modes and times of its hard links, go where moby's untar puts them.
 */
const keyVersion = 3;

/** JSON with object keys sorted, so that field order never changes a key. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function key(document: unknown): Digest {
  return parseDigest(`sha256:${hashHex('sha256', canonical({ v: keyVersion, ...(document as object) }))}`);
}

/** The root of a stage built FROM an image: the manifest digest chosen, never the tag. */
export function baseImageKey(manifestDigest: Digest): Digest {
  return key({ op: 'image', manifest: manifestDigest });
}

/** The root of a stage built FROM scratch. */
export function scratchKey(): Digest {
  return key({ op: 'scratch' });
}

export interface ExecKeyInput {
  readonly args: readonly string[];
  /** The environment the process gets (ENV and the ARGs in effect), in order. */
  readonly env: readonly string[];
  readonly cwd: string;
  readonly user: string;
  readonly network: string;
  readonly security: string;
  /** What each mount contributes (a bind's source key and paths; a cache mount's id only). */
  readonly mounts: readonly unknown[];
  /**
   * The build's `--add-host` lines, hostname, `--ulimit`s and `--shm-size`, as BuildKit keys an
   * exec by them; absent when the build gives none, so that other keys stay as they were.
   */
  readonly sandbox?: { readonly extraHosts?: readonly string[]; readonly hostname?: string; readonly ulimits?: readonly string[]; readonly shmSize?: number };
}

/** RUN: its command line after the shell, its environment and ARGs, cwd, user, network, mounts. */
export function execKey(parent: Digest, input: ExecKeyInput): Digest {
  return key({ op: 'exec', parent, ...input });
}

export interface CopyKeyInput {
  readonly add: boolean;
  /** Where the files come from: `context`, or the cache key of the stage or image they are read from. */
  readonly source: string;
  /** Digest of the selected files' paths, modes, owners, link targets and content (context sources). */
  readonly content?: string;
  readonly sources: readonly string[];
  /**
   * ADD without --checksum: what each URL source served (`sha256:…` and its Last-Modified), as
   * BuildKit's http source keys it; with --checksum the checksum alone keys it, nothing fetched.
   */
  readonly served?: readonly string[];
  readonly contents: readonly { readonly path: string; readonly data: string }[];
  readonly dest: string;
  readonly cwd: string;
  readonly chown: string;
  readonly chmod: string;
  readonly link: boolean;
  readonly parents: boolean;
  readonly exclude: readonly string[];
  readonly checksum: string;
  readonly unpack: boolean | undefined;
}

/** COPY and ADD: what is copied (by content, never by mtime), where, and with which ownership and mode. */
export function copyKey(parent: Digest, input: CopyKeyInput): Digest {
  return key({ op: 'copy', parent, ...input });
}

/**
 * Where a step's result is kept when SOURCE_DATE_EPOCH is set: its layer's times are clamped
 * and its history time is the epoch, so the same step run without it (or with another epoch)
 * made other bytes and must not be found for it, nor it for them. Steps keep their own keys
 * as parents; only the record they are stored under differs.
 */
export function sourceDateEpochKey(step: Digest, sourceDateEpoch: number): Digest {
  return key({ op: 'source-date-epoch', step, epoch: sourceDateEpoch });
}

/**
 * What follows a COPY --from a stage: the parent's key and the layer the copy made (none: `undefined`),
 * not where its files came from, so that a stage that ran again but gave the same files leaves
 * the later steps cached, as BuildKit's content-based keys do.
 */
export function copyResultKey(parent: Digest, layerDiffId: Digest | undefined): Digest {
  return key({ op: 'copy-result', parent, layer: layerDiffId ?? null });
}

/** WORKDIR creating its directory (BuildKit's mkdir), as the configured user. */
export function mkdirKey(parent: Digest, path: string, user: string): Digest {
  return key({ op: 'mkdir', parent, path, user });
}

