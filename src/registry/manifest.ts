/**
 * Fetching manifests and indexes: the bytes are read whole (they are small, and capped), their
 * digest checked against what was asked for and what the registry claims, and their media type
 * checked three ways: the Content-Type, the document's own `mediaType`, and the descriptor that
 * led to it must agree, and the document must have the shape its type promises.
 */
import {
  MediaType,
  TsbuildError,
  formatReference,
  familiarReference,
  isIndexMediaType,
  isManifestMediaType,
  isTsbuildError,
  maxManifestBytes,
  parseBoundedJson,
  parseDescriptor,
  type Descriptor,
  type Digest,
  type ImageReference,
  type Index,
  type Manifest,
} from '../common/index.js';
import type { Registry } from './client.js';
import { manifestNotFound, networkError, readCapped, statusError } from './errors.js';
import { header } from './transport.js';
import { digestOf } from './verify.js';

export const acceptedManifestTypes = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest];

export type FetchedDocument =
  | { readonly kind: 'index'; readonly descriptor: Descriptor; readonly bytes: Buffer; readonly index: Index }
  | { readonly kind: 'manifest'; readonly descriptor: Descriptor; readonly bytes: Buffer; readonly manifest: Manifest };

export function pullScope(path: string): string {
  return `repository:${path}:pull`;
}

export function pushScope(path: string): string {
  return `repository:${path}:pull,push`;
}

function mediaTypeError(what: string, detail: string): TsbuildError {
  return new TsbuildError('INVALID_MEDIA_TYPE', `${what}: ${detail}`);
}

/**
 * Checks each of VALUES as parseDescriptor does (as ROLE of the document); the error names the
 * document and what is wrong. A digest that is no digest still fails as itself (INVALID_DIGEST),
 * named in the document it came in.
 */
function checkDescriptors(what: string, values: readonly unknown[], role: string): void {
  for (const value of values) {
    try {
      parseDescriptor(value, role);
    } catch (error) {
      if (isTsbuildError(error) && error.code === 'INVALID_MEDIA_TYPE') throw new TsbuildError('REGISTRY', `${what}: ${error.message}`, { cause: error });
      if (isTsbuildError(error) && error.code === 'INVALID_DIGEST') throw new TsbuildError('INVALID_DIGEST', `${what}: ${role}: ${error.message}`, { cause: error });
      throw error;
    }
  }
}

/** Parses manifest bytes and checks type and shape; `contentType` and `expected` are optional witnesses. */
export function parseDocument(bytes: Buffer, options: { readonly what: string; readonly contentType?: string; readonly expected?: Descriptor }): FetchedDocument {
  const { what } = options;
  let parsed: Record<string, unknown>;
  try {
    const value = parseBoundedJson(bytes.toString('utf8'));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    parsed = value as Record<string, unknown>;
  } catch (error) {
    throw new TsbuildError('REGISTRY', `${what}: invalid JSON: ${(error as Error).message}`);
  }
  const declared = typeof parsed.mediaType === 'string' ? parsed.mediaType : undefined;
  const header = options.contentType?.split(';')[0]?.trim();
  const served = header === undefined || header === '' || header === 'application/json' || header === 'application/octet-stream' ? undefined : header;
  if (parsed.schemaVersion === 1 || served?.startsWith('application/vnd.docker.distribution.manifest.v1') === true) {
    throw mediaTypeError(what, 'Docker schema 1 manifests are not supported');
  }
  if (parsed.schemaVersion !== 2) throw new TsbuildError('REGISTRY', `${what}: unsupported schemaVersion ${JSON.stringify(parsed.schemaVersion)}`);
  if (declared !== undefined && served !== undefined && declared !== served) {
    throw mediaTypeError(what, `served as ${served} but declares ${declared}`);
  }
  const looksLikeIndex = Array.isArray(parsed.manifests);
  const looksLikeManifest = parsed.config !== undefined && Array.isArray(parsed.layers);
  const mediaType = declared ?? served ?? options.expected?.mediaType ?? (looksLikeIndex ? MediaType.ociIndex : MediaType.ociManifest);
  if (options.expected !== undefined && options.expected.mediaType !== mediaType) {
    throw mediaTypeError(what, `descriptor says ${options.expected.mediaType} but content is ${mediaType}`);
  }
  const digest = digestOf(bytes);
  if (options.expected !== undefined) {
    if (options.expected.digest !== digest) throw new TsbuildError('DIGEST_MISMATCH', `${what}: expected ${options.expected.digest}, received content with digest ${digest}`);
    if (options.expected.size !== bytes.length) throw new TsbuildError('SIZE_MISMATCH', `${what}: expected ${options.expected.size} bytes, received ${bytes.length}`);
  }
  const descriptor: Descriptor = { mediaType, digest, size: bytes.length };
  if (isIndexMediaType(mediaType)) {
    if (!looksLikeIndex || parsed.config !== undefined || parsed.layers !== undefined) throw mediaTypeError(what, `content of type ${mediaType} is not an index`);
    checkDescriptors(what, parsed.manifests as unknown[], 'index entry');
    return { kind: 'index', descriptor, bytes, index: parsed as unknown as Index };
  }
  if (isManifestMediaType(mediaType)) {
    if (!looksLikeManifest || looksLikeIndex) throw mediaTypeError(what, `content of type ${mediaType} is not an image manifest`);
    checkDescriptors(what, [parsed.config], 'manifest config');
    checkDescriptors(what, parsed.layers as unknown[], 'manifest layer');
    return { kind: 'manifest', descriptor, bytes, manifest: parsed as unknown as Manifest };
  }
  throw mediaTypeError(what, `unsupported manifest media type ${mediaType}`);
}

