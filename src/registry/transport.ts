/**
 * The bottom of the client: one HTTP exchange over undici, and the shape every policy shares.
 * A policy wraps a `Send` and returns a `Send`, so auth, retry, redirects, user agent and digest
 * verification are each one small file, composed in `client.ts`.
 */
import { channel } from 'node:diagnostics_channel';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Digest } from '../common/index.js';
import { networkError, type RegistryErrorContext } from './errors.js';
import { redactUrl } from './redact.js';
import { sendRequest } from './undici.js';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A body given as bytes, or as a factory so that a retry can send it again. */
export type RequestBody = Uint8Array | (() => Promise<Readable | AsyncIterable<Uint8Array>>);

export interface RegistryRequest {
  readonly method: Method;
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: RequestBody;
  /** Token scopes the request needs (`repository:library/busybox:pull`). */
  readonly scopes?: readonly string[];
  /** For messages: what is being done, to which reference and digest. */
  readonly context: RegistryErrorContext;
  /** When set, a complete 200 body is hashed and fails at its end unless it has this digest. */
  readonly expectDigest?: Digest;
  readonly signal?: AbortSignal;
  /** The body can be sent only once (a chunk read from a stream): no policy may resend it. */
  readonly once?: boolean;
}

export interface RegistryResponse {
  readonly status: number;
  /** Lowercased names; repeated headers kept as arrays. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Must be consumed or destroyed by whoever receives the response. */
  readonly body: Readable;
  /** Where the response came from, after redirects. */
  readonly url: URL;
}

export type Send = (request: RegistryRequest) => Promise<RegistryResponse>;
export type Policy = (next: Send) => Send;

/** Composes policies around a base; the first policy is the outermost. */
export function compose(base: Send, ...policies: readonly Policy[]): Send {
  return policies.reduceRight<Send>((next, policy) => policy(next), base);
}

export function header(response: RegistryResponse, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export function headerValues(response: RegistryResponse, name: string): string[] {
  const value = response.headers[name.toLowerCase()];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Reads and discards a body so the connection can be reused. */
export async function discard(response: RegistryResponse): Promise<void> {
  try {
    for await (const _chunk of response.body) {
      // drained
    }
  } catch {
    // a broken body on a response that is being thrown away changes nothing
  }
}

export interface RequestEvent {
  readonly method: Method;
  readonly url: string;
  readonly status?: number;
  readonly error?: string;
}

/** Named channel for debugging and progress subscribers; URLs published here are redacted. */
export const requestChannel = channel('tsbuild:registry:request');

/** The base of every stack; the dispatcher is chosen per URL (verified or unverified TLS). */
export function undiciSend(dispatcher: Dispatcher | ((url: URL) => Dispatcher)): Send {
  const pick = typeof dispatcher === 'function' ? dispatcher : (): Dispatcher => dispatcher;
  return async (request) => {
    const body = request.body === undefined ? undefined : request.body instanceof Uint8Array ? request.body : await request.body();
    try {
      const response = await sendRequest(pick(request.url), {
        origin: request.url.origin,
        path: `${request.url.pathname}${request.url.search}`,
        method: request.method,
        headers: { ...request.headers },
        body: body as Dispatcher.DispatchOptions['body'],
        // Layer bodies flow faster through larger buffers; a few MiB per transfer at most.
        highWaterMark: 1024 * 1024,
        ...(request.signal === undefined ? {} : { signal: request.signal }),
      });
      if (requestChannel.hasSubscribers) {
        requestChannel.publish({ method: request.method, url: redactUrl(request.url), status: response.statusCode } satisfies RequestEvent);
      }
      return {
        status: response.statusCode,
        headers: response.headers as Record<string, string | string[] | undefined>,
        body: response.body,
        url: request.url,
      };
    } catch (error) {
      if (body !== undefined && !(body instanceof Uint8Array) && typeof (body as Readable).destroy === 'function') (body as Readable).destroy();
      if (requestChannel.hasSubscribers) {
        requestChannel.publish({ method: request.method, url: redactUrl(request.url), error: String(error) } satisfies RequestEvent);
      }
      throw networkError(request.context, request.method, request.url, error);
    }
  };
}
