/**
 * A RUN that prints without end (containerd CVE-2022-31030's class: a process's output held by
 * the host side): what a step prints is clipped as BuildKit clips it, 200 KiB for each second
 * and 2 MiB in all for each stream, with BuildKit's words where the clipping begins; the rest
 * is dropped, so neither the printer nor a step held back keeps it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StepLogLimit, stepLogMaxBytes, stepLogMaxBytesPerSecond } from '../../src/executor/progress.js';
import { buildFixture, type BuildFixture } from '../helpers/build.js';

const isRoot = process.getuid?.() === 0;

describe('a step that prints without end', () => {
  it('passes 200 KiB for each second begun and 2 MiB in all, saying once where it clips', () => {
    let now = 1000;
    const limit = new StepLogLimit(1000, () => now);
    const chunk = Buffer.alloc(64 * 1024, 0x79);
    // The first second: 200 KiB of 64 KiB writes, then the clipping said once, then nothing.
    const first = [0, 1, 2, 3, 4, 5].map(() => limit.take(chunk).toString());
    expect(first.slice(0, 3).every((text) => text.length === chunk.length)).toBe(true);
    expect(first[3]).toBe(`${'y'.repeat(stepLogMaxBytesPerSecond - 3 * chunk.length)}\n[output clipped, log limit 200KiB/s reached]\n`);
    expect(first.slice(4)).toEqual(['', '']);
    // Every byte offered counts: 384 KiB offered, so the second second has 16 KiB left.
    now = 1500 + 1000;
    expect(limit.take(Buffer.from('later\n')).toString()).toBe('later\n');

    // A stream that keeps under the speed is clipped at 2 MiB, and stays clipped.
    now = 0;
    const slow = new StepLogLimit(0, () => now);
    let shown = 0;
    let messages = 0;
    for (let second = 0; second < 30; second++) {
      now = second * 1000 + 1;
      const out = slow.take(Buffer.alloc(100 * 1024, 0x7a)).toString();
      shown += out.replace(/\n\[output clipped, log limit [^\]]*\]\n/, '').length;
      if (out.includes('[output clipped, log limit 2MiB reached]')) messages++;
    }
    expect(shown).toBe(stepLogMaxBytes);
    expect(messages).toBe(1);
  });

  describe.runIf(isRoot)('in a build', () => {
    let fx: BuildFixture;

    beforeAll(async () => {
      fx = await buildFixture();
    }, 120_000);

    afterAll(async () => {
      await fx.cleanup();
    });

    it("shows about 200 KiB of a flood of 5 MB, clipped in BuildKit's words, and the lines after a pause", async () => {
      const dir = await fx.context('flood', {
        Dockerfile: ['FROM busybox', 'RUN yes | head -c 5000000; sleep 2; echo after-the-pause'].join('\n'),
      });
      const result = await fx.build([dir]);
      expect(result.status).toBe(0);
      const lines = result.stderr.split('\n');
      const floodLines = lines.filter((line) => / y$/.test(line));
      const flood = floodLines.length;
      expect(flood).toBeGreaterThan(50_000);
      // BuildKit's allowance grows by 200 KiB each second of the step: a machine slow enough
      // to take more than a second over the flood shows a window more (2-byte lines).
      const floodSeconds = Math.max(...floodLines.map((line) => Number(line.split(' ')[1])));
      expect(flood).toBeLessThanOrEqual(Math.ceil(floodSeconds + 0.25) * (stepLogMaxBytesPerSecond / 2) + 1);
      expect(flood).toBeLessThan(1_000_000);
      expect(lines.filter((line) => line.endsWith('[output clipped, log limit 200KiB/s reached]'))).toHaveLength(1);
      expect(lines.some((line) => line.endsWith(' after-the-pause'))).toBe(true);
    }, 120_000);
  });
});
