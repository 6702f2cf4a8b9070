/**
 * A git server for tests: repositories made with the system `git` under a directory of their
 * own, served over smart HTTP by `git http-backend` behind a node server on 127.0.0.1 (a free
 * port), and over the git protocol by `git daemon` on another. Both are stopped by `close()`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile, symlink, chmod } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface GitServer {
  /** `http://127.0.0.1:PORT` */
  readonly httpBase: string;
  /** `git://127.0.0.1:PORT` */
  readonly gitBase: string;
  /** Makes (or adds a commit to) repository NAME.git with FILES on BRANCH; returns the commit. */
  commit(name: string, files: Readonly<Record<string, string | { symlink: string } | { mode: number; content: string }>>, options?: { branch?: string; tag?: string; annotatedTag?: string }): Promise<string>;
  /** Every request path the HTTP side served. */
  readonly requests: string[];
  close(): Promise<void>;
}

const gitEnv = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.invalid', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.invalid', GIT_CONFIG_NOSYSTEM: '1' };

async function git(cwd: string, args: readonly string[]): Promise<string> {
  return (await run('git', args, { cwd, env: gitEnv })).stdout;
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startGitServer(directory: string): Promise<GitServer> {
  const repos = join(directory, 'repos');
  const work = join(directory, 'work');
  await mkdir(repos, { recursive: true });
  await mkdir(work, { recursive: true });
  const requests: string[] = [];

  const http: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    requests.push(url.pathname);
    const backend = spawn('git', ['http-backend'], {
      env: {
        ...gitEnv,
        GIT_PROJECT_ROOT: repos,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.replace(/^\?/, ''),
        REQUEST_METHOD: request.method ?? 'GET',
        CONTENT_TYPE: request.headers['content-type'] ?? '',
        GIT_PROTOCOL: String(request.headers['git-protocol'] ?? ''),
        REMOTE_ADDR: '127.0.0.1',
        HTTP_CONTENT_ENCODING: String(request.headers['content-encoding'] ?? ''),
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    request.pipe(backend.stdin);
    let head = Buffer.alloc(0);
    let headerDone = false;
    backend.stdout.on('data', (chunk: Buffer) => {
      if (headerDone) {
        response.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headerDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else response.setHeader(name, value);
      }
      response.statusCode = status;
      response.write(head.subarray(end + 4));
    });
    backend.stdout.on('end', () => response.end());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const httpPort = (http.address() as AddressInfo).port;

  const daemonPort = await freePort();
  const daemon: ChildProcess = spawn('git', ['daemon', '--listen=127.0.0.1', `--port=${daemonPort}`, '--export-all', '--reuseaddr', `--base-path=${repos}`, repos], { stdio: 'ignore', env: gitEnv });
  // Ready once it accepts a connection.
  for (let attempt = 0; ; attempt++) {
    try {
      await run('git', ['ls-remote', `git://127.0.0.1:${daemonPort}/none.git`], { env: gitEnv }).catch((error: { stderr?: string }) => {
        if (!String(error.stderr).includes('not exported') && !String(error.stderr).includes('does not appear')) throw error;
      });
      break;
    } catch (error) {
      if (attempt > 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  return {
    httpBase: `http://127.0.0.1:${httpPort}`,
    gitBase: `git://127.0.0.1:${daemonPort}`,
    requests,
    async commit(name, files, options = {}) {
      const checkout = join(work, name);
      const bare = join(repos, `${name}.git`);
      const branch = options.branch ?? 'main';
      await mkdir(checkout, { recursive: true });
      await git(checkout, ['init', '-q', '-b', 'main', '.']).catch(() => undefined);
      await git(checkout, ['checkout', '-q', '-B', branch]);
      for (const [path, value] of Object.entries(files)) {
        const target = join(checkout, path);
        await mkdir(dirname(target), { recursive: true });
        if (typeof value === 'string') await writeFile(target, value);
        else if ('symlink' in value) await symlink(value.symlink, target);
        else {
          await writeFile(target, value.content);
          await chmod(target, value.mode);
        }
      }
      await git(checkout, ['add', '-A']);
      await git(checkout, ['commit', '-q', '--allow-empty', '-m', `commit ${Object.keys(files).join(' ')}`]);
      if (options.tag !== undefined) await git(checkout, ['tag', '-f', options.tag]);
      if (options.annotatedTag !== undefined) await git(checkout, ['tag', '-f', '-a', '-m', 'annotated', options.annotatedTag]);
      await git(repos, ['init', '-q', '--bare', '-b', 'main', bare]).catch(() => undefined);
      await git(checkout, ['push', '-q', '-f', '--tags', bare, `${branch}:${branch}`]);
      return (await git(checkout, ['rev-parse', 'HEAD'])).trim();
    },
    async close() {
      daemon.kill();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
    },
  };
}
