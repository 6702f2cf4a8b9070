/**
 * src/registry/undici.ts loads three of undici's own modules (and its ProxyAgent's, for a proxy) instead of its index (see there for
 * why): they must be the ones the index exports, in the version package.json pins, and a request
 * through them must work without the index having added its methods to the dispatchers.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Agent, buildConnector, loadProxyAgent, sendRequest } from '../../src/registry/undici.js';

const packageJson = (path: string): { version?: string; dependencies?: Record<string, string> } =>
  JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { version?: string; dependencies?: Record<string, string> };

describe("undici's modules as the client loads them", () => {
  it('come from the version package.json pins exactly', () => {
    const pinned = packageJson('../../package.json').dependencies?.undici;
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(packageJson('../../node_modules/undici/package.json').version).toBe(pinned);
  });

  it("send a request and read its answer, with the request method undici's index does not give them", async () => {
    const server: Server = createServer((request, response) => response.writeHead(200, { 'x-path': request.url ?? '' }).end('answered'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const agent = new Agent({ connect: buildConnector({ timeout: 5000 }) });
    try {
      // Nothing has loaded the index yet in this file's process: no method was added.
      expect((agent as { request?: unknown }).request).toBeUndefined();
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const response = await sendRequest(agent, { origin, path: '/v2/?n=1', method: 'GET' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['x-path']).toBe('/v2/?n=1');
      expect(await response.body.text()).toBe('answered');
    } finally {
      await agent.close();
      server.close();
    }
  });

  it('are the ones the index exports', async () => {
    // Loaded last: the index adds the request methods to every dispatcher's prototype.
    const index = await import('undici');
    expect(Agent).toBe(index.Agent);
    expect(buildConnector).toBe(index.buildConnector);
    expect(await loadProxyAgent()).toBe(index.ProxyAgent);
    const viaIndex = new index.Agent();
    try {
      // The function sendRequest calls is the index's request method.
      const module = (await import('undici/lib/api/api-request.js')).default;
      expect(module).toBe(viaIndex.request);
    } finally {
      await viaIndex.close();
    }
  });
});
