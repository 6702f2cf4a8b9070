/**
 * A token server for the registry's `auth.token` mode, over HTTPS with a self-signed
 * certificate: it checks Basic credentials (or allows anonymous pulls), grants the scopes the
 * user may have, and signs an RS256 JWT whose `x5c` header carries the signing certificate,
 * which the registry trusts through `rootcertbundle`.
 */
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Certificate } from './registry.js';

export interface TokenServerOptions {
  /** TLS certificate of the server itself. */
  readonly tls: Certificate;
  /** The certificate and key tokens are signed with (its PEM goes in the registry's rootcertbundle). */
  readonly signing: Certificate;
  readonly users: Readonly<Record<string, string>>;
  /** Anonymous users may pull (not push); default true. */
  readonly anonymousPull?: boolean;
  readonly issuer?: string;
  readonly service?: string;
  readonly lifetimeSeconds?: number;
}

export interface TokenRequestRecord {
  readonly user: string | undefined;
  readonly scopes: readonly string[];
  readonly status: number;
  readonly method: string;
}

export interface TokenServer {
  readonly realm: string;
  readonly issuer: string;
  readonly service: string;
  readonly requests: TokenRequestRecord[];
  stop(): Promise<void>;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const issuer = options.issuer ?? 'tsbuild-test-issuer';
  const service = options.service ?? 'tsbuild-test-registry';
  const key = createPrivateKey(options.signing.key);
  const der = new X509Certificate(options.signing.cert).raw;
  const requests: TokenRequestRecord[] = [];

  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'https://127.0.0.1');
      let user: string | undefined;
      let authorized = true;
      let scopes = url.searchParams.getAll('scope').flatMap((scope) => scope.split(' ')).filter((scope) => scope !== '');
      const authorization = req.headers.authorization;
      if (req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        scopes = (form.get('scope') ?? '').split(' ').filter((scope) => scope !== '');
        const refresh = form.get('refresh_token') ?? '';
        const [name, password] = refresh.split(':');
        authorized = name !== undefined && options.users[name] === password;
        user = name;
      } else if (authorization?.startsWith('Basic ') === true) {
        const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        user = decoded.slice(0, colon);
        authorized = options.users[user] === decoded.slice(colon + 1);
      }
      if (!authorized) {
        requests.push({ user, scopes, status: 401, method: req.method ?? '' });
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }));
        return;
      }
      const access = scopes.flatMap((scope) => {
        const [type, name, actions] = scope.split(':');
        if (type !== 'repository' || name === undefined || actions === undefined) return [];
        const wanted = actions.split(',');
        const granted = user !== undefined ? wanted : options.anonymousPull === false ? [] : wanted.filter((action) => action === 'pull');
        return [{ type, name, actions: granted }];
      });
      const now = Math.floor(Date.now() / 1000);
      const lifetime = options.lifetimeSeconds ?? 300;
      const header = { typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] };
      const claims = { iss: issuer, sub: user ?? '', aud: service, exp: now + lifetime, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
      const payload = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
      const signature = sign('sha256', Buffer.from(payload), key);
      const token = `${payload}.${base64url(signature)}`;
      requests.push({ user, scopes, status: 200, method: req.method ?? '' });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token, access_token: token, expires_in: lifetime, issued_at: new Date(now * 1000).toISOString() }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `https://127.0.0.1:${port}/token`,
    issuer,
    service,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
