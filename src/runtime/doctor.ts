/**
 * What rootless mode needs, checked for the current user: each check says ok, warn or fail,
 * and what to do about it. Data only; `tsbuild doctor` prints it.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { nativeContextStatus, nativeFsStatus, nativeHashingStatus } from '../common/index.js';
import { runtimeAddonStatus } from './native.js';
import { shimPath } from './oci-runtime.js';
import { subordinateRange } from './spec.js';

export interface DoctorCheck {
  readonly name: string;
  readonly status: 'ok' | 'warn' | 'fail';
  readonly detail: string;
  /** What to do, when not ok. */
  readonly fix?: string;
}

function readNumber(path: string): number | undefined {
  try {
    return Number(readFileSync(path, 'utf8').trim());
  } catch {
    return undefined;
  }
}

function which(name: string): string | undefined {
  const result = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

function userNamespaces(): DoctorCheck {
  const name = 'user namespaces';
  const max = readNumber('/proc/sys/user/max_user_namespaces');
  if (max === 0) return { name, status: 'fail', detail: 'user.max_user_namespaces is 0', fix: 'sysctl -w user.max_user_namespaces=15000' };
  if (readNumber('/proc/sys/kernel/unprivileged_userns_clone') === 0) {
    return { name, status: 'fail', detail: 'kernel.unprivileged_userns_clone is 0', fix: 'sysctl -w kernel.unprivileged_userns_clone=1' };
  }
  const apparmor = readNumber('/proc/sys/kernel/apparmor_restrict_unprivileged_userns');
  const probe = spawnSync('unshare', ['-Ur', 'true'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    return {
      name,
      status: 'fail',
      detail: `unshare -Ur fails: ${probe.stderr.trim() || probe.error?.message || 'unknown error'}${apparmor === 1 ? ' (AppArmor restricts unprivileged user namespaces)' : ''}`,
      fix: apparmor === 1 ? 'sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile allowing userns for tsbuild' : 'enable user namespaces in the kernel',
    };
  }
  const notes = [...(max === undefined ? [] : [`max ${max}`]), ...(apparmor === undefined ? [] : [`AppArmor restriction ${apparmor === 0 ? 'off' : 'on, yet unshare works'}`])];
  return { name, status: 'ok', detail: `enabled${notes.length === 0 ? '' : ` (${notes.join('; ')})`}` };
}

/** Where the checks look; tests point them elsewhere. */
export interface DoctorOptions {
  readonly shimPath?: string;
  readonly tunDevice?: string;
  readonly subuidFile?: string;
  readonly subgidFile?: string;
  /** Whose ranges to look for. Default: the current user. */
  readonly user?: { readonly username: string; readonly uid: number };
}

function subordinateIds(label: '/etc/subuid' | '/etc/subgid', file: string, user: { readonly username: string; readonly uid: number }): DoctorCheck {
  const name = `${label} range`;
  if (user.uid === 0) return { name, status: 'ok', detail: 'not needed as root' };
  const range = subordinateRange(file, user);
  if (range === undefined) {
    return { name, status: 'warn', detail: `no range for ${user.username}: containers get a single id (root only)`, fix: `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user.username}` };
  }
  return { name, status: range.count >= 65536 ? 'ok' : 'warn', detail: `${range.start}:${range.count}`, ...(range.count >= 65536 ? {} : { fix: 'a range of 65536 ids lets images use every usual id' }) };
}

function idMapHelpers(): DoctorCheck {
  const name = 'newuidmap and newgidmap';
  const missing = ['newuidmap', 'newgidmap'].filter((helper) => which(helper) === undefined);
  if (missing.length > 0) return { name, status: 'warn', detail: `${missing.join(' and ')} not found: single-id mapping only`, fix: 'apt-get install uidmap' };
  const path = which('newuidmap') ?? '';
  const setuid = (statSync(path).mode & 0o4000) !== 0;
  // getcap (libcap2-bin) may be absent: then only the setuid bit can be seen.
  const caps = setuid ? '' : (spawnSync('getcap', [path], { encoding: 'utf8' }).stdout as string | null)?.trim() ?? '';
  if (!setuid && caps === '') return { name, status: 'warn', detail: `${path} is neither setuid nor has file capabilities`, fix: `chmod u+s ${path}` };
  return { name, status: 'ok', detail: setuid ? `${path} (setuid)` : `${path} (${caps})` };
}

function overlayInUserNamespace(): DoctorCheck {
  const name = 'overlay in a user namespace';
  const dir = mkdtempSync(join(tmpdir(), 'tsbuild-doctor-'));
  try {
    const script = `mkdir -p ${dir}/l ${dir}/u ${dir}/w ${dir}/m && mount -t overlay overlay -o lowerdir=${dir}/l,upperdir=${dir}/u,workdir=${dir}/w ${dir}/m`;
    const probe = spawnSync('unshare', ['-Urm', 'sh', '-c', script], { encoding: 'utf8' });
    if (probe.status === 0) return { name, status: 'ok', detail: 'the kernel mounts overlayfs in a user namespace' };
    return { name, status: 'warn', detail: `refused: ${probe.stderr.trim()}`, fix: 'a kernel of 5.11 or later, or fuse-overlayfs' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function cgroups(): DoctorCheck {
  const name = 'cgroups';
  const unified = existsSync('/sys/fs/cgroup/cgroup.controllers');
  const hybrid = existsSync('/sys/fs/cgroup/unified');
  const version = unified ? 'v2' : hybrid ? 'v1 (hybrid)' : 'v1';
  const candidates = unified ? ['/sys/fs/cgroup'] : ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/pids'];
  const writable = candidates.every((path) => {
    try {
      accessSync(path, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (writable) return { name, status: 'ok', detail: `${version}; memory and pids limits can be applied` };
  return { name, status: 'warn', detail: `${version}; not delegated to this user: memory and pids limits are skipped`, fix: unified ? 'delegate a cgroup subtree to the user (systemd: Delegate=yes)' : 'cgroup v2 with delegation' };
}

function shim(path: string): DoctorCheck {
  if (existsSync(path)) return { name: 'runtime-shim', status: 'ok', detail: path };
  return { name: 'runtime-shim', status: 'fail', detail: `${path} missing`, fix: 'npm run build:shim (needs gcc, libc6-dev, make)' };
}

function nativeFs(): DoctorCheck {
  const status = nativeFsStatus();
  if (status.error === undefined) return { name: 'native fs addon', status: 'ok', detail: status.path };
  return { name: 'native fs addon', status: 'fail', detail: `${status.path}: device nodes, fifos and xattrs in layers need it`, fix: 'npm run build:native (needs gcc, libc6-dev, make and Node\'s headers)' };
}

function nativeHashing(): DoctorCheck {
  const status = nativeHashingStatus();
  if (status.error === undefined) return { name: 'native hashing writer', status: 'ok', detail: status.path };
  return { name: 'native hashing writer', status: 'warn', detail: `${status.path}: blobs are hashed on the main thread instead, pulls are slower`, fix: 'npm run build:native' };
}

function nativeContextHasher(): DoctorCheck {
  const status = nativeContextStatus();
  if (status.error === undefined) return { name: 'native context hasher', status: 'ok', detail: status.path };
  return { name: 'native context hasher', status: 'warn', detail: `${status.path}: build contexts are hashed on the main thread instead, cold builds are slower`, fix: 'npm run build:native (needs libxxhash-dev)' };
}

function nativeRuntime(): DoctorCheck {
  const status = runtimeAddonStatus();
  if (status.error === undefined) return { name: 'native runtime addon', status: 'ok', detail: status.path };
  return { name: 'native runtime addon', status: 'fail', detail: `${status.path}: tsbuild run needs it (overlay mounts, terminals)`, fix: 'npm run build:native' };
}

/**
 * Networks of an unprivileged user's containers: outbound access and published ports through
 * slirp4netns, user networks in a namespace entered with nsenter; slirp4netns opens
 * /dev/net/tun, which must be open to the user (Debian makes it 0600 on some hosts).
 */
function rootlessNetworks(user: { readonly uid: number }, tunDevice: string): DoctorCheck {
  const name = 'rootless networks';
  if (user.uid === 0) return { name, status: 'ok', detail: 'not needed as root: bridges, veth pairs and NAT rules on the host' };
  const missing = ['slirp4netns', 'nsenter'].filter((tool) => which(tool) === undefined);
  if (missing.length > 0) {
    return { name, status: 'warn', detail: `${missing.join(' and ')} not found: containers get loopback only (--network none)`, fix: 'apt-get install slirp4netns util-linux' };
  }
  let mode: number | undefined;
  try {
    mode = statSync(tunDevice).mode & 0o777;
  } catch {
    mode = undefined;
  }
  if (mode === undefined || (mode & 0o006) !== 0o006) {
    return {
      name,
      status: 'warn',
      detail: `${tunDevice} is ${mode === undefined ? 'missing' : `mode ${mode.toString(8).padStart(4, '0')}`}: slirp4netns cannot open it for this user`,
      fix: `chmod 0666 ${tunDevice} (as root; or a udev rule)`,
    };
  }
  return { name, status: 'ok', detail: 'slirp4netns for outbound access and published ports; user networks with names in one namespace per store' };
}

/** What the checks above mean for a build and a run as this user, in one line. */
function rootlessSummary(checks: readonly DoctorCheck[], user: { readonly username: string; readonly uid: number }, subuidFile: string): DoctorCheck {
  const name = 'rootless builds';
  if (user.uid === 0) return { name, status: 'ok', detail: 'running as root: builds and runs need no user namespace' };
  const failed = (check: string): boolean => checks.some((c) => c.name === check && c.status !== 'ok');
  if (failed('user namespaces')) return { name, status: 'fail', detail: 'tsbuild cannot build or run as this user: it needs a user namespace of its own' };
  if (failed('overlay in a user namespace')) return { name, status: 'fail', detail: 'RUN, COPY and run need overlayfs in a user namespace, which this kernel refuses' };
  const range = subordinateRange(subuidFile, user);
  if (range === undefined || failed('newuidmap and newgidmap')) {
    return {
      name,
      status: 'warn',
      detail: 'builds and runs work for images whose files all belong to root; an image with files of other ids (a user made by useradd, nobody) fails to unpack',
      fix: 'a /etc/subuid and /etc/subgid range, and newuidmap/newgidmap (apt-get install uidmap)',
    };
  }
  return { name, status: 'ok', detail: `builds and runs work; files keep ids 0 to ${range.count} (higher ids cannot be mapped); memory and pids limits need cgroup delegation` };
}

export function runDoctor(options: DoctorOptions = {}): DoctorCheck[] {
  const user = options.user ?? userInfo();
  const checks = [
    shim(options.shimPath ?? shimPath()),
    nativeFs(),
    nativeHashing(),
    nativeContextHasher(),
    nativeRuntime(),
    userNamespaces(),
    subordinateIds('/etc/subuid', options.subuidFile ?? '/etc/subuid', user),
    subordinateIds('/etc/subgid', options.subgidFile ?? '/etc/subgid', user),
    idMapHelpers(),
    overlayInUserNamespace(),
    cgroups(),
    rootlessNetworks(user, options.tunDevice ?? '/dev/net/tun'),
  ];
  return [...checks, rootlessSummary(checks, user, options.subuidFile ?? '/etc/subuid')];
}
