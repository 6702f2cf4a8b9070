import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { pull, push, type RegistryClient } from '../../src/registry/index.js';
import { openStore } from '../../src/store/index.js';
import { busyboxImage, type BusyboxImage } from '../helpers/busybox-image.js';
import { useRegistryFixture } from '../helpers/registry-fixture.js';
import { validateLayout } from '../helpers/validate.js';

const fixture = useRegistryFixture({ prefix: 'tsbuild-busybox-push-' });
let base: BusyboxImage;
let sourceRoot: string;

const newClient = (): RegistryClient => fixture.client();

beforeAll(async () => {
  sourceRoot = join(fixture.scratch, 'source');
  base = await busyboxImage(await openStore({ root: sourceRoot }), `${fixture.registry.host}/base/busybox:1`);
});

describe('the busybox base image through a registry', () => {
  it('pushes, and pulls into a fresh root that validates, with equal digests', async () => {
    const pushed = await push({ source: base.name, store: await openStore({ root: sourceRoot }), client: newClient() });
    expect(pushed.digest).toBe(base.descriptor.digest);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${fixture.registry.host}/base/busybox:1`], { encoding: 'utf8' })) as { Digest: string; Os: string };
    expect(inspected.Digest).toBe(base.descriptor.digest);
    expect(inspected.Os).toBe('linux');

    const store = await fixture.freshStore();
    const pulled = await pull({ reference: `${fixture.registry.host}/base/busybox:1`, store, client: newClient() });
    expect(pulled.manifest.digest).toBe(base.descriptor.digest);
    expect(await validateLayout(store.root)).toMatchObject({ images: 1 });
  });

  it('pulls by digest and names the image by that digest', async () => {
    const store = await fixture.freshStore();
    const reference = `${fixture.registry.host}/base/busybox@${base.descriptor.digest}`;
    const pulled = await pull({ reference, store, client: newClient() });
    expect(pulled.reference).toBe(reference);
    expect(await store.resolveReference(reference)).toMatchObject({ digest: base.descriptor.digest });
  });
});
