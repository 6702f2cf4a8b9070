/**
 * A fault-injecting HTTP proxy in front of a real registry, on 127.0.0.1. Each fault matches
 * requests by method and path and applies a bounded number of times: drop the connection,
 * answer an error status, truncate or corrupt the body, stall mid-body, redirect to a
 * "storage" path on another host name, or add response headers. Every request is recorded.
 */
import { request as httpRequest, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export type FaultAction =
  | { readonly kind: 'drop' }
  | { readonly kind: 'status'; readonly status: number; readonly retryAfter?: string }
  /** Forward, but end the connection after `bytes` bytes of the body. */
  | { readonly kind: 'truncate'; readonly bytes: number }
  /** Forward `bytes` bytes of the body, then send nothing more until the client gives up. */
  | { readonly kind: 'stall'; readonly bytes: number }
  /** Forward with every byte of the body inverted: same length, other content. */
  | { readonly kind: 'corrupt' }
  /** Answer 307 to the same path under /__storage on `host` (another origin). */
  | { readonly kind: 'redirect'; readonly host: string }
  | { readonly kind: 'headers'; readonly headers: Readonly<Record<string, string>> }
  /** Forward, turning an absolute `Location` into a path (`/v2/…?…`), as some registries send it. */
  | { readonly kind: 'relativeLocation' }
  /** Forwarded after MS milliseconds (a slow registry). */
  | { readonly kind: 'delay'; readonly ms: number };

export interface Fault {
  readonly method?: string;
  readonly path: RegExp;
  readonly action: FaultAction;
  /** How many matching requests it applies to; default 1. */
  times?: number;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Body bytes received from the client. */
  readonly bodyBytes: number;
  readonly fault?: FaultAction['kind'];
}

export interface FaultProxyOptions {
  /** `http://127.0.0.1:PORT` or `https://…` of the registry. */
  readonly target: string;
  readonly ca?: string;
  /** Sent upstream for /__storage requests, which arrive without credentials by design. */
  readonly storageAuthorization?: string;
}

/** When a request arrived and when its response was sent, in Date.now() milliseconds. */
export interface RequestTiming {
  readonly method: string;
  readonly path: string;
  readonly started: number;
  finished?: number;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  readonly timings: RequestTiming[];
  readonly faults: Fault[];
  add(...faults: Fault[]): void;
  stop(): Promise<void>;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const faults: Fault[] = [];
  const requests: RecordedRequest[] = [];
  const timings: RequestTiming[] = [];
  const sockets = new Set<Socket>();

  const take = (method: string, path: string): FaultAction | undefined => {
    for (const fault of faults) {
      if ((fault.method === undefined || fault.method === method) && fault.path.test(path) && (fault.times ?? 1) > 0) {
        fault.times = (fault.times ?? 1) - 1;
        return fault.action;
      }
    }
    return undefined;
  };

  const forward = (req: IncomingMessage, res: ServerResponse, action: FaultAction | undefined, record: (bytes: number) => void): void => {
    let path = req.url ?? '/';
    const headers = { ...req.headers };
    if (path.startsWith('/__storage/')) {
      path = path.slice('/__storage'.length);
      if (options.storageAuthorization !== undefined) headers.authorization = options.storageAuthorization;
    }
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    req.on('end', () => record(received));
    const upstream = send(
      { host: target.hostname, port: target.port, method: req.method, path, headers, ...(options.ca === undefined ? {} : { ca: options.ca }) },
      (response) => {
        const responseHeaders = { ...response.headers };
        if (action?.kind === 'headers') Object.assign(responseHeaders, action.headers);
        if (action?.kind === 'relativeLocation' && typeof responseHeaders.location === 'string') {
          const absolute = new URL(responseHeaders.location, 'http://placeholder');
          responseHeaders.location = `${absolute.pathname}${absolute.search}`;
        }
        res.writeHead(response.statusCode ?? 502, responseHeaders);
        if (action?.kind === 'truncate' || action?.kind === 'stall') {
          let sent = 0;
          response.on('data', (chunk: Buffer) => {
            if (sent >= action.bytes) return;
            const part = chunk.subarray(0, action.bytes - sent);
            sent += part.length;
            res.write(part);
            if (sent >= action.bytes) {
              if (action.kind === 'truncate') res.socket?.destroy();
              else response.pause();
            }
          });
          response.on('end', () => {
            if (action.kind === 'truncate' && sent < action.bytes) res.end();
          });
          return;
        }
        if (action?.kind === 'corrupt') {
          response.on('data', (chunk: Buffer) => res.write(Buffer.from(chunk.map((byte) => byte ^ 0xff))));
          response.on('end', () => res.end());
          return;
        }
        response.pipe(res);
      },
    );
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
  };

  const server: Server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const action = take(method, path.split('?')[0] ?? path);
    const timing: RequestTiming = { method, path, started: Date.now() };
    timings.push(timing);
    res.on('finish', () => (timing.finished = Date.now()));
    const record = (bodyBytes: number): void => {
      requests.push({ method, path, headers: { ...req.headers }, bodyBytes, ...(action === undefined ? {} : { fault: action.kind }) });
    };
    if (action?.kind === 'drop') {
      record(0);
      req.socket.destroy();
      return;
    }
    if (action?.kind === 'status') {
      req.resume();
      req.on('end', () => {
        record(0);
        res.writeHead(action.status, { 'content-type': 'application/json', ...(action.retryAfter === undefined ? {} : { 'retry-after': action.retryAfter }) });
        res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `injected ${action.status}` }] }));
      });
      return;
    }
    if (action?.kind === 'redirect') {
      req.resume();
      req.on('end', () => {
        record(0);
        res.writeHead(307, { location: `http://${action.host}/__storage${path}` });
        res.end();
      });
      return;
    }
    if (action?.kind === 'delay') {
      setTimeout(() => forward(req, res, action, record), action.ms);
      return;
    }
    forward(req, res, action, record);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    requests,
    timings,
    faults,
    add: (...more) => faults.push(...more),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
