/**
 * A blob of a registry read as a stream, for callers that do not keep it in the store (a cache
 * import reading one layer, say). The verification policy hashes it as it flows: the stream
 * fails at its end with DIGEST_MISMATCH rather than end cleanly on content that is not the digest.
 */
import type { Readable } from 'node:stream';
import { parseReference, referenceName, type Digest, type ImageReference } from '../common/index.js';
import type { RegistryClient } from './client.js';
import { readCapped, statusError } from './errors.js';
import { pullScope } from './manifest.js';

export interface OpenRemoteBlobOptions {
  readonly client: RegistryClient;
  /** The repository holding the blob; its tag or digest is ignored. */
  readonly reference: string | ImageReference;
  readonly digest: Digest;
  readonly signal?: AbortSignal;
}

export async function openRemoteBlob(options: OpenRemoteBlobOptions): Promise<Readable> {
  const reference = typeof options.reference === 'string' ? parseReference(options.reference) : options.reference;
  const registry = options.client.registry(reference.domain);
  const url = await registry.url(`${reference.path}/blobs/${options.digest}`);
  const context = { action: 'read blob', reference: referenceName(reference), digest: options.digest };
  const response = await registry.send({
    method: 'GET',
    url,
    scopes: [pullScope(reference.path)],
    context,
    expectDigest: options.digest,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  if (response.status !== 200) throw statusError({ context, method: 'GET', url, status: response.status, body: await readCapped(response.body) });
  return response.body;
}
