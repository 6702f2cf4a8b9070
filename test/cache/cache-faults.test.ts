/**
 * A cache import that lies is a warning naming what lied and a miss, never a wrong image: a
 * truncated or replaced layer, a record claiming another diff ID, a registry answering with
 * damaged bytes or another media type. With SOURCE_DATE_EPOCH a rerun step makes the same layer,
 * so "the right image" is the very image ID the honest build made.
 */
import { cp, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashHex } from '../../src/common/index.js';
import { buildFixture, ranSteps, type BuildFixture } from '../helpers/build.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { haveRegistry, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCliCaptured } from '../helpers/run-cli.js';

const dockerfile = ['FROM busybox', 'RUN echo one > /one', 'COPY a.txt /a.txt', 'RUN cat /a.txt /one > /both', ''].join('\n');
const epoch = ['--build-arg', 'SOURCE_DATE_EPOCH=1700000000'];

interface Layout {
  readonly index: { manifests: { digest: string; size: number; mediaType: string; annotations?: Record<string, string> }[] };
  readonly manifest: { config: { digest: string; size: number; mediaType: string }; layers: { digest: string; size: number }[] };
  readonly document: { layers: { digest: string; diffId: string }[]; records: { key: string; layers: number[] }[] };
}

const blob = (dir: string, digest: string): string => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));

async function readLayout(dir: string): Promise<Layout> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Layout['index'];
  const manifest = JSON.parse(await readFile(blob(dir, index.manifests[0]?.digest ?? ''), 'utf8')) as Layout['manifest'];
  const document = JSON.parse(await readFile(blob(dir, manifest.config.digest), 'utf8')) as Layout['document'];
  return { index, manifest, document };
}

async function writeBlob(dir: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const digest = `sha256:${hashHex('sha256', bytes)}`;
  await writeFile(blob(dir, digest), bytes);
  return { digest, size: bytes.length };
}

/** Rewrites the layout's cache document, and the manifest and index that lead to it. */
async function rewriteDocument(dir: string, change: (document: Layout['document']) => void): Promise<void> {
  const layout = await readLayout(dir);
  change(layout.document);
  const config = await writeBlob(dir, Buffer.from(JSON.stringify(layout.document)));
  const manifest = await writeBlob(dir, Buffer.from(JSON.stringify({ ...layout.manifest, config: { ...layout.manifest.config, ...config } })));
  const entry = layout.index.manifests[0];
  await writeFile(join(dir, 'index.json'), JSON.stringify({ ...layout.index, manifests: [{ ...entry, ...manifest }] }));
}

