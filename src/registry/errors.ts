/**
 * Errors of the distribution API as TsbuildErrors. The registry's own error body
 * (`{"errors":[{"code","message","detail"}]}`) is read, capped, and quoted in the message
 * together with the method, the redacted URL, the reference and the digest involved.
 */
import { TsbuildError, type ErrorCode } from '../common/index.js';
import { redactUrl } from './redact.js';

/** Beyond this an error body is not read: a hostile or broken server cannot make us buffer more. */
export const maxErrorBodyBytes = 64 * 1024;

export interface RegistryDiagnostic {
  readonly code: string;
  readonly message: string;
}

export interface RegistryErrorContext {
  /** What was being done, as a verb and noun: "pull manifest", "upload blob". */
  readonly action: string;
  readonly reference?: string;
  readonly digest?: string;
}

/** Status codes worth retrying: the server is overloaded or briefly unavailable. */
export function isTemporaryStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

/** Reads at most `limit` bytes of a body and discards the rest without waiting for it. */
export async function readCapped(body: AsyncIterable<Uint8Array> & { destroy?: () => void }, limit = maxErrorBodyBytes): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      const buffer = Buffer.from(chunk);
      const room = limit - total;
      if (buffer.length >= room) {
        chunks.push(buffer.subarray(0, room));
        total += room;
        break;
      }
      chunks.push(buffer);
      total += buffer.length;
    }
  } catch {
    // A failing error body leaves the status as the only information, which is still reported.
  } finally {
    body.destroy?.();
  }
  return Buffer.concat(chunks, total);
}

export function parseDiagnostics(body: Buffer): RegistryDiagnostic[] {
  if (body.length === 0) return [];
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    const errors = (parsed as { errors?: unknown }).errors;
    if (!Array.isArray(errors)) return [];
    return errors.slice(0, 10).map((entry: unknown) => {
      const record = (entry ?? {}) as { code?: unknown; message?: unknown };
      return { code: typeof record.code === 'string' ? record.code : 'UNKNOWN', message: typeof record.message === 'string' ? record.message : '' };
    });
  } catch {
    return [];
  }
}

function describe(context: RegistryErrorContext): string {
  const parts = [context.reference, context.digest].filter((part): part is string => part !== undefined);
  return parts.length === 0 ? context.action : `${context.action} ${parts.join(' ')}`;
}

export interface StatusErrorInput {
  readonly context: RegistryErrorContext;
  readonly method: string;
  readonly url: URL;
  readonly status: number;
  readonly body: Buffer;
}

/** The error for an unexpected HTTP status, naming the registry's own code and message. */
export function statusError(input: StatusErrorInput): TsbuildError {
  const diagnostics = parseDiagnostics(input.body);
  const detail =
    diagnostics.length > 0
      ? diagnostics.map((entry) => `${entry.code}: ${entry.message}`.slice(0, 500)).join('; ')
      : printable(input.body);
  const code: ErrorCode = input.status === 401 || input.status === 403 ? 'UNAUTHORIZED' : 'REGISTRY';
  const tail = detail === '' ? '' : `: ${detail}`;
  const error = new TsbuildError(code, `${describe(input.context)}: ${input.method} ${redactUrl(input.url)} returned ${input.status}${tail}`, {
    temporary: isTemporaryStatus(input.status),
  });
  return Object.assign(error, { status: input.status, diagnostics });
}

/**
 * The distribution spec's error codes as docker's registry client words them (errcode's
 * descriptors' messages, lower case as its Error() prints them).
 */
const codeWords: Readonly<Record<string, string>> = {
  BLOB_UNKNOWN: 'blob unknown to registry',
  BLOB_UPLOAD_INVALID: 'blob upload invalid',
  BLOB_UPLOAD_UNKNOWN: 'blob upload unknown to registry',
  DIGEST_INVALID: 'provided digest did not match uploaded content',
  MANIFEST_BLOB_UNKNOWN: 'blob unknown to registry',
  MANIFEST_INVALID: 'manifest invalid',
  MANIFEST_UNKNOWN: 'manifest unknown',
  NAME_INVALID: 'invalid repository name',
  NAME_UNKNOWN: 'repository name not known to registry',
  SIZE_INVALID: 'provided length did not match content length',
  TAG_INVALID: 'manifest tag did not match URI',
  UNAUTHORIZED: 'authentication required',
  DENIED: 'requested access to the resource is denied',
  UNSUPPORTED: 'the operation is unsupported',
  TOOMANYREQUESTS: 'too many requests',
};

/**
 * A manifest the registry does not have (404, MANIFEST_UNKNOWN or NAME_UNKNOWN), in docker's
 * words: `manifest for REF not found: manifest unknown: manifest unknown`, which scripts match;
 * undefined for any other answer.
 */
export function manifestNotFound(reference: string, status: number, body: Buffer): TsbuildError | undefined {
  if (status !== 404) return undefined;
  const diagnostics = parseDiagnostics(body);
  const known = diagnostics.find((entry) => entry.code === 'MANIFEST_UNKNOWN' || entry.code === 'NAME_UNKNOWN');
  if (diagnostics.length > 0 && known === undefined) return undefined;
  const cause = known === undefined ? 'manifest unknown' : `${codeWords[known.code] ?? known.code.toLowerCase()}: ${known.message}`;
  return Object.assign(new ManifestNotFoundError(`manifest for ${reference} not found: ${cause}`), { status, diagnostics });
}

/** A manifest the registry said it does not have: BuildKit's resolver words it `REF: not found`. */
export class ManifestNotFoundError extends TsbuildError {
  constructor(message: string) {
    super('REGISTRY', message);
  }
}

function printable(body: Buffer): string {
  const text = body.subarray(0, 300).toString('utf8').replace(/\s+/g, ' ').trim();
  return /^[\x20-\x7e]*$/.test(text) ? text : '';
}

const temporaryNetworkCodes: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
]);

function networkCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && temporaryNetworkCodes.has(code)) return code;
    if (current.message === 'terminated' || current.message === 'other side closed') return 'UND_ERR_SOCKET';
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Whether ERROR is a TLS connection that met a server speaking plain HTTP (docker's
 * ErrHTTPProto, "server gave HTTP response to HTTPS client"): a registry that is there, but
 * not over TLS.
 */
export function isPlainHttpAnswer(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if ((current as { code?: unknown }).code === 'ERR_SSL_WRONG_VERSION_NUMBER') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Wraps a transport failure (reset, timeout, refused) as a temporary REGISTRY error. */
export function networkError(context: RegistryErrorContext, method: string, url: URL, cause: unknown): TsbuildError {
  if (cause instanceof TsbuildError) return cause;
  const code = networkCode(cause);
  const reason = code ?? (cause instanceof Error ? cause.message : String(cause));
  return new TsbuildError('REGISTRY', `${describe(context)}: ${method} ${redactUrl(url)}: ${reason}`, {
    cause,
    temporary: code !== undefined,
  });
}

/** Adds the reference and digest to an error raised below (store, verification) without losing its code. */
export function withContext(error: unknown, context: RegistryErrorContext): TsbuildError {
  if (error instanceof TsbuildError) {
    const prefix = describe(context);
    if (error.message.startsWith(prefix)) return error;
    return new TsbuildError(error.code, `${prefix}: ${error.message}`, { cause: error, temporary: error.temporary });
  }
  return new TsbuildError('INTERNAL', `${describe(context)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
