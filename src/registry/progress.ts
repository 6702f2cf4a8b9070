/** Progress of a pull or push, per blob, for the CLI's display or any other subscriber. */
import type { Digest } from '../common/index.js';

export type BlobPhase =
  /** Already in the store (pull) or in the registry (push): nothing to transfer. */
  | 'exists'
  /** Mounted from another repository of the same registry. */
  | 'mounted'
  | 'waiting'
  | 'transfer'
  /** A transfer failed temporarily and starts again (from `current` when resumed). */
  | 'retry'
  | 'done';

export interface BlobProgress {
  readonly kind: 'blob';
  readonly digest: Digest;
  readonly mediaType: string;
  readonly phase: BlobPhase;
  /** Bytes held so far (pull) or sent so far (push). */
  readonly current: number;
  readonly total: number;
  /** For 'mounted': the repository (path on the same registry) the blob was mounted from. */
  readonly from?: string;
}

export interface ManifestProgress {
  readonly kind: 'manifest';
  readonly digest: Digest;
  readonly mediaType: string;
  /** The reference the manifest was read from or written to. */
  readonly reference: string;
}

export type ProgressEvent = BlobProgress | ManifestProgress;
export type ProgressListener = (event: ProgressEvent) => void;
