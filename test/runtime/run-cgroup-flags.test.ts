/**
 * `run`/`create` flags of docker 26 about cgroups and what a daemon has that tsbuild has not:
 * `--cgroup-parent`, the default `--cgroupns`, `--device-cgroup-rule`, `--cpu-rt-period` and
 * `--cpu-rt-runtime` (and `update`'s), `--kernel-memory`, `--isolation`, `--volume-driver`,
 * `--gpus`, `--storage-opt`, `--ip6`, `--link-local-ip`, and `rm --link`. Each as docker 26 shows it
 * in inspect, applied in the container, and refused in docker's words.
 */
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxStore, isRoot, removeBusyboxStore, runInstalledCli } from './helpers.js';

const cgroupV1 = !existsSync('/sys/fs/cgroup/cgroup.controllers') && existsSync('/sys/fs/cgroup/pids');

describe.runIf(isRoot)('cgroup and daemon-only run flags, as docker 26', () => {
  let store: { dir: string; root: string };
  const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } => runInstalledCli(args, { root: store.root });

  beforeAll(async () => {
    store = await busyboxStore('tsbuild-run-cgroup-flags-');
  }, 120_000);

  afterAll(() => {
    removeBusyboxStore(store);
    // The parents the runtime made, as docker's leave them; the test's own are removed.
    for (const hierarchy of cgroupV1 ? readdirSync('/sys/fs/cgroup') : []) {
      for (const group of ['tsbuild-test-parent/sub', 'tsbuild-test-parent']) {
        try {
          rmdirSync(join('/sys/fs/cgroup', hierarchy, group));
        } catch {
          // Not made in this hierarchy (a symlink such as cpu,cpuacct), or removed already.
        }
      }
    }
  });

  it.runIf(cgroupV1)('places the container under --cgroup-parent in every v1 hierarchy, shown as HostConfig.CgroupParent, and removes its group after', () => {
    const id = cli('create', '--cgroup-parent', '/tsbuild-test-parent/sub', 'busybox', 'cat', '/proc/self/cgroup').stdout.trim();
    expect(cli('inspect', '-f', '{{json .HostConfig.CgroupParent}} {{json .HostConfig.CgroupnsMode}}', id).stdout).toBe('"/tsbuild-test-parent/sub" "host"\n');
    const groups = cli('start', '-a', id).stdout;
    // docker on a v1 host: `8:pids:/myparent/ID` (the host's cgroup namespace shows the whole path).
    expect(groups).toMatch(new RegExp(`^\\d+:pids:/tsbuild-test-parent/sub/${id}$`, 'm'));
    expect(groups).toMatch(new RegExp(`^\\d+:memory:/tsbuild-test-parent/sub/${id}$`, 'm'));
    cli('rm', id);
    expect(existsSync(`/sys/fs/cgroup/pids/tsbuild-test-parent/sub/${id}`)).toBe(false);
    // update and pause reach the container where it is.
    const running = cli('run', '-d', '--cgroup-parent', '/tsbuild-test-parent', 'busybox', 'sleep', '60').stdout.trim();
    try {
      expect(cli('update', '--pids-limit', '50', running).status).toBe(0);
      expect(readFileSync(`/sys/fs/cgroup/pids/tsbuild-test-parent/${running}/pids.max`, 'utf8')).toBe('50\n');
      expect(cli('pause', running).status).toBe(0);
      expect(readFileSync(`/sys/fs/cgroup/freezer/tsbuild-test-parent/${running}/freezer.state`, 'utf8')).toBe('FROZEN\n');
      expect(cli('unpause', running).status).toBe(0);
    } finally {
      cli('rm', '-f', running);
    }
    expect(existsSync(`/sys/fs/cgroup/pids/tsbuild-test-parent/${running}`)).toBe(false);
    // A relative one from the hierarchy's root, as docker's daemon places it here.
    const relative = cli('run', '--rm', '--cgroup-parent', 'tsbuild-test-parent', 'busybox', 'cat', '/proc/self/cgroup');
    expect(relative.stdout).toMatch(/^\d+:pids:\/tsbuild-test-parent\/[0-9a-f]{64}$/m);
  }, 60_000);

  it('defaults --cgroupns as docker 26 does for the host: the host\'s on cgroup v1, its own on v2', () => {
    const id = cli('create', 'busybox', 'sh', '-c', 'grep -q "/$(hostname)" /proc/self/cgroup && echo host-cgroups || echo own').stdout.trim();
    expect(cli('inspect', '-f', '{{json .HostConfig.CgroupnsMode}}', id).stdout).toBe(cgroupV1 ? '"host"\n' : '"private"\n');
    expect(cli('start', '-a', id).stdout).toBe(cgroupV1 ? 'host-cgroups\n' : 'own\n');
    cli('rm', id);
    // The foreground `run --rm`, which keeps no record, the same.
    expect(cli('run', '--rm', 'busybox', 'sh', '-c', 'grep -q "/$(hostname)" /proc/self/cgroup && echo host-cgroups || echo own').stdout).toBe(cgroupV1 ? 'host-cgroups\n' : 'own\n');
  }, 60_000);

  it.runIf(cgroupV1)('mounts each v1 hierarchy once, its root the container\'s own group, as runc: what the JVM reads its limits by', () => {
    // The mount table's root of /sys/fs/cgroup/memory, then the group /proc/self/cgroup names.
    const script = 'awk \'$5 == "/sys/fs/cgroup/memory" { print $4 }\' /proc/self/mountinfo; sed -n "s/^[0-9]*:memory://p" /proc/self/cgroup; awk \'$5 ~ "^/sys/fs/cgroup/." && $4 == "/"\' /proc/self/mountinfo; cat /sys/fs/cgroup/memory/memory.limit_in_bytes';
    const lines = cli('run', '--rm', '-m', '64m', 'busybox', 'sh', '-c', script).stdout.split('\n');
    expect(lines[0]).toMatch(/\/[0-9a-f]{64}$/);
    expect(lines.slice(1)).toEqual([lines[0], String(64 * 1024 * 1024), '']);
  }, 60_000);

  it('keeps --device-cgroup-rule in HostConfig.DeviceCgroupRules and the runtime config, and refuses a bad rule in docker\'s words', () => {
    expect(cli('create', '--device-cgroup-rule', 'bogus', 'busybox', 'true')).toMatchObject({ status: 125, stderr: 'invalid argument "bogus" for "--device-cgroup-rule" flag: invalid device cgroup format \'bogus\'\nSee \'tsbuild create --help\'.\n' });
    const id = cli('create', '--device-cgroup-rule', 'c 1:3 rwm', '--device-cgroup-rule', 'a *:* m', 'busybox', 'true').stdout.trim();
    expect(cli('inspect', '-f', '{{json .HostConfig.DeviceCgroupRules}}', id).stdout).toBe('["c 1:3 rwm","a *:* m"]\n');
    const spec = JSON.parse(readFileSync(join(store.root, 'containers', id, 'spec.json'), 'utf8')) as { deviceRules: unknown[]; dockerDevices?: boolean };
    // After docker's own (generateConfig puts them first).
    expect(spec.dockerDevices).toBe(true);
    expect(spec.deviceRules).toEqual([
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
      { allow: true, type: 'a', access: 'm' },
    ]);
    cli('rm', id);
    const plain = cli('create', 'busybox', 'true').stdout.trim();
    expect(cli('inspect', '-f', '{{json .HostConfig.DeviceCgroupRules}} {{json .HostConfig.CgroupParent}} {{json .HostConfig.Isolation}} {{json .HostConfig.VolumeDriver}} {{json .HostConfig.DeviceRequests}}', plain).stdout).toBe('null "" "" "" null\n');
    cli('rm', plain);
  }, 60_000);

  it.runIf(cgroupV1)('applies --device-cgroup-rule in a device cgroup, as docker\'s: what the rules and the defaults allow opens, nothing else', () => {
    // A node of the rule's number opens (major 42 has no driver: ENXIO, past the cgroup), others do not.
    const probe = 'mknod /tmp/k c 42 0; mknod /tmp/n c 1 3; echo x > /tmp/n && echo wrote-null; head -c1 /tmp/k';
    expect(cli('run', '--rm', '--device-cgroup-rule', 'c 1:3 rwm', 'busybox', 'sh', '-c', probe)).toMatchObject({ stdout: 'wrote-null\n', stderr: 'head: /tmp/k: Operation not permitted\n' });
    expect(cli('run', '--rm', '--device-cgroup-rule', 'c 42:* rw', 'busybox', 'sh', '-c', probe)).toMatchObject({ stdout: 'wrote-null\n', stderr: 'head: /tmp/k: No such device or address\n' });
    // Without a rule, docker's defaults alone: a null device made with mknod opens (chroot and
    // debootstrap set-ups make their own /dev), in the foreground and in a detached container.
    expect(cli('run', '--rm', 'busybox', 'sh', '-c', probe)).toMatchObject({ stdout: 'wrote-null\n', stderr: 'head: /tmp/k: Operation not permitted\n' });
    const detached = cli('run', '-d', 'busybox', 'sh', '-c', probe).stdout.trim();
    expect(cli('wait', detached).stdout).toBe('1\n');
    expect(cli('logs', detached)).toMatchObject({ stdout: 'wrote-null\n', stderr: 'head: /tmp/k: Operation not permitted\n' });
    cli('rm', detached);
  }, 60_000);

  it.runIf(cgroupV1 && existsSync('/sys/fs/cgroup/cpu/cpu.rt_runtime_us'))('writes --cpu-rt-period and --cpu-rt-runtime to the cpu cgroup, failing the start with the kernel\'s error and the file, as runc', () => {
    // The container's own group at the top of its /sys/fs/cgroup/cpu, the host's cgroup namespace as well.
    const period = cli('run', '--rm', '--cpu-rt-period', '500000', 'busybox', 'cat', '/sys/fs/cgroup/cpu/cpu.rt_period_us');
    expect(period).toMatchObject({ status: 0, stdout: '500000\n' });
    const id = cli('create', '--cpu-rt-period', '100000', '--cpu-rt-runtime', '100', 'busybox', 'true').stdout.trim();
    expect(cli('inspect', '-f', '{{.HostConfig.CpuRealtimePeriod}} {{.HostConfig.CpuRealtimeRuntime}}', id).stdout).toBe('100000 100\n');
    // The parent group has no real-time budget to give (docker: `failed to write "100": … cpu.rt_runtime_us: invalid argument`).
    const started = cli('start', id);
    expect(started.status).not.toBe(0);
    expect(started.stderr).toMatch(/write \/sys\/fs\/cgroup\/cpu\/tsbuild\/[0-9a-f]{64}\/cpu\.rt_runtime_us: Invalid argument \(failed to write "100"\)/);
    cli('rm', id);
    expect(cli('create', '--cpu-rt-period', '1000', '--cpu-rt-runtime', '2000', 'busybox', 'true')).toMatchObject({ status: 1, stderr: 'Error response from daemon: cpu real-time runtime cannot be higher than cpu real-time period\n' });
    // update takes them as run does, kept for the next start.
    const updated = cli('create', 'busybox', 'true').stdout.trim();
    expect(cli('update', '--cpu-rt-period', '200000', updated)).toMatchObject({ status: 0, stdout: `${updated}\n` });
    expect(cli('inspect', '-f', '{{.HostConfig.CpuRealtimePeriod}}', updated).stdout).toBe('200000\n');
    const spec = JSON.parse(readFileSync(join(store.root, 'containers', updated, 'spec.json'), 'utf8')) as { cpu?: { realtimePeriod?: number } };
    expect(spec.cpu?.realtimePeriod).toBe(200000);
    cli('rm', updated);
  }, 60_000);

  it.runIf(!existsSync('/sys/fs/cgroup/cpu/cpu.rt_period_us'))('refuses --cpu-rt-period where the kernel has no real-time cpu cgroup, as docker\'s daemon', () => {
    expect(cli('create', '--cpu-rt-period', '100000', 'busybox', 'true')).toMatchObject({ status: 1, stderr: 'Error response from daemon: Your kernel does not support CPU real-time scheduler\n' });
  }, 60_000);

  it('accepts what docker 26 accepts of a daemon\'s flags, and refuses the rest in its words', () => {
    const before = cli('ps', '-aq').stdout;
    const id = cli('create', '--kernel-memory', '10m', '--isolation', 'default', '--volume-driver', 'local', '-v', 'cgroup-flags-vol:/data', '--link-local-ip', '169.254.1.5', 'busybox', 'true');
    expect(id).toMatchObject({ status: 0, stderr: '' });
    expect(cli('inspect', '-f', '{{json .HostConfig.Isolation}} {{json .HostConfig.VolumeDriver}} {{json .NetworkSettings.Networks.bridge.IPAMConfig}}', id.stdout.trim()).stdout).toBe('"default" "local" {"LinkLocalIPs":["169.254.1.5"]}\n');
    cli('rm', '-v', id.stdout.trim());
    cli('volume', 'rm', 'cgroup-flags-vol');
    // docker's words: a flag's value and its CLI's own checks with where to read the help, its daemon's after its prefix.
    const refused = (args: string[], message: string, client = false): void => {
      const words = message.startsWith('invalid argument "') ? `${message}\nSee 'tsbuild create --help'.\n` : client ? `tsbuild: ${message}\nSee 'tsbuild create --help'.\n` : `Error response from daemon: ${message}\n`;
      // 125 when its CLI refused a flag; 1 when its daemon refused the container, as docker's create.
      expect(cli('create', ...args, 'busybox', 'true'), args.join(' ')).toMatchObject({ status: words.startsWith('Error response from daemon: ') ? 1 : 125, stderr: words });
    };
    refused(['--kernel-memory', 'bogus'], 'invalid argument "bogus" for "--kernel-memory" flag: invalid size: \'bogus\'');
    refused(['--isolation', 'hyperv'], 'Invalid isolation: "hyperv" - linux only supports \'default\'');
    refused(['--volume-driver', 'foo', '-v', 'named:/x'], 'create named: error looking up volume plugin foo: plugin "foo" not found');
    refused(['--storage-opt', 'size=1G'], "--storage-opt is supported only for overlay over xfs with 'pquota' mount option");
    refused(['--storage-opt', 'bogus'], 'invalid storage option.', true);
    refused(['--ip6', 'fd00::5'], 'invalid config for network bridge: invalid endpoint settings:\nuser specified IP address is supported on user defined networks only');
    refused(['--link-local-ip', 'bogus'], 'invalid config for network bridge: invalid endpoint settings:\ninvalid link-local IP address: bogus');
    refused(['--gpus', 'bogus=1'], 'invalid argument "bogus=1" for "--gpus" flag: unexpected key \'bogus\' in \'bogus=1\'');
    expect(cli('ps', '-aq').stdout).toBe(before);
    // --gpus: kept as docker's DeviceRequests; the start finds no driver, as docker without one.
    const gpu = cli('create', '--gpus', 'all', 'busybox', 'true').stdout.trim();
    expect(cli('inspect', '-f', '{{json .HostConfig.DeviceRequests}}', gpu).stdout).toBe('[{"Driver":"","Count":-1,"DeviceIDs":null,"Capabilities":[["gpu"]],"Options":{}}]\n');
    expect(cli('start', gpu)).toMatchObject({ status: 1, stderr: expect.stringContaining('could not select device driver "" with capabilities: [[gpu]]') as unknown });
    cli('rm', gpu);
  }, 60_000);

  it('ignores --volume-driver for --mount\'s volumes with docker\'s warning, and refuses an unknown one for -v\'s and the image\'s VOLUMEs', () => {
    const warning = 'WARNING: `--volume-driver` is ignored for volumes specified via `--mount`. Use `--mount type=volume,volume-driver=...` instead.\n';
    // docker 26: --mount volumes (anonymous or named) and binds are made, the driver unused.
    const anonymous = cli('create', '--volume-driver', 'foo', '--mount', 'type=volume,target=/x', '-v', '/tmp:/y', 'busybox', 'true');
    expect(anonymous).toMatchObject({ status: 0, stderr: warning });
    const id = anonymous.stdout.trim();
    expect(cli('inspect', '-f', '{{json .Config.Volumes}} {{json .HostConfig.Mounts}}', id).stdout).toBe('null [{"Type":"volume","Target":"/x"}]\n');
    cli('rm', '-v', id);
    const named = cli('create', '--volume-driver', 'local', '--mount', 'type=volume,source=vdriver-mount,target=/x', 'busybox', 'true');
    expect(named).toMatchObject({ status: 0, stderr: warning });
    cli('rm', named.stdout.trim());
    cli('volume', 'rm', 'vdriver-mount');
    // -v's anonymous volumes are made with it, under a random name.
    expect(cli('create', '--volume-driver', 'foo', '-v', '/x', 'busybox', 'true')).toMatchObject({ status: 1, stderr: expect.stringMatching(/^Error response from daemon: create [0-9a-f]{64}: error looking up volume plugin foo: plugin "foo" not found\n$/) as unknown });
    // So are the image's VOLUMEs.
    const withVolume = cli('commit', '--change', 'VOLUME /data', cli('create', 'busybox', 'true').stdout.trim(), 'vdriver-volume-image');
    expect(withVolume.status).toBe(0);
    expect(cli('create', '--volume-driver', 'foo', 'vdriver-volume-image', 'true')).toMatchObject({ status: 1, stderr: expect.stringMatching(/^Error response from daemon: create [0-9a-f]{64}: error looking up volume plugin foo: plugin "foo" not found\n$/) as unknown });
    expect(cli('ps', '-aq', '--filter', 'ancestor=vdriver-volume-image').stdout).toBe('');
  }, 60_000);

  it('removes a link with rm --link PARENT/ALIAS, the containers kept; docker\'s errors otherwise', () => {
    const target = cli('create', '--name', 'rm-link-db', 'busybox', 'true').stdout.trim();
    const linking = cli('create', '--name', 'rm-link-app', '--link', 'rm-link-db:db', 'busybox', 'true').stdout.trim();
    try {
      expect(cli('rm', '--link', 'rm-link-app/db')).toMatchObject({ status: 0, stdout: 'rm-link-app/db\n' });
      expect(cli('inspect', '-f', '{{json .HostConfig.Links}}', linking).stdout).toBe('null\n');
      expect(cli('rm', '-l', '/rm-link-app/db')).toMatchObject({ status: 1, stderr: 'Error response from daemon: No such container: rm-link-app/db\n' });
      expect(cli('rm', '--link', 'rm-link-db')).toMatchObject({ status: 1, stderr: 'Error response from daemon: Conflict, cannot remove the default link name of the container\n' });
      expect(cli('ps', '-aq').stdout.split('\n')).toEqual(expect.arrayContaining([linking.slice(0, 12), target.slice(0, 12)]));
    } finally {
      cli('rm', '-f', linking, target);
    }
  }, 60_000);

  it('takes a removed link out of a running container\'s /etc/hosts at once, as docker\'s daemon refreshes its sandbox', () => {
    const target = cli('run', '-d', '--name', 'rm-link-live-db', 'busybox', 'sleep', '60').stdout.trim();
    const linking = cli('run', '-d', '--name', 'rm-link-live-app', '--add-host', 'db-extra:10.1.2.3', '--link', 'rm-link-live-db:db', 'busybox', 'sleep', '60').stdout.trim();
    try {
      const address = cli('inspect', '-f', '{{.NetworkSettings.IPAddress}}', target).stdout.trim();
      const before = cli('exec', linking, 'cat', '/etc/hosts').stdout;
      expect(before).toContain(`${address}\tdb ${target.slice(0, 12)} rm-link-live-db\n`);
      expect(cli('rm', '--link', 'rm-link-live-app/db')).toMatchObject({ status: 0, stdout: 'rm-link-live-app/db\n' });
      const after = cli('exec', linking, 'cat', '/etc/hosts').stdout;
      // Only the link's line goes: the defaults, --add-host's and its own stay as they were.
      expect(after).toBe(before.replace(`${address}\tdb ${target.slice(0, 12)} rm-link-live-db\n`, ''));
      expect(after).toContain('10.1.2.3\tdb-extra\n');
    } finally {
      cli('rm', '-f', linking, target);
    }
  }, 60_000);
});
