/**
 * Why a step missed, as the plain progress says it (`cache miss: …` under the step) and as
 * --explain-cache reports it for every step: a file's content or metadata, a build arg by name,
 * the instruction, the base image's digest, no record, --no-cache.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';

/** Each step's `cache miss:`/`cache hit:` line of the plain progress, by step name. */
function verdicts(stderr: string): Record<string, string> {
  const names = new Map<string, string>();
  const out: Record<string, string> = {};
  for (const line of stderr.split('\n')) {
    const step = /^#(\d+) (\[.*)$/.exec(line);
    if (step !== null) names.set(step[1] ?? '', step[2] ?? '');
    const verdict = /^#(\d+) (cache (?:miss|hit): .*?)(?: done)?$/.exec(line);
    if (verdict !== null) out[names.get(verdict[1] ?? '') ?? ''] = verdict[2] ?? '';
  }
  return out;
}

const dockerfile = (run: string): string => ['FROM busybox', 'ARG V=1', 'COPY a.txt b.txt /', `RUN ${run}`, ''].join('\n');
const copy = '[3/3] COPY a.txt b.txt /'.replace('3/3', '2/3');
const run = (text: string): string => `[3/3] RUN ${text}`;

describe('why a step missed', () => {
  let fx: BuildFixture;
  let context: string;
  beforeAll(async () => {
    fx = await buildFixture();
    context = await fx.context('ctx', { Dockerfile: dockerfile('echo $V > /v'), 'a.txt': 'a\n', 'b.txt': 'b\n' });
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  const build = async (args: readonly string[] = []): Promise<Record<string, string>> => {
    const result = await fx.build([...args, context]);
    expect(result.status, result.stderr).toBe(0);
    return verdicts(result.stderr);
  };

  it('says no record, then which file, which build arg, the instruction, --no-cache', async () => {
    // Step names show the RUN as BuildKit does, its variables expanded.
    expect(await build()).toEqual({ [copy]: 'cache miss: no record of this step', [run('echo 1 > /v')]: 'cache miss: no record of this step' });
    expect(await build()).toEqual({});

    await writeFile(join(context, 'a.txt'), 'changed\n');
    const metadataFile = join(context, '..', 'metadata.json');
    expect(await build(['--metadata-file', metadataFile])).toEqual({ [copy]: 'cache miss: file a.txt: content changed', [run('echo 1 > /v')]: 'cache miss: a step before it changed' });
    // --metadata-file says the same, by step.
    const metadata = JSON.parse(await readFile(metadataFile, 'utf8')) as Record<string, unknown>;
    expect(metadata['tsbuild.cache.steps']).toEqual({ [copy]: 'cache miss: file a.txt: content changed', [run('echo 1 > /v')]: 'cache miss: a step before it changed' });

    await chmod(join(context, 'b.txt'), 0o600);
    const mode = await build();
    expect(mode[copy]).toMatch(/^cache miss: file b\.txt: metadata \(file 644 0:0 → file 600 0:0\) changed$/);

    expect(await build(['--build-arg', 'V=2'])).toEqual({ [run('echo 2 > /v')]: 'cache miss: build arg V changed' });

    await writeFile(join(context, 'Dockerfile'), dockerfile('echo $V > /w'));
    expect(await build(['--build-arg', 'V=2'])).toEqual({ [run('echo 2 > /w')]: 'cache miss: instruction changed (was: RUN echo $V > /v); command changed' });

    expect(await build(['--no-cache', '--build-arg', 'V=2'])).toEqual({ [copy]: 'cache miss: --no-cache', [run('echo 2 > /w')]: 'cache miss: --no-cache' });
  });

  it('says the copied files changed when there were too many to keep one by one, not that each was added', async () => {
    const files: Record<string, string> = { Dockerfile: 'FROM busybox\nCOPY many/ /many/\n' };
    for (let index = 0; index < 2100; index++) files[`many/d${index % 10}/f${index}`] = `${index}\n`;
    const dir = await fx.context('many', files);
    expect((await fx.build([dir])).status).toBe(0);
    await writeFile(join(dir, 'many/d3/f1003'), 'changed\n');
    const result = await fx.build([dir]);
    expect(result.status, result.stderr).toBe(0);
    expect(verdicts(result.stderr)).toEqual({ '[2/2] COPY many/ /many/': 'cache miss: the files it copies changed' });
  });

  it('says when the base image changed, and --explain-cache reports every step', async () => {
    const dir = await fx.context('base', { Dockerfile: 'FROM busybox\nRUN echo hi > /hi\n' });
    expect((await fx.build([dir])).status).toBe(0);
    // Another image takes the name busybox: the same Dockerfile now starts from another digest.
    const other = await fx.context('other', { Dockerfile: 'FROM busybox\nRUN echo other > /other\n' });
    expect((await fx.build(['-t', 'busybox', other])).status).toBe(0);
    const result = await fx.build(['--explain-cache', dir]);
    expect(result.status, result.stderr).toBe(0);
    expect(verdicts(result.stderr)['[2/2] RUN echo hi > /hi']).toMatch(/^cache miss: base image digest changed \(was sha256:[0-9a-f]{64}, now sha256:[0-9a-f]{64}\)$/);
    const again = await fx.build(['--explain-cache', dir]);
    expect(again.stderr).toMatch(/^\[2\/2\] RUN echo hi > \/hi: cache hit: the record of \S+$/m);
    // The machine-readable progress carries the same verdicts.
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo hi > /hi2\n');
    const json = await runCliCaptured(['build', '--root', fx.root, '--progress', 'rawjson', dir]);
    const statuses = json.stderr
      .split(/\n(?=\{)/)
      .filter((chunk) => chunk.trim() !== '')
      .flatMap((chunk) => (JSON.parse(chunk) as { statuses?: Array<{ id: string }> }).statuses ?? []);
    expect(statuses.map((status) => status.id).filter((id) => id.startsWith('cache '))).toEqual(['cache miss: instruction changed (was: RUN echo hi > /hi); command changed']);
  });
});
