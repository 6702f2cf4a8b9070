/**
 * `buildx du` over a real store: the records two builds left, largest first, with buildx's
 * columns and totals, its verbose blocks and json rows, and its refusal of --format with
 * --verbose.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheUsage } from '../../src/cache/index.js';
import { openStore } from '../../src/store/index.js';
import { runCliCaptured as run } from '../helpers/run-cli.js';

describe('buildx du', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbuild-buildx-du-'));
  const root = join(dir, 'root');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists the build cache records as buildx does, then the totals', async () => {
    const context = join(dir, 'context');
    mkdirSync(context);
    writeFileSync(join(context, 'small'), 'x'.repeat(100));
    // Random bytes: a layer's size in the cache is its compressed blob's.
    writeFileSync(join(context, 'large'), randomBytes(50_000));
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nCOPY small /small\nCOPY large /large\n');
    expect((await run(['build', '--root', root, '-q', '-t', 'du', context])).status).toBe(0);

    expect((await cacheUsage(await openStore({ root }))).records).toHaveLength(2);

    const table = await run(['buildx', 'du', '--root', root]);
    expect(table.status).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toMatch(/^ID {2,}RECLAIMABLE {2,}SIZE {2,}LAST ACCESSED$/);
    // Largest first: the layer of 50 kB, then the small one; each shared with the image built.
    const sizes = lines.slice(1, 3).map((line) => line.split(/ {2,}/));
    expect(sizes.map((cells) => cells[1])).toEqual(['true', 'true']);
    expect(sizes[0]?.[2]).toMatch(/^5\d\.\d+kB\*$/);
    expect(sizes[1]?.[2]).toMatch(/^\d+(\.\d+)?(B|kB)\*$/);
    expect(sizes.every((cells) => /^[0-9a-f]{25}$/.test(cells[0] ?? ''))).toBe(true);
    expect(lines.slice(3)).toEqual([
      expect.stringMatching(/^Shared:\t\t\S+$/),
      'Private:\t0B',
      expect.stringMatching(/^Reclaimable:\t\S+$/),
      // Both records' own layers, the large one's 50 kB of random bytes among them.
      expect.stringMatching(/^Total:\t\t5\d(\.\d+)?kB$/),
      '',
    ]);
    expect(lines[6]?.split('\t').at(-1)).toBe(lines[5]?.split('\t').at(-1));

    const verbose = await run(['buildx', 'du', '--root', root, '--verbose']);
    const blocks = verbose.stdout.split('\n\n');
    expect(blocks[0]).toMatch(/^ID: {11}[0-9a-f]{25}\nCreated at: {3}\d{4}-\d\d-\d\d \d\d:\d\d:[\d.]+ \+0000 UTC\nMutable: {6}false\nReclaimable: {2}true\nShared: {7}true\nSize: {9}\S+\nLast used: {4}.+ ago\nType: {9}regular$/);

    const json = await run(['buildx', 'du', '--root', root, '--format', 'json']);
    const rows = json.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows).toHaveLength(2);
    expect(Object.keys(rows[0] ?? {})).toEqual(['CreatedAt', 'ID', 'LastUsedAt', 'Mutable', 'Reclaimable', 'Shared', 'Size', 'Type']);
    // The json rows carry no table marks, and no totals follow them.
    expect(rows.every((row) => !String(row.Size).endsWith('*'))).toBe(true);

    const both = await run(['buildx', 'du', '--root', root, '--verbose', '--format', 'json']);
    expect(both.status).not.toBe(0);
    expect(both.stderr).toContain('--format and --verbose cannot be used together');
  });
});
