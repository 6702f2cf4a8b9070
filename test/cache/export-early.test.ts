/**
 * A mode=max registry export pushes each layer a step makes as the step ends, while the later
 * steps run: at the end the export sends what the registry still lacks (the config, the base
 * image's layers, a layer whose push failed meanwhile) and the manifest, and no layer twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture, cachedSteps, ranSteps, type BuildFixture } from '../helpers/build.js';
import { startFaultProxy, type Fault, type FaultProxy } from '../helpers/fault-proxy.js';
import { haveRegistry, startRegistry, type TestRegistry } from '../helpers/registry.js';

describe.skipIf(!haveRegistry())('a registry cache export during the build', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  const fixtures: BuildFixture[] = [];

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy({ target: registry.url });
  });
  afterAll(async () => {
    await Promise.all([proxy?.stop(), registry?.stop(), ...fixtures.map((fx) => fx.cleanup())]);
  });

  /** The digests of the blobs whose uploads completed (the PUT that names the digest), in order. */
  const uploaded = (from: number): string[] =>
    proxy.requests
      .slice(from)
      .filter((request) => request.method === 'PUT' && request.path.includes('/blobs/uploads/'))
      .map((request) => decodeURIComponent(/[?&]digest=([^&]+)/.exec(request.path)?.[1] ?? ''));

  it('the layer of a step that ended is in the registry before the later steps end', async () => {
    const fx = await buildFixture();
    fixtures.push(fx);
    const context = await fx.context('ctx', { Dockerfile: ['FROM busybox', 'RUN echo one > /one', 'RUN sleep 2', ''].join('\n') });
    const from = proxy.timings.length;
    const result = await fx.build(['--cache-to', `type=registry,ref=${proxy.host}/early/slow:cache,mode=max`, context]);
    const ended = Date.now();
    expect(result.status, result.stderr).toBe(0);
    const uploads = proxy.timings.slice(from).filter((timing) => timing.method === 'PUT' && timing.path.includes('/blobs/uploads/'));
    // The first RUN's layer went while `sleep 2` ran; the config (and the base image's layer) at the end.
    expect(uploads.filter((timing) => (timing.finished ?? ended) < ended - 1500).length).toBeGreaterThanOrEqual(1);
  });

  it('a build that ends sends each layer once, then the config and the manifest', async () => {
    const fx = await buildFixture();
    fixtures.push(fx);
    // Two steps that make the same layer: sent once.
    const context = await fx.context('ctx', { Dockerfile: ['FROM busybox', 'RUN echo one > /one', 'RUN echo two > /two', 'RUN rm /two', 'RUN echo two > /two', ''].join('\n') });
    const from = proxy.requests.length;
    const ref = `${proxy.host}/early/done:cache`;
    const result = await fx.build(['--build-arg', 'SOURCE_DATE_EPOCH=1700000000', '--cache-to', `type=registry,ref=${ref},mode=max`, context]);
    expect(result.status, result.stderr).toBe(0);
    const pushed = uploaded(from);
    expect(pushed.length).toBeGreaterThan(0);
    expect(new Set(pushed).size).toBe(pushed.length);
    const manifest = (await (await fetch(`${registry.url}/v2/early/done/manifests/cache`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json()) as { config: { digest: string }; layers: { digest: string }[] };
    // The base image's layer, the four steps' three distinct layers, and the config, each once.
    expect(manifest.layers).toHaveLength(4);
    expect(pushed.sort()).toEqual([manifest.config.digest, ...manifest.layers.map((layer) => layer.digest)].sort());
  });

  it('a layer whose push failed during the build is sent at the end: a fresh root hits every step', async () => {
    const fx = await buildFixture();
    fixtures.push(fx);
    const dockerfile = ['FROM busybox', 'RUN echo one > /one', 'RUN sleep 1', 'RUN echo two > /two', ''].join('\n');
    const context = await fx.context('ctx', { Dockerfile: dockerfile });
    const ref = `${proxy.host}/early/refused:cache`;
    // The first upload is refused for good (400 is not retried): the first RUN's layer, while `sleep 1` runs.
    proxy.add({ method: 'PUT', path: /^\/v2\/early\/refused\/blobs\/uploads\//, action: { kind: 'status', status: 400 } });
    const from = proxy.requests.length;
    const result = await fx.build(['--cache-to', `type=registry,ref=${ref},mode=max`, context]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('WARNING');
    const refused = proxy.requests.slice(from).filter((request) => request.fault === 'status');
    expect(refused).toHaveLength(1);
    const digest = decodeURIComponent(/[?&]digest=([^&]+)/.exec(refused[0]?.path ?? '')?.[1] ?? '');
    expect(uploaded(from)).toContain(digest);

    const other = await buildFixture();
    fixtures.push(other);
    const imported = await other.build(['--cache-from', `type=registry,ref=${ref}`, await other.context('ctx', { Dockerfile: dockerfile })]);
    expect(imported.status, imported.stderr).toBe(0);
    expect(ranSteps(imported.stderr)).toEqual([]);
    expect(cachedSteps(imported.stderr)).toHaveLength(3);
    expect(imported.stderr).not.toContain('WARNING');
  });

  it('a layer push that keeps failing fails the export, and is a warning with ignore-error=true', async () => {
    const fx = await buildFixture();
    fixtures.push(fx);
    const context = await fx.context('ctx', { Dockerfile: ['FROM busybox', 'RUN echo one > /one', 'RUN echo two > /two', ''].join('\n') });
    const ref = `${proxy.host}/early/broken:cache`;
    const refusing: Fault = { method: 'PUT', path: /^\/v2\/early\/broken\/blobs\/uploads\//, action: { kind: 'status', status: 400 }, times: 1000 };
    proxy.add(refusing);
    try {
      const failed = await fx.build(['--cache-to', `type=registry,ref=${ref},mode=max`, context]);
      expect(failed.status).not.toBe(0);
      expect(failed.stderr).toMatch(/^#(\d+) exporting cache to registry\n(#\1 .*\n)*#\1 ERROR: .*400/m);
      const ignored = await fx.build(['--cache-to', `type=registry,ref=${ref},mode=max,ignore-error=true`, context]);
      expect(ignored.status, ignored.stderr).toBe(0);
      expect(ignored.stderr).toContain(`WARNING: failed to export cache to ${ref}`);
    } finally {
      refusing.times = 0;
    }
  });
});
