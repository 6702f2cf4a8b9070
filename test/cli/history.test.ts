/**
 * `tsbuild history`: docker's table of an image's steps, newest first, each layer sized as
 * docker sizes it (its content bytes: a hard link and a symbolic link count nothing), the
 * image ID on the newest row only, and docker's --no-trunc, -H=false, -q and --format forms.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildFixture, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';

const dockerfile = [
  'FROM busybox',
  'RUN echo hello > /hello && ln -s /hello /link && mkdir /d && echo abc > /d/a && ln /d/a /d/b',
  'ENV A=1',
  'COPY Dockerfile /df',
  'RUN rm /hello',
  'LABEL x=y',
  'CMD ["sh", "-c", "echo this is a fairly long command line that will be truncated for sure"]',
  '',
].join('\n');

describe('history', () => {
  let fx: BuildFixture;
  beforeEach(async () => {
    fx = await buildFixture();
  });
  afterEach(async () => {
    await fx.cleanup();
  });

  it("prints the image's steps newest first, as docker history does", async () => {
    const context = await fx.context('ctx', { Dockerfile: dockerfile });
    const built = await fx.build(['-q', '-t', 'hist', context]);
    expect(built.status).toBe(0);
    const id = built.stdout.trim();
    const base = await fx.image('busybox');
    const baseEntries = (base.config.history ?? []).length;

    const table = await runCliCaptured(['history', '--root', fx.root, 'hist']);
    expect(table.status).toBe(0);
    const lines = table.stdout.split('\n').filter((line) => line !== '');
    expect(lines[0]).toMatch(/^IMAGE {10}CREATED {3,}CREATED BY {38}SIZE {6}COMMENT$/);
    expect(lines[1]?.indexOf('CMD')).toBe(lines[0]?.indexOf('CREATED BY'));
    expect(lines).toHaveLength(1 + 6 + baseEntries);
    const rows = lines.slice(1, 7).map((line) => line.split(/ {3,}/));
    expect(rows.map((row) => row[0])).toEqual([id.slice(7, 19), '<missing>', '<missing>', '<missing>', '<missing>', '<missing>']);
    expect(rows.map((row) => row[2])).toEqual([
      'CMD ["sh" "-c" "echo this is a fairly long c…',
      'LABEL x=y',
      'RUN /bin/sh -c rm /hello # buildkit',
      'COPY Dockerfile /df # buildkit',
      'ENV A=1',
      'RUN /bin/sh -c echo hello > /hello && ln -s …',
    ]);
    // "hello\n" and "abc\n" once: the link and the hard link add nothing; the COPY is the Dockerfile's bytes.
    expect(rows.map((row) => row[3])).toEqual(['0B', '0B', '0B', `${dockerfile.length}B`, '0B', '10B']);
    expect(rows.every((row) => row[1]?.endsWith(' ago') && row[4] === 'buildkit.dockerfile.v0')).toBe(true);

    const whole = await runCliCaptured(['history', '--no-trunc', '--human=false', '--root', fx.root, 'hist']);
    const wholeLines = whole.stdout.split('\n');
    expect(wholeLines[0]).toMatch(/^IMAGE {3,}CREATED AT {3,}CREATED BY {3,}SIZE {3,}COMMENT$/);
    expect(wholeLines[1]).toMatch(new RegExp(`^${id} {3}\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ {3}CMD \\["sh" "-c" "echo this is a fairly long command line that will be truncated for sure"\\] +0 +buildkit`));
    expect(whole.stdout).toContain('RUN /bin/sh -c echo hello > /hello && ln -s /hello /link && mkdir /d && echo abc > /d/a && ln /d/a /d/b # buildkit');

    const quiet = await runCliCaptured(['history', '-q', '--root', fx.root, 'hist']);
    expect(quiet.stdout.split('\n').slice(0, 3)).toEqual([id.slice(7, 19), '<missing>', '<missing>']);

    const json = await runCliCaptured(['history', '--format', 'json', '--root', fx.root, 'hist']);
    const first = JSON.parse(json.stdout.split('\n')[0] ?? '') as Record<string, string>;
    expect(Object.keys(first)).toEqual(['Comment', 'CreatedAt', 'CreatedBy', 'CreatedSince', 'ID', 'Size']);
    expect(first).toMatchObject({ ID: id.slice(7, 19), Size: '0B', Comment: 'buildkit.dockerfile.v0' });

    const template = await runCliCaptured(['history', '--format', '{{.Size}}|{{.CreatedBy}}', '--root', fx.root, 'hist']);
    expect(template.stdout.split('\n')[5]).toBe('10B|RUN /bin/sh -c echo hello > /hello && ln -s …');
    const custom = await runCliCaptured(['image', 'history', '--format', 'table {{.ID}}\\t{{.Size}}', '--root', fx.root, 'hist']);
    expect(custom.stdout.split('\n').slice(0, 2)).toEqual(['IMAGE          SIZE', `${id.slice(7, 19)}   0B`]);

    const missing = await runCliCaptured(['history', '--root', fx.root, 'nosuch']);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toBe('Error response from daemon: No such image: nosuch:latest\n');
    expect((await runCliCaptured(['history', '-H', 'maybe', '--root', fx.root, 'hist'])).status).not.toBe(0);
  });
});
