/**
 * A build killed with SIGKILL leaves what it was staging: a secret's in-memory directory in
 * /dev/shm, an ADD's half-downloaded file, a context read from standard input. Each is named with
 * the build's pid; the next build on the root removes those whose process is gone, so a secret
 * does not outlive the build that needed it and a download does not stay on the disk.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { pack as tarPack } from 'tar-stream';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { bin, runBin } from '../helpers/kill-sweep.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

let dir: string;
let root: string;
let cleanup: () => Promise<void>;
let server: Server;
let port: number;
const sockets = new Set<Socket>();

beforeAll(async () => {
  // Sends the headers and a first MiB of a larger file, then nothing more: a download under way.
  server = createServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(64 << 20) });
    response.write(Buffer.alloc(1 << 20, 7));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(async () => {
  ({ path: dir, cleanup } = await temporaryDirectory('tsbuild-killed-scratch-'));
  root = join(dir, 'root');
  await busyboxImage(await openStore({ root }), 'busybox');
});

afterEach(async () => {
  await cleanup();
});

/** `tsbuild build ARGS` in a process of its own; STDIN, when given, is written to it. */
function startBuild(args: readonly string[], stdin?: Buffer): ChildProcess {
  const child = spawn(process.execPath, [bin, 'build', '--progress', 'plain', ...args], {
    env: { ...process.env, TSBUILD_ROOT: root, KILLED_BUILD_TOKEN: 'killed-build-secret-value' },
    stdio: [stdin === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'],
  });
  // Written, and left open.
  if (stdin !== undefined) child.stdin?.write(stdin);
  return child;
}

/** A context directory NAME holding DOCKERFILE. */
function context(name: string, dockerfile: string): string {
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'Dockerfile'), dockerfile);
  return path;
}

/** The names in DIRECTORY that CHILD's pid named as its temporaries with PREFIX. */
function temporariesOf(directory: string, prefix: string, child: ChildProcess): string[] {
  return readdirSync(directory).filter((name) => name.startsWith(`${prefix}.${child.pid}.`) && name.endsWith('.tmp'));
}

/** Polls until FOUND gives a non-empty list, for at most 60 s; the stderr of CHILD so far in the failure. */
async function waitFor(child: ChildProcess, found: () => string[]): Promise<string[]> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const names = found();
    if (names.length > 0) return names;
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await kill(child);
  throw new Error(`nothing staged before the build ended or 60 s passed: ${stderr}`);
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGKILL');
  await closed;
}

/** Kills CHILD, which leaves PATH behind; another build on the same root succeeds and takes it away. */
async function sweptByNextBuild(child: ChildProcess, path: string): Promise<void> {
  await kill(child);
  // Nothing else takes it away: the kill left it.
  expect(existsSync(path)).toBe(true);
  const next = await runBin(root, ['build', '-q', context('next', 'FROM busybox\nRUN true\n')]);
  expect(next.status, next.stderr).toBe(0);
  expect(existsSync(path)).toBe(false);
}

describe('a killed build\'s scratch is removed by the next build', () => {
  it.runIf(existsSync('/dev/shm'))('the in-memory directory of a secret', async () => {
    const child = startBuild(['--secret', 'id=token,env=KILLED_BUILD_TOKEN', context('secret', 'FROM busybox\nRUN --mount=type=secret,id=token,required=true sleep 60\n')]);
    const [name] = await waitFor(child, () => temporariesOf('/dev/shm', 'tsbuild-secret', child).filter((entry) => existsSync(join('/dev/shm', entry, 'secret'))));
    const path = join('/dev/shm', name as string);
    expect(readFileSync(join(path, 'secret'), 'utf8')).toBe('killed-build-secret-value');
    await sweptByNextBuild(child, path);
  }, 120_000);

  it('an ADD download under way', async () => {
    const child = startBuild(['--no-cache', context('add', `FROM busybox\nADD http://127.0.0.1:${port}/big.bin /big.bin\n`)]);
    const temporary = join(root, 'tmp');
    const [name] = await waitFor(child, () => temporariesOf(temporary, 'add', child).filter((entry) => readdirSync(join(temporary, entry)).length > 0));
    await sweptByNextBuild(child, join(temporary, name as string));
  }, 120_000);

  it('a context read from standard input', async () => {
    // The first member of a tar whose end never comes: the build is still reading its context.
    const pack = tarPack();
    pack.entry({ name: 'Dockerfile' }, 'FROM busybox\n'.padEnd(1024, ' '));
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
    const tar = Buffer.concat(chunks);
    const child = startBuild(['-'], tar.subarray(0, 512 + 100));
    const temporary = join(root, 'tmp');
    const [name] = await waitFor(child, () => temporariesOf(temporary, 'stdin', child));
    await sweptByNextBuild(child, join(temporary, name as string));
  }, 120_000);
});
