/**
 * Hashing: streaming hashers from node:crypto (loaded on first use), the hex hash of data in
 * memory, and tsbuild-hash's writer that hashes and writes a blob off the main thread.
 */
import type * as CryptoModule from 'node:crypto';
import { nodeCrypto } from './lazy-modules.js';
import { loadHashAddon, type HashAddon, type NativeHashingWriter } from './native-addons.js';

export type { NativeHashingWriter } from './native-addons.js';

/** A streaming hash (sha256, sha512, …). */
export function createHasher(algorithm: string): CryptoModule.Hash {
  return nodeCrypto().createHash(algorithm);
}

/** The hex hash of data held in memory: by the native addon where it is built, else by node:crypto. */
export function hashHex(algorithm: string, data: string | Uint8Array): string {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return nativeDigestHex(algorithm, [bytes]) ?? nodeCrypto().createHash(algorithm).update(bytes).digest('hex');
}

/** The hashing addon where it loads and knows the algorithm (sha256, sha512). */
function hashAddonFor(algorithm: string): HashAddon | undefined {
  return algorithm === 'sha256' || algorithm === 'sha512' ? loadHashAddon().module : undefined;
}

/**
 * A hashing writer on FD starting at POSITION, or undefined when the addon is not built or does
 * not load (Node without OpenSSL's symbols): the caller then hashes and writes itself. With
 * WRITEBACK_BYTES > 0 it starts writeback (startWriteback) each time that many are written.
 */
export function createNativeHashingWriter(fd: number, algorithm: string, position: number, writebackBytes: number): NativeHashingWriter | undefined {
  return hashAddonFor(algorithm)?.createHashingWriter(fd, algorithm, position, writebackBytes);
}

/** The hex hash of small data, from the addon; undefined when it is not there. */
export function nativeDigestHex(algorithm: string, buffers: readonly Uint8Array[]): string | undefined {
  return hashAddonFor(algorithm)?.digest(algorithm, buffers);
}
