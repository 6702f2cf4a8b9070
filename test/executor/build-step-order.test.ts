/**
 * The steps a build shows, in the order BuildKit 0.13 numbers them in its plain progress, as
 * docker 26's `docker buildx build --progress plain` printed them for the same Dockerfiles: the
 * definition, the base images' metadata, `.dockerignore`, then one FROM step per base image
 * (`DONE` when the step on top of it hit the cache, `CACHED` when it ran) and the build context
 * before or after it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture, type BuildFixture } from '../helpers/build.js';

/** `#N name` and each step's result (`DONE`, `CACHED`, `ERROR`), in the order printed, numbers checked. */
function stepList(stderr: string): string[] {
  const names = new Map<number, string>();
  const list: string[] = [];
  for (const line of stderr.split('\n')) {
    const header = /^#(\d+) (\[.*|exporting to image)$/.exec(line);
    if (header !== null) {
      const number = Number(header[1]);
      // A step keeps its number; a new one takes the next.
      if (!names.has(number)) expect(number).toBe(names.size + 1);
      names.set(number, (header[2] ?? '').replace(/@sha256:[0-9a-f]{64}/, '@sha256:…'));
      continue;
    }
    const result = /^#(\d+) (DONE|CACHED|ERROR)\b/.exec(line);
    if (result !== null) list.push(`${names.get(Number(result[1])) ?? '?'}: ${result[2] ?? ''}`);
  }
  return list;
}

const busybox = 'docker.io/library/busybox:latest';

