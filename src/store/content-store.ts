import type { Readable } from 'node:stream';
import type { Descriptor, Digest } from '../common/index.js';

export interface BlobInfo {
  readonly digest: Digest;
  readonly size: number;
}

export interface ExpectedBlob {
  readonly digest: Digest;
  readonly size?: number;
}

/**
 * A blob being written in pieces, kept across processes so that a killed download resumes.
 * Data is hashed as it is written; nothing is visible under `blobs/` until `commit` has
 * verified digest and size, fsynced and renamed it into place.
 */
export interface Ingest {
  /** Bytes already held from an earlier, interrupted attempt; the writer continues from here. */
  readonly offset: number;
  /** Appends the chunks, in order, in one write where it can; they must not change until it settles. */
  write(chunks: readonly Uint8Array[]): Promise<void>;
  /** Verifies the expected digest and size, then makes the blob visible. Idempotent. */
  commit(): Promise<BlobInfo>;
  /** Throws away what was written (for instance after a digest mismatch). */
  abort(): Promise<void>;
  /** Keeps what was written for a later attempt and releases the ingest. */
  suspend(): Promise<void>;
}

export interface OpenBlobOptions {
  /**
   * Whether the stream hashes what it reads (default true). Only a reader that verifies the
   * digest itself may turn this off: a registry receiving a push rejects content that does not
   * match the digest it is pushed under, so hashing it here as well would only cost CPU.
   */
  readonly verify?: boolean;
}

/**
 * The content-addressed store contract, after umoci's cas.Engine:
 *
 * - `putBlob` is idempotent: a nil error means "the content is stored at DIGEST", not "stored
 *   because of this call". It writes to a temporary file while hashing, fsyncs and renames; a
 *   blob already present is not written again. With `expected`, a mismatch fails with
 *   `DIGEST_MISMATCH` or `SIZE_MISMATCH` and leaves nothing behind.
 * - `openBlob` returns a stream that verifies digest and size at EOF and fails with
 *   `DIGEST_MISMATCH` rather than end cleanly (unless asked not to hash, see OpenBlobOptions);
 *   a missing blob fails with `NOT_FOUND`.
 * - Replacing the reference index is atomic: readers see the old index or the new one.
 * - Every failure is a TsbuildError with a code.
 */
export interface ContentStore {
  hasBlob(digest: Digest): Promise<boolean>;
  /** Size of a stored blob, or undefined when absent. */
  blobSize(digest: Digest): Promise<number | undefined>;
  putBlob(source: Readable | AsyncIterable<Uint8Array>, expected?: ExpectedBlob): Promise<BlobInfo>;
  /** Starts or resumes writing a blob whose digest is known in advance. */
  beginIngest(expected: ExpectedBlob): Promise<Ingest>;
  openBlob(digest: Digest, options?: OpenBlobOptions): Promise<Readable>;
  /** Reads a small blob (manifest, config) whole, verified; fails beyond `maxBytes`. */
  readBlob(digest: Digest, maxBytes?: number): Promise<Buffer>;
  /**
   * The last `length` bytes of a blob (fewer when it is shorter), NOT verified: for hints read
   * from a blob's own framing (a gzip trailer's size), never for content that is used.
   */
  readBlobTail(digest: Digest, length: number): Promise<Buffer>;

  /** The descriptor a name (`docker.io/library/busybox:latest`) points at, or undefined. */
  resolveReference(name: string): Promise<Descriptor | undefined>;
  /** Names TARGET; what the name held before stays, unnamed, when no other entry holds it. */
  setReference(name: string, target: Descriptor): Promise<void>;
  deleteReference(name: string): Promise<boolean>;
  listReferences(): Promise<ReadonlyArray<{ readonly name: string; readonly target: Descriptor }>>;
  /** Keeps TARGET as an image without a name (docker's `<none>:<none>`) unless something holds it already. */
  keepUnnamed(target: Descriptor): Promise<boolean>;
  /** The images kept without a name. */
  listUnnamed(): Promise<Descriptor[]>;
}
