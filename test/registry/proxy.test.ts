/**
 * Requests through the proxies the environment names, by Go's rules (http.ProxyFromEnvironment,
 * which docker's daemon, BuildKit, skopeo and podman follow): the choice of proxy for a URL, then
 * a pull and an ADD of a URL whose host only the proxy can reach (it maps every name to
 * loopback), and a loopback registry reached direct while the proxy is down.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxyEnvironment, proxyFor } from '../../src/common/index.js';
import { openStore } from '../../src/store/index.js';
import { buildFixture, imageFiles, type BuildFixture } from '../helpers/build.js';
import { haveRegistry, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { writeRandomImage } from '../helpers/registry-image.js';
import { runCliCaptured as run } from '../helpers/run-cli.js';

const via = (env: NodeJS.ProcessEnv, url: string): string | undefined => {
  const environment = proxyEnvironment(env);
  return environment === undefined ? undefined : proxyFor(environment, new URL(url))?.href;
};

describe('the proxy for a URL', () => {
  it('is HTTPS_PROXY for https and HTTP_PROXY for http (upper case first), none without either', () => {
    const env = { HTTP_PROXY: 'http://p:3128', https_proxy: 'http://s:3129', HTTPS_PROXY: '' };
    expect(via(env, 'https://registry.example/v2/')).toBe('http://s:3129/');
    expect(via(env, 'http://registry.example/v2/')).toBe('http://p:3128/');
    expect(via({ HTTP_PROXY: 'http://p:3128' }, 'https://registry.example/')).toBeUndefined();
    expect(via({ HTTP_PROXY: 'http://p:3128', http_proxy: 'http://lower:1' }, 'http://registry.example/')).toBe('http://p:3128/');
    expect(via({}, 'https://registry.example/')).toBeUndefined();
    // Without a scheme, as Go takes it: http.
    expect(via({ HTTPS_PROXY: 'proxy.example:8080' }, 'https://registry.example/')).toBe('http://proxy.example:8080/');
  });

  it('is none for localhost and loopback addresses, whatever NO_PROXY says', () => {
    const env = { HTTPS_PROXY: 'http://p:3128', HTTP_PROXY: 'http://p:3128' };
    for (const url of ['https://localhost:5000/', 'http://127.0.0.1:5000/', 'http://127.9.9.9/', 'http://[::1]:5000/']) expect(via(env, url)).toBeUndefined();
    expect(via(env, 'http://localhost.example/')).toBe('http://p:3128/');
  });

  it('follows NO_PROXY: *, names with their subdomains, dotted and starred suffixes, ports, addresses and ranges', () => {
    const env = (noProxy: string): NodeJS.ProcessEnv => ({ HTTPS_PROXY: 'http://p:3128', NO_PROXY: noProxy });
    expect(via(env('*'), 'https://anything.example/')).toBeUndefined();
    expect(via(env('example.com'), 'https://example.com/')).toBeUndefined();
    expect(via(env('example.com'), 'https://registry.example.com/')).toBeUndefined();
    expect(via(env('example.com'), 'https://notexample.com/')).toBe('http://p:3128/');
    expect(via(env('.example.com'), 'https://example.com/')).toBe('http://p:3128/');
    expect(via(env('.example.com'), 'https://a.example.com/')).toBeUndefined();
    expect(via(env('*.example.com'), 'https://a.example.com/')).toBeUndefined();
    expect(via(env(' Example.COM:5000 '), 'https://example.com:5000/')).toBeUndefined();
    expect(via(env('example.com:5000'), 'https://example.com/')).toBe('http://p:3128/');
    expect(via(env('10.1.2.3'), 'https://10.1.2.3:443/')).toBeUndefined();
    expect(via(env('10.0.0.0/8'), 'https://10.200.0.1/')).toBeUndefined();
    expect(via(env('10.0.0.0/8'), 'https://11.0.0.1/')).toBe('http://p:3128/');
    expect(via(env('[fd00::1]:443'), 'https://[fd00::1]/')).toBeUndefined();
    expect(via(env('fd00::/8'), 'https://[fd12::5]/')).toBeUndefined();
    expect(via({ HTTPS_PROXY: 'http://p:3128', no_proxy: 'example.com' }, 'https://example.com/')).toBeUndefined();
  });
});

/**
 * An HTTP proxy on loopback that takes requests in absolute form and CONNECT tunnels, and sends
 * every one to loopback at the port asked for, whatever the host name: names it alone can reach.
 */
