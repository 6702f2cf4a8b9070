/**
 * Node modules loaded on first use rather than with the modules that use them: node:crypto,
 * node:zlib and node:tls took some 15 ms of every command's start, and a pull from a plain-HTTP
 * registry needs none of them (the native addon hashes; only layers are gzipped).
 */
import type * as CryptoModule from 'node:crypto';
import { createRequire } from 'node:module';
import type * as TlsModule from 'node:tls';
import type * as ZlibModule from 'node:zlib';

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
