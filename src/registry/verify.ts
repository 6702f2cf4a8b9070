/**
 * Digest verification of what the registry sends: a complete body fetched by digest is hashed
 * as it streams and fails at its end, instead of ending cleanly, when it is not that content.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { createHasher, digestAlgorithm, digestHex, hashHex, TsbuildError, type Digest } from '../common/index.js';
import type { Policy } from './transport.js';

export function verifyingStream(expected: Digest, what: string): Transform {
  const hash = createHasher(digestAlgorithm(expected));
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      const actual = `${digestAlgorithm(expected)}:${hash.digest('hex')}`;
      if (actual === `${digestAlgorithm(expected)}:${digestHex(expected)}`) callback();
      else callback(new TsbuildError('DIGEST_MISMATCH', `verify ${what}: expected ${expected}, received content with digest ${actual}`));
    },
  });
}

export function digestOf(bytes: Uint8Array, algorithm = 'sha256'): Digest {
  return `${algorithm}:${hashHex(algorithm, bytes)}` as Digest;
}

export function verifyPolicy(): Policy {
  return (next) => async (request) => {
    const response = await next(request);
    if (request.expectDigest === undefined || request.method !== 'GET' || response.status !== 200) return response;
    const verifier = verifyingStream(request.expectDigest, request.context.action);
    response.body.on('error', (error) => verifier.destroy(error));
    return { ...response, body: response.body.pipe(verifier) };
  };
}
