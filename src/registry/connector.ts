/**
 * The connector the client's agents use: undici's own (`buildConnector`), with larger reads for
 * plain-HTTP sockets.
 */
import type { Socket } from 'node:net';
import { buildConnector, type BuildOptions, type Connector } from './undici.js';

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
export function connector(options: BuildOptions): Connector {
  const secure = buildConnector(options);
  plainReadBuffer ??= Buffer.allocUnsafe(plainReadBytes);
  // net.connect's own options, which undici's connector passes on to it (highWaterMark goes on
  // to the socket's stream, which @types/node does not say).
  const plainOptions: BuildOptions & { readonly highWaterMark: number } = {
    ...options,
    highWaterMark: plainReadBytes,
    onread: { buffer: plainReadBuffer, callback: copyOut },
  };
  const plain = buildConnector(plainOptions);
  return (connectOptions, callback) => (connectOptions.protocol === 'https:' ? secure : plain)(connectOptions, callback);
}
