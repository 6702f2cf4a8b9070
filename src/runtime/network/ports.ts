/**
 * Published ports on the host's side: a free port chosen for `-p CONTAINER` and `-P`, and the
 * userland proxy (as docker-proxy) that holds each published port open and carries the
 * connections DNAT cannot see — those to the host's loopback addresses.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, createServer, type Server } from 'node:net';
import { TsbuildError, messageOf } from '../../common/index.js';
import type { PortSpec } from './address.js';

export interface PublishedPort extends PortSpec {
  /** The container's address the port leads to. */
  readonly address: string;
}

/** A port free on the host for SPEC's protocol and address (the kernel's choice, as docker's). */
export async function reservePort(spec: Pick<PortSpec, 'hostIp' | 'protocol'>): Promise<number> {
  const host = spec.hostIp ?? '0.0.0.0';
  if (spec.protocol === 'udp') {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => resolve());
    });
    const { port } = socket.address();
    socket.close();
    return port;
  }
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new TsbuildError('INTERNAL', 'choose a free port: no address');
  return address.port;
}

/** docker's words for a host port another process holds (its port mapper's). */
export function portTakenError(host: string, port: number | string, cause?: unknown): TsbuildError {
  return new TsbuildError('RUNTIME', `Bind for ${host}:${port} failed: port is already allocated`, cause === undefined ? undefined : { cause });
}

/** Whether SPEC's host port can be bound now; errors other than a port in use are thrown. */
async function portFree(spec: Pick<PortSpec, 'hostIp' | 'hostPort' | 'protocol'>): Promise<boolean> {
  const host = spec.hostIp ?? '0.0.0.0';
  try {
    if (spec.protocol === 'udp') {
      const socket = createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(spec.hostPort, host, () => resolve());
      });
      socket.close();
      return true;
    }
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(spec.hostPort, host, () => resolve());
    });
    await new Promise((resolve) => server.close(resolve));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') return false;
    throw new TsbuildError('RUNTIME', `publish port ${host}:${spec.hostPort}: ${messageOf(error)}`, { cause: error });
  }
}

/** Fails with docker's `port is already allocated` when SPEC's host port is taken. */
export async function checkPortFree(spec: Pick<PortSpec, 'hostIp' | 'hostPort' | 'protocol'>): Promise<void> {
  if (!(await portFree(spec))) throw portTakenError(spec.hostIp ?? '0.0.0.0', spec.hostPort);
}

/**
 * SPEC as published: on a free host port for port 0, on the first free one of a host range
 * (`-p 8000-8010:80`, as docker's allocator takes them) that none of CHOSEN (the container's
 * other ports, not bound yet) has, else on its own.
 */
export async function chooseHostPort(spec: PortSpec, chosen: readonly PortSpec[] = []): Promise<PortSpec> {
  const { hostPortEnd, ...single } = spec;
  if (spec.hostPort === 0) return { ...single, hostPort: await reservePort(spec) };
  if (hostPortEnd === undefined || hostPortEnd === spec.hostPort) return single;
  const taken = new Set(chosen.filter((other) => other.protocol === spec.protocol).map((other) => other.hostPort));
  for (let port = spec.hostPort; port <= hostPortEnd; port++) {
    if (!taken.has(port) && (await portFree({ ...spec, hostPort: port }))) return { ...single, hostPort: port };
  }
  throw new TsbuildError('RUNTIME', `Bind for ${spec.hostIp ?? '0.0.0.0'}:${spec.hostPort}-${hostPortEnd} failed: all ports are allocated`);
}

export interface PortProxies {
  close(): Promise<void>;
}

function tcpProxy(port: PublishedPort): Promise<Server> {
  const server = createServer({ pauseOnConnect: true }, (client) => {
    const upstream = createConnection({ host: port.address, port: port.containerPort });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    client.resume();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port.hostPort, port.hostIp ?? '0.0.0.0', () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}

/** One socket toward the container per client, as docker-proxy relays UDP. */
function udpProxy(port: PublishedPort): Promise<{ close(): void }> {
  const server = createSocket('udp4');
  const clients = new Map<string, UdpSocket>();
  server.on('message', (message, peer) => {
    const key = `${peer.address}:${peer.port}`;
    let upstream = clients.get(key);
    if (upstream === undefined) {
      const socket = createSocket('udp4');
      socket.on('message', (reply) => server.send(reply, peer.port, peer.address));
      socket.on('error', () => socket.close());
      clients.set(key, socket);
      upstream = socket;
    }
    upstream.send(message, port.containerPort, port.address);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.bind(port.hostPort, port.hostIp ?? '0.0.0.0', () => {
      server.removeListener('error', reject);
      resolve({
        close: () => {
          for (const socket of clients.values()) socket.close();
          server.close();
        },
      });
    });
  });
}

/**
 * Opens every published port: a port another process holds fails as docker's `port is already
 * allocated`. The proxies live in this process, until `close`.
 */
export async function publishPorts(ports: readonly PublishedPort[]): Promise<PortProxies> {
  const closers: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(closers.map((closer) => closer()));
  };
  try {
    for (const port of ports) {
      if (port.protocol === 'udp') {
        const proxy = await udpProxy(port);
        closers.push(async () => proxy.close());
      } else {
        const server = await tcpProxy(port);
        server.unref();
        closers.push(() => new Promise((resolve) => server.close(() => resolve())));
      }
    }
  } catch (error) {
    await close();
    const host = ports[closers.length]?.hostIp ?? '0.0.0.0';
    const port = ports[closers.length]?.hostPort ?? '';
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw portTakenError(host, port, error);
    throw new TsbuildError('RUNTIME', `publish port ${host}:${port}: ${messageOf(error)}`, { cause: error });
  }
  return { close };
}
