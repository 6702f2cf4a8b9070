/**
 * Authentication as a policy: learns the registry's scheme from its `WWW-Authenticate`
 * challenge, then sends Basic credentials or a Bearer token for the scopes each request needs.
 * Tokens are cached per scope set until shortly before they expire. A 401 is answered once
 * with fresh credentials; a second one goes back to the caller, who reports UNAUTHORIZED.
 */
import { TsbuildError } from '../common/index.js';
import { parseChallenges, type Challenge } from './challenge.js';
import type { Credentials } from './credentials.js';
import { readCapped, statusError } from './errors.js';
import { redactUrl } from './redact.js';
import { discard, headerValues, type Policy, type RegistryRequest, type RegistryResponse, type Send } from './transport.js';

const maxTokenResponseBytes = 1024 * 1024;
/** A token this close to its expiry is not used: the request could arrive after it. */
const expiryMarginMs = 10_000;

export interface AuthOptions {
  readonly domain: string;
  /** The API host; credentials go to it (and to the token realm) and nowhere else. */
  readonly host: string;
  readonly credentials: () => Promise<Credentials | undefined>;
  /** Sends token requests: retried and identified, but not authenticated by this policy. */
  readonly tokenSend: Send;
  readonly allowPlainHttp: (host: string) => boolean;
  readonly now?: () => number;
}

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/** Shared by every request to one registry, so a token fetched once serves them all. */
export class AuthState {
  challenge: Challenge | undefined;
  readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();
  private credentialsLookup: Promise<Credentials | undefined> | undefined;

  constructor(readonly options: AuthOptions) {}

  credentials(): Promise<Credentials | undefined> {
    this.credentialsLookup ??= this.options.credentials();
    return this.credentialsLookup;
  }

  /** Records the challenge of a 401 (or of the `/v2/` ping). */
  learn(response: RegistryResponse): boolean {
    for (const value of headerValues(response, 'www-authenticate')) {
      const found = parseChallenges(value).find((challenge) => challenge.scheme === 'bearer' || challenge.scheme === 'basic');
      if (found !== undefined) {
        this.challenge = found;
        return true;
      }
    }
    return false;
  }

  async authorization(scopes: readonly string[], refresh: boolean): Promise<string | undefined> {
    const challenge = this.challenge;
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') {
      const credentials = await this.credentials();
      if (credentials?.username === undefined || credentials.password === undefined) return undefined;
      return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    }
    const key = [...new Set(scopes)].sort().join(' ');
    const now = (this.options.now ?? Date.now)();
    const cached = this.tokens.get(key);
    if (!refresh && cached !== undefined && cached.expiresAt - expiryMarginMs > now) return `Bearer ${cached.token}`;
    let pending = this.pending.get(key);
    if (pending === undefined) {
      pending = this.fetchToken(challenge, [...new Set(scopes)].sort()).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    const fetched = await pending;
    this.tokens.set(key, fetched);
    return `Bearer ${fetched.token}`;
  }

  private async fetchToken(challenge: Challenge, scopes: readonly string[]): Promise<CachedToken> {
    const realmText = challenge.params.realm;
    if (realmText === undefined) throw new TsbuildError('UNAUTHORIZED', `authenticate to ${this.options.domain}: bearer challenge without a realm`);
    let realm: URL;
    try {
      realm = new URL(realmText);
    } catch {
      throw new TsbuildError('UNAUTHORIZED', `authenticate to ${this.options.domain}: invalid token realm`);
    }
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && this.options.allowPlainHttp(realm.host))) {
      throw new TsbuildError('UNAUTHORIZED', `authenticate to ${this.options.domain}: refusing token realm ${redactUrl(realm)} without TLS`);
    }
    const credentials = await this.credentials();
    const context = { action: `fetch token for ${this.options.domain}`, ...(scopes.length > 0 ? { reference: scopes.join(' ') } : {}) };
    const service = challenge.params.service;
    let response: RegistryResponse;
    if (credentials?.identityToken !== undefined) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.identityToken, client_id: 'tsbuild' });
      if (service !== undefined) form.set('service', service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      response = await this.options.tokenSend({
        method: 'POST',
        url: realm,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
        context,
      });
    } else {
      const url = new URL(realm.href);
      if (service !== undefined) url.searchParams.set('service', service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      const headers: Record<string, string> = {};
      if (credentials?.username !== undefined && credentials.password !== undefined) {
        headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
      }
      response = await this.options.tokenSend({ method: 'GET', url, headers, context });
    }
    if (response.status !== 200) {
      const body = await readCapped(response.body);
      throw statusError({ context, method: 'GET', url: realm, status: response.status, body });
    }
    const body = await readCapped(response.body, maxTokenResponseBytes);
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      throw new TsbuildError('UNAUTHORIZED', `${context.action}: token response is not JSON`);
    }
    const token = typeof parsed.token === 'string' && parsed.token !== '' ? parsed.token : typeof parsed.access_token === 'string' ? parsed.access_token : '';
    if (token === '') throw new TsbuildError('UNAUTHORIZED', `${context.action}: token response holds no token`);
    // The token spec's default lifetime is 60 s when the server does not say.
    const lifetime = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    const issued = typeof parsed.issued_at === 'string' ? Date.parse(parsed.issued_at) : Number.NaN;
    const now = (this.options.now ?? Date.now)();
    const start = Number.isNaN(issued) || issued > now ? now : issued;
    return { token, expiresAt: start + lifetime * 1000 };
  }
}

function withAuthorization(request: RegistryRequest, authorization: string | undefined): RegistryRequest {
  if (authorization === undefined) return request;
  return { ...request, headers: { ...request.headers, authorization } };
}

export function authPolicy(state: AuthState): Policy {
  return (next) => async (request) => {
    // An upload Location may point at another host: it gets no credentials.
    if (request.url.host !== state.options.host) return next(request);
    const scopes = request.scopes ?? [];
    const sent = await state.authorization(scopes, false);
    const first = await next(withAuthorization(request, sent));
    const sameOrigin = first.url.origin === request.url.origin;
    if (first.status !== 401 || !sameOrigin || request.once === true) return first;
    if (!state.learn(first)) return first;
    const challengeScope = state.challenge?.params.scope;
    const wanted = challengeScope === undefined ? scopes : [...scopes, ...challengeScope.split(' ')];
    const authorization = await state.authorization(wanted, true);
    // Nothing new to offer (no credentials, or the same Basic ones refused): the 401 stands.
    if (authorization === undefined || authorization === sent) return first;
    await discard(first);
    return next(withAuthorization(request, authorization));
  };
}
