import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { batches, nextChunk } from '../../src/registry/pull.js';

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

describe('batches', () => {
  async function drain(body: Readable): Promise<number> {
    let size = 0;
    for await (const batch of batches(body)) size += batch.size;
    return size;
  }

  it('batches what arrives until the end', async () => {
    const body = new Readable({ read() {} });
    const done = drain(body);
    body.push(Buffer.alloc(1000));
    setTimeout(() => {
      body.push(Buffer.alloc(500));
      body.push(null);
    }, 5);
    expect(await done).toBe(1500);
  });

  it('fails, and does not hang, on a body that broke before it was read', { timeout: 2000 }, async () => {
    const errored = new Readable({ read() {} });
    errored.on('error', () => undefined);
    errored.push(Buffer.alloc(10));
    errored.destroy(new Error('connection reset'));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(drain(errored)).rejects.toThrow('connection reset');
    const closed = new Readable({ read() {} });
    closed.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    await expect(drain(closed)).rejects.toMatchObject({ code: 'REGISTRY', temporary: true });
  });

  it('fails on a body that breaks while it is awaited', { timeout: 2000 }, async () => {
    const body = new Readable({ read() {} });
    const done = drain(body);
    body.push(Buffer.alloc(10));
    setTimeout(() => body.destroy(new Error('truncated')), 5);
    await expect(done).rejects.toThrow('truncated');
  });

  it('keeps an error between two batches from ending the process, and reports it', { timeout: 2000 }, async () => {
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(10));
    const iterator = batches(body);
    expect((await iterator.next()).value?.size).toBe(10);
    // The consumer is busy (writing the batch) when the connection breaks.
    body.destroy(new Error('reset while writing'));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(iterator.next()).rejects.toThrow('reset while writing');
  });
});
