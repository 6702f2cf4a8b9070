import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openContext } from '../../src/cache/index.js';
import { TsbuildError } from '../../src/common/index.js';
import { copyInto, downloadUrls, type CopyRequest } from '../../src/executor/copy.js';
import { StepCanceled } from '../../src/executor/progress.js';
import { buildFixture } from '../helpers/build.js';
import { encodeHeader } from '../../src/exporter/tar.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

// ADD of URLs served by hostile servers: credentials in the URL, redirects to another origin or
// to schemes that read the host (file://, unix:), encodings and lengths that lie.

let dir: { path: string; cleanup: () => Promise<void> };
let rootfs: string;
let contextDir: string;
const servers: Server[] = [];
/** The Authorization header of each request the servers saw, by server and path. */
const seen: Array<{ server: string; path: string; authorization: string | undefined }> = [];

async function serve(handler: (path: string, headers: IncomingHttpHeaders, res: ServerResponse) => void, name: string): Promise<string> {
  const server = createServer((req, res) => {
    seen.push({ server: name, path: req.url ?? '', authorization: req.headers.authorization });
    handler(req.url ?? '', req.headers, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function add(sources: string[], overrides: Partial<CopyRequest> = {}): Promise<void> {
  const request: CopyRequest = { sources, contents: [], dest: '/dl/', workdir: '/', parents: false, exclude: [], add: true, ...overrides };
  await copyInto({ kind: 'context', context: await openContext(contextDir) }, rootfs, request);
}

async function failure(sources: string[], overrides: Partial<CopyRequest> = {}): Promise<TsbuildError> {
  const error = await add(sources, overrides).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TsbuildError);
  return error as TsbuildError;
}

beforeEach(async () => {
  dir = await temporaryDirectory();
  rootfs = join(dir.path, 'rootfs');
  contextDir = join(dir.path, 'context');
  await mkdir(rootfs);
  await mkdir(contextDir);
  seen.length = 0;
});
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await dir.cleanup();
});

describe('ADD of URLs with credentials', () => {
  it('keeps the password out of the error of a failed download, as Go\'s client writes user:***@', async () => {
    const host = await serve((path, _headers, res) => {
      if (path === '/loop') {
        res.writeHead(302, { location: '/loop' });
        res.end();
        return;
      }
      res.writeHead(path === '/missing' ? 404 : path === '/broken' ? 500 : 200);
      res.end('body');
    }, 'one');
    const password = 's3cr3t-pass';
    for (const path of ['/missing', '/broken', '/loop']) {
      const error = await failure([`http://user:${password}@${host}${path}`]);
      expect(error.message).not.toContain(password);
      expect(error.message).toContain(`http://user:***@${host}${path}`);
    }
    // A raw @ in the password: the user info ends at the last one.
    const split = await failure([`http://user:pa@ss-word@${host}/missing`]);
    expect(split.message).toBe(`ADD http://user:***@${host}/missing: invalid response status 404`);
    const mismatch = await failure([`http://user:${password}@${host}/file`], { checksum: `sha256:${'0'.repeat(64)}` });
    expect(mismatch.code).toBe('DIGEST_MISMATCH');
    expect(mismatch.message).not.toContain(password);
    // Nothing listens on a port just closed: a connection error, which quotes the URL too.
    const closed = await serve(() => undefined, 'closed');
    const last = servers.pop() as Server;
    await new Promise<void>((resolve) => last.close(() => resolve()));
    const refused = await failure([`http://user:${password}@${closed}/file`]);
    expect(refused.message).not.toContain(password);
  });

  it('sends the credentials to the URL\'s origin only: a redirect to another origin goes without them', async () => {
    const other = await serve((_path, _headers, res) => {
      res.writeHead(200);
      res.end('other');
    }, 'other');
    const first = await serve((path, _headers, res) => {
      if (path === '/final') {
        res.writeHead(200);
        res.end('first');
        return;
      }
      res.writeHead(302, { location: path === '/same' ? '/final' : `http://${other}/final` });
      res.end();
    }, 'first');
    await add([`http://user:pass@${first}/away`], { dest: '/away' });
    await add([`http://user:pass@${first}/same`], { dest: '/same' });
    const authorization = `Basic ${Buffer.from('user:pass').toString('base64')}`;
    expect(seen).toEqual([
      { server: 'first', path: '/away', authorization },
      { server: 'other', path: '/final', authorization: undefined },
      { server: 'first', path: '/same', authorization },
      { server: 'first', path: '/final', authorization },
    ]);
  });
});

describe('ADD of URLs that lead to the host', () => {
  it('follows redirects to http and https only: to file://, ftp:, data: or unix: it fails naming the URL, reading nothing', async () => {
    const secret = join(dir.path, 'secret');
    await writeFile(secret, 'HOST SECRET\n');
    const targets = [`file://${secret}`, 'ftp://127.0.0.1/x', 'data:,HOST%20SECRET', 'unix:/run/docker.sock'];
    const host = await serve((path, _headers, res) => {
      res.writeHead(302, { location: targets[Number(path.slice(1))] ?? '/' });
      res.end();
    }, 'redirector');
    for (const [index, target] of targets.entries()) {
      const error = await failure([`http://${host}/${index}`], { dest: '/dl' });
      expect(error.message, target).toContain(`ADD http://${host}/${index}: `);
      expect(error.message, target).toMatch(/must start with `http:` or `https:`/);
    }
    expect(await readdir(rootfs)).toEqual([]);
  });

  it('takes file:// in ADD as a path of the context, never of the host, as BuildKit', async () => {
    const secret = join(dir.path, 'secret');
    await writeFile(secret, 'HOST SECRET\n');
    const error = await failure([`file://${secret}`], { dest: '/dl' });
    expect(error.code).toBe('NOT_FOUND');
    expect(await readdir(rootfs)).toEqual([]);
  });
});

describe('ADD of URLs whose encoding or length lies', () => {
  it('streams a gzip bomb in the encoding to the file, decoded, with its checksum the decoded bytes\'', async () => {
    const decoded = Buffer.alloc(64 << 20);
    const encoded = gzipSync(decoded, { level: 9 });
    const host = await serve((_path, _headers, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': String(encoded.length) });
      res.end(encoded);
    }, 'bomb');
    await add([`http://${host}/zeros`], { checksum: `sha256:${createHash('sha256').update(decoded).digest('hex')}` });
    expect((await stat(join(rootfs, 'dl/zeros'))).size).toBe(64 << 20);
  });

  it('fails on a damaged encoding or a body shorter than its Content-Length, writing nothing into the root', async () => {
    const encoded = gzipSync(Buffer.from('x'.repeat(10_000)));
    const host = await serve((path, _headers, res) => {
      if (path === '/damaged') {
        const damaged = Buffer.from(encoded);
        damaged[damaged.length - 6] = (damaged[damaged.length - 6] ?? 0) ^ 0xff;
        res.writeHead(200, { 'content-encoding': 'gzip' });
        res.end(damaged);
      } else if (path === '/cut-encoded') {
        // The connection closed after part of the body, as a server that dies mid-response.
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': String(encoded.length) });
        res.write(encoded.subarray(0, encoded.length - 20), () => res.destroy());
      } else {
        res.writeHead(200, { 'content-length': '1000' });
        res.write('short', () => res.destroy());
      }
    }, 'liar');
    for (const path of ['/damaged', '/cut-encoded', '/short']) {
      const error = await failure([`http://${host}${path}`], { dest: `/out${path}` });
      expect(error.message).toContain(`http://${host}${path}`);
    }
    expect(await readdir(rootfs)).toEqual([]);
  });

  it('dates files by absurd Last-Modified dates (year 0, 9999, 99999, negative) without failing', async () => {
    const dates: Record<string, string> = {
      '/year0': 'Mon, 01 Jan 0000 00:00:00 GMT',
      '/year9999': 'Fri, 31 Dec 9999 23:59:59 GMT',
      '/year99999': 'Sat, 01 Jan 99999 00:00:00 GMT',
      '/negative': 'Thu, 01 Jan -100 00:00:00 GMT',
    };
    const host = await serve((path, _headers, res) => {
      res.writeHead(200, { 'last-modified': dates[path] ?? '' });
      res.end('dated');
    }, 'dates');
    await add(Object.keys(dates).map((path) => `http://${host}${path}`));
    const seconds = await Promise.all(Object.keys(dates).map(async (path) => Math.floor((await stat(join(rootfs, 'dl', path))).mtimeMs / 1000)));
    // Dates Go does not read give the epoch; the others what the filesystem holds of them.
    expect(seconds.slice(2)).toEqual([0, 0]);
    for (const value of seconds) expect(Number.isFinite(value)).toBe(true);
  });

  it('names the URL, not the file it was saved to, when the archive ADD --unpack unpacks is cut', async () => {
    const archive = gzipSync(Buffer.concat([encodeHeader({ path: 'big', type: 'file', size: 1 << 20, mode: 0o644, uid: 0, gid: 0, mtime: 0 }), Buffer.alloc(1 << 20, 0x61)]));
    const host = await serve((_path, _headers, res) => {
      res.writeHead(200);
      res.end(archive.subarray(0, archive.length - 30));
    }, 'archive');
    const error = await failure([`http://user:secret-word@${host}/cut.tar.gz`], { unpack: true });
    expect(error.message).toMatch(new RegExp(`^unpack http://user:\\*\\*\\*@${host}/cut\\.tar\\.gz into /dl/: `));
  });
});

describe('ADD of URLs whose server stalls or floods', () => {
  /** A server that sends headers and two bytes of a 100-byte body, then nothing. */
  const stalling = (): Promise<string> =>
    serve((_path, _headers, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('ab');
    }, 'stall');

  it('ends a download whose server stopped sending at once when the build is canceled', async () => {
    const host = await stalling();
    const canceled = new AbortController();
    const started = Date.now();
    setTimeout(() => canceled.abort(), 300);
    const error = await downloadUrls([`http://${host}/stalled`], dir.path, { signal: canceled.signal }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(StepCanceled);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('fails naming the URL on headers of megabytes, reading no more of them', async () => {
    const host = await serve((_path, _headers, res) => {
      res.writeHead(200, { 'x-flood': 'a'.repeat(8 << 20) });
      res.end('ok');
    }, 'flood');
    const error = await failure([`http://${host}/flood`]);
    expect(error.message).toMatch(new RegExp(`^ADD http://${host}/flood: Headers Overflow`));
  });

  it('stops an interrupted build at once while a server holds its ADD (SIGINT, 130)', async () => {
    const host = await stalling();
    const fx = await buildFixture();
    try {
      const context = await fx.context('stalled', { Dockerfile: `FROM busybox\nADD http://${host}/stalled /x\n` });
      const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;
      const child = spawn(process.execPath, [bin, 'build', '--root', fx.root, '--progress', 'plain', context], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000, killSignal: 'SIGKILL' });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      // Interrupted once the server has the request: the download is under way.
      while (!seen.some((request) => request.server === 'stall')) await new Promise((resolve) => setTimeout(resolve, 50));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const interrupted = Date.now();
      child.kill('SIGINT');
      const [status] = (await once(child, 'close')) as [number | null];
      expect(status, stderr).toBe(130);
      expect(Date.now() - interrupted).toBeLessThan(10_000);
      expect(stderr).toContain('ERROR: failed to solve: Canceled: context canceled');
    } finally {
      await fx.cleanup();
    }
  }, 150_000);
});
