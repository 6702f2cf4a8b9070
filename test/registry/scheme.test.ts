/**
 * Which scheme a registry allowed plain HTTP is reached over, as docker finds it: HTTPS first,
 * then plain HTTP; found once per client, and never a plaintext request to a TLS server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/index.js';
import { makeCertificate, type Certificate } from '../helpers/registry.js';

let scratch: string;
let certificate: Certificate;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tsbuild-scheme-'));
  certificate = await makeCertificate(scratch);
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A registry API root that answers 200, and what reached it. */
function apiRoot(server: Server): { requests: string[]; unreadable: number } {
  const seen = { requests: [] as string[], unreadable: 0 };
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    seen.requests.push(`${request.method ?? ''} ${request.url ?? ''}`);
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  // A plain server meeting a ClientHello, or a TLS server meeting plain HTTP.
  server.on('clientError', (_error, socket) => {
    seen.unreadable++;
    socket.destroy();
  });
  server.on('tlsClientError', () => {
    seen.unreadable++;
  });
  return seen;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('the scheme of a registry allowed plain HTTP', () => {
  it('is plain HTTP after one HTTPS attempt, found once for the client', async () => {
    const server = createServer();
    const seen = apiRoot(server);
    const client = new RegistryClient({ credentials: () => Promise.resolve(undefined), retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 } });
    try {
      const host = await listen(server);
      const registry = client.registry(host);
      expect((await registry.url('a/manifests/1')).href).toBe(`http://${host}/v2/a/manifests/1`);
      expect((await registry.url('a/blobs/x')).href).toBe(`http://${host}/v2/a/blobs/x`);
      expect(client.registry(host)).toBe(registry);
      expect((await client.registry(host).url('b/tags/list')).protocol).toBe('http:');
      // The HTTPS attempt's ClientHello, unreadable as HTTP; then one ping over HTTP.
      expect(seen.unreadable).toBe(1);
      expect(seen.requests).toEqual(['GET /v2/']);
    } finally {
      await client.close();
      await close(server);
    }
  });

  it('is HTTPS for an insecure registry that speaks TLS, with no plaintext request sent to it', async () => {
    const server = createHttpsServer({ key: certificate.key, cert: certificate.cert });
    const seen = apiRoot(server);
    const host = await listen(server);
    const client = new RegistryClient({ credentials: () => Promise.resolve(undefined), insecureRegistries: [host] });
    try {
      expect((await client.registry(host).url('a/manifests/1')).href).toBe(`https://${host}/v2/a/manifests/1`);
      expect(seen.unreadable).toBe(0);
      expect(seen.requests).toEqual(['GET /v2/']);
    } finally {
      await client.close();
      await close(server);
    }
  });

  it('is HTTPS, verified, for a loopback registry that speaks TLS with a trusted certificate', async () => {
    const server = createHttpsServer({ key: certificate.key, cert: certificate.cert });
    const seen = apiRoot(server);
    const host = await listen(server);
    const client = new RegistryClient({ credentials: () => Promise.resolve(undefined), tls: { ca: certificate.cert } });
    try {
      expect((await client.registry(host).url('')).protocol).toBe('https:');
      expect(seen.unreadable).toBe(0);
      // The unverified probe, then the ping that counts, over a verified connection.
      expect(seen.requests).toEqual(['GET /v2/', 'GET /v2/']);
    } finally {
      await client.close();
      await close(server);
    }
  });
});
