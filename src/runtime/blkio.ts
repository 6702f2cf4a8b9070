/**
 * docker's block I/O flags: `--blkio-weight-device PATH:WEIGHT` and the throttles
 * `--device-read-bps`, `--device-write-bps` (`PATH:RATE[kb|mb|gb]`), `--device-read-iops`,
 * `--device-write-iops` (`PATH:RATE`). Read as docker's CLI reads them (its opts package, its
 * words), kept by path in the record (docker's HostConfig), checked against what this host's
 * cgroups offer at create (its daemon's verifyPlatformContainerResources: discarded with its
 * warning where the kernel has no such file), and turned into the OCI config's
 * `linux.resources.blockIO` at each start, the path then stat'ed for its device numbers (its
 * daemon's getBlkioThrottleDevices).
 */
import { access, constants as fsConstants, stat } from 'node:fs/promises';
import { TsbuildError, messageOf } from '../common/index.js';

/** docker's ThrottleDevice: a rate in bytes or operations per second. */
export interface ThrottleDevice {
  readonly path: string;
  readonly rate: number;
}

/** docker's WeightDevice: a weight of 10 to 1000 (0: the device's weight left alone). */
export interface WeightDevice {
  readonly path: string;
  readonly weight: number;
}

/** What a container asks of block I/O per device, as docker's HostConfig keeps it. */
export interface BlockIODevices {
  readonly weightDevice?: readonly WeightDevice[];
  readonly readBps?: readonly ThrottleDevice[];
  readonly writeBps?: readonly ThrottleDevice[];
  readonly readIOps?: readonly ThrottleDevice[];
  readonly writeIOps?: readonly ThrottleDevice[];
}

/** The OCI config's `linux.resources.blockIO` entries: a device by its numbers. */
export interface OciBlockIODevice {
  readonly major: number;
  readonly minor: number;
}

export interface OciBlockIO {
  readonly weightDevice?: readonly (OciBlockIODevice & { readonly weight: number })[];
  readonly throttleReadBpsDevice?: readonly (OciBlockIODevice & { readonly rate: number })[];
  readonly throttleWriteBpsDevice?: readonly (OciBlockIODevice & { readonly rate: number })[];
  readonly throttleReadIOPSDevice?: readonly (OciBlockIODevice & { readonly rate: number })[];
  readonly throttleWriteIOPSDevice?: readonly (OciBlockIODevice & { readonly rate: number })[];
}

const flagError = (flag: string, text: string, reason: string): TsbuildError => new TsbuildError('INVALID_ARGUMENT', `invalid argument ${JSON.stringify(text)} for "${flag}" flag: ${reason}`);

/** `PATH:VALUE` with PATH under /dev/, as docker's validators split it; their words otherwise. */
function splitDevice(flag: string, text: string): { path: string; value: string } {
  const colon = text.indexOf(':');
  if (colon <= 0) throw flagError(flag, text, `bad format: ${text}`);
  const path = text.slice(0, colon);
  if (!path.startsWith('/dev/')) throw flagError(flag, text, `bad format for device path: ${text}`);
  return { path, value: text.slice(colon + 1) };
}

/** go-units' RAMInBytes: a decimal number and an optional binary unit (k, m, g, t, p; `i` and `b` allowed after). */
function ramInBytes(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(text);
  // Go's ParseFloat takes one decimal point only.
  if (match === null || (match[1] ?? '').split('.').length > 2) return undefined;
  const value = Number.parseFloat(match[1] ?? '');
  if (!Number.isFinite(value)) return undefined;
  const power = ' kmgtp'.indexOf((match[2] ?? ' ').toLowerCase());
  return Math.trunc(value * 1024 ** power);
}

/** `--device-read-bps`, `--device-write-bps`: docker's ValidateThrottleBpsDevice. */
export function parseThrottleBpsDevice(flag: string, text: string): ThrottleDevice {
  const { path, value } = splitDevice(flag, text);
  const rate = ramInBytes(value);
  if (rate === undefined || !Number.isSafeInteger(rate)) {
    throw flagError(flag, text, `invalid rate for device: ${text}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb`);
  }
  return { path, rate };
}

/** `--device-read-iops`, `--device-write-iops`: docker's ValidateThrottleIOpsDevice (strconv.ParseUint). */
export function parseThrottleIOpsDevice(flag: string, text: string): ThrottleDevice {
  const { path, value } = splitDevice(flag, text);
  const rate = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(rate)) throw flagError(flag, text, `invalid rate for device: ${text}. The correct format is <device-path>:<number>. Number must be a positive integer`);
  return { path, rate };
}

/** `--blkio-weight-device`: docker's ValidateWeightDevice (0, or 10 to 1000). */
export function parseWeightDevice(flag: string, text: string): WeightDevice {
  const { path, value } = splitDevice(flag, text);
  const weight = Number(value);
  if (!/^\d+$/.test(value) || weight > 65535 || (weight > 0 && (weight < 10 || weight > 1000))) throw flagError(flag, text, `invalid weight for device: ${text}`);
  return { path, weight };
}

