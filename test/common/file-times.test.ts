import { lstatSync, lutimesSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { utimesTime } from '../../src/common/index.js';

describe('utimesTime', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbuild-file-times-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sets times before 1970 as they are, where a negative number would set the current time', () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    utimesSync(file, -60, -60);
    expect(lstatSync(file).mtimeMs).toBeGreaterThan(0);
    utimesSync(file, utimesTime(-60), utimesTime(-86400.5));
    expect(lstatSync(file, { bigint: true }).mtimeNs).toBe(-86400_500_000_000n);
    expect(lstatSync(file).atimeMs).toBe(-60_000);
    const link = join(dir, 'link');
    symlinkSync('file', link);
    lutimesSync(link, utimesTime(-1), utimesTime(-1));
    expect(lstatSync(link).mtimeMs).toBe(-1000);
  });

  it('leaves the epoch and later times as numbers', () => {
    expect(utimesTime(0)).toBe(0);
    expect(utimesTime(1.5)).toBe(1.5);
    expect(utimesTime(-0.25)).toBe('-0.25');
  });
});
