import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, pull, push } from '../../src/registry/index.js';
import { openStore } from '../../src/store/index.js';
import { busyboxImage, type BusyboxImage } from '../helpers/busybox-image.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { validateLayout } from '../helpers/validate.js';

let registry: TestRegistry;
let scratch: string;
let base: BusyboxImage;
let sourceRoot: string;
const clients: RegistryClient[] = [];

function newClient(): RegistryClient {
  const client = new RegistryClient({ credentials: () => Promise.resolve(undefined) });
  clients.push(client);
  return client;
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tsbuild-busybox-push-'));
  registry = await startRegistry();
  sourceRoot = join(scratch, 'source');
  base = await busyboxImage(await openStore({ root: sourceRoot }), `${registry.host}/base/busybox:1`);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await registry.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe('the busybox base image through a registry', () => {
  it('pushes, and pulls into a fresh root that validates, with equal digests', async () => {
    const pushed = await push({ source: base.name, store: await openStore({ root: sourceRoot }), client: newClient() });
    expect(pushed.digest).toBe(base.descriptor.digest);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/base/busybox:1`], { encoding: 'utf8' })) as { Digest: string; Os: string };
    expect(inspected.Digest).toBe(base.descriptor.digest);
    expect(inspected.Os).toBe('linux');

    const root = join(scratch, 'pulled');
    const pulled = await pull({ reference: `${registry.host}/base/busybox:1`, store: await openStore({ root }), client: newClient() });
    expect(pulled.manifest.digest).toBe(base.descriptor.digest);
    expect(await validateLayout(root)).toMatchObject({ images: 1 });
  });

  it('pulls by digest and names the image by that digest', async () => {
    const root = join(scratch, 'by-digest');
    const store = await openStore({ root });
    const reference = `${registry.host}/base/busybox@${base.descriptor.digest}`;
    const pulled = await pull({ reference, store, client: newClient() });
    expect(pulled.reference).toBe(reference);
    expect(await store.resolveReference(reference)).toMatchObject({ digest: base.descriptor.digest });
    await validateLayout(root);
  });
});
