/**
 * Every image config tsbuild writes is encoded as the build's is (Go's encoding/json, as
 * BuildKit's exporter writes it): an image written outside a build (commit, import) with the
 * config a build made gets the build's image ID.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageConfigBytes, writeImage } from '../../src/exporter/index.js';
import type { Digest, ImageConfig } from '../../src/common/index.js';
import { buildFixture, type BuildFixture } from '../helpers/build.js';

describe('image config bytes', () => {
  let fx: BuildFixture;
  beforeAll(async () => {
    fx = await buildFixture();
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  it('writes the config a build made with the build’s bytes, so with its image ID', async () => {
    const dir = await fx.context('config', {
      Dockerfile: ['FROM busybox', 'LABEL z="<last & html>" a=first', 'EXPOSE 8080 80/udp', 'VOLUME /data', 'ENV GREETING="a <b>"', 'RUN echo x > /x', 'CMD ["sh", "-c", "echo $GREETING > /dev/null"]'].join('\n'),
    });
    const built = await fx.build(['-t', 'config', dir]);
    expect(built.status).toBe(0);
    const image = await fx.image('config');
    const { config } = image;
    const written = await writeImage(fx.store, {
      layers: image.manifest.layers.map((descriptor, index) => ({ descriptor, diffId: config.rootfs.diff_ids[index] as Digest })),
      platform: { architecture: config.architecture, os: config.os },
      ...(config.config === undefined ? {} : { config: config.config }),
      ...(config.created === undefined ? {} : { created: config.created }),
      ...(config.history === undefined ? {} : { history: config.history }),
    });
    expect(written.configDescriptor.digest).toBe(image.manifest.config.digest);
  });

  it('orders the container config and history entries as Go structs, whatever order they came in, and leaves out their empty fields', () => {
    const config: ImageConfig = {
      os: 'linux',
      architecture: 'amd64',
      rootfs: { diff_ids: [], type: 'layers' },
      config: { Labels: { b: '2', a: '<1>' }, Cmd: ['sh'], Entrypoint: null, WorkingDir: '', Env: ['A=1'], ExposedPorts: {} },
      history: [{ comment: 'c', created: '2024-01-01T00:00:00Z', empty_layer: true }],
    };
    expect(imageConfigBytes(config).toString('utf8')).toBe(
      '{"architecture":"amd64","config":{"Env":["A=1"],"Cmd":["sh"],"Labels":{"a":"\\u003c1\\u003e","b":"2"}},"history":[{"created":"2024-01-01T00:00:00Z","comment":"c","empty_layer":true}],"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    );
  });

  it('refuses to write a config larger than the store reads back, naming the bound', () => {
    const config: ImageConfig = { architecture: 'amd64', os: 'linux', config: { Env: ['A=' + 'a'.repeat(17 * 1024 * 1024)] }, rootfs: { type: 'layers', diff_ids: [] } };
    expect(() => imageConfigBytes(config)).toThrow(/image config of \d+ bytes: more than the 16777216 tsbuild reads back/);
  });
});
