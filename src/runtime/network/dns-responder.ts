/**
 * The DNS responder of one user network, run as a process of its own:
 * `node dns-responder.js NAMES_FILE LISTEN_ADDRESS UPSTREAM...`. It answers A queries for the
 * names in NAMES_FILE (JSON, read again whenever it changes: `{"names": {name: address},
 * "upstreams": {container address: [resolver…]}}`, or the names object alone) and forwards
 * every other query to the resolvers the asking container was given (`--dns`, as docker's
 * embedded DNS uses them), else to the host's. With no UPSTREAM at all (an internal network)
 * nothing is forwarded, whatever the file says. It prints `ready` once it listens, and exits
 * when NAMES_FILE is gone (its network was removed) or on SIGTERM.
 *
 * Only Node's own modules here: it starts without the CLI's bundle.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFileSync, statSync } from 'node:fs';

const ttlSeconds = 600;
const forwardTimeoutMs = 4000;
/**
 * Queries forwarded and not yet answered, at most, as docker's embedded resolver allows (its
 * maxConcurrent): each holds a socket until its answer or its timeout, and a container sending
 * names no resolver answers would otherwise take every descriptor the responder may open, and
 * with them the lookups of the network's other containers. One more is answered SERVFAIL.
 */
export const maxForwardsInFlight = 1024;
let forwardsInFlight = 0;

interface Question {
  readonly name: string;
  readonly type: number;
  /** Offset just past the question. */
  readonly end: number;
}

function readQuestion(message: Buffer): Question | undefined {
  if (message.length < 12 || message.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  for (;;) {
    const length = message[offset];
    if (length === undefined || length > 63) return undefined;
    offset += 1;
    if (length === 0) break;
    labels.push(message.subarray(offset, offset + length).toString('latin1'));
    offset += length;
  }
  if (offset + 4 > message.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: message.readUInt16BE(offset), end: offset + 4 };
}

/** An answer to QUERY: ADDRESS as its A record, or no record (a name known, of another type). */
function answer(query: Buffer, question: Question, address: string | undefined): Buffer {
  const header = Buffer.from(query.subarray(0, 12));
  // QR, the query's opcode and RD, AA, RA; NOERROR.
  header.writeUInt16BE((0x8000 | (query.readUInt16BE(2) & 0x7900) | 0x0400 | 0x0080) >>> 0, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(address === undefined ? 0 : 1, 6);
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(0, 10);
  const parts = [header, query.subarray(12, question.end)];
  if (address !== undefined) {
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc00c, 0);
    record.writeUInt16BE(1, 2);
    record.writeUInt16BE(1, 4);
    record.writeUInt32BE(ttlSeconds, 6);
    record.writeUInt16BE(4, 10);
    address.split('.').forEach((part, index) => record.writeUInt8(Number(part), 12 + index));
    parts.push(record);
  }
  return Buffer.concat(parts);
}

function serverFailure(query: Buffer): Buffer {
  const reply = Buffer.from(query);
  reply.writeUInt16BE((0x8000 | (query.readUInt16BE(2) & 0x7900) | 0x0080 | 2) >>> 0, 2);
  return reply;
}

interface NamesFile {
  readonly names: Record<string, string>;
  readonly upstreams: Record<string, readonly string[]>;
}

class Names {
  private mtime = -1;
  private table: NamesFile = { names: {}, upstreams: {} };

  constructor(private readonly path: string) {}

  /** The current names and resolvers, or undefined once the file is gone. */
  read(): NamesFile | undefined {
    let mtime: number;
    try {
      mtime = statSync(this.path).mtimeMs;
    } catch {
      return undefined;
    }
    if (mtime !== this.mtime) {
      try {
        const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as { names?: unknown; upstreams?: unknown };
        const isObject = (value: unknown): value is Record<string, never> => typeof value === 'object' && value !== null && !Array.isArray(value);
        this.table = isObject(parsed.names)
          ? { names: parsed.names, upstreams: isObject(parsed.upstreams) ? parsed.upstreams : {} }
          : { names: parsed as Record<string, string>, upstreams: {} };
        this.mtime = mtime;
      } catch {
        // Replaced meanwhile (it is renamed into place): the previous names until the next query.
      }
    }
    return this.table;
  }
}

function forward(query: Buffer, upstreams: readonly string[], reply: (message: Buffer) => void): void {
  if (forwardsInFlight >= maxForwardsInFlight) {
    reply(serverFailure(query));
    return;
  }
  forwardsInFlight++;
  const socket = createSocket('udp4');
  let done = false;
  const finish = (message: Buffer): void => {
    if (done) return;
    done = true;
    forwardsInFlight--;
    clearTimeout(timer);
    socket.close();
    reply(message);
  };
  const timer = setTimeout(() => finish(serverFailure(query)), forwardTimeoutMs);
  socket.on('message', (message) => finish(message));
  socket.on('error', () => finish(serverFailure(query)));
  if (upstreams.length === 0) finish(serverFailure(query));
  // Every resolver at once: the first answer wins, as a resolver with rotate and no wait would.
  for (const upstream of upstreams) socket.send(query, 53, upstream);
}

function serve(namesFile: string, listen: string, upstreams: readonly string[]): void {
  const names = new Names(namesFile);
  const server: Socket = createSocket('udp4');
  // Stopping closes what keeps the process alive; queries being forwarded end within their timeout.
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(watch);
    server.close();
  };
  server.on('message', (query: Buffer, peer: RemoteInfo) => {
    const table = names.read();
    if (table === undefined) {
      stop();
      return;
    }
    const question = readQuestion(query);
    if (question === undefined) return;
    const reply = (message: Buffer): void => server.send(message, peer.port, peer.address);
    const address = table.names[question.name.replace(/\.$/, '')];
    if (address !== undefined) reply(answer(query, question, question.type === 1 || question.type === 255 ? address : undefined));
    else forward(query, upstreams.length === 0 ? [] : (table.upstreams[peer.address] ?? upstreams), reply);
  });
  server.on('error', (error) => {
    process.stderr.write(`dns responder: ${error.message}\n`);
    process.exitCode = 1;
    stop();
  });
  server.bind(53, listen, () => {
    process.stdout.write('ready\n');
  });
  // The network was removed without stopping its responder (a crash meanwhile): it goes too.
  const watch = setInterval(() => {
    if (names.read() === undefined) stop();
  }, 2000);
  process.on('SIGTERM', stop);
}

const [namesFile, listen, ...upstreams] = process.argv.slice(2);
if (namesFile !== undefined && listen !== undefined) serve(namesFile, listen, upstreams);