async function writable(path: string): Promise<boolean> {
  return access(path, fsConstants.W_OK).then(
    () => true,
    () => false,
  );
}

/** Whether any of FILES (a cgroup v1 blkio file, or its v2 counterpart) can be written here. */
async function supported(files: readonly string[]): Promise<boolean> {
  return (await Promise.all(files.map(writable))).some(Boolean);
}

const v2Throttle = ['/sys/fs/cgroup/tsbuild/io.max'];

/**
 * DEVICES as this host takes them: each kind its cgroup cannot apply (v1's blkio file, v2's
 * io.max or io.bfq.weight, none of them writable rootless) discarded, with docker's warning.
 */
export async function supportedBlockIODevices(devices: BlockIODevices, warnings: string[]): Promise<BlockIODevices> {
  const kinds: { key: keyof BlockIODevices; files: readonly string[]; warning: string }[] = [
    {
      key: 'weightDevice',
      files: ['/sys/fs/cgroup/blkio/blkio.weight_device', '/sys/fs/cgroup/blkio/blkio.bfq.weight_device', '/sys/fs/cgroup/tsbuild/io.bfq.weight'],
      warning: 'Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.',
    },
    { key: 'readBps', files: ['/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device', ...v2Throttle], warning: 'Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded.' },
    { key: 'writeBps', files: ['/sys/fs/cgroup/blkio/blkio.throttle.write_bps_device', ...v2Throttle], warning: 'Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded.' },
    { key: 'readIOps', files: ['/sys/fs/cgroup/blkio/blkio.throttle.read_iops_device', ...v2Throttle], warning: 'Your kernel does not support IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded.' },
    { key: 'writeIOps', files: ['/sys/fs/cgroup/blkio/blkio.throttle.write_iops_device', ...v2Throttle], warning: 'Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded.' },
  ];
  const kept: Record<string, unknown> = {};
  for (const { key, files, warning } of kinds) {
    const asked = devices[key];
    if (asked === undefined || asked.length === 0) continue;
    if (await supported(files)) kept[key] = asked;
    else warnings.push(warning);
  }
  return kept as BlockIODevices;
}

/** Linux's major and minor of a device number (glibc's gnu_dev_major/minor). */
function deviceNumbers(rdev: number): OciBlockIODevice {
  const value = BigInt(rdev);
  const major = Number(((value >> 8n) & 0xfffn) | ((value >> 32n) & ~0xfffn));
  const minor = Number((value & 0xffn) | ((value >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * DEVICES with their paths stat'ed, as docker's daemon does at each start: a path that is not
 * there fails the start in its words (`stat PATH: no such file or directory`); one that is not a
 * block device is the kernel's refusal, as runc meets it. Undefined when none is asked.
 */
export async function ociBlockIO(devices: BlockIODevices | undefined): Promise<OciBlockIO | undefined> {
  if (devices === undefined) return undefined;
  const numbers = async (path: string, file: string, value: number): Promise<OciBlockIODevice> => {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new TsbuildError('INVALID_ARGUMENT', `stat ${path}: ${code === 'ENOENT' ? 'no such file or directory' : messageOf(error)}`, { cause: error });
    }
    const found = deviceNumbers(info.rdev);
    if (!info.isBlockDevice()) throw new TsbuildError('INVALID_ARGUMENT', `failed to write "${found.major}:${found.minor} ${value}": write ${file}: no such device`);
    return found;
  };
  const throttle = async (list: readonly ThrottleDevice[] | undefined, file: string): Promise<(OciBlockIODevice & { rate: number })[] | undefined> =>
    list === undefined || list.length === 0 ? undefined : Promise.all(list.map(async (device) => ({ ...(await numbers(device.path, file, device.rate)), rate: device.rate })));
  const weightDevice =
    devices.weightDevice === undefined || devices.weightDevice.length === 0
      ? undefined
      : await Promise.all(devices.weightDevice.map(async (device) => ({ ...(await numbers(device.path, 'blkio.weight_device', device.weight)), weight: device.weight })));
  const result: OciBlockIO = {
    ...(weightDevice === undefined ? {} : { weightDevice }),
    ...optional('throttleReadBpsDevice', await throttle(devices.readBps, 'blkio.throttle.read_bps_device')),
    ...optional('throttleWriteBpsDevice', await throttle(devices.writeBps, 'blkio.throttle.write_bps_device')),
    ...optional('throttleReadIOPSDevice', await throttle(devices.readIOps, 'blkio.throttle.read_iops_device')),
    ...optional('throttleWriteIOPSDevice', await throttle(devices.writeIOps, 'blkio.throttle.write_iops_device')),
  };
  return Object.keys(result).length === 0 ? undefined : result;
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}
