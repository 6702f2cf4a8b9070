import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gzipMembers } from '../../src/executor/gzip-members.js';
import { codeOf } from '../helpers/error-code.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await temporaryDirectory();
});
afterEach(async () => dir.cleanup());

async function decoded(bytes: Buffer): Promise<Buffer> {
  const path = join(dir.path, `f-${createHash('sha256').update(bytes).digest('hex').slice(0, 8)}.gz`);
  await writeFile(path, bytes);
  const chunks: Buffer[] = [];
  for await (const chunk of gzipMembers(path)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('gzipMembers', () => {
  // Half random (incompressible), half text: several inflate buffers and read chunks.
  const data = Buffer.concat([randomBytes(700_000), Buffer.from('text line\n'.repeat(100_000))]);

  it('decodes one member, several, and a member header with a name, extra field and comment', async () => {
    expect((await decoded(gzipSync(data))).equals(data)).toBe(true);
    const split = Buffer.concat([gzipSync(data.subarray(0, 300_000)), gzipSync(data.subarray(300_000))]);
    expect((await decoded(split)).equals(data)).toBe(true);
    const member = gzipSync(Buffer.from('named\n'));
    // FLG: FEXTRA | FNAME | FCOMMENT, then the fields in their order before the deflate data.
    const header = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 4 | 8 | 16, 0, 0, 0, 0, 0, 3]), Buffer.from([3, 0, 1, 2, 3]), Buffer.from('name.tar\0'), Buffer.from('a comment\0')]);
    expect((await decoded(Buffer.concat([header, member.subarray(10)]))).toString()).toBe('named\n');
  });

  it('ends at bytes after a member that open no member, as Go decodes no further than it is read', async () => {
    for (const tail of [Buffer.from('SIGNATURE'), Buffer.alloc(600), Buffer.from([0x1f, 0x8b, 9])]) {
      expect((await decoded(Buffer.concat([gzipSync(data), tail]))).equals(data)).toBe(true);
    }
  });

  it('fails on a bad first header, a cut member and a wrong checksum', async () => {
    expect(await codeOf(decoded(Buffer.from('not gzip at all')))).toBe('INVALID_ARCHIVE');
    const whole = gzipSync(data);
    expect(await codeOf(decoded(whole.subarray(0, whole.length - 100_000)))).toBe('INVALID_ARCHIVE');
    expect(await codeOf(decoded(whole.subarray(0, whole.length - 3)))).toBe('INVALID_ARCHIVE');
    const damaged = Buffer.from(whole);
    damaged[damaged.length - 8] = (damaged[damaged.length - 8] ?? 0) ^ 1;
    expect(await codeOf(decoded(damaged))).toBe('INVALID_ARCHIVE');
  });

  it('stops reading when its reader stops early', async () => {
    const path = join(dir.path, 'early.gz');
    await writeFile(path, gzipSync(data));
    for await (const chunk of gzipMembers(path)) {
      expect(chunk.length).toBeGreaterThan(0);
      break;
    }
  });
});
