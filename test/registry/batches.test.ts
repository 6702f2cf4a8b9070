import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { batches } from '../../src/registry/pull.js';

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

  it('hands over the chunks as they were pushed, without joining them into a copy', async () => {
    const pushed = [Buffer.from('first chunk'), Buffer.from('second'), Buffer.alloc(70_000, 7)];
    const body = new Readable({ read() {} });
    for (const chunk of pushed) body.push(chunk);
    body.push(null);
    const received: Buffer[] = [];
    for await (const batch of batches(body)) received.push(...batch.chunks);
    expect(received).toHaveLength(3);
    received.forEach((chunk, index) => expect(chunk).toBe(pushed[index]));
  });

  it('yields what arrived before a failure, then fails', { timeout: 2000 }, async () => {
    const body = new Readable({ read() {} });
    const iterator = batches(body);
    const first = iterator.next();
    body.push(Buffer.alloc(100));
    expect((await first).value?.size).toBe(100);
    // The consumer is busy with the first batch: more arrives, then the connection breaks.
    body.push(Buffer.alloc(30));
    await new Promise((resolve) => setImmediate(resolve));
    body.destroy(new Error('reset'));
    await new Promise((resolve) => setImmediate(resolve));
    expect((await iterator.next()).value?.size).toBe(30);
    await expect(iterator.next()).rejects.toThrow('reset');
  });

  it('pauses the body while a full batch waits for the consumer, and resumes it after', { timeout: 2000 }, async () => {
    const body = new Readable({ read() {} });
    const iterator = batches(body);
    const first = iterator.next();
    body.push(Buffer.alloc(10));
    await first;
    // While the consumer writes the first batch, more than a batch's worth arrives.
    for (let index = 0; index < 20; index++) body.push(Buffer.alloc(64 * 1024));
    await new Promise((resolve) => setImmediate(resolve));
    expect(body.isPaused()).toBe(true);
    const second = await iterator.next();
    expect(second.value?.size).toBeGreaterThanOrEqual(1024 * 1024);
    expect(body.isPaused()).toBe(false);
    body.push(null);
    let rest = 0;
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) rest += next.value.size;
    expect((second.value?.size ?? 0) + rest).toBe(20 * 64 * 1024);
  });
});
