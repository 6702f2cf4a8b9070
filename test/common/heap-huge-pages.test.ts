/**
 * adviseHeapHugePages: the heap the commands that stream layers grow into is backed by
 * transparent huge pages, once per process. Each check runs in a child process of its own, since
 * the advice changes that process's allocator for good.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const thpSetting = '/sys/kernel/mm/transparent_hugepage/enabled';
const addon = new URL('../../native/build/tsbuild-fs.node', import.meta.url).pathname;

/** Runs `body` in a fresh Node with the addon as `addon`; returns what it prints as JSON. */
function inChild(body: string): unknown {
  const script = `const addon = require(${JSON.stringify(addon)});\n${body}`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as unknown;
}

describe('adviseHeapHugePages', () => {
  it('grows the heap by the reserve, advises it for huge pages, and does it once', () => {
    const result = inChild(`
      const first = addon.adviseHeapHugePages(32 * 1024 * 1024);
      const second = addon.adviseHeapHugePages(32 * 1024 * 1024);
      const advisedAreas = require('fs').readFileSync('/proc/self/smaps', 'utf8').split(/\\n(?=[0-9a-f]+-[0-9a-f]+ )/)
        .filter((area) => /^VmFlags:.*\\bhg\\b/m.test(area))
        .map((area) => { const [start, end] = area.split(' ')[0].split('-').map((hex) => parseInt(hex, 16)); return end - start; });
      console.log(JSON.stringify({ first, second, advisedAreas }));
    `) as { first: number; second: number; advisedAreas: number[] };
    if (!existsSync(thpSetting)) {
      // A kernel without THP refuses the advice: nothing is advised, nothing breaks.
      expect(result.first).toBe(0);
      return;
    }
    expect(result.first).toBeGreaterThanOrEqual(32 * 1024 * 1024);
    expect(result.second).toBe(0);
    expect(result.advisedAreas.some((size) => size >= result.first)).toBe(true);
  });

  it('has 64 MiB of 64 KiB buffers fault in far fewer pages than one per 4 KiB, where the kernel gives huge pages', () => {
    const thp = existsSync(thpSetting) ? readFileSync(thpSetting, 'utf8') : '[never]';
    // Where the kernel never gives huge pages, the advice changes nothing to measure.
    if (thp.includes('[never]')) return;
    // As a download does: a fresh buffer for every read, none freed yet. The kernel may still
    // have no free huge page at the moment (memory fragmented by other work): the faults are
    // then counted only with the huge pages the advised area did get.
    const run = (advise: boolean): { faults: number; hugeKb: number } =>
      inChild(`
        ${advise ? 'addon.adviseHeapHugePages(96 * 1024 * 1024);' : ''}
        const before = process.resourceUsage().minorPageFault;
        const kept = [];
        for (let i = 0; i < 1024; i++) kept.push(Buffer.allocUnsafeSlow(65536).fill(1));
        const faults = process.resourceUsage().minorPageFault - before;
        const hugeKb = require('fs').readFileSync('/proc/self/smaps', 'utf8').split(/\\n(?=[0-9a-f]+-[0-9a-f]+ )/)
          .filter((area) => /^VmFlags:.*\\bhg\\b/m.test(area))
          .reduce((sum, area) => sum + Number(/^AnonHugePages:\\s+(\\d+)/m.exec(area)?.[1] ?? 0), 0);
        console.log(JSON.stringify({ faults, hugeKb }));
      `) as { faults: number; hugeKb: number };
    const pages = (64 * 1024 * 1024) / 4096;
    expect(run(false).faults).toBeGreaterThan(pages / 2);
    const advised = run(true);
    if (advised.hugeKb >= 32 * 1024) expect(advised.faults).toBeLessThan(pages / 8);
    else expect(advised.faults).toBeLessThan(pages * 2);
  });

  it('refuses a reserve that is not a size', () => {
    expect(() => inChild(`addon.adviseHeapHugePages(-1)`)).toThrow(/reserveBytes/);
  });
});