describe('build: the steps shown, as BuildKit numbers them', () => {
  let fx: BuildFixture;
  beforeAll(async () => {
    fx = await buildFixture();
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  it('one stage: .dockerignore after the metadata; the FROM, pinned, CACHED after the context it ran on, DONE before it when nothing ran', async () => {
    const dir = await fx.context('single', {
      Dockerfile: ['FROM busybox', 'COPY a.txt /a.txt', 'RUN cat /a.txt', 'ENV X=1', 'WORKDIR /w'].join('\n'),
      'a.txt': 'hello\n',
      '.dockerignore': 'skip\n',
    });
    const first = await fx.build(['-t', 'single', dir]);
    expect(first.status).toBe(0);
    expect(first.stderr).toContain('#3 transferring context: 5B done');
    // The name as given: buildx adds no `:latest` to what BuildKit shows.
    expect(first.stderr).toContain('#9 naming to docker.io/library/single done');
    expect(stepList(first.stderr)).toEqual([
      '[internal] load build definition from Dockerfile: DONE',
      `[internal] load metadata for ${busybox}: DONE`,
      '[internal] load .dockerignore: DONE',
      '[internal] load build context: DONE',
      `[1/4] FROM ${busybox}@sha256:…: CACHED`,
      '[2/4] COPY a.txt /a.txt: DONE',
      '[3/4] RUN cat /a.txt: DONE',
      '[4/4] WORKDIR /w: DONE',
      'exporting to image: DONE',
    ]);

    const again = await fx.build(['-t', 'single', '-t', 'single:latest', dir]);
    expect(again.stderr).toContain('#9 naming to docker.io/library/single done\n#9 naming to docker.io/library/single:latest done\n');
    expect(stepList(again.stderr)).toEqual([
      '[internal] load build definition from Dockerfile: DONE',
      `[internal] load metadata for ${busybox}: DONE`,
      '[internal] load .dockerignore: DONE',
      `[1/4] FROM ${busybox}@sha256:…: DONE`,
      '[internal] load build context: DONE',
      '[2/4] COPY a.txt /a.txt: CACHED',
      '[3/4] RUN cat /a.txt: CACHED',
      '[4/4] WORKDIR /w: CACHED',
      'exporting to image: DONE',
    ]);
  });

  it('a RUN first: its FROM comes before the context; a stage of metadata only has its FROM loaded for the image', async () => {
    const dir = await fx.context('run-first', { Dockerfile: ['FROM busybox', 'ARG X', 'RUN echo $X', 'COPY a.txt /a'].join('\n'), 'a.txt': 'a\n' });
    const ran = await fx.build(['-t', 'run-first', '--build-arg', 'X=1', dir]);
    expect(stepList(ran.stderr).slice(3, 6)).toEqual([`[1/3] FROM ${busybox}@sha256:…: CACHED`, '[internal] load build context: DONE', '[2/3] RUN echo 1: DONE']);

    const metadata = await fx.context('metadata-only', { Dockerfile: 'FROM busybox\nENV A=1\n' });
    const result = await fx.build(['-t', 'metadata-only', metadata]);
    expect(stepList(result.stderr).slice(2)).toEqual(['[internal] load .dockerignore: DONE', `[1/1] FROM ${busybox}@sha256:…: CACHED`, 'exporting to image: DONE']);
  });

  it('stages from one image share one FROM step, named as the last one BuildKit marshals; --target leaves out what it does not need', async () => {
    const dir = await fx.context('shared-from', {
      Dockerfile: [
        'FROM busybox AS build',
        'COPY a.txt /a.txt',
        'RUN cp /a.txt /b.txt',
        'FROM busybox AS unused',
        'RUN echo unused',
        'FROM build AS mid',
        'RUN echo mid > /mid',
        'FROM busybox',
        'COPY --from=mid /b.txt /b.txt',
        'COPY c.txt /c.txt',
      ].join('\n'),
      'a.txt': 'a\n',
      'c.txt': 'c\n',
    });
    const first = await fx.build(['-t', 'shared-from', dir]);
    expect(first.status).toBe(0);
    const froms = stepList(first.stderr).filter((step) => step.includes('] FROM '));
    // The last stage's FROM is marshalled first, build's (reached through mid) after it.
    expect(froms).toEqual([`[build 1/3] FROM ${busybox}@sha256:…: CACHED`]);
    expect(first.stderr).not.toContain('unused');

    const again = await fx.build(['-t', 'shared-from', dir]);
    expect(stepList(again.stderr).slice(0, 5)).toEqual([
      '[internal] load build definition from Dockerfile: DONE',
      `[internal] load metadata for ${busybox}: DONE`,
      '[internal] load .dockerignore: DONE',
      `[build 1/3] FROM ${busybox}@sha256:…: DONE`,
      '[internal] load build context: DONE',
    ]);

    const target = await fx.build(['-t', 'shared-from-mid', '--target', 'mid', dir]);
    expect(stepList(target.stderr).filter((step) => step.includes('] FROM '))).toEqual([`[build 1/3] FROM ${busybox}@sha256:…: DONE`]);
  });

  it('no .dockerignore step when the Dockerfile has its own ignore file, which BuildKit reads with it', async () => {
    const dir = await fx.context('own-ignore', { 'app.Dockerfile': 'FROM busybox\nCOPY . /src\n', 'app.Dockerfile.dockerignore': 'skip\n', keep: 'k', skip: 's' });
    const result = await fx.build(['-t', 'own-ignore', '-f', `${dir}/app.Dockerfile`, dir]);
    expect(result.status).toBe(0);
    expect(result.stderr).not.toContain('load .dockerignore');
    expect(stepList(result.stderr)[2]).toBe('[internal] load build context: DONE');
  });

  it('a step that fails on the context shows its FROM, loaded, and the context before it', async () => {
    const dir = await fx.context('missing-source', { Dockerfile: 'FROM busybox\nCOPY missing.txt /m\n' });
    const result = await fx.build(['-t', 'missing-source', dir]);
    expect(result.status).toBe(1);
    expect(stepList(result.stderr).slice(3)).toEqual([`[1/2] FROM ${busybox}@sha256:…: CACHED`, '[internal] load build context: DONE', '[2/2] COPY missing.txt /m: ERROR']);
  });
});
