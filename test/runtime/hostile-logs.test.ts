/**
 * A container that writes without end, against what reads its log (`logs`, `logs -f`,
 * `start -a`): containerd CVE-2022-31030's class, a process's output held whole in memory by the
 * host side. The log is read a chunk at a time and handed on as it is read, `--tail` keeps only
 * the lines it shows, and a read without `--follow` stops where the log ended when it started,
 * however fast the container goes on writing.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLog, type LogEntry } from '../../src/runtime/container-log.js';

// The collector, to count what is held rather than what is garbage not yet collected.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsbuild-hostile-logs-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** COUNT json-file lines of a one-character output each, as `yes` would leave them. */
function lines(count: number, from = 0): string {
  const parts: string[] = [];
  for (let index = from; index < from + count; index++) parts.push(`{"log":"${index}\\n","stream":"stdout","time":"2026-01-02T03:04:05.000000000Z"}\n`);
  return parts.join('');
}

function heapUsed(): number {
  collect();
  return process.memoryUsage().heapUsed;
}

describe('the log of a container that writes without end', () => {
  it('hands entries on as it reads them, holding neither the log nor more of it than --tail shows', async () => {
    const path = join(dir, 'big.log');
    const total = 800_000;
    writeFileSync(path, '');
    for (let from = 0; from < total; from += 100_000) appendFileSync(path, lines(100_000, from));

    const before = heapUsed();
    let seen = 0;
    let outOfOrder = 0;
    let heldMidway = 0;
    for await (const entry of readLog(path)) {
      if (seen === total / 2) heldMidway = heapUsed() - before;
      if (entry.log !== `${seen}\n`) outOfOrder++;
      seen++;
    }
    expect(seen).toBe(total);
    expect(outOfOrder).toBe(0);
    // 400,000 entries held would be some 90 MB.
    expect(heldMidway).toBeLessThan(32 * 1024 * 1024);

    const last: LogEntry[] = [];
    for await (const entry of readLog(path, { tail: 3 })) last.push(entry);
    expect(last.map((entry) => entry.log)).toEqual([`${total - 3}\n`, `${total - 2}\n`, `${total - 1}\n`]);
    let none = 0;
    for await (const _entry of readLog(path, { tail: 0 })) none++;
    expect(none).toBe(0);
  });

  it('stops a read without --follow where the log ended when it started, while the container goes on writing', async () => {
    const path = join(dir, 'growing.log');
    const initial = 200_000;
    writeFileSync(path, lines(initial));
    // The container: a hundred lines more at every turn of the event loop (several turns to
    // each read of the log: faster than they are read), from the read's first entry (the read
    // has taken the log's size by then: a loaded machine's slow open and stat could otherwise let
    // every append land before it) as long as the read lasts, bounded should the read never end.
    let appended = 0;
    let reading = true;
    const chunk = lines(100, initial);
    const write = (): void => {
      if (!reading || appended >= 2000) return;
      appendFileSync(path, chunk);
      appended++;
      setImmediate(write);
    };
    let seen = 0;
    try {
      for await (const entry of readLog(path)) {
        expect(entry.stream).toBe('stdout');
        if (seen === 0) setImmediate(write);
        seen++;
      }
    } finally {
      reading = false;
    }
    // It ended with what was there when it started, not with all the container wrote while it read.
    expect(appended).toBeGreaterThan(0);
    expect(seen).toBeGreaterThanOrEqual(initial);
    expect(seen).toBeLessThan(initial + appended * 100);
  });
});
