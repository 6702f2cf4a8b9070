/**
 * Image references as docker normalizes them: `busybox` is `docker.io/library/busybox:latest`,
 * a first component holding a `.` or a `:` or equal to `localhost` names a registry, a tag
 * and a digest may both be given. Everything is validated before it reaches a URL or a path.
 */
import { TsbuildError } from './errors.js';
import { parseDigest, type Digest } from './oci.js';

export const defaultDomain = 'docker.io';
export const defaultTag = 'latest';
/** docker.io is a name; the distribution API of Docker Hub answers on this host. */
export const dockerHubApiHost = 'registry-1.docker.io';

export interface ImageReference {
  /** Registry host, with port when given: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly domain: string;
  /** Repository path inside the registry: `library/busybox`. */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

const pathComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const domainComponent = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const ipv6Host = /^\[[0-9a-fA-F:.]+(?:%[a-zA-Z0-9]+)?\]$/;
const tagPattern = /^[\w][\w.-]{0,127}$/;
const anonymousHex = /^[a-f0-9]{64}$/;
const maxNameLength = 255;

function invalid(text: string, cause: string): TsbuildError {
  // "invalid reference format" is docker's wording for every reference it cannot parse.
  return new TsbuildError('INVALID_REFERENCE', `parse reference ${JSON.stringify(text.slice(0, 300))}: invalid reference format: ${cause}`);
}

function validDomain(domain: string): boolean {
  const colon = domain.lastIndexOf(':');
  const bracketEnd = domain.lastIndexOf(']');
  let host = domain;
  if (colon > bracketEnd) {
    const port = domain.slice(colon + 1);
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) return false;
    host = domain.slice(0, colon);
  }
  if (host.startsWith('[')) return ipv6Host.test(host);
  return host.length > 0 && host.split('.').every((part) => domainComponent.test(part));
}

/** Whether the first path component names a registry rather than a Docker Hub namespace. */
function looksLikeDomain(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component !== component.toLowerCase();
}

export interface ParseReferenceOptions {
  /** Add `:latest` when neither tag nor digest is given (docker's behaviour); default true. */
  readonly defaultTag?: boolean;
}

