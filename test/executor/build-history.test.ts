/**
 * A base image whose config history does not account for its layers (tools that write no
 * history, or too much): the built image's history accounts for every layer as BuildKit's
 * exporter makes it (normalizeLayersAndHistory). What each case expects is what docker 26 made
 * of the same Dockerfile on the same base image.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest, History } from '../../src/common/index.js';
import { buildFixture, type BuildFixture } from '../helpers/build.js';
import { busyboxWithHistory } from '../helpers/busybox-image.js';
import { runCliCaptured } from '../helpers/run-cli.js';

const exporter = 'buildkit.exporter.image.v0';
const dockerfile = 'buildkit.dockerfile.v0';
const steps = (base: string): string => [`FROM ${base}`, 'RUN echo hi > /hi', 'COPY f /f', 'ENV A=b', ''].join('\n');

describe('build: a base whose history does not account for its layers', () => {
  let fx: BuildFixture;
  const bases: string[] = [];
  const base = async (name: string, history: readonly History[]): Promise<Digest> => {
    bases.push(name);
    return busyboxWithHistory(fx.store, name, history, 1);
  };
  beforeAll(async () => {
    fx = await buildFixture();
  });
  afterAll(async () => {
    // The bases are what the store's validation rejects; every image built on them must pass it.
    for (const name of bases) await fx.store.deleteReference(`docker.io/library/${name}:latest`);
    await fx.cleanup();
  });

  /** The history's fields that are not times, and how many entries are of layers. */
  async function built(name: string): Promise<{ entries: Array<Omit<History, 'created'>>; layers: number; nonEmpty: number; untimed: number }> {
    const image = await fx.image(name);
    const history = image.config.history ?? [];
    return {
      entries: history.map(({ created: _created, ...rest }) => rest),
      layers: image.config.rootfs.diff_ids.length,
      nonEmpty: history.filter((entry) => entry.empty_layer !== true).length,
      untimed: history.filter((entry) => entry.created === undefined).length,
    };
  }

  /** `tsbuild history`'s CREATED BY column, oldest first: it pairs the entries with the layers, and fails on too many. */
  async function historyColumn(name: string): Promise<string[]> {
    const result = await runCliCaptured(['history', '--root', fx.root, '--no-trunc', '--format', '{{.CreatedBy}}|{{.Size}}', name]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    return result.stdout.trim().split('\n').reverse();
  }

  it('appends an entry for each layer the history lacks, after the Dockerfile\'s, named by what made the layer', async () => {
    await base('nohist', []);
    const dir = await fx.context('nohist', { Dockerfile: steps('nohist'), f: 'file\n' });
    const result = await fx.build(['-t', 'nohist-out', dir]);
    expect(result.stderr).toContain('DONE');
    expect(result.status).toBe(0);
    const image = await built('nohist-out');
    // The Dockerfile's two entries stand for the base's two layers; the RUN's and the COPY's
    // layers get entries of their own at the end, as BuildKit names their cache records.
    expect(image.entries).toEqual([
      { created_by: 'RUN /bin/sh -c echo hi > /hi # buildkit', comment: dockerfile },
      { created_by: 'COPY f /f # buildkit', comment: dockerfile },
      { created_by: 'ENV A=b', comment: dockerfile, empty_layer: true },
      { created_by: 'mount / from exec /bin/sh -c echo hi > /hi', comment: exporter },
      { created_by: '[3/3] COPY f /f', comment: exporter },
    ]);
    expect(image.layers).toBe(4);
    expect(image.nonEmpty).toBe(4);
    expect(image.untimed).toBe(0);
    expect(await historyColumn('nohist-out')).toHaveLength(5);
  });

  it('names a base layer by the reference and digest it came from, with the image\'s time', async () => {
    const digest = await base('nohist-meta', [{ created: '2024-01-01T00:00:00Z', created_by: 'meta', empty_layer: true }]);
    const dir = await fx.context('nohist-meta', { Dockerfile: 'FROM nohist-meta\nENV A=b\n' });
    const result = await fx.build(['-t', 'nohist-meta-out', dir]);
    expect(result.status).toBe(0);
    const pulled = `pulled from docker.io/library/nohist-meta:latest@${digest}`;
    expect((await fx.image('nohist-meta-out')).config.history).toEqual([
      { created: '2024-01-01T00:00:00Z', created_by: 'meta', empty_layer: true },
      expect.objectContaining({ created_by: 'ENV A=b', comment: dockerfile, empty_layer: true }),
      expect.objectContaining({ created: (await fx.image('nohist-meta')).config.created, created_by: pulled, comment: exporter }),
      expect.objectContaining({ created_by: pulled, comment: exporter }),
    ]);
    // A rebuild from the cache makes the same image.
    const again = await fx.build(['-t', 'nohist-meta-again', dir]);
    expect(again.status).toBe(0);
    expect((await fx.image('nohist-meta-again')).descriptor.digest).toBe((await fx.image('nohist-meta-out')).descriptor.digest);
  });

  it('appends only what is missing: a base history of one entry for two layers', async () => {
    await base('onehist', [{ created: '2024-01-01T00:00:00Z', created_by: 'busybox-static' }]);
    const dir = await fx.context('onehist', { Dockerfile: steps('onehist'), f: 'file\n' });
    expect((await fx.build(['-t', 'onehist-out', dir])).status).toBe(0);
    const image = await built('onehist-out');
    expect(image.entries).toEqual([
      { created_by: 'busybox-static' },
      { created_by: 'RUN /bin/sh -c echo hi > /hi # buildkit', comment: dockerfile },
      { created_by: 'COPY f /f # buildkit', comment: dockerfile },
      { created_by: 'ENV A=b', comment: dockerfile, empty_layer: true },
      { created_by: '[3/3] COPY f /f', comment: exporter },
    ]);
    expect(image.nonEmpty).toBe(image.layers);
  });

  it('makes the entries beyond the layers empty, from the bottom, the Dockerfile\'s too; an entry without a time takes its layer\'s', async () => {
    await base('extra', [
        { created: '2024-01-01T00:00:00Z', created_by: 'a' },
        { created_by: 'b' },
        { created: '2024-01-02T00:00:00Z', created_by: 'c' },
        { created_by: 'd', comment: 'x' },
      { created_by: 'meta', empty_layer: true },
    ]);
    const dir = await fx.context('extra', { Dockerfile: steps('extra'), f: 'file\n' });
    expect((await fx.build(['-t', 'extra-out', dir])).status).toBe(0);
    const image = await built('extra-out');
    expect(image.entries).toEqual([
      { created_by: 'a' },
      { created_by: 'b' },
      { created_by: 'c' },
      { created_by: 'd', comment: 'x' },
      { created_by: 'meta', empty_layer: true },
      { created_by: 'RUN /bin/sh -c echo hi > /hi # buildkit', comment: dockerfile, empty_layer: true },
      { created_by: 'COPY f /f # buildkit', comment: dockerfile, empty_layer: true },
      { created_by: 'ENV A=b', comment: dockerfile, empty_layer: true },
    ]);
    expect(image.nonEmpty).toBe(image.layers);
    expect(image.untimed).toBe(0);
    // `b` is of the base's second layer: it takes that layer's time (the base image's).
    expect((await fx.image('extra-out')).config.history?.[1]?.created).toBe((await fx.image('extra')).config.created);
    expect(await historyColumn('extra-out')).toHaveLength(8);
  });

  it('names the layers of a stage built on, a WORKDIR, a COPY --from and an ADD by their steps', async () => {
    await base('stages-base', []);
    const dir = await fx.context('stages', { Dockerfile: ['FROM stages-base AS a', 'RUN echo a > /a', 'FROM a', 'WORKDIR /w', 'COPY --from=a /a /b', 'ADD f /g', ''].join('\n'), f: 'file\n' });
    expect((await fx.build(['-t', 'stages-out', dir])).status).toBe(0);
    expect((await built('stages-out')).entries).toEqual([
      { created_by: 'RUN /bin/sh -c echo a > /a # buildkit', comment: dockerfile },
      { created_by: 'WORKDIR /w', comment: dockerfile },
      { created_by: 'COPY /a /b # buildkit', comment: dockerfile },
      { created_by: 'ADD f /g # buildkit', comment: dockerfile },
      { created_by: '[stage-1 2/3] COPY --from=a /a /b', comment: exporter },
      { created_by: '[stage-1 3/3] ADD f /g', comment: exporter },
    ]);
  });
});

