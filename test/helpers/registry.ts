/**
 * Starts Debian's `docker-registry` on 127.0.0.1 on a free port with a temporary storage
 * directory: without auth, with htpasswd Basic auth, or with token auth against a token server
 * the tests run. `stop()` kills it and removes its files.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';

export const registryBinary = '/usr/bin/docker-registry';

export function haveRegistry(): boolean {
  return existsSync(registryBinary);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface Certificate {
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: string;
  readonly key: string;
}

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl. */
export async function makeCertificate(dir: string, name = 'server'): Promise<Certificate> {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-keyout', keyPath, '-out', certPath,
    '-subj', `/CN=${name}`,
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  return { certPath, keyPath, cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8') };
}

export interface RegistryOptions {
  readonly htpasswd?: { readonly users: Readonly<Record<string, string>> };
  readonly token?: { readonly realm: string; readonly service: string; readonly issuer: string; readonly rootCertBundle: string };
  /** Serve HTTPS with this certificate. */
  readonly tls?: Certificate;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, as it appears in references. */
  readonly host: string;
  readonly url: string;
  readonly dataDir: string;
  stop(): Promise<void>;
}

function yamlString(value: string): string {
  return JSON.stringify(value);
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'tsbuild-registry-'));
  const dataDir = join(dir, 'data');
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${yamlString(dataDir)}`,
    '  delete:',
    '    enabled: true',
  ];
  if (options.htpasswd !== undefined) {
    const entries = Object.entries(options.htpasswd.users).map(([user, password]) => execFileSync('htpasswd', ['-Bbn', user, password], { encoding: 'utf8' }).trim());
    const path = join(dir, 'htpasswd');
    await writeFile(path, `${entries.join('\n')}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: tsbuild-test', `    path: ${yamlString(path)}`);
  } else if (options.token !== undefined) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${yamlString(options.token.realm)}`,
      `    service: ${yamlString(options.token.service)}`,
      `    issuer: ${yamlString(options.token.issuer)}`,
      `    rootcertbundle: ${yamlString(options.token.rootCertBundle)}`,
    );
  }
  const scheme = options.tls === undefined ? 'http' : 'https';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const http = ['http:', `  addr: 127.0.0.1:${port}`, `  secret: ${yamlString(`secret-${port}`)}`];
    if (options.tls !== undefined) http.push('  tls:', `    certificate: ${yamlString(options.tls.certPath)}`, `    key: ${yamlString(options.tls.keyPath)}`);
    const configPath = join(dir, 'config.yml');
    await writeFile(configPath, [...lines, ...http, ''].join('\n'));
    const child = spawn(registryBinary, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 8192) stderr += chunk;
    });
    const url = `${scheme}://127.0.0.1:${port}`;
    if (await waitReady(child, url, options.tls?.cert)) {
      return {
        host: `127.0.0.1:${port}`,
        url,
        dataDir,
        stop: async () => {
          await stopChild(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    await stopChild(child);
    if (attempt === 4) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`start docker-registry: not ready: ${stderr.slice(0, 2000)}`);
    }
  }
  throw new Error('start docker-registry: unreachable');
}

async function waitReady(child: ChildProcess, url: string, ca: string | undefined): Promise<boolean> {
  const dispatcher = new Agent({ connect: ca === undefined ? {} : { ca } });
  try {
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) return false;
      try {
        const response = await request(`${url}/v2/`, { dispatcher });
        await response.body.dump();
        if (response.statusCode === 200 || response.statusCode === 401) return true;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    return false;
  } finally {
    await dispatcher.close();
  }
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}
