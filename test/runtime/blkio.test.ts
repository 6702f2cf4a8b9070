/**
 * The block I/O flags read as docker's CLI reads them (go-units' sizes, strconv's integers, its
 * words), and the OCI config's `linux.resources.blockIO` made from them at a start.
 */
import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateConfig, ociBlockIO, parseThrottleBpsDevice, parseThrottleIOpsDevice, parseWeightDevice } from '../../src/runtime/index.js';

describe('block I/O flags', () => {
  it("reads rates with go-units' binary sizes, IOPS and weights as docker's validators", () => {
    const bps = (text: string): number => parseThrottleBpsDevice('--device-read-bps', `/dev/sda:${text}`).rate;
    expect([bps('1024'), bps('1k'), bps('1kb'), bps('1KiB'), bps('1 mb'), bps('1.5g'), bps('0')]).toEqual([1024, 1024, 1024, 1024, 1048576, 1610612736, 0]);
    for (const bad of ['-1', '1xb', '1.2.3k', '', 'k']) expect(() => bps(bad), bad).toThrow(`invalid argument "/dev/sda:${bad}" for "--device-read-bps" flag: invalid rate for device: /dev/sda:${bad}.`);
    expect(parseThrottleIOpsDevice('--device-write-iops', '/dev/sda:100')).toEqual({ path: '/dev/sda', rate: 100 });
    expect(() => parseThrottleIOpsDevice('--device-write-iops', '/dev/sda:1.5')).toThrow('invalid rate for device: /dev/sda:1.5. The correct format is <device-path>:<number>. Number must be a positive integer');
    expect(parseWeightDevice('--blkio-weight-device', '/dev/sda:0')).toEqual({ path: '/dev/sda', weight: 0 });
    expect(parseWeightDevice('--blkio-weight-device', '/dev/sda:1000')).toEqual({ path: '/dev/sda', weight: 1000 });
    for (const bad of ['9', '1001', 'x']) expect(() => parseWeightDevice('--blkio-weight-device', `/dev/sda:${bad}`)).toThrow(`invalid weight for device: /dev/sda:${bad}`);
    expect(() => parseWeightDevice('--blkio-weight-device', ':5')).toThrow('bad format: :5');
    expect(() => parseThrottleBpsDevice('--device-read-bps', 'sda:5')).toThrow('bad format for device path: sda:5');
  });

  it('finds the devices by their numbers at a start, refusing a missing path and one that is no block device', async () => {
    expect(await ociBlockIO(undefined)).toBeUndefined();
    expect(await ociBlockIO({})).toBeUndefined();
    await expect(ociBlockIO({ readBps: [{ path: '/dev/nosuch-disk', rate: 1 }] })).rejects.toThrow('stat /dev/nosuch-disk: no such file or directory');
    await expect(ociBlockIO({ writeIOps: [{ path: '/dev/null', rate: 5 }] })).rejects.toThrow('failed to write "1:3 5": write blkio.throttle.write_iops_device: no such device');
    const loop = statSync('/dev/loop0', { throwIfNoEntry: false });
    if (loop?.isBlockDevice() === true) {
      expect(await ociBlockIO({ readBps: [{ path: '/dev/loop0', rate: 2048 }], weightDevice: [{ path: '/dev/loop0', weight: 300 }] })).toEqual({
        weightDevice: [{ major: 7, minor: 0, weight: 300 }],
        throttleReadBpsDevice: [{ major: 7, minor: 0, rate: 2048 }],
      });
    }
  });

  it("puts them in linux.resources.blockIO beside the weight, none rootless", () => {
    const blockIO = { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }], throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 7 }] };
    const base = { args: ['true'], rootfs: '/tmp/rootfs' };
    const resources = (spec: Parameters<typeof generateConfig>[0]): unknown => (generateConfig(spec).linux as { resources?: unknown }).resources;
    expect(resources({ ...base, blockIO, blkioWeight: 300 })).toEqual({ blockIO: { weight: 300, ...blockIO } });
    expect(resources({ ...base, blockIO })).toEqual({ blockIO });
    expect(resources({ ...base, blockIO, rootless: true })).toBeUndefined();
  });
});