describe('build: the history\'s times, as BuildKit\'s exporter fills them', () => {
  let fx: BuildFixture;
  beforeAll(async () => {
    fx = await buildFixture();
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  it('gives the metadata steps at the top of a stage the time of its first new layer, and later ones the last layer\'s before them', async () => {
    // docker 26 gave LABEL and ENV the first RUN's time, ENV z the first RUN's, CMD the second's.
    const dir = await fx.context('times', { Dockerfile: ['FROM busybox', 'LABEL a=b', 'ENV x=y', 'RUN echo > /f', 'ENV z=1', 'RUN echo > /g', 'CMD ["sh"]', ''].join('\n') });
    expect((await fx.build(['-t', 'times-out', dir])).status).toBe(0);
    const baseHistory = (await fx.image('busybox')).config.history ?? [];
    const image = await fx.image('times-out');
    const history = (image.config.history ?? []).slice(baseHistory.length);
    expect(history.map((entry) => entry.created_by)).toEqual(['LABEL a=b', 'ENV x=y', 'RUN /bin/sh -c echo > /f # buildkit', 'ENV z=1', 'RUN /bin/sh -c echo > /g # buildkit', 'CMD ["sh"]']);
    const [label, env, run1, envAfter, run2, cmd] = history.map((entry) => entry.created);
    expect(run1).toBeDefined();
    expect(run1).not.toBe(baseHistory.at(-1)?.created);
    expect([label, env, envAfter]).toEqual([run1, run1, run1]);
    expect(cmd).toBe(run2);
    expect(image.config.created).toBe(run2);
  });
});
