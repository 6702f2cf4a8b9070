import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/common/index.js';
import { RegistryClient, openRemoteBlob, pull, push, pushArtifactBlobs, type RegistryClientOptions } from '../../src/registry/index.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startRegistry, stopChild, type TestRegistry } from '../helpers/registry.js';
import { validateLayout } from '../helpers/validate.js';
import { writeRandomImage, type RandomImage } from '../helpers/registry-image.js';
import { openStore, type Store } from '../../src/store/index.js';

let registry: TestRegistry;
let proxy: FaultProxy;
let scratch: string;
let image: RandomImage;
const clients: RegistryClient[] = [];

function newClient(options: RegistryClientOptions = {}): RegistryClient {
  const client = new RegistryClient({ credentials: () => Promise.resolve(undefined), retry: { baseDelayMs: 5, maxDelayMs: 20 }, ...options });
  clients.push(client);
  return client;
}

async function freshStore(): Promise<Store> {
  return openStore({ root: await mkdtemp(join(scratch, 'root-')) });
}

const layerPath = (digest: Digest | undefined): RegExp => new RegExp(`/blobs/${digest ?? 'none'}$`);

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tsbuild-faults-'));
  registry = await startRegistry();
  proxy = await startFaultProxy({ target: registry.url });
  const store = await freshStore();
  image = await writeRandomImage(store, { name: `${registry.host}/faults/app:1`, layerSizes: [1_500_000, 300_000] });
  await push({ source: `${registry.host}/faults/app:1`, store, client: newClient() });
});

afterEach(() => {
  proxy.faults.length = 0;
  proxy.requests.length = 0;
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await proxy.stop();
  await registry.stop();
  await rm(scratch, { recursive: true, force: true });
});

const reference = (): string => `${proxy.host}/faults/app:1`;

async function expectComplete(store: Store): Promise<void> {
  expect(await store.resolveReference(reference())).toMatchObject({ digest: image.manifest.digest });
  for (const blob of [image.config, ...image.layers]) {
    expect((await store.readBlob(blob.digest, 4 << 20)).length).toBe(blob.size);
  }
  await validateLayout(store.root);
}

