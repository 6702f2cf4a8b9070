/**
 * Node modules loaded on first use rather than with the modules that use them: node:crypto,
 * node:zlib and node:tls took some 15 ms of every command's start, and a pull from a plain-HTTP
 * registry needs none of them (the native addon hashes; only layers are gzipped).
 */
import type * as CryptoModule from 'node:crypto';
import { createRequire } from 'node:module';
import type * as TlsModule from 'node:tls';
import type * as ZlibModule from 'node:zlib';
import { nativeDigestHex } from './fs-native.js';

const requireHere = createRequire(import.meta.url);

export function nodeCrypto(): typeof CryptoModule {
  return requireHere('node:crypto') as typeof CryptoModule;
}

export function nodeZlib(): typeof ZlibModule {
  return requireHere('node:zlib') as typeof ZlibModule;
}

export function nodeTls(): typeof TlsModule {
  return requireHere('node:tls') as typeof TlsModule;
}

/** A streaming hash (sha256, sha512, …). */
export function createHasher(algorithm: string): CryptoModule.Hash {
  return nodeCrypto().createHash(algorithm);
}

/** The hex hash of data held in memory: by the native addon where it is built, else by node:crypto. */
export function hashHex(algorithm: string, data: string | Uint8Array): string {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return nativeDigestHex(algorithm, [bytes]) ?? nodeCrypto().createHash(algorithm).update(bytes).digest('hex');
}

/**
 * Hex digits no other writer picks at the same time, for temporary names and lock tokens: they
 * guard against collisions (with the process ID beside them), not against an adversary, so
 * Math.random does.
 */
export function uniqueHex(bytes: number): string {
  let text = '';
  while (text.length < 2 * bytes) text += Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  return text.slice(0, 2 * bytes);
}
