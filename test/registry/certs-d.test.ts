/**
 * A registry whose certificate no public CA signed is trusted through its certs.d folder (as
 * docker's /etc/docker/certs.d/HOST:PORT/ca.crt), and only for that host.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, pull, push } from '../../src/registry/index.js';
import { openStore } from '../../src/store/index.js';
import { busyboxImage, type BusyboxImage } from '../helpers/busybox-image.js';
import { makeCertificate, startRegistry, type TestRegistry } from '../helpers/registry.js';

let scratch: string;
let registry: TestRegistry;
let image: BusyboxImage;
let certsDirectory: string;
const clients: RegistryClient[] = [];

function client(certsDirectories: readonly string[]): RegistryClient {
  const made = new RegistryClient({ credentials: () => Promise.resolve(undefined), certsDirectories, retry: { attempts: 1 } });
  clients.push(made);
  return made;
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tsbuild-certs-d-'));
  const certificate = await makeCertificate(scratch, 'private-ca');
  registry = await startRegistry({ tls: certificate });
  image = await busyboxImage(await openStore({ root: join(scratch, 'source') }), 'busybox:latest');
  certsDirectory = join(scratch, 'certs.d');
  await mkdir(join(certsDirectory, registry.host), { recursive: true });
  await writeFile(join(certsDirectory, registry.host, 'ca.crt'), certificate.cert);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await registry.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe('certs.d', () => {
  it('refuses the registry without its CA, and reaches it over HTTPS with the CA of its folder', async () => {
    const target = `${registry.host}/certs/busybox:1`;
    const store = await openStore({ root: join(scratch, 'source') });
    await expect(push({ source: 'busybox:latest', destinations: [target], store, client: client([join(scratch, 'empty')]) })).rejects.toThrow(/certificate/i);
    const pushed = await push({ source: 'busybox:latest', destinations: [target], store, client: client([certsDirectory]) });
    expect(pushed.digest).toBe(image.descriptor.digest);
    const pulled = await pull({ reference: target, store: await openStore({ root: join(scratch, 'pulled') }), client: client([certsDirectory]) });
    expect(pulled.digest).toBe(image.descriptor.digest);
  });
});
