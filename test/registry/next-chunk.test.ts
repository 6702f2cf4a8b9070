import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { nextChunk } from '../../src/registry/pull.js';

describe('nextChunk', () => {
  it('hands over buffered chunks as they were pushed, without joining them into a copy', () => {
    const pushed = [Buffer.from('first chunk'), Buffer.from('second'), Buffer.alloc(70_000, 7)];
    const body = new Readable({ read() {} });
    for (const chunk of pushed) body.push(chunk);
    // The same objects, in order: no copy (this is what breaks if Node changes the shape of a
    // stream's buffer, and pulls would then silently fall back to copying).
    expect(nextChunk(body)).toBe(pushed[0]);
    expect(nextChunk(body)).toBe(pushed[1]);
    expect(nextChunk(body)).toBe(pushed[2]);
    expect(nextChunk(body)).toBeNull();
    body.push(Buffer.from('later'));
    body.push(null);
    expect(nextChunk(body)?.toString()).toBe('later');
    expect(nextChunk(body)).toBeNull();
  });
});
