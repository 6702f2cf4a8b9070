/**
 * A container that writes without end to an attached client that stops reading (its output a
 * pipe nobody reads, a paused terminal): containerd CVE-2022-31030's class, a process's output
 * held in memory by the host side. The monitor sends the client at most about a MiB more than it
 * took; then the container's output waits, as with docker, and nothing of it is lost once the
 * client reads again. And clients that come and go by the hundred, a frame cut short or too large,
 * leave the monitor holding nothing of theirs (containerd CVE-2025-64329's class: an attach
 * leaking what served it). A healthcheck that prints half a gigabyte keeps 4 KiB of it, as docker's.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxStore, installedCliOutput, isRoot, removeBusyboxStore, repoRoot, runInstalledCli } from './helpers.js';

const bin = join(repoRoot, 'bin', 'tsbuild.js');

let store: { dir: string; root: string };

const tsbuild = (...args: string[]): { status: number | null; stdout: string; stderr: string } => runInstalledCli(args, { root: store.root });
const ok = (...args: string[]): string => installedCliOutput(args, { root: store.root });

/** The pid of the monitor of container ID. */
function monitorOf(id: string): string {
  const found = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .find((pid) => {
      try {
        const words = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return words.includes(id) && words.includes('container-monitor');
      } catch {
        return false;
      }
    });
  if (found === undefined) throw new Error(`no monitor for container ${id}`);
  return found;
}

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

  it('keeps nothing of clients that come and go: a monitor holds as many descriptors after hundreds of attaches as before, and still serves one', async () => {
    ok('run', '-d', '--name', 'churn', 'busybox', 'sh', '-c', 'while true; do echo tick; sleep 0.05; done');
    const id = ok('inspect', '-f', '{{.Id}}', 'churn').trim();
    const directory = join(store.root, 'containers', id);
    const monitor = monitorOf(id);
    const descriptors = (): number => readdirSync(`/proc/${monitor}/fd`).length;
    await sleep(500);
    const before = descriptors();
    // The socket's path is longer than the kernel takes: reached through its directory's descriptor.
    const held = openSync(directory, 'r');
    const connect = (): Promise<ReturnType<typeof createConnection>> =>
      new Promise((resolve, reject) => {
        const socket = createConnection(`/proc/self/fd/${held}/attach.sock`);
        socket.once('connect', () => resolve(socket));
        socket.once('error', reject);
      });
    for (let round = 0; round < 300; round++) {
      const socket = await connect();
      socket.on('error', () => undefined);
      // What the monitor sends is read and dropped: a socket whose data waits unread never ends.
      socket.resume();
      const closed = new Promise((resolve) => socket.once('close', resolve));
      const header = Buffer.alloc(5);
      if (round % 3 === 2) {
        // A frame larger than any: the monitor ends the connection itself.
        header.writeUInt32BE(0xffffffff, 1);
        socket.write(header);
        const ended = await Promise.race([closed.then(() => true), sleep(10_000).then(() => false)]);
        expect(ended, `round ${round}`).toBe(true);
        continue;
      }
      // Gone at once, or after a frame header promising more than it sends.
      if (round % 3 === 1) {
        header.writeUInt32BE(1000, 1);
        socket.write(header);
      }
      socket.destroy();
      await closed;
    }
    closeSync(held);
    await sleep(1000);
    expect(descriptors()).toBe(before);
    // It still serves a client, who gets the output.
    const client = spawn(process.execPath, [bin, 'attach', '--no-stdin', 'churn'], { env: { ...process.env, TSBUILD_ROOT: store.root }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const received = await new Promise<string>((resolve) => client.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      expect(received).toContain('tick');
    } finally {
      client.kill('SIGKILL');
      tsbuild('rm', '-f', 'churn');
    }
  }, 120_000);

  it('keeps 4 KiB of what a healthcheck prints, of half a gigabyte, as docker, and holds none of the rest', async () => {
    ok('run', '-d', '--name', 'loud-check', '--health-cmd', 'yes 0123456789abcdef | head -c 500000000; echo end', '--health-interval', '1s', '--health-timeout', '60s', 'busybox', 'sleep', '120');
    const id = ok('inspect', '-f', '{{.Id}}', 'loud-check').trim();
    const monitor = monitorOf(id);
    try {
      const deadline = Date.now() + 60_000;
      let lengths = '';
      while (Date.now() < deadline) {
        lengths = ok('inspect', '-f', '{{range .State.Health.Log}}{{len .Output}} {{.ExitCode}};{{end}}', 'loud-check').trim();
        if (lengths !== '') break;
        await sleep(250);
      }
      expect(lengths.split(';')[0]).toBe('4096 0');
      const resident = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${monitor}/status`, 'utf8'))?.[1] ?? 'NaN');
      // Half a gigabyte went through: the monitor's peak is a small part of it.
      expect(resident).toBeLessThan(200 * 1024);
    } finally {
      tsbuild('rm', '-f', 'loud-check');
    }
  }, 120_000);
});
