/**
 * The connector of the registry client: plain-HTTP sockets read up to 1 MiB at a time into a
 * shared buffer, copied out per read, and deliver every byte in order; TLS sockets are undici's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connector } from '../../src/registry/connector.js';
import { makeCertificate, type Certificate } from '../helpers/registry.js';

let scratch: string;
let certificate: Certificate;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tsbuild-connector-'));
  certificate = await makeCertificate(scratch);
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function connect(protocol: 'http:' | 'https:', port: number): Promise<Socket> {
  const connectTo = connector({ timeout: 5000, rejectUnauthorized: false });
  return new Promise((resolve, reject) => {
    connectTo({ hostname: '127.0.0.1', host: `127.0.0.1:${port}`, protocol, port: String(port) }, (error, socket) => (error === null ? resolve(socket as Socket) : reject(error)));
  });
}

/** Everything a socket delivers until its end, and the largest single chunk. */
function drain(socket: Socket): Promise<{ data: Buffer; largest: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve({ data: Buffer.concat(chunks), largest: Math.max(...chunks.map((chunk) => chunk.length)) }));
    socket.on('error', reject);
  });
}

describe('connector', () => {
  it('delivers every byte of two plain connections at once, in order, in reads larger than 64 KiB', async () => {
    const payloads = [randomBytes(24 * 1024 * 1024), randomBytes(9 * 1024 * 1024 + 3)];
    let next = 0;
    const server = createServer((socket) => {
      const payload = payloads[next++] as Buffer;
      // Written in one go, so that the receiver finds more than 64 KiB waiting.
      socket.end(payload);
    });
    try {
      const port = await listen(server);
      const sockets = await Promise.all([connect('http:', port), connect('http:', port)]);
      const received = await Promise.all(sockets.map(drain));
      const digest = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
      expect(received.map((item) => digest(item.data)).sort()).toEqual(payloads.map(digest).sort());
      expect(Math.max(...received.map((item) => item.largest))).toBeGreaterThan(64 * 1024);
    } finally {
      server.close();
    }
  });

  it("leaves TLS to undici's own connector", async () => {
    const server = createTlsServer({ key: certificate.key, cert: certificate.cert }, (socket: TLSSocket) => socket.end('over tls'));
    try {
      const socket = await connect('https:', await listen(server));
      expect((socket as TLSSocket).encrypted).toBe(true);
      expect((await drain(socket)).data.toString()).toBe('over tls');
    } finally {
      server.close();
    }
  });
});
