/**
 * sniffTls tells a TLS server from a plain one by one ClientHello, against the real registry
 * both ways, Node's TLS server, and servers that say nothing or are not there.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientHello, sniffTls } from '../../src/registry/tls-sniff.js';
import { makeCertificate, startRegistry, type Certificate, type TestRegistry } from '../helpers/registry.js';

let scratch: string;
let certificate: Certificate;
let plain: TestRegistry;
let secure: TestRegistry;

function portOf(host: string): number {
  return Number(host.slice(host.lastIndexOf(':') + 1));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tsbuild-tls-sniff-'));
  certificate = await makeCertificate(scratch);
  [plain, secure] = await Promise.all([startRegistry(), startRegistry({ tls: certificate })]);
});

afterAll(async () => {
  await Promise.all([plain.stop(), secure.stop()]);
  await rm(scratch, { recursive: true, force: true });
});

describe('sniffTls', () => {
  it('tells the registry over TLS from the registry over plain HTTP', async () => {
    expect(await sniffTls('127.0.0.1', portOf(secure.host), 2000)).toBe('tls');
    expect(await sniffTls('127.0.0.1', portOf(plain.host), 2000)).toBe('other');
  });

  it("gets an answer from Node's TLS server, with a server name in the hello", async () => {
    const server = createTlsServer({ key: certificate.key, cert: certificate.cert }, (socket) => socket.end());
    server.on('tlsClientError', () => undefined);
    try {
      expect(await sniffTls('localhost', await listen(server), 2000)).toBe('tls');
    } finally {
      server.close();
    }
  });

  it('counts a server that closes or says nothing as silent, and fails on one that is not there', async () => {
    const closing = createServer((socket) => socket.destroy());
    const mute = createServer((socket) => setTimeout(() => socket.destroy(), 2000));
    try {
      expect(await sniffTls('127.0.0.1', await listen(closing), 2000)).toBe('silent');
      const started = Date.now();
      expect(await sniffTls('127.0.0.1', await listen(mute), 200)).toBe('silent');
      expect(Date.now() - started).toBeLessThan(1500);
      await expect(sniffTls('127.0.0.1', 1, 1000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      closing.close();
      mute.close();
    }
  });

  it('writes a ClientHello whose lengths add up', () => {
    const hello = clientHello('registry.example');
    expect([...hello.subarray(0, 3)]).toEqual([22, 3, 1]);
    expect(hello.readUInt16BE(3)).toBe(hello.length - 5);
    expect(hello[5]).toBe(1);
    expect(hello.readUIntBE(6, 3)).toBe(hello.length - 9);
    expect(hello.includes(Buffer.from('registry.example'))).toBe(true);
    expect(clientHello('127.0.0.1').includes(Buffer.from('127.0.0.1'))).toBe(false);
  });
});