describe('pull through faults', () => {
  it('retries 500, 503 and 429 on manifests and blobs', async () => {
    proxy.add(
      { method: 'GET', path: /\/manifests\//, action: { kind: 'status', status: 503 } },
      { method: 'GET', path: layerPath(image.layers[0]?.digest), action: { kind: 'status', status: 500 }, times: 2 },
      { method: 'GET', path: layerPath(image.layers[1]?.digest), action: { kind: 'status', status: 429, retryAfter: '0' } },
    );
    const store = await freshStore();
    await pull({ reference: reference(), store, client: newClient() });
    await expectComplete(store);
    expect(proxy.requests.filter((entry) => entry.fault === 'status')).toHaveLength(4);
    expect(proxy.requests.every((entry) => entry.headers['user-agent'] === 'tsbuild')).toBe(true);
  });

  it('retries dropped connections', async () => {
    proxy.add(
      { method: 'GET', path: /\/v2\/$/, action: { kind: 'drop' } },
      { method: 'GET', path: layerPath(image.layers[0]?.digest), action: { kind: 'drop' }, times: 2 },
    );
    const store = await freshStore();
    await pull({ reference: reference(), store, client: newClient() });
    await expectComplete(store);
  });

  it('closes the blob it was sending when the upload request fails, and sends it again', async () => {
    const store = await freshStore();
    const blob = await store.putBlob(Readable.from([randomBytes(16 * 1024 * 1024)]));
    const descriptor = { mediaType: 'application/octet-stream', digest: blob.digest, size: blob.size };
    const opened: Readable[] = [];
    proxy.add({ method: 'PUT', path: /\/blobs\/uploads\//, action: { kind: 'drop' } });
    await pushArtifactBlobs({
      client: newClient(),
      destination: `${proxy.host}/faults/artifact:1`,
      blobs: [{ descriptor, open: async () => opened[opened.push(await store.openBlob(blob.digest, { verify: false })) - 1] as Readable }],
    });
    expect(proxy.requests.filter((request) => request.fault === 'drop')).toHaveLength(1);
    expect(opened).toHaveLength(2);
    // The first one's request failed before its body was read: its file must not stay open.
    expect(opened.map((stream) => stream.destroyed)).toEqual([true, true]);
  });

  it('resumes a truncated download with a Range request', async () => {
    proxy.add({ method: 'GET', path: layerPath(image.layers[0]?.digest), action: { kind: 'truncate', bytes: 600_000 } });
    const store = await freshStore();
    await pull({ reference: reference(), store, client: newClient() });
    await expectComplete(store);
    const gets = proxy.requests.filter((entry) => entry.method === 'GET' && layerPath(image.layers[0]?.digest).test(entry.path));
    expect(gets).toHaveLength(2);
    expect(gets[1]?.headers.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/bytes=(\d+)-/.exec(String(gets[1]?.headers.range))?.[1])).toBeGreaterThan(0);
  });

  it('gives up on a stalled body after the body timeout and resumes', async () => {
    proxy.add({ method: 'GET', path: layerPath(image.layers[0]?.digest), action: { kind: 'stall', bytes: 100_000 } });
    const store = await freshStore();
    await pull({ reference: reference(), store, client: newClient({ timeouts: { bodyMs: 300 } }) });
    await expectComplete(store);
    const gets = proxy.requests.filter((entry) => entry.method === 'GET' && layerPath(image.layers[0]?.digest).test(entry.path));
    expect(gets.length).toBeGreaterThanOrEqual(2);
  });

  it('fails with DIGEST_MISMATCH on corrupt content and references nothing', async () => {
    proxy.add({ method: 'GET', path: layerPath(image.layers[0]?.digest), action: { kind: 'corrupt' }, times: 10 });
    const store = await freshStore();
    const error = await pull({ reference: reference(), store, client: newClient() }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect((error as Error).message).toContain(image.layers[0]?.digest);
    expect((error as Error).message).toContain(`${proxy.host}/faults/app`);
    expect(await store.resolveReference(reference())).toBeUndefined();
    expect(await store.hasBlob(image.layers[0]?.digest as Digest)).toBe(false);
    expect(await store.hasBlob(image.manifest.digest)).toBe(false);
    await validateLayout(store.root);
  });

  it('fails a remote blob stream at its end when the content is not its digest', async () => {
    const digest = image.layers[1]?.digest as Digest;
    const read = async (): Promise<number> => {
      let total = 0;
      for await (const chunk of await openRemoteBlob({ client: newClient(), reference: reference(), digest })) total += (chunk as Buffer).length;
      return total;
    };
    expect(await read()).toBe(image.layers[1]?.size);
    proxy.add({ method: 'GET', path: layerPath(digest), action: { kind: 'corrupt' } });
    await expect(read()).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });

  it('rejects a manifest whose content does not match the digest asked for', async () => {
    proxy.add({ method: 'GET', path: /\/manifests\//, action: { kind: 'corrupt' }, times: 10 });
    const store = await freshStore();
    const error = await pull({ reference: `${proxy.host}/faults/app@${image.manifest.digest}`, store, client: newClient() }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect((error as Error).message).toContain(image.manifest.digest);
    expect(await store.listReferences()).toEqual([]);
  });

  it('fails clearly once retries are exhausted', async () => {
    proxy.add({ method: 'GET', path: layerPath(image.layers[1]?.digest), action: { kind: 'status', status: 503 }, times: 100 });
    const store = await freshStore();
    const error = await pull({ reference: reference(), store, client: newClient({ retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 } }) }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'REGISTRY', temporary: true });
    expect((error as Error).message).toMatch(/returned 503: UNAVAILABLE: injected 503/);
    expect(await store.resolveReference(reference())).toBeUndefined();
  });

  it('resumes a pull whose process was killed', async () => {
    proxy.add({ method: 'GET', path: layerPath(image.layers[0]?.digest), action: { kind: 'stall', bytes: 700_000 } });
    const root = await mkdtemp(join(scratch, 'killed-'));
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../helpers/registry-pull-child.ts'), root, reference()], { stdio: 'ignore' });
    const ingestFile = join(root, 'ingest', `sha256-${image.layers[0]?.digest.slice('sha256:'.length) ?? ''}.data`);
    let held = 0;
    for (let i = 0; i < 200 && held < 700_000; i++) {
      await sleep(50);
      held = await stat(ingestFile).then((info) => info.size, () => 0);
    }
    await stopChild(child);
    expect(held).toBe(700_000);
    proxy.requests.length = 0;

    const store = await openStore({ root });
    await pull({ reference: reference(), store, client: newClient() });
    await expectComplete(store);
    const resumed = proxy.requests.find((entry) => entry.method === 'GET' && layerPath(image.layers[0]?.digest).test(entry.path));
    expect(resumed?.headers.range).toBe('bytes=700000-');
    // The partial download became the blob; a lock the killed process held may stay for the store's prune.
    const left = await readdir(join(root, 'ingest'));
    expect(left.filter((name) => !name.endsWith('.lock')), JSON.stringify(left)).toEqual([]);
  });
});

describe('what the registry says', () => {
  it('rejects a manifest served with a Content-Type other than its own media type', async () => {
    proxy.add({ method: 'GET', path: /\/manifests\//, action: { kind: 'headers', headers: { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' } } });
    const store = await freshStore();
    const error = await pull({ reference: reference(), store, client: newClient() }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'INVALID_MEDIA_TYPE' });
    expect((error as Error).message).toContain(reference());
    expect(await store.listReferences()).toEqual([]);
  });

  it('follows relative upload Locations verbatim', async () => {
    const store = await freshStore();
    await writeRandomImage(store, { name: `${proxy.host}/faults/relative:1`, layerSizes: [1_200_000, 5000] });
    proxy.add({ path: /\/blobs\/uploads\//, action: { kind: 'relativeLocation' }, times: 100 });
    const result = await push({ source: `${proxy.host}/faults/relative:1`, store, client: newClient(), monolithicMaxBytes: 100_000, chunkBytes: 500_000 });
    expect(result.blobsUploaded).toBe(3);
    const rewritten = proxy.requests.filter((entry) => entry.fault === 'relativeLocation' && entry.method === 'POST');
    expect(rewritten.length).toBeGreaterThanOrEqual(3);
    // Every PATCH and PUT went to a URL the registry handed out, its _state included.
    const uploads = proxy.requests.filter((entry) => (entry.method === 'PATCH' || entry.method === 'PUT') && entry.path.includes('/blobs/uploads/'));
    expect(uploads.length).toBeGreaterThanOrEqual(5);
    for (const upload of uploads) expect(upload.path).toMatch(/[?&]_state=/);
    const check = await pull({ reference: `${proxy.host}/faults/relative:1`, store: await freshStore(), client: newClient() });
    expect(check.digest).toBe(result.digest);
  });
});

describe('push through faults', () => {
  it('resumes a chunked upload where the registry says it stands', async () => {
    const store = await freshStore();
    const pushed = await writeRandomImage(store, { name: `${proxy.host}/faults/resumed:1`, layerSizes: [2_000_000] });
    const layer = pushed.layers[0]?.digest as Digest;
    let patches = 0;
    // The second chunk fails with a 500, the third loses its connection.
    proxy.add({
      method: 'PATCH',
      path: /\/blobs\/uploads\//,
      get action() {
        patches++;
        return patches === 2 ? { kind: 'status' as const, status: 500 } : patches === 3 ? { kind: 'drop' as const } : { kind: 'headers' as const, headers: {} };
      },
      times: 100,
    });
    const result = await push({ source: `${proxy.host}/faults/resumed:1`, store, client: newClient(), monolithicMaxBytes: 100_000, chunkBytes: 500_000, concurrency: 1 });
    expect(result.blobsUploaded).toBe(2);
    const layerPosts = proxy.requests.filter((entry) => entry.method === 'POST');
    // One upload session per blob: the failed chunks were sent again in it, not in a new one.
    expect(layerPosts).toHaveLength(2);
    expect(proxy.requests.filter((entry) => entry.method === 'GET' && entry.path.includes('/blobs/uploads/')).length).toBe(2);
    const check = await freshStore();
    await pull({ reference: `${proxy.host}/faults/resumed:1`, store: check, client: newClient() });
    expect((await check.readBlob(layer, 4 << 20)).length).toBe(pushed.layers[0]?.size);
  });

  it('completes through errors on upload, chunk and manifest requests', async () => {
    const store = await freshStore();
    const pushed = await writeRandomImage(store, { name: `${proxy.host}/faults/pushed:1`, layerSizes: [2_500_000, 10_000] });
    proxy.add(
      { method: 'POST', path: /\/blobs\/uploads\/$/, action: { kind: 'status', status: 503 } },
      { method: 'PATCH', path: /\/blobs\/uploads\//, action: { kind: 'status', status: 500 } },
      { method: 'PUT', path: /\/blobs\/uploads\//, action: { kind: 'drop' } },
      { method: 'PUT', path: /\/manifests\//, action: { kind: 'status', status: 502 } },
      { method: 'POST', path: /\/blobs\/uploads\/$/, action: { kind: 'headers', headers: { 'oci-chunk-min-length': '1200000' } }, times: 20 },
    );
    const result = await push({ source: `${proxy.host}/faults/pushed:1`, store, client: newClient(), monolithicMaxBytes: 500_000, chunkBytes: 400_000, concurrency: 1 });
    expect(result.digest).toBe(pushed.manifest.digest);
    // OCI-Chunk-Min-Length raised the chunk size from 400 000 bytes.
    const patches = proxy.requests.filter((entry) => entry.method === 'PATCH' && entry.fault === undefined);
    expect(patches.length).toBeGreaterThan(0);
    for (const patch of patches.slice(0, -1)) expect(patch.bodyBytes).toBeGreaterThanOrEqual(1_200_000);

    const check = await freshStore();
    const pulled = await pull({ reference: `${proxy.host}/faults/pushed:1`, store: check, client: newClient() });
    expect(pulled.digest).toBe(pushed.manifest.digest);
    expect((await check.readBlob(pushed.layers[0]?.digest as Digest, 4 << 20)).length).toBe(pushed.layers[0]?.size);
  });
});
