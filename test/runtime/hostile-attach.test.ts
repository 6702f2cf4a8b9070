/**
 * A container that writes without end to an attached client that stops reading (its output a
 * pipe nobody reads, a paused terminal): containerd CVE-2022-31030's class, a process's output
 * held in memory by the host side. The monitor sends the client at most about a MiB more than it
 * took; then the container's output waits, as with docker, and nothing of it is lost once the
 * client reads again.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxStore, installedCliOutput, isRoot, removeBusyboxStore, repoRoot, runInstalledCli } from './helpers.js';

const bin = join(repoRoot, 'bin', 'tsbuild.js');

let store: { dir: string; root: string };

const tsbuild = (...args: string[]): { status: number | null; stdout: string; stderr: string } => runInstalledCli(args, { root: store.root });
const ok = (...args: string[]): string => installedCliOutput(args, { root: store.root });

describe.skipIf(!isRoot)('attached to a container that writes without end', () => {
  beforeAll(async () => {
    store = await busyboxStore('tsbuild-hostile-attach-');
  }, 120_000);

  afterAll(() => removeBusyboxStore(store));

  it('holds the container back while a client does not read, instead of keeping its output in memory, and loses none of it', async () => {
    // 64 MiB of 501-byte lines once a client had time to attach; no log, so the output goes
    // to the client only.
    const total = 64 * 1024 * 1024;
    ok('run', '-d', '--log-driver', 'none', '--name', 'flood', 'busybox', 'sh', '-c', `sleep 2; yes "$(head -c 500 /dev/zero | tr '\\0' x)" | head -c ${total}; touch /done; sleep 300`);
    const client = spawn(process.execPath, [bin, 'attach', '--no-stdin', 'flood'], { env: { ...process.env, TSBUILD_ROOT: store.root }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      // Its output a pipe nobody reads: once that is full, the client takes nothing more.
      client.stdout.pause();
      const finished = (): boolean => tsbuild('exec', 'flood', 'test', '-e', '/done').status === 0;
      await sleep(8000);
      expect(client.exitCode).toBe(null);
      expect(finished()).toBe(false);

      // Read again: all of it arrives, and the container goes on to its end.
      let received = 0;
      client.stdout.on('data', (chunk: Buffer) => (received += chunk.length));
      client.stdout.resume();
      const deadline = Date.now() + 60_000;
      while (received < total && Date.now() < deadline) await sleep(100);
      expect(received).toBe(total);
      while (!finished() && Date.now() < deadline) await sleep(200);
      expect(finished()).toBe(true);
    } finally {
      client.kill('SIGKILL');
    }
  }, 120_000);
});
