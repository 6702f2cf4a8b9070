/**
 * Whether a server speaks TLS, found with one ClientHello sent on a plain TCP connection and
 * the first bytes of the answer: a TLS server answers with a handshake or an alert record, a
 * plain HTTP server with an error page. Node's TLS stack is not involved: loading it and
 * building its store of root certificates costs more than the whole exchange, and a loopback
 * registry, the common case for plain HTTP, never needs it. The handshake is never completed
 * and nothing but the ClientHello is sent.
 */
import { connect } from 'node:net';

export type TlsSniff = 'tls' | 'other' | 'silent';

/**
 * 'tls': the answer is a TLS record; 'other': the server answered something else; 'silent':
 * it closed the connection, or said nothing within `timeoutMs`. Rejects when the connection
 * cannot be made.
 */
export function sniffTls(host: string, port: number, timeoutMs: number): Promise<TlsSniff> {
  return new Promise<TlsSniff>((resolve, reject) => {
    const socket = connect({ host, port });
    let connected = false;
    const finish = (outcome: TlsSniff | Error): void => {
      socket.destroy();
      clearTimeout(timer);
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    // Counted from the start: a server that accepts and then says nothing is as good as silent.
    const timer = setTimeout(() => finish(connected ? 'silent' : new Error(`connect to ${host}:${port} timed out`)), timeoutMs);
    socket.setNoDelay(true);
    socket.once('connect', () => {
      connected = true;
      socket.write(clientHello(host));
    });
    socket.once('data', (first: Buffer) => {
      // A record header: content type handshake (22) or alert (21), then major version 3.
      finish((first[0] === 22 || first[0] === 21) && (first.length < 2 || first[1] === 3) ? 'tls' : 'other');
    });
    socket.once('end', () => finish('silent'));
    socket.once('error', (error) => finish(connected ? 'silent' : error));
  });
}

/**
 * A TLS 1.2 ClientHello offering 1.3 as well, with the server name when `host` is one: enough
 * for any TLS server to answer with a ServerHello, a HelloRetryRequest or an alert.
 */
export function clientHello(host: string): Buffer {
  const extensions: Buffer[] = [];
  const name = host.replace(/^\[|\]$/g, '');
  if (!/^[\d.]+$/.test(name) && !name.includes(':')) {
    const encoded = Buffer.from(name, 'ascii');
    extensions.push(extension(0, concat(u16(encoded.length + 3), Buffer.from([0]), u16(encoded.length), encoded)));
  }
  // supported_groups x25519, secp256r1; signature_algorithms; supported_versions 1.3, 1.2.
  extensions.push(extension(10, concat(u16(4), u16(0x001d), u16(0x0017))));
  extensions.push(extension(13, concat(u16(8), u16(0x0804), u16(0x0403), u16(0x0401), u16(0x0807))));
  extensions.push(extension(43, Buffer.from([4, 3, 4, 3, 3])));
  const random = Buffer.alloc(32);
  for (let index = 0; index < random.length; index++) random[index] = Math.floor(Math.random() * 256);
  const suites = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0x009c];
  const body = concat(
    u16(0x0303),
    random,
    Buffer.from([0]),
    u16(suites.length * 2),
    ...suites.map(u16),
    Buffer.from([1, 0]),
    u16(extensions.reduce((sum, item) => sum + item.length, 0)),
    ...extensions,
  );
  const handshake = concat(Buffer.from([1, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff]), body);
  return concat(Buffer.from([22, 3, 1]), u16(handshake.length), handshake);
}

function extension(type: number, data: Buffer): Buffer {
  return concat(u16(type), u16(data.length), data);
}

function u16(value: number): Buffer {
  return Buffer.from([(value >> 8) & 0xff, value & 0xff]);
}

function concat(...parts: Buffer[]): Buffer {
  return Buffer.concat(parts);
}