/** GETs a manifest by tag or digest; with `expected`, the descriptor it must match. */
export async function fetchManifest(
  registry: Registry,
  options: { readonly reference: ImageReference; readonly target: string; readonly expected?: Descriptor; readonly signal?: AbortSignal },
): Promise<FetchedDocument> {
  const { reference, target } = options;
  const what = `pull manifest ${formatReference(reference)}`;
  const url = await registry.url(`${reference.path}/manifests/${target}`);
  const context = { action: 'pull manifest', reference: formatReference(reference), ...(target.includes(':') ? { digest: target } : {}) };
  const response = await registry.send({
    method: 'GET',
    url,
    headers: { accept: acceptedManifestTypes.join(', ') },
    scopes: [pullScope(reference.path)],
    context,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  if (response.status !== 200) {
    const body = await readCapped(response.body);
    throw manifestNotFound(target.includes(':') ? `${familiarReference({ domain: reference.domain, path: reference.path })}@${target}` : familiarReference(reference), response.status, body) ?? statusError({ context, method: 'GET', url, status: response.status, body });
  }
  const declaredLength = Number(header(response, 'content-length') ?? '0');
  if (declaredLength > maxManifestBytes) {
    response.body.destroy();
    throw new TsbuildError('REGISTRY', `${what}: manifest of ${declaredLength} bytes exceeds the ${maxManifestBytes}-byte limit`);
  }
  const bytes = await readWhole(response.body, maxManifestBytes + 1, (error) => networkError(context, 'GET', url, error));
  if (bytes.length > maxManifestBytes) throw new TsbuildError('REGISTRY', `${what}: manifest exceeds the ${maxManifestBytes}-byte limit`);
  // Content is checked against what was asked for before it is even parsed.
  const actual = digestOf(bytes);
  const byDigest = target.includes(':') ? (target as Digest) : undefined;
  if (byDigest !== undefined && actual !== byDigest) {
    throw new TsbuildError('DIGEST_MISMATCH', `${what}: asked for ${byDigest}, received content with digest ${actual}`);
  }
  const claimed = header(response, 'docker-content-digest');
  if (claimed !== undefined && claimed !== '' && claimed.startsWith('sha256:') && claimed !== actual) {
    throw new TsbuildError('DIGEST_MISMATCH', `${what}: registry says ${claimed}, received content with digest ${actual}`);
  }
  return parseDocument(bytes, { what, ...(options.expected === undefined ? {} : { expected: options.expected }), ...contentType(header(response, 'content-type')) });
}

function contentType(value: string | undefined): { contentType?: string } {
  return value === undefined ? {} : { contentType: value };
}

/** Reads a body up to `limit` bytes; unlike an error body, a failure here is reported. */
export async function readWhole(body: AsyncIterable<Uint8Array> & { destroy(): void }, limit: number, wrap: (error: unknown) => TsbuildError): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      chunks.push(Buffer.from(chunk));
      total += chunk.length;
      if (total >= limit) break;
    }
  } catch (error) {
    throw wrap(error);
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks, total);
}
