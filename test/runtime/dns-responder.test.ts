/**
 * A network's DNS responder, started on a loopback address with a resolver of the test's own
 * as its upstream: what it answers itself, and what it forwards (nothing, for an internal network).
 */
import { createSocket, type Socket } from 'node:dgram';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startResponder, stopResponder } from '../../src/runtime/network/responder.js';
import { namesPath, networkNames, networksDirectory, type NetworkRecord } from '../../src/runtime/network/state.js';
import type { Store } from '../../src/store/index.js';
import { buildBinaries, isRoot } from './helpers.js';

/** A query for NAME (type A), id 0x1234. */
function query(name: string): Buffer {
  const labels = name.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)]));
  return Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

function ask(server: string, name: string, from?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    if (from !== undefined) socket.bind(0, from);
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no answer from ${server} for ${name}`));
    }, 5000);
    socket.once('message', (message) => {
      clearTimeout(timer);
      socket.close();
      resolve(message);
    });
    const send = (): void => socket.send(query(name), 53, server);
    if (from === undefined) send();
    else socket.once('listening', send);
  });
}

describe.runIf(isRoot)('the DNS responder of a network', () => {
  let dir: string;
  let store: Store;
  let upstream: Socket;
  const forwarded: string[] = [];
  // Addresses of the loopback network: the responder's, and the test's own resolver.
  const upstreamAddress = '127.0.0.77';

  beforeAll(async () => {
    buildBinaries();
    dir = await mkdtemp(join(tmpdir(), 'tsbuild-dns-'));
    store = { root: dir } as Store;
    await mkdir(networksDirectory(store), { recursive: true });
    upstream = createSocket('udp4');
    upstream.on('message', (message, peer) => {
      forwarded.push(message.subarray(12).toString('latin1'));
      // NXDOMAIN, so that a forwarded query is told from one the responder failed itself.
      const reply = Buffer.from(message);
      reply.writeUInt16BE(0x8183, 2);
      upstream.send(reply, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => upstream.bind(53, upstreamAddress, resolve));
  });

  afterAll(async () => {
    upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  const network = async (id: string, gateway: string, internal: boolean): Promise<NetworkRecord> => {
    await writeFile(namesPath(store, id), JSON.stringify({ web: '10.9.0.2' }));
    return { id, name: id, created: '', driver: 'bridge', internal, labels: {}, isDefault: false, gateway, subnetGiven: true, bridge: 'none', endpoints: {} };
  };

  it('answers its containers’ names itself and forwards other names upstream, unless the network is internal', async () => {
    for (const [id, gateway, internal] of [['open', '127.0.0.78', false], ['internal', '127.0.0.79', true]] as const) {
      const responder = await startResponder(store, await network(id, gateway, internal), { enter: [], upstreams: [upstreamAddress] });
      try {
        forwarded.length = 0;
        const own = await ask(gateway, 'web');
        expect(own.readUInt16BE(2) & 0xf).toBe(0);
        expect([...own.subarray(own.length - 4)]).toEqual([10, 9, 0, 2]);
        const other = await ask(gateway, `exfiltrated.${id}.example`);
        if (internal) {
          // SERVFAIL from the responder, and nothing left the network.
          expect(other.readUInt16BE(2) & 0xf).toBe(2);
          expect(forwarded).toEqual([]);
        } else {
          expect(other.readUInt16BE(2) & 0xf).toBe(3);
          expect(forwarded.join()).toContain('exfiltrated');
        }
      } finally {
        await stopResponder(responder);
      }
    }
  }, 30_000);

  it("forwards a container's other queries to the resolvers it was given (--dns), and the rest to the network's, never out of an internal network", async () => {
    // A second resolver, which answers every name with 192.0.2.9.
    const given: string[] = [];
    const resolver = createSocket('udp4');
    resolver.on('message', (message, peer) => {
      given.push(message.subarray(12).toString('latin1'));
      const reply = Buffer.concat([message, Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 9])]);
      reply.writeUInt16BE(0x8180, 2);
      reply.writeUInt16BE(1, 6);
      resolver.send(reply, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => resolver.bind(53, '127.0.0.80', resolve));
    try {
      for (const [id, gateway, internal] of [['given', '127.0.0.81', false], ['given-internal', '127.0.0.82', true]] as const) {
        // As writeNames writes it: the container at 127.0.0.90 was given --dns 127.0.0.80.
        await writeFile(namesPath(store, id), JSON.stringify({ names: { web: '10.9.0.2' }, upstreams: { '127.0.0.90': ['127.0.0.80'] } }));
        const record: NetworkRecord = { id, name: id, created: '', driver: 'bridge', internal, labels: {}, isDefault: false, gateway, subnetGiven: true, bridge: 'none', endpoints: {} };
        const responder = await startResponder(store, record, { enter: [], upstreams: [upstreamAddress] });
        try {
          forwarded.length = 0;
          given.length = 0;
          const own = await ask(gateway, 'web', '127.0.0.90');
          expect([...own.subarray(own.length - 4)]).toEqual([10, 9, 0, 2]);
          const mine = await ask(gateway, `mine.${id}.example`, '127.0.0.90');
          const theirs = await ask(gateway, `theirs.${id}.example`, '127.0.0.91');
          if (internal) {
            expect([mine.readUInt16BE(2) & 0xf, theirs.readUInt16BE(2) & 0xf]).toEqual([2, 2]);
            expect([...given, ...forwarded]).toEqual([]);
          } else {
            expect(mine.readUInt16BE(2) & 0xf).toBe(0);
            expect([...mine.subarray(mine.length - 4)]).toEqual([192, 0, 2, 9]);
            expect(theirs.readUInt16BE(2) & 0xf).toBe(3);
            expect(given.join()).toContain('mine');
            expect(given.join()).not.toContain('theirs');
            expect(forwarded.join()).toContain('theirs');
            expect(forwarded.join()).not.toContain('mine');
          }
        } finally {
          await stopResponder(responder);
        }
      }
    } finally {
      resolver.close();
    }
  }, 30_000);

  it('forwards at most 1024 queries at a time, as docker: a container asking names no resolver answers gets SERVFAIL for the rest at once, and holds no more of the responder', async () => {
    // A resolver that takes every query and answers none.
    const silent = createSocket('udp4');
    let reached = 0;
    silent.on('message', () => reached++);
    await new Promise<void>((resolve) => silent.bind(53, '127.0.0.83', resolve));
    const responder = await startResponder(store, await network('flooded', '127.0.0.84', false), { enter: [], upstreams: ['127.0.0.83'] });
    const asker = createSocket('udp4');
    const failures: number[] = [];
    asker.on('message', (message) => failures.push(message.readUInt16BE(2) & 0xf));
    try {
      await new Promise<void>((resolve) => asker.bind(0, '127.0.0.1', resolve));
      // 1,500 names, in bursts the responder's socket takes without dropping, well within the
      // 4 s a forwarded query waits for its answer.
      for (let burst = 0; burst < 15; burst++) {
        for (let index = 0; index < 100; index++) asker.send(query(`n${burst * 100 + index}.flood.example`), 53, '127.0.0.84');
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      // The 476 past the bound are answered at once, each SERVFAIL; the others wait upstream.
      expect(failures.length).toBeGreaterThanOrEqual(400);
      expect(failures.every((code) => code === 2)).toBe(true);
      expect(reached).toBeLessThanOrEqual(1024);
    } finally {
      asker.close();
      await stopResponder(responder);
      silent.close();
    }
  }, 30_000);
});

describe('the names a network answers', () => {
  it("answers NAME.NETWORK too, as docker's embedded DNS does", () => {
    const endpoint = { containerId: 'c0ffee'.padEnd(64, '0'), name: 'Web', aliases: ['api'], address: '10.7.0.2', mac: '02:42:0a:07:00:02', hostVeth: 'tsbv0', interfaceName: 'eth0' };
    const network: NetworkRecord = { id: 'ab'.padEnd(64, '0'), name: 'mynet', created: '2026-01-01T00:00:00Z', driver: 'bridge', internal: false, labels: {}, isDefault: false, subnetGiven: true, subnet: '10.7.0.0/24', gateway: '10.7.0.1', bridge: 'tsb-ab00000000', endpoints: { [endpoint.containerId]: endpoint } };
    // docker 26 on a user network `mynet`: `ping web.mynet` and `ping api.mynet` reach the container, as `web` and `api` do.
    expect(networkNames(network)).toEqual({
      c0ffee000000: '10.7.0.2',
      'c0ffee000000.mynet': '10.7.0.2',
      web: '10.7.0.2',
      'web.mynet': '10.7.0.2',
      api: '10.7.0.2',
      'api.mynet': '10.7.0.2',
    });
  });
});
