/**
 * Multi-stage builds: what --target needs is all that runs, independent stages overlap, stages
 * and images are sources of COPY --from, and ONBUILD triggers run in the stage built FROM them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture, cachedSteps, ranSteps, type BuildFixture } from '../helpers/build.js';

describe('build: stages', () => {
  let fx: BuildFixture;
  beforeAll(async () => {
    fx = await buildFixture();
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  const multi = [
    'FROM busybox AS base',
    'RUN echo base > /base',
    'FROM base AS broken',
    'RUN echo this stage fails; exit 7',
    'FROM busybox AS left',
    'RUN sleep 1; echo left > /left',
    'FROM busybox AS right',
    'RUN sleep 1; echo right > /right',
    'FROM base',
    'COPY --from=left /left /out/left',
    'COPY --from=right /right /out/right',
    'COPY --from=0 /base /out/base',
  ].join('\n');

  it('builds only what the target needs: a failing stage it does not need is never run', async () => {
    const dir = await fx.context('multi', { Dockerfile: multi });
    const result = await fx.build(['-t', 'multi', dir]);
    expect(result.stderr).not.toContain('this stage fails');
    expect(result.status).toBe(0);
    const image = await fx.image('multi');
    // base's layer, then one per COPY.
    expect(image.manifest.layers).toHaveLength(5);
    const copied = (await Promise.all(image.manifest.layers.slice(2).map((layer) => fx.layerFiles(layer)))).flat();
    expect(copied.filter((file) => file.type === 'file').map((file) => [file.path, file.text])).toEqual([
      ['out/left', 'left\n'],
      ['out/right', 'right\n'],
      ['out/base', 'base\n'],
    ]);

    const target = await fx.build(['-t', 'base-only', '--target', 'base', dir]);
    expect(target.status).toBe(0);
    expect(target.stderr).not.toMatch(/\[(left|right|broken) /);
    expect((await fx.image('base-only')).manifest.layers).toHaveLength(2);

    const broken = await fx.build(['-t', 'broken', '--target', 'broken', dir]);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toContain('exit code: 7');
  });

  it('runs independent stages at the same time', async () => {
    const dir = await fx.context('parallel', {
      Dockerfile: [
        'FROM busybox AS one',
        "RUN cut -d' ' -f1 /proc/uptime > /start; sleep 1; cut -d' ' -f1 /proc/uptime > /end",
        'FROM busybox AS two',
        "RUN cut -d' ' -f1 /proc/uptime > /start; sleep 1; cut -d' ' -f1 /proc/uptime > /end",
        'FROM scratch',
        'COPY --from=one /start /one-start',
        'COPY --from=one /end /one-end',
        'COPY --from=two /start /two-start',
        'COPY --from=two /end /two-end',
      ].join('\n'),
    });
    const result = await fx.build(['-t', 'parallel', dir]);
    expect(result.status).toBe(0);
    const image = await fx.image('parallel');
    const files = new Map((await Promise.all(image.manifest.layers.map((layer) => fx.layerFiles(layer)))).flat().map((file) => [file.path, Number(file.text)]));
    const [oneStart, oneEnd, twoStart, twoEnd] = ['one-start', 'one-end', 'two-start', 'two-end'].map((name) => files.get(name) ?? Number.NaN) as [number, number, number, number];
    // Each ran a second; run one after the other, one would start after the other ended.
    expect(oneStart < twoEnd && twoStart < oneEnd).toBe(true);
  });

  it('runs the ONBUILD triggers of its base image first, in the stage built FROM it', async () => {
    const parent = await fx.context('onbuild-parent', { Dockerfile: 'FROM busybox\nONBUILD RUN echo triggered > /triggered\nONBUILD ENV FROM_TRIGGER=yes\n' });
    expect((await fx.build(['-t', 'onbuild-parent', parent])).status).toBe(0);
    expect((await fx.image('onbuild-parent')).config.config?.OnBuild).toEqual(['RUN echo triggered > /triggered', 'ENV FROM_TRIGGER=yes']);
    const child = await fx.context('onbuild-child', { Dockerfile: 'FROM onbuild-parent\nRUN cat /triggered > /seen; echo $FROM_TRIGGER >> /seen\n' });
    const result = await fx.build(['-t', 'onbuild-child', child]);
    expect(result.status).toBe(0);
    const image = await fx.image('onbuild-child');
    // Triggers run once, and are not passed on.
    expect(image.config.config?.OnBuild).toBeUndefined();
    expect(image.config.config?.Env).toContain('FROM_TRIGGER=yes');
    const last = await fx.layerFiles(image.manifest.layers.at(-1) as never);
    expect(last.find((file) => file.path === 'seen')?.text).toBe('triggered\nyes\n');
  });

  it('copies from an image by name, and keys a stage by what it is built from', async () => {
    const dir = await fx.context('from-image', { Dockerfile: 'FROM scratch\nCOPY --from=busybox /bin/busybox /bin/\nCOPY --from=busybox /etc/passwd /etc/passwd\n' });
    const first = await fx.build(['-t', 'from-image', dir]);
    expect(first.status).toBe(0);
    const image = await fx.image('from-image');
    const files = (await Promise.all(image.manifest.layers.map((layer) => fx.layerFiles(layer)))).flat();
    expect(files.find((file) => file.path === 'bin/busybox')?.mode).toBe(0o755);
    expect(files.find((file) => file.path === 'etc/passwd')?.text).toContain('root:x:0:0');
    const again = await fx.build(['-t', 'from-image', dir]);
    expect(ranSteps(again.stderr)).toEqual([]);
    expect(cachedSteps(again.stderr)).toHaveLength(2);
  });
});