async function startProxy(): Promise<{ url: string; seen: string[]; server: Server }> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const target = new URL(request.url ?? '/');
    seen.push(`${request.method ?? ''} ${target.host}`);
    const upstream = httpRequest({ host: '127.0.0.1', port: Number(target.port || 80), path: `${target.pathname}${target.search}`, method: request.method, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  server.on('connect', (request: IncomingMessage, client: Socket, head: Buffer) => {
    seen.push(`CONNECT ${request.url ?? ''}`);
    const port = Number((request.url ?? '').split(':').at(-1));
    const upstream = connect(port, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = server.close.bind(server);
  server.close = (callback) => {
    for (const socket of sockets) socket.destroy();
    return close(callback);
  };
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

/** Runs BODY with the environment's proxy variables set to VALUES, restored after. */
async function withEnvironment<T>(values: Readonly<Record<string, string>>, body: () => Promise<T>): Promise<T> {
  const names = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy'];
  const saved = new Map(names.map((name) => [name, process.env[name]]));
  for (const name of names) delete process.env[name];
  Object.assign(process.env, values);
  try {
    return await body();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

describe.runIf(haveRegistry())('pulls and ADD through a proxy', () => {
  let registry: TestRegistry;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let scratch: string;
  let files: Server;
  let fx: BuildFixture;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'tsbuild-proxy-'));
    registry = await startRegistry();
    proxy = await startProxy();
    files = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/plain' }).end('through the proxy\n'));
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    fx = await buildFixture();
    const source = join(scratch, 'source');
    await writeRandomImage(await openStore({ root: source }), { name: `${registry.host}/proxied/app:1`, layerSizes: [50_000] });
    const pushed = await run(['push', '--root', source, `${registry.host}/proxied/app:1`]);
    if (pushed.status !== 0) throw new Error(pushed.stderr);
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => proxy.server.close(() => resolve()));
    await new Promise<void>((resolve) => files.close(() => resolve()));
    await registry.stop();
    await fx.cleanup();
    await rm(scratch, { recursive: true, force: true });
  });

  it('pulls from a registry only the proxy reaches, and not through it once NO_PROXY names it', async () => {
    const port = registry.host.split(':')[1] ?? '';
    const name = `registry.proxied.test:${port}/proxied/app:1`;
    const pulled = await withEnvironment({ HTTP_PROXY: proxy.url }, () => run(['pull', '--root', join(scratch, 'a'), '--insecure-registry', `registry.proxied.test:${port}`, name]));
    expect(pulled.status, pulled.stderr).toBe(0);
    expect(pulled.stdout).toContain(`Status: Downloaded newer image for ${name}`);
    expect(proxy.seen).toContain(`GET registry.proxied.test:${port}`);
    const bypassed = await withEnvironment({ HTTP_PROXY: proxy.url, NO_PROXY: '.proxied.test' }, () => run(['pull', '--root', join(scratch, 'b'), '--insecure-registry', `registry.proxied.test:${port}`, name]));
    expect(bypassed.status).not.toBe(0);
    expect(bypassed.stderr).toMatch(/ENOTFOUND|EAI_AGAIN|no such host/);
  });

  it('reaches a loopback registry direct, the proxy down', async () => {
    const pulled = await withEnvironment({ HTTP_PROXY: 'http://127.0.0.1:9', HTTPS_PROXY: 'http://127.0.0.1:9' }, () => run(['pull', '--root', join(scratch, 'c'), `${registry.host}/proxied/app:1`]));
    expect(pulled.status, pulled.stderr).toBe(0);
  });

  it('ADDs a URL through the proxy', async () => {
    const port = (files.address() as AddressInfo).port;
    const context = await fx.context('add-proxied', { Dockerfile: `FROM scratch\nADD http://files.proxied.test:${port}/greeting /greeting\n` });
    const built = await withEnvironment({ HTTP_PROXY: proxy.url }, () => fx.build(['-t', 'add-proxied', context]));
    expect(built.status, built.stderr).toBe(0);
    expect((await imageFiles(fx, 'add-proxied')).get('greeting')?.text).toBe('through the proxy\n');
    expect(proxy.seen).toContain(`GET files.proxied.test:${port}`);
  });
});
