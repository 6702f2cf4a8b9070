import type { Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { createHasher, digestAlgorithm, digestHex, TsbuildError, type Digest } from '../common/index.js';

/** Hash object for a digest's algorithm (sha256, sha512). */
export function hasherFor(digest: Digest): Hash {
  return createHasher(digestAlgorithm(digest));
}

/**
 * Passes bytes through unchanged and fails at the end, instead of ending cleanly, when they do
 * not hash to DIGEST or their length differs from SIZE.
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash;
  private count = 0;

  constructor(
    private readonly digest: Digest,
    private readonly size: number | undefined,
    private readonly what: string,
  ) {
    super();
    this.hash = hasherFor(digest);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.count += chunk.length;
    if (this.size !== undefined && this.count > this.size) {
      callback(new TsbuildError('SIZE_MISMATCH', `read ${this.what}: more than the expected ${this.size} bytes`, { digest: this.digest }));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.size !== undefined && this.count !== this.size) {
      callback(new TsbuildError('SIZE_MISMATCH', `read ${this.what}: got ${this.count} bytes, expected ${this.size}`, { digest: this.digest }));
      return;
    }
    const actual = this.hash.digest('hex');
    if (actual !== digestHex(this.digest)) {
      callback(new TsbuildError('DIGEST_MISMATCH', `read ${this.what}: content hashes to ${digestAlgorithm(this.digest)}:${actual}, expected ${this.digest}`, { digest: this.digest }));
      return;
    }
    callback();
  }
}
