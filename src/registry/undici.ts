/**
 * The parts of undici the client uses: the Agent and the request API on dispatchers. undici's
 * index also loads fetch, WebSocket, the cache, mocks and the cookie helpers, which in turn make
 * Node load its own copy of undici: about 40 ms at every start of a command that talks to a
 * registry, for code never run.
 */
import type { Socket } from 'node:net';
import type { Agent as AgentType, Dispatcher as DispatcherType, buildConnector as BuildConnectorType } from 'undici';
import AgentModule from 'undici/lib/dispatcher/agent.js';
import buildConnectorModule from 'undici/lib/core/connect.js';
import DispatcherModule from 'undici/lib/dispatcher/dispatcher.js';
import requestApi from 'undici/lib/api/index.js';

// What undici's index does: the request methods live on every dispatcher's prototype.
Object.assign((DispatcherModule as { prototype: object }).prototype, requestApi);

export const Agent = AgentModule as typeof AgentType;
const buildConnector = buildConnectorModule as typeof BuildConnectorType;
export type Agent = AgentType;
export type Dispatcher = DispatcherType;

/**
 * One buffer every plain-HTTP socket reads into, and 1 MiB reads: by default Node reads a socket
 * 64 KiB at a time, each into a buffer allocated for that read, and on this virtual machine the
 * allocations, their page faults and the four times as many reads (each acknowledged to the
 * sender within the read) cost a 300 MB pull about 8 % of its time. Each read is copied out at
 * its exact size at once, in the read's callback, so sharing the buffer is safe. TLS sockets
 * keep Node's reads: their records arrive decrypted, 16 KiB at a time, whatever the buffer.
 */
const plainReadBytes = 1024 * 1024;
let plainReadBuffer: Buffer | undefined;

function copyOut(this: Socket, length: number, buffer: Buffer): boolean {
  return this.push(Buffer.from(buffer.subarray(0, length)));
}

/** undici's connector for `options`, with the reads above for plain-HTTP sockets. */
export function connector(options: BuildConnectorType.BuildOptions): BuildConnectorType.connector {
  const secure = buildConnector(options);
  plainReadBuffer ??= Buffer.allocUnsafe(plainReadBytes);
  // Options undici passes on to net.connect as they are.
  const plainOptions: BuildConnectorType.BuildOptions & { readonly highWaterMark: number; readonly onread: { buffer: Buffer; callback: typeof copyOut } } = {
    ...options,
    highWaterMark: plainReadBytes,
    onread: { buffer: plainReadBuffer, callback: copyOut },
  };
  const plain = buildConnector(plainOptions);
  return (connectOptions, callback) => (connectOptions.protocol === 'https:' ? secure : plain)(connectOptions, callback);
}
