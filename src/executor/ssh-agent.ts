/**
 * An ssh agent in the build's own process for `--ssh ID=KEYFILE[,KEYFILE]`, as BuildKit's client
 * loads key files into an agent of its own: it lists the keys and signs with them, and does
 * nothing else (no adding, removing or locking). Keys are read from OpenSSH's format
 * (`ssh-keygen`'s default: ed25519, RSA, ECDSA) or PEM, unencrypted: an encrypted key belongs in
 * a real agent, whose socket `--ssh` takes as well.
 */
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { nodeCrypto, TsbuildError } from '../common/index.js';

interface AgentKey {
  /** The public key in the agent protocol's wire form. */
  readonly blob: Buffer;
  readonly comment: string;
  readonly type: string;
  readonly key: KeyObject;
}

const requestIdentities = 11;
const identitiesAnswer = 12;
const signRequest = 13;
const signResponse = 14;
const failure = 5;
const rsaSha256 = 2;
const rsaSha512 = 4;
/** A request larger than this is no agent request (OpenSSH's own agent caps at 256 KiB). */
const largestMessage = 256 * 1024;

function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** An unsigned big-endian number as SSH's mpint: no leading zeros, one zero byte when the top bit is set. */
function sshMpint(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return sshString((trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

class Reader {
  private offset = 0;
  constructor(
    private readonly data: Buffer,
    private readonly what: string,
  ) {}

  uint32(): number {
    if (this.offset + 4 > this.data.length) throw this.truncated();
    const value = this.data.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  bytes(): Buffer {
    const length = this.uint32();
    if (this.offset + length > this.data.length) throw this.truncated();
    const value = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  /** An mpint as an unsigned big-endian number without leading zeros. */
  unsigned(): Buffer {
    const value = this.bytes();
    let start = 0;
    while (start < value.length - 1 && value[start] === 0) start++;
    return value.subarray(start);
  }

  private truncated(): TsbuildError {
    return new TsbuildError('INVALID_ARGUMENT', `read ${this.what}: truncated`);
  }
}

const base64url = (bytes: Buffer): string => bytes.toString('base64url');
const bigint = (bytes: Buffer): bigint => BigInt(`0x${bytes.toString('hex') || '0'}`);
const unbig = (value: bigint): Buffer => {
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
};

const curves: Readonly<Record<string, { readonly jwk: string; readonly size: number; readonly hash: string }>> = {
  nistp256: { jwk: 'P-256', size: 32, hash: 'sha256' },
  nistp384: { jwk: 'P-384', size: 48, hash: 'sha384' },
  nistp521: { jwk: 'P-521', size: 66, hash: 'sha512' },
};

function padded(bytes: Buffer, size: number): Buffer {
  return bytes.length >= size ? bytes.subarray(bytes.length - size) : Buffer.concat([Buffer.alloc(size - bytes.length), bytes]);
}

/** OpenSSH's private key format (PROTOCOL.key), unencrypted. */
function openSshKeys(text: string, path: string): AgentKey[] {
  const body = Buffer.from(text.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const magic = Buffer.from('openssh-key-v1\0');
  if (!body.subarray(0, magic.length).equals(magic)) throw new TsbuildError('INVALID_ARGUMENT', `ssh key ${path}: not an OpenSSH private key`);
  const reader = new Reader(body.subarray(magic.length), `ssh key ${path}`);
  const cipher = reader.bytes().toString();
  reader.bytes(); // kdf name
  reader.bytes(); // kdf options
  if (cipher !== 'none') throw new TsbuildError('INVALID_ARGUMENT', `ssh key ${path}: the key is encrypted (add it to an ssh-agent and give --ssh its socket)`);
  const count = reader.uint32();
  const blobs: Buffer[] = [];
  for (let i = 0; i < count; i++) blobs.push(reader.bytes());
  const secret = new Reader(reader.bytes(), `ssh key ${path}`);
  if (secret.uint32() !== secret.uint32()) throw new TsbuildError('INVALID_ARGUMENT', `ssh key ${path}: damaged (check bytes differ)`);
  return blobs.map((blob) => {
    const type = secret.bytes().toString();
    let key: KeyObject;
    if (type === 'ssh-ed25519') {
      const pub = secret.bytes();
      const priv = secret.bytes();
      key = nodeCrypto().createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: base64url(priv.subarray(0, 32)), x: base64url(pub) }, format: 'jwk' });
    } else if (type === 'ssh-rsa') {
      const [n, e, d, iqmp, p, q] = [secret.unsigned(), secret.unsigned(), secret.unsigned(), secret.unsigned(), secret.unsigned(), secret.unsigned()];
      const dp = unbig(bigint(d) % (bigint(p) - 1n));
      const dq = unbig(bigint(d) % (bigint(q) - 1n));
      key = nodeCrypto().createPrivateKey({ key: { kty: 'RSA', n: base64url(n), e: base64url(e), d: base64url(d), p: base64url(p), q: base64url(q), dp: base64url(dp), dq: base64url(dq), qi: base64url(iqmp) }, format: 'jwk' });
    } else if (type.startsWith('ecdsa-sha2-')) {
      const curve = curves[secret.bytes().toString()];
      const point = secret.bytes();
      const d = secret.unsigned();
      if (curve === undefined || point[0] !== 4) throw new TsbuildError('INVALID_ARGUMENT', `ssh key ${path}: unsupported curve`);
      const x = point.subarray(1, 1 + curve.size);
      const y = point.subarray(1 + curve.size);
      key = nodeCrypto().createPrivateKey({ key: { kty: 'EC', crv: curve.jwk, x: base64url(x), y: base64url(y), d: base64url(padded(d, curve.size)) }, format: 'jwk' });
    } else {
      throw new TsbuildError('INVALID_ARGUMENT', `ssh key ${path}: unsupported key type ${JSON.stringify(type)}`);
    }
    const comment = secret.bytes().toString();
    return { blob, comment, type, key };
  });
}

/** A PEM key (PKCS#1, SEC1 or PKCS#8): its wire-form public key is made from its JWK. */
function pemKey(text: string, path: string): AgentKey {
  let key: KeyObject;
  try {
    key = nodeCrypto().createPrivateKey(text);
  } catch {
    throw new TsbuildError('INVALID_ARGUMENT', `ssh key ${path}: not a private key (or an encrypted one: add it to an ssh-agent and give --ssh its socket)`);
  }
  const jwk = nodeCrypto().createPublicKey(key).export({ format: 'jwk' });
  const field = (name: string): Buffer => Buffer.from(String((jwk as Record<string, unknown>)[name] ?? ''), 'base64url');
  if (jwk.kty === 'RSA') return { blob: Buffer.concat([sshString('ssh-rsa'), sshMpint(field('e')), sshMpint(field('n'))]), comment: path, type: 'ssh-rsa', key };
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return { blob: Buffer.concat([sshString('ssh-ed25519'), sshString(field('x'))]), comment: path, type: 'ssh-ed25519', key };
  const curve = Object.entries(curves).find(([, c]) => c.jwk === jwk.crv);
  if (jwk.kty === 'EC' && curve !== undefined) {
    const type = `ecdsa-sha2-${curve[0]}`;
    const point = Buffer.concat([Buffer.from([4]), padded(field('x'), curve[1].size), padded(field('y'), curve[1].size)]);
    return { blob: Buffer.concat([sshString(type), sshString(curve[0]), sshString(point)]), comment: path, type, key };
  }
  throw new TsbuildError('INVALID_ARGUMENT', `ssh key ${path}: unsupported key type`);
}

/** The keys of the files at PATHS. */
export async function loadAgentKeys(paths: readonly string[]): Promise<AgentKey[]> {
  const keys: AgentKey[] = [];
  for (const path of paths) {
    const text = await readFile(path, 'utf8');
    keys.push(...(text.includes('BEGIN OPENSSH PRIVATE KEY') ? openSshKeys(text, path) : [pemKey(text, path)]));
  }
  return keys;
}

function signature(key: AgentKey, data: Buffer, flags: number): Buffer {
  if (key.type === 'ssh-ed25519') return Buffer.concat([sshString('ssh-ed25519'), sshString(nodeCrypto().sign(null, data, key.key))]);
  if (key.type === 'ssh-rsa') {
    const [name, hash] = flags & rsaSha512 ? ['rsa-sha2-512', 'sha512'] : flags & rsaSha256 ? ['rsa-sha2-256', 'sha256'] : ['ssh-rsa', 'sha1'];
    return Buffer.concat([sshString(name), sshString(nodeCrypto().sign(hash, data, key.key))]);
  }
  const curve = curves[key.type.slice('ecdsa-sha2-'.length)];
  if (curve === undefined) throw new TsbuildError('INTERNAL', `ssh agent: no signer for ${key.type}`);
  const raw = nodeCrypto().sign(curve.hash, data, { key: key.key, dsaEncoding: 'ieee-p1363' });
  const half = raw.length / 2;
  return Buffer.concat([sshString(key.type), sshString(Buffer.concat([sshMpint(raw.subarray(0, half)), sshMpint(raw.subarray(half))]))]);
}

function answer(keys: readonly AgentKey[], message: Buffer): Buffer {
  const type = message[0];
  try {
    if (type === requestIdentities) {
      const count = Buffer.alloc(4);
      count.writeUInt32BE(keys.length);
      return Buffer.concat([Buffer.from([identitiesAnswer]), count, ...keys.flatMap((key) => [sshString(key.blob), sshString(key.comment)])]);
    }
    if (type === signRequest) {
      const reader = new Reader(message.subarray(1), 'ssh agent request');
      const blob = reader.bytes();
      const data = reader.bytes();
      const flags = reader.uint32();
      const key = keys.find((candidate) => candidate.blob.equals(blob));
      if (key !== undefined) return Buffer.concat([Buffer.from([signResponse]), sshString(signature(key, data, flags))]);
    }
  } catch {
    // A request it cannot read or serve is answered as every other: with a failure.
  }
  return Buffer.from([failure]);
}

function serve(keys: readonly AgentKey[], socket: Socket): void {
  let pending = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const length = pending.readUInt32BE(0);
      if (length === 0 || length > largestMessage) {
        socket.destroy();
        return;
      }
      if (pending.length < 4 + length) return;
      const reply = answer(keys, pending.subarray(4, 4 + length));
      pending = pending.subarray(4 + length);
      const header = Buffer.alloc(4);
      header.writeUInt32BE(reply.length);
      socket.write(Buffer.concat([header, reply]));
    }
  });
}

/** A socket server that can be closed at once, the connections it still has cut. */
export interface ClosableServer {
  close(): Promise<void>;
}

/** Listens at PATH, each connection handed to HANDLE, until closed. */
export async function listenClosable(path: string, handle: (socket: Socket) => void): Promise<ClosableServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        // A process the step left behind may hold a connection: closing waits for none.
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An agent holding KEYS, listening at PATH until closed. */
export function startKeyAgent(keys: readonly AgentKey[], path: string): Promise<ClosableServer> {
  return listenClosable(path, (socket) => serve(keys, socket));
}