describe.skipIf(!haveRegistry())('a cache import that lies', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let source: BuildFixture;
  let layoutDir: string;
  let expectedId: string;
  let lastLayer: string;
  const fixtures: BuildFixture[] = [];

  const fresh = async (): Promise<{ fx: BuildFixture; context: string }> => {
    const fx = await buildFixture();
    fixtures.push(fx);
    return { fx, context: await fx.context('ctx', { Dockerfile: dockerfile, 'a.txt': 'alpha\n' }) };
  };
  const iid = async (fx: BuildFixture, args: readonly string[]): Promise<{ ran: string[]; stderr: string; id: string }> => {
    const result = await fx.build([...epoch, '--iidfile', join(fx.dir, 'iid'), ...args]);
    expect(result.status, result.stderr).toBe(0);
    return { ran: ranSteps(result.stderr), stderr: result.stderr, id: await readFile(join(fx.dir, 'iid'), 'utf8') };
  };

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy({ target: registry.url });
    ({ fx: source } = await fresh());
    layoutDir = join(source.dir, 'layout');
    const context = await source.context('ctx', { Dockerfile: dockerfile, 'a.txt': 'alpha\n' });
    const built = await iid(source, ['--cache-to', `type=registry,ref=${registry.host}/c/app:cache,mode=max`, '--cache-to', `type=local,dest=${layoutDir}`, context]);
    expect(built.ran).toHaveLength(3);
    expectedId = built.id;
    lastLayer = (await readLayout(layoutDir)).manifest.layers.at(-1)?.digest ?? '';
  });
  afterAll(async () => {
    await Promise.all([proxy?.stop(), registry?.stop(), ...fixtures.map((fx) => fx.cleanup())]);
  });

  it('an honest layout directory: nothing runs, the same image', async () => {
    const { fx, context } = await fresh();
    const result = await iid(fx, ['--cache-from', `type=local,src=${layoutDir}`, context]);
    expect(result.ran).toEqual([]);
    expect(result.id).toBe(expectedId);
  });

  it('a truncated layer: warned by digest, its step runs again', async () => {
    const dir = join(source.dir, 'truncated');
    await cp(layoutDir, dir, { recursive: true });
    await truncate(blob(dir, lastLayer), 10);
    const { fx, context } = await fresh();
    const result = await iid(fx, ['--cache-from', `type=local,src=${dir}`, context]);
    expect(result.ran).toEqual(['[4/4] RUN cat /a.txt /one > /both']);
    expect(result.stderr).toMatch(new RegExp(`- cache local ${dir}: layer ${lastLayer} not used`));
    expect(result.id).toBe(expectedId);
    expect((await runCliCaptured(['verify', '--root', fx.root])).status).toBe(0);
  });

  it('a layer replaced by other bytes of the same size: warned, run again', async () => {
    const dir = join(source.dir, 'replaced');
    await cp(layoutDir, dir, { recursive: true });
    const bytes = await readFile(blob(dir, lastLayer));
    await writeFile(blob(dir, lastLayer), Buffer.from(bytes.map((byte) => byte ^ 0xff)));
    const { fx, context } = await fresh();
    const result = await iid(fx, ['--cache-from', `type=local,src=${dir}`, context]);
    expect(result.ran).toEqual(['[4/4] RUN cat /a.txt /one > /both']);
    expect(result.stderr).toContain(`layer ${lastLayer} not used`);
    expect(result.id).toBe(expectedId);
  });

  it('a record claiming another diff ID for a real layer: warned, run again', async () => {
    const dir = join(source.dir, 'diffid');
    await cp(layoutDir, dir, { recursive: true });
    await rewriteDocument(dir, (document) => {
      const layer = document.layers.find((entry) => entry.digest === lastLayer);
      if (layer === undefined) throw new Error('no last layer');
      layer.diffId = `sha256:${'0'.repeat(64)}`;
    });
    const { fx, context } = await fresh();
    const result = await iid(fx, ['--cache-from', `type=local,src=${dir}`, context]);
    expect(result.ran).toEqual(['[4/4] RUN cat /a.txt /one > /both']);
    expect(result.stderr).toMatch(/layer sha256:[0-9a-f]{64} not used: its tar (hashes to|does not match the record.s diff ID)/);
    expect(result.id).toBe(expectedId);
  });

  it('a malformed cache document: warned, everything runs', async () => {
    const dir = join(source.dir, 'malformed');
    await cp(layoutDir, dir, { recursive: true });
    await rewriteDocument(dir, (document) => {
      (document.records[0] as { layers: number[] }).layers = [99];
    });
    const { fx, context } = await fresh();
    const result = await iid(fx, ['--cache-from', `type=local,src=${dir}`, context]);
    expect(result.ran).toHaveLength(3);
    expect(result.stderr).toContain(` - cache local ${dir}: not imported`);
    expect(result.stderr).toMatch(new RegExp(`^#(\\d+) importing cache manifest from local:${dir}\n#\\1 ERROR: `, 'm'));
    expect(result.id).toBe(expectedId);
  });

  it.each([
    ['damaged layer bytes', { kind: 'corrupt' }],
    ['a truncated layer', { kind: 'truncate', bytes: 20 }],
  ] as const)('a registry sending %s: warned, run again', async (_what, action) => {
    proxy.add({ method: 'GET', path: new RegExp(`/blobs/${lastLayer}$`), action, times: 20 });
    const { fx, context } = await fresh();
    const result = await iid(fx, ['--cache-from', `type=registry,ref=${proxy.host}/c/app:cache`, context]);
    proxy.faults.length = 0;
    expect(result.ran).toEqual(['[4/4] RUN cat /a.txt /one > /both']);
    expect(result.stderr).toContain(`layer ${lastLayer} not used`);
    expect(result.id).toBe(expectedId);
  });

  it('a registry answering the cache manifest with another media type: warned, everything runs', async () => {
    proxy.add({ method: 'GET', path: /\/manifests\/cache$/, action: { kind: 'headers', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' } }, times: 20 });
    const { fx, context } = await fresh();
    const result = await iid(fx, ['--cache-from', `type=registry,ref=${proxy.host}/c/app:cache`, context]);
    proxy.faults.length = 0;
    expect(result.ran).toHaveLength(3);
    expect(result.stderr).toContain(` - cache registry ${proxy.host}/c/app:cache: not imported`);
    expect(result.id).toBe(expectedId);
  });

  it('fetches the layers of consecutive hits at once, not one step after the other', async () => {
    // Each layer blob answered after 400 ms: one after the other they would never overlap.
    const layers = (await readLayout(layoutDir)).manifest.layers.map((layer) => layer.digest);
    expect(layers.length).toBeGreaterThanOrEqual(3);
    const start = proxy.timings.length;
    for (const digest of layers) proxy.add({ method: 'GET', path: new RegExp(`/blobs/${digest}$`), action: { kind: 'delay', ms: 400 }, times: 5 });
    const { fx, context } = await fresh();
    const result = await iid(fx, ['--cache-from', `type=registry,ref=${proxy.host}/c/app:cache`, context]);
    proxy.faults.length = 0;
    expect(result.ran).toEqual([]);
    expect(result.id).toBe(expectedId);
    const fetched = proxy.timings.slice(start).filter((timing) => timing.method === 'GET' && layers.some((digest) => timing.path.endsWith(digest)));
    const overlapping = fetched.some((one) => fetched.some((other) => other !== one && other.started < (one.finished ?? Infinity) && one.started < (other.finished ?? Infinity)));
    expect(overlapping).toBe(true);
    expect((await runCliCaptured(['verify', '--root', fx.root])).status).toBe(0);
  });

  it('a bad layer found after later steps hit: the build starts again, and only what follows it runs', async () => {
    const { document } = await readLayout(layoutDir);
    // The RUN echo one layer: two hits follow it, given while its bytes were on their way.
    const early = document.layers.find((layer, index) => index > 0 && layer.digest !== lastLayer && document.records.some((record) => record.layers.at(-1) === index))?.digest ?? '';
    expect(early).toMatch(/^sha256:/);
    proxy.add({ method: 'GET', path: new RegExp(`/blobs/${early}$`), action: { kind: 'corrupt' }, times: 20 });
    const { fx, context } = await fresh();
    const result = await iid(fx, ['--cache-from', `type=registry,ref=${proxy.host}/c/app:cache`, context]);
    proxy.faults.length = 0;
    expect(result.stderr).toContain(`layer ${early} not used`);
    // Made again with SOURCE_DATE_EPOCH, its layer is the same: the steps above it hit.
    expect(result.ran).toEqual(['[2/4] RUN echo one > /one']);
    expect(result.id).toBe(expectedId);
    expect((await runCliCaptured(['verify', '--root', fx.root])).status).toBe(0);
  });

  it('an unreachable cache is a warning, not a failed build', async () => {
    const { fx, context } = await fresh();
    const result = await iid(fx, ['--cache-from', `type=local,src=${join(source.dir, 'nothing-here')}`, context]);
    expect(result.ran).toHaveLength(3);
    expect(result.stderr).toContain(' - cache local ');
  });
});
