/**
 * `run`/`create` flags docker users pass: `--domainname`, `--oom-score-adj`, `--cgroupns`,
 * `--userns host`, `--annotation`, `--health-start-interval`, `--link`. Each as docker 26 shows it in
 * inspect (Config, HostConfig), applied in the container, and refused in docker's words.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxStore, isRoot, removeBusyboxStore, runInstalledCli } from './helpers.js';

describe.runIf(isRoot)('run and create flags, as docker 26', () => {
  let store: { dir: string; root: string };
  const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } => runInstalledCli(args, { root: store.root });

  beforeAll(async () => {
    store = await busyboxStore('tsbuild-run-flags-');
  }, 120_000);

  afterAll(() => {
    removeBusyboxStore(store);
  });

  it('records --domainname, --oom-score-adj, --cgroupns, --userns host and --annotation where docker\'s inspect shows them, and applies them', () => {
    const id = cli('create', '--domainname', 'example.org', '--oom-score-adj', '500', '--cgroupns', 'host', '--userns', 'host', '--annotation', 'org.example.tier=web', '--annotation', 'bare', 'busybox', 'sh', '-c', 'cat /proc/sys/kernel/domainname /proc/self/oom_score_adj; grep -q "/$(hostname)" /proc/self/cgroup && echo host-cgroups').stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const fields = cli('inspect', '-f', '{{json .Config.Domainname}} {{json .HostConfig.OomScoreAdj}} {{json .HostConfig.CgroupnsMode}} {{json .HostConfig.UsernsMode}} {{json .HostConfig.Annotations}}', id);
    expect(fields.stdout).toBe('"example.org" 500 "host" "host" {"bare":"","org.example.tier":"web"}\n');
    // The host's cgroup namespace: its own cgroups seen by their whole path, which names it.
    expect(cli('start', '-a', id).stdout).toBe('example.org\n500\nhost-cgroups\n');
    // The annotations reach the runtime's config.
    const config = JSON.parse(readFileSync(join(store.root, 'containers', id, 'config.json'), 'utf8')) as { annotations: Record<string, string>; domainname: string; process: { oomScoreAdj: number } };
    expect(config.annotations).toMatchObject({ 'org.example.tier': 'web', bare: '' });
    expect(config.domainname).toBe('example.org');
    expect(config.process.oomScoreAdj).toBe(500);
    cli('rm', id);

    // Defaults, as docker shows them for a container that asked for none (CgroupnsMode: the host's on cgroup v1, as docker 26's daemon).
    const plain = cli('create', 'busybox', 'true').stdout.trim();
    const cgroupns = existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'private' : 'host';
    expect(cli('inspect', '-f', '{{json .Config.Domainname}} {{json .HostConfig.OomScoreAdj}} {{json .HostConfig.CgroupnsMode}} {{json .HostConfig.UsernsMode}} {{json .HostConfig.Annotations}}', plain).stdout).toBe(`"" 0 "${cgroupns}" "" null\n`);
    cli('rm', plain);
    // Its own cgroup namespace: its cgroups are the namespace's roots.
    const own = cli('run', '--rm', '--cgroupns', 'private', 'busybox', 'sh', '-c', 'grep -q "/$(hostname)" /proc/self/cgroup && echo host-cgroups || echo own');
    expect(own.stdout).toBe('own\n');
  }, 60_000);

  it('refuses what docker refuses, in its words, with status 125 (its CLI) or 1 (its daemon, for create)', () => {
    const before = cli('ps', '-aq').stdout;
    // docker's words: its CLI's own checks with where to read the help, its daemon's after its prefix.
    const refused = (args: string[], message: string, client = false): void => {
      const result = cli('create', ...args, 'busybox', 'true');
      expect(result.stderr, args.join(' ')).toBe(client ? `tsbuild: ${message}\nSee 'tsbuild create --help'.\n` : `Error response from daemon: ${message}\n`);
      expect(result.status, args.join(' ')).toBe(client ? 125 : 1);
    };
    refused(['--oom-score-adj', '1001'], 'Invalid value 1001, range for oom score adj is [-1000, 1000]');
    refused(['--cgroupns', 'shared'], '--cgroupns: invalid CGROUP mode.', true);
    refused(['--userns', 'remapped'], '--userns: invalid USER mode.', true);
    refused(['--annotation', '=x'], 'invalid Annotations: the empty string is not permitted as an annotation key');
    refused(['--annotation', 'org.tsbuild.rootfs.overlay=lowerdir=/'], "invalid Annotations: org.tsbuild.rootfs.overlay: the org.tsbuild. keys are tsbuild's own");
    expect(cli('ps', '-aq').stdout).toBe(before);
  }, 60_000);

  it('links a container on the default bridge as docker: its address in /etc/hosts under the alias, its ID and name; HostConfig.Links', () => {
    const target = cli('run', '-d', '--name', 'linked-db', 'busybox', 'sleep', '60').stdout.trim();
    try {
      const address = cli('inspect', '-f', '{{.NetworkSettings.IPAddress}}', target).stdout.trim();
      expect(address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      const seen = cli('run', '--rm', '--link', 'linked-db:db', 'busybox', 'sh', '-c', 'grep -w db /etc/hosts; ping -c1 -W2 db >/dev/null && echo reached');
      expect(seen.stdout).toBe(`${address}\tdb ${target.slice(0, 12)} linked-db\nreached\n`);
      const linking = cli('create', '--name', 'linking', '--link', 'linked-db:db', 'busybox', 'true').stdout.trim();
      expect(cli('inspect', '-f', '{{json .HostConfig.Links}}', linking).stdout).toBe('["/linked-db:/linking/db"]\n');
      // The linked container stopped: the start fails in docker's words.
      cli('stop', '-t', '0', target);
      const refused = cli('start', linking);
      expect(refused.stderr).toContain('Cannot link to a non running container: /linked-db AS /linking/db');
      expect(refused.status).toBe(1);
      cli('rm', linking);
      expect(cli('create', '--link', 'no-such-container:db', 'busybox', 'true')).toMatchObject({ status: 1, stderr: 'Error response from daemon: could not get container for no-such-container: No such container: no-such-container\n' });
    } finally {
      cli('rm', '-f', target);
    }
  }, 60_000);

  it('checks health every --health-start-interval during the start period, as docker 25 and later', async () => {
    const id = cli('run', '-d', '--health-cmd', 'true', '--health-interval', '1m', '--health-start-period', '1m', '--health-start-interval', '300ms', 'busybox', 'sleep', '60').stdout.trim();
    try {
      expect(cli('inspect', '-f', '{{json .Config.Healthcheck}}', id).stdout).toBe('{"Test":["CMD-SHELL","true"],"Interval":60000000000,"StartPeriod":60000000000,"StartInterval":300000000}\n');
      let status = '';
      for (let waited = 0; waited < 5000 && status !== 'healthy'; waited += 100) {
        status = cli('inspect', '-f', '{{.State.Health.Status}}', id).stdout.trim();
        if (status !== 'healthy') await sleep(100);
      }
      // Without the start interval the first check would come a minute after the start.
      expect(status).toBe('healthy');
    } finally {
      cli('rm', '-f', id);
    }
  }, 60_000);

  it('attaches only the streams -a names, the rest going to the log; refuses an unknown stream and -a with -d as docker', () => {
    const out = cli('run', '--name', 'attach-out', '-a', 'stdout', 'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2');
    expect(out).toMatchObject({ status: 0, stdout: 'to-out\n', stderr: '' });
    // What was not attached is in the container's log all the same.
    expect(cli('logs', 'attach-out')).toMatchObject({ stdout: 'to-out\n', stderr: 'to-err\n' });
    cli('rm', 'attach-out');
    expect(cli('run', '--rm', '-a', 'STDERR', 'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2; exit 3')).toMatchObject({ status: 3, stdout: '', stderr: 'to-err\n' });
    const before = cli('ps', '-aq').stdout;
    expect(cli('run', '--rm', '-a', 'stdio', 'busybox', 'true')).toMatchObject({
      status: 125,
      stderr: 'invalid argument "stdio" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR\nSee \'tsbuild run --help\'.\n',
    });
    expect(cli('run', '-d', '-a', 'stdout', 'busybox', 'true')).toMatchObject({ status: 1, stderr: 'Conflicting options: -a and -d\n' });
    expect(cli('ps', '-aq').stdout).toBe(before);
  }, 60_000);

  it('records the streams create and run attach as docker 26\'s inspect shows them (Config.Attach*, StdinOnce)', () => {
    const fields = '{{.Config.AttachStdin}} {{.Config.AttachStdout}} {{.Config.AttachStderr}} {{.Config.OpenStdin}} {{.Config.StdinOnce}}';
    // What docker 26 shows for each, from its create and run.
    const cases: [string[], string][] = [
      [['create'], 'false true true false false'],
      [['create', '-a', 'stdout'], 'false true false false false'],
      [['create', '-a', 'STDERR', '-a', 'stdin'], 'true false true false false'],
      [['create', '-a', 'stdin'], 'true false false false false'],
      [['create', '-i'], 'true true true true true'],
      [['create', '-i', '-a', 'stdout'], 'true true false true true'],
      [['run', '-d', '-i'], 'false false false true false'],
      [['run', '-i', '-a', 'stdout'], 'true true false true true'],
    ];
    for (const [args, expected] of cases) {
      const made = cli(...args, 'busybox', 'true');
      expect(made.status, args.join(' ')).toBe(0);
      const id = args[0] === 'run' && !args.includes('-d') ? cli('ps', '-lq').stdout.trim() : made.stdout.trim();
      expect(cli('inspect', '-f', fields, id).stdout, args.join(' ')).toBe(`${expected}\n`);
      expect(cli('rm', '-f', id).status).toBe(0);
    }
    // As docker's, start -a attaches stdout and stderr whatever create recorded.
    const id = cli('create', '-a', 'stdout', 'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2').stdout.trim();
    expect(cli('start', '-a', id)).toMatchObject({ status: 0, stdout: 'to-out\n', stderr: 'to-err\n' });
    cli('rm', id);
    expect(cli('create', '-a', 'stdio', 'busybox', 'true')).toMatchObject({
      status: 125,
      stderr: 'invalid argument "stdio" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR\nSee \'tsbuild create --help\'.\n',
    });
  }, 60_000);

  it("takes docker's older and compatibility spellings: --dns-opt, --disable-content-trust, and boolean flags given =VALUE", () => {
    const before = cli('ps', '-aq').stdout;
    const result = cli('run', '--rm=true', '--privileged=false', '-i=0', '--disable-content-trust', '--dns-opt', 'ndots:3', 'busybox', 'sh', '-c', 'grep options /etc/resolv.conf; grep CapEff /proc/self/status');
    // docker's default capabilities: --privileged=false is no --privileged.
    expect(result).toMatchObject({ status: 0, stdout: 'options ndots:3\nCapEff:\t00000000a80425fb\n' });
    // --rm=true removed it.
    expect(cli('ps', '-aq').stdout).toBe(before);
  }, 60_000);
});
