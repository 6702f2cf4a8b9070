import { closeSync, lstatSync, mkdirSync, openSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeFileName, setExactFdTimes, setExactTimes } from '../../src/common/index.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

describe('setExactTimes', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ path: dir, cleanup } = await temporaryDirectory('tsbuild-file-times-'));
  });
  afterEach(async () => cleanup());

  it('sets nanoseconds and times before 1970, which Node’s utimes loses or takes for now', () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    // What the copier did before: microseconds at most, and a negative time taken for now.
    utimesSync(file, 1.123456789, -60);
    expect(lstatSync(file, { bigint: true }).atimeNs).toBe(1_123_456_000n);
    expect(lstatSync(file).mtimeMs).toBeGreaterThan(0);
    setExactTimes(file, 1_123_456_789n, -59_500_000_001n);
    const stats = lstatSync(file, { bigint: true });
    expect(stats.atimeNs).toBe(1_123_456_789n);
    expect(stats.mtimeNs).toBe(-59_500_000_001n);
  });

  it('sets a symlink’s own times, not its target’s, and takes a name that is not UTF-8', () => {
    const target = join(dir, 'target');
    writeFileSync(target, 'x');
    const link = join(dir, 'link');
    symlinkSync('target', link);
    setExactTimes(link, -1n, -1n);
    expect(lstatSync(link, { bigint: true }).mtimeNs).toBe(-1n);
    expect(lstatSync(target, { bigint: true }).mtimeNs).not.toBe(-1n);
    const odd = join(dir, decodeFileName(Buffer.from('caf\xe9', 'latin1')));
    mkdirSync(Buffer.from(`${dir}/caf\xe9`, 'latin1'));
    setExactTimes(odd, 5n, 7n);
    expect(lstatSync(Buffer.from(`${dir}/caf\xe9`, 'latin1'), { bigint: true }).mtimeNs).toBe(7n);
  });

  it('sets the times of a file held open', () => {
    const file = join(dir, 'open');
    writeFileSync(file, 'x');
    const fd = openSync(file, 'r+');
    try {
      setExactFdTimes(fd, -3n, 1_000_000_001n);
    } finally {
      closeSync(fd);
    }
    const stats = lstatSync(file, { bigint: true });
    expect([stats.atimeNs, stats.mtimeNs]).toEqual([-3n, 1_000_000_001n]);
  });

  it('refuses a time that is not a bigint, and names the path of a failure', () => {
    expect(() => setExactTimes(join(dir, 'file'), 1 as unknown as bigint, 1n)).toThrow(/atimeNs: a bigint/);
    expect(() => setExactTimes(join(dir, 'missing'), 1n, 1n)).toThrow(/utimensat/);
  });
});