/** Parses and normalizes a reference as docker does. Fails with INVALID_REFERENCE. */
export function parseReference(text: string, options: ParseReferenceOptions = {}): ImageReference {
  if (text.length === 0) throw invalid(text, 'empty reference');
  if (text !== text.trim()) throw invalid(text, 'leading or trailing white space');

  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const digestText = rest.slice(at + 1);
    try {
      digest = parseDigest(digestText);
    } catch {
      throw invalid(text, `invalid digest ${JSON.stringify(digestText.slice(0, 140))}`);
    }
    rest = rest.slice(0, at);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!tagPattern.test(tag)) throw invalid(text, `invalid tag ${JSON.stringify(tag)}`);
  }
  if (rest.length === 0) throw invalid(text, 'missing repository name');

  let domain = defaultDomain;
  let path = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0 && looksLikeDomain(rest.slice(0, firstSlash))) {
    domain = rest.slice(0, firstSlash);
    path = rest.slice(firstSlash + 1);
    if (!validDomain(domain)) throw invalid(text, `invalid registry host ${JSON.stringify(domain)}`);
  }
  if (domain === 'index.docker.io') domain = defaultDomain;
  if (domain === defaultDomain && !path.includes('/')) path = `library/${path}`;

  if (path.length === 0) throw invalid(text, 'missing repository name');
  for (const component of path.split('/')) {
    if (component !== component.toLowerCase()) throw invalid(text, 'repository name must be lowercase');
    if (!pathComponent.test(component)) throw invalid(text, `invalid repository name component ${JSON.stringify(component)}`);
  }
  if (domain === defaultDomain && path.startsWith('library/') && anonymousHex.test(path.slice('library/'.length))) {
    throw invalid(text, 'a 64-character hexadecimal string is an image ID, not a repository name');
  }
  if (domain.length + 1 + path.length > maxNameLength) throw invalid(text, `repository name longer than ${maxNameLength} characters`);

  if (tag === undefined && digest === undefined && options.defaultTag !== false) tag = defaultTag;
  return { domain, path, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

// distribution/reference's grammar (regexp.go), which BuildKit's dockerfile frontend parses a
// stage's base and a --from image with, for the words of its errors.
const goDomainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const goDomain = `(?:${goDomainComponent}(?:\\.${goDomainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const goNameComponent = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const goReference = new RegExp(
  `^((?:${goDomain}/)?${goNameComponent}(?:/${goNameComponent})*)(?::[\\w][\\w.-]{0,127})?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$`,
);
/** Longer text is not matched against the grammar (V8 backtracks where Go's RE2 does not): its words are the general ones. */
const goReferenceMatchLimit = 1024;

/**
 * What distribution/reference's ParseNormalizedNamed says of TEXT, as BuildKit words a FROM or
 * --from it cannot parse ("failed to parse stage name %q: " before it): "invalid reference
 * format", with why for a repository name in capitals, or for a 64-digit hexadecimal name.
 * Undefined where that parser takes TEXT.
 */
export function goReferenceError(text: string): string | undefined {
  if (/^[a-f0-9]{64}$/.test(text)) return `invalid repository name (${text}), cannot specify 64-byte hexadecimal strings`;
  // splitDockerDomain: a first component that is a host (a `.` or `:`, localhost, capitals) is the domain.
  const slash = text.indexOf('/');
  const first = slash < 0 ? '' : text.slice(0, slash);
  const hasDomain = slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first);
  let domain = hasDomain ? first : defaultDomain;
  let remainder = hasDomain ? text.slice(slash + 1) : text;
  if (domain === 'index.docker.io') domain = defaultDomain;
  if (domain === defaultDomain && !remainder.includes('/')) remainder = `library/${remainder}`;
  const colon = remainder.indexOf(':');
  const remote = colon < 0 ? remainder : remainder.slice(0, colon);
  if (remote.toLowerCase() !== remote) return `invalid reference format: repository name (${remote}) must be lowercase`;
  const full = `${domain}/${remainder}`;
  if (full.length > goReferenceMatchLimit) return 'invalid reference format';
  const match = goReference.exec(full);
  if (match === null) return goReference.test(full.toLowerCase()) ? 'repository name must be lowercase' : 'invalid reference format';
  if ((match[1] ?? '').length > maxNameLength) return `repository name must not be more than ${maxNameLength} characters`;
  const digest = match[2];
  if (digest !== undefined) {
    const [algorithm = '', hex = ''] = digest.split(':');
    const lengths: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
    const length = lengths[algorithm];
    if (length === undefined) return 'unsupported digest algorithm';
    // go-digest checks the length before the letters.
    if (hex.length !== length) return 'invalid checksum digest length';
    if (!/^[a-f0-9]+$/.test(hex)) return 'invalid checksum digest format';
  }
  return undefined;
}

/** `domain/path`, without tag or digest. */
export function referenceName(reference: ImageReference): string {
  return `${reference.domain}/${reference.path}`;
}

/** The fully qualified form: `docker.io/library/busybox:latest`, `host:5000/app@sha256:…`. */
export function formatReference(reference: ImageReference): string {
  const tag = reference.tag === undefined ? '' : `:${reference.tag}`;
  const digest = reference.digest === undefined ? '' : `@${reference.digest}`;
  return `${referenceName(reference)}${tag}${digest}`;
}

/** The short form docker prints: `busybox:latest`, `user/app:1`, `localhost:5000/app:1`. */
export function familiarReference(reference: ImageReference): string {
  let name = referenceName(reference);
  if (reference.domain === defaultDomain) {
    name = reference.path.startsWith('library/') && reference.path.split('/').length === 2 ? reference.path.slice('library/'.length) : reference.path;
  }
  const tag = reference.tag === undefined ? '' : `:${reference.tag}`;
  const digest = reference.digest === undefined ? '' : `@${reference.digest}`;
  return `${name}${tag}${digest}`;
}

/** The host the distribution API is reached at for a reference's domain. */
export function registryApiHost(domain: string): string {
  return domain === defaultDomain ? dockerHubApiHost : domain;
}

/** Same reference with another tag (and no digest), or with only a digest. */
export function withTag(reference: ImageReference, tag: string): ImageReference {
  if (!tagPattern.test(tag)) throw invalid(`${referenceName(reference)}:${tag}`, `invalid tag ${JSON.stringify(tag)}`);
  return { domain: reference.domain, path: reference.path, tag };
}

export function withDigest(reference: ImageReference, digest: Digest): ImageReference {
  return { domain: reference.domain, path: reference.path, digest };
}
