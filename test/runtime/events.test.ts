/**
 * `tsbuild events`: what containers, networks, volumes and images did, told as docker tells it
 * (text, json, templates, filters, --since/--until, following), from the store's event log that
 * every process appends to.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxStore, isRoot, removeBusyboxStore, runInstalledCli } from './helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

describe.runIf(isRoot)('events, as docker tells them', () => {
  let store: { dir: string; root: string };
  const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } => runInstalledCli(args, { root: store.root });
  const now = (): string => (Date.now() / 1000).toFixed(3);

  beforeAll(async () => {
    store = await busyboxStore('tsbuild-events-');
  }, 120_000);

  afterAll(() => {
    removeBusyboxStore(store);
  });

  it("tells a container's life, a network's, a volume's and a tag's, in order, in docker's line", async () => {
    const since = now();
    expect(cli('run', '--rm', '--network', 'none', '--name', 'ev-once', '-l', 'team=a', 'busybox', 'sh', '-c', 'exit 3').status).toBe(3);
    const id = cli('create', '--name', 'ev-life', 'busybox', 'sleep', '30').stdout.trim();
    expect(cli('start', id).status).toBe(0);
    expect(cli('pause', id).status).toBe(0);
    expect(cli('unpause', id).status).toBe(0);
    expect(cli('rename', 'ev-life', 'ev-renamed').status).toBe(0);
    expect(cli('rm', '-f', id).status).toBe(0);
    expect(cli('network', 'create', 'ev-net').status).toBe(0);
    expect(cli('network', 'rm', 'ev-net').status).toBe(0);
    expect(cli('volume', 'create', 'ev-vol').status).toBe(0);
    expect(cli('volume', 'rm', 'ev-vol').status).toBe(0);
    expect(cli('tag', 'busybox', 'ev-tag:1').status).toBe(0);
    expect(cli('rmi', 'ev-tag:1').status).toBe(0);
    await sleep(20);
    const until = now();
    const lines = cli('events', '--since', since, '--until', until).stdout.trim().split('\n');
    const once = lines.filter((line) => line.includes('name=ev-once'));
    // Attached before its start, as docker's run in the foreground.
    expect(once.map((line) => line.split(' ')[2])).toEqual(['create', 'attach', 'start', 'die', 'destroy']);
    expect(once[3]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[-+]\d\d:\d\d) container die [0-9a-f]{64} \(execDuration=\d+, exitCode=3, image=busybox, name=ev-once, team=a\)$/);
    const life = lines.filter((line) => line.includes(` ${id} `)).map((line) => line.split(' ')[2]);
    expect(life).toEqual(['create', 'start', 'pause', 'unpause', 'rename', 'kill', 'die', 'destroy']);
    expect(lines.find((line) => line.includes(` container kill ${id} `))).toContain('signal=9');
    expect(lines.find((line) => line.includes(' rename '))).toContain('oldName=/ev-life');
    // The container's connection to the default bridge, then the network and volume made and removed.
    expect(lines.filter((line) => / (network|volume) /.test(line)).map((line) => line.split(' ').slice(1, 3).join(' '))).toEqual(['network connect', 'network disconnect', 'network create', 'network destroy', 'volume create', 'volume destroy']);
    expect(lines.find((line) => line.includes(' network connect '))).toContain(`(container=${id}, name=bridge, type=bridge)`);
    expect(lines.find((line) => line.includes(' image tag '))).toMatch(/ image tag sha256:[0-9a-f]{64} \(name=ev-tag:1\)$/);
    // The name removed, told by the image's ID, as docker tells it; busybox keeps the image.
    expect(lines.find((line) => line.includes(' image untag '))).toMatch(/ image untag (sha256:[0-9a-f]{64}) \(name=\1\)$/);
    expect(lines.some((line) => line.includes(' image delete '))).toBe(false);

    // Filters, json and templates.
    const dies = cli('events', '--since', since, '--until', until, '-f', 'event=die', '-f', 'container=ev-once').stdout.trim().split('\n');
    expect(dies).toHaveLength(1);
    const json = JSON.parse(cli('events', '--since', since, '--until', until, '-f', 'type=volume', '--format', 'json').stdout.split('\n')[0] ?? '') as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(['Type', 'Action', 'Actor', 'scope', 'time', 'timeNano']);
    expect(json).toMatchObject({ Type: 'volume', Action: 'create', Actor: { ID: 'ev-vol', Attributes: { driver: 'local' } }, scope: 'local' });
    const labelled = cli('events', '--since', since, '--until', until, '-f', 'label=team=a', '--format', '{{.Status}} {{index .Actor.Attributes "team"}}').stdout;
    expect(labelled).toBe('create a\nattach a\nstart a\ndie a\ndestroy a\n');
    expect(cli('events', '-f', 'colour=red', '--until', until)).toMatchObject({ status: 1, stderr: "Error response from daemon: invalid filter 'colour'\n" });
  }, 120_000);

  it('tells a stop as docker does: the stop signal, the end, the stop', async () => {
    const since = now();
    const id = cli('run', '-d', '--network', 'none', '--name', 'ev-stopped', 'busybox', 'sleep', '30').stdout.trim();
    expect(cli('stop', '-t', '5', id).status).toBe(0);
    await sleep(20);
    const actions = cli('events', '--since', since, '--until', now(), '-f', `container=${id}`, '--format', '{{.Action}}{{with .Actor.Attributes.signal}} {{.}}{{end}}').stdout;
    expect(actions).toBe('create\nstart\nkill 15\ndie\nstop\n');
    cli('rm', id);
  }, 60_000);

  it("tells an exec's life, an attach and the volumes mounted at each start, with docker 26's attributes", async () => {
    const since = now();
    expect(cli('volume', 'create', 'ev-mounted').status).toBe(0);
    const id = cli('run', '-d', '--network', 'none', '--name', 'ev-exec', '-v', 'ev-mounted:/data:ro', '-v', '/anon', 'busybox', 'sh', '-c', '[ -e /anon/ran ] && exit 0; touch /anon/ran; sleep 30').stdout.trim();
    expect(cli('exec', id, 'sh', '-c', 'exit 3').status).toBe(3);
    expect(cli('exec', id, 'true').status).toBe(0);
    // A detached one's end is told when it comes, as docker's daemon waits for it.
    expect(cli('exec', '-d', id, 'sh', '-c', 'exit 5').status).toBe(0);
    const detachedEnd = (): string => cli('events', '--since', since, '--until', now(), '-f', 'event=exec_die', '--format', '{{.Actor.Attributes.exitCode}}').stdout;
    for (let waited = 0; waited < 10_000 && !detachedEnd().includes('5'); waited += 100) await sleep(100);
    expect(cli('stop', '-t', '0', id).status).toBe(0);
    // Started again it ends at once.
    expect(cli('start', '-a', id).status).toBe(0);
    await sleep(20);
    const until = now();
    const events = cli('events', '--since', since, '--until', until, '--format', 'json').stdout.trim().split('\n').map((line) => JSON.parse(line) as { status?: string; id?: string; Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> } });
    const mine = events.filter((event) => event.Actor.ID === id || event.Actor.Attributes['container'] === id);
    expect(mine.map((event) => `${event.Type} ${event.Action}`)).toEqual([
      'container create',
      'volume mount',
      'volume mount',
      'container start',
      'container exec_create: sh -c exit 3',
      'container exec_start: sh -c exit 3',
      'container exec_die',
      // docker's name of an exec: its entrypoint, a space, its arguments (none here).
      'container exec_create: true ',
      'container exec_start: true ',
      'container exec_die',
      'container exec_create: sh -c exit 5',
      'container exec_start: sh -c exit 5',
      'container exec_die',
      'container kill',
      'volume unmount',
      'volume unmount',
      'container die',
      'container stop',
      'container attach',
      'volume mount',
      'volume mount',
      'container start',
      'volume unmount',
      'volume unmount',
      'container die',
    ]);
    const execs = mine.filter((event) => event.Action.startsWith('exec_'));
    const execID = execs[0]?.Actor.Attributes['execID'] ?? '';
    expect(execID).toMatch(/^[0-9a-f]{64}$/);
    expect(execs.slice(0, 3).map((event) => event.Actor.Attributes)).toEqual([
      { execID, image: 'busybox', name: 'ev-exec' },
      { execID, image: 'busybox', name: 'ev-exec' },
      { execID, exitCode: '3', image: 'busybox', name: 'ev-exec' },
    ]);
    expect(execs[3]?.Actor.Attributes['execID']).not.toBe(execID);
    expect(execs[8]?.Actor.Attributes).toMatchObject({ execID: execs[6]?.Actor.Attributes['execID'], exitCode: '5' });
    const mounts = mine.filter((event) => event.Type === 'volume');
    expect(mounts[0]).toMatchObject({ Actor: { ID: 'ev-mounted', Attributes: { container: id, destination: '/data', driver: 'local', propagation: '', 'read/write': 'false' } } });
    expect(Object.keys(mounts[0]?.Actor.Attributes ?? {})).toEqual(['container', 'destination', 'driver', 'propagation', 'read/write']);
    expect(mounts[1]).toMatchObject({ Actor: { Attributes: { destination: '/anon', 'read/write': 'true' } } });
    expect(mounts[2]).toMatchObject({ Action: 'unmount', Actor: { ID: 'ev-mounted', Attributes: { container: id, driver: 'local' } } });
    expect(Object.keys(mounts[2]?.Actor.Attributes ?? {})).toEqual(['container', 'driver']);
    // The hidden waiter removes the bundle it is given once the process ends: only one of the
    // container's own exec bundles, never another directory named on its command line.
    const elsewhere = join(store.dir, 'exec-elsewhere');
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, 'kept'), 'kept');
    for (const bundle of [elsewhere, join(store.root, 'containers', id), join(store.root, 'containers', id, 'exec-absent')]) {
      const waited = cli('exec-wait', '--exec-id', 'x', '--bundle', bundle, id, '--', 'true');
      expect(waited.status, bundle).not.toBe(0);
      expect(waited.stderr).toContain(`exec-wait: ${bundle} is not an exec bundle of container ${id}`);
    }
    expect(readFileSync(join(elsewhere, 'kept'), 'utf8')).toBe('kept');
    expect(existsSync(join(store.root, 'containers', id))).toBe(true);
    cli('rm', '-v', id);
    cli('volume', 'rm', 'ev-mounted');
  }, 60_000);

  it('tells images saved, loaded and imported by their ID, as docker 26', async () => {
    const since = now();
    const archive = join(store.dir, 'ev-saved.tar');
    expect(cli('save', '-o', archive, 'busybox', 'busybox:latest').status).toBe(0);
    expect(cli('load', '-i', archive).status).toBe(0);
    const rootfs = join(store.dir, 'ev-rootfs.tar');
    expect(spawnSync('tar', ['-cf', rootfs, '-C', store.dir, 'ev-saved.tar']).status).toBe(0);
    const imported = cli('import', '-c', 'LABEL team=b', rootfs, 'ev-imported:1').stdout.trim();
    expect(imported).toMatch(/^sha256:[0-9a-f]{64}$/);
    await sleep(20);
    const events = cli('events', '--since', since, '--until', now(), '-f', 'type=image', '--format', 'json').stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const busybox = cli('image', 'inspect', '-f', '{{.Id}}', 'busybox').stdout.trim();
    // One save for the image named twice; the load tells no tag; the import its name, then itself.
    expect(events.map((event) => [event['Action'], (event['Actor'] as { ID: string }).ID])).toEqual([
      ['save', busybox],
      ['load', busybox],
      ['tag', imported],
      ['import', imported],
    ]);
    expect(Object.keys(events[0] ?? {})).toEqual(['status', 'id', 'Type', 'Action', 'Actor', 'scope', 'time', 'timeNano']);
    expect(events[0]).toMatchObject({ status: 'save', id: busybox, Actor: { Attributes: { name: busybox } } });
    expect(events[2]).toMatchObject({ Actor: { Attributes: { name: 'ev-imported:1', team: 'b' } } });
    expect(events[3]).toMatchObject({ status: 'import', Actor: { Attributes: { name: imported, team: 'b' } } });
    cli('rmi', 'ev-imported:1');
  }, 60_000);

  it('follows new events until interrupted, and ends at --until', async () => {
    const follower = spawn(process.execPath, [bin, 'events', '--root', store.root, '-f', 'type=volume'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    follower.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await sleep(1000);
    expect(cli('volume', 'create', 'ev-followed').status).toBe(0);
    for (let waited = 0; waited < 10_000 && !out.includes('ev-followed'); waited += 100) await sleep(100);
    follower.kill('SIGINT');
    await new Promise((resolve) => follower.on('exit', resolve));
    expect(out).toMatch(/ volume create ev-followed \(driver=local\)\n$/);
    cli('volume', 'rm', 'ev-followed');
    // --until a second ahead: it returns by itself.
    const started = Date.now();
    const bounded = cli('events', '--until', ((Date.now() + 1000) / 1000).toFixed(3));
    expect(bounded.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 60_000);
});
