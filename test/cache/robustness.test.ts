/**
 * A root shared by builds at once, and builds killed with SIGKILL at any moment: every build that
 * runs to its end makes the right image, `tsbuild verify` passes on the root afterwards, and a
 * killed build's finished steps are hits for the next one. Builds run as separate processes of
 * the installed bin, as they would on a CI host.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildFixture, cachedSteps, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

interface Run {
  readonly status: number | null;
  readonly stderr: string;
}

/** The bin with ARGS; killed with SIGKILL after KILLAFTERMS when given. */
function tsbuild(args: readonly string[], killAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('error', reject);
    child.once('close', (status) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ status, stderr });
    });
  });
}

/** Step names the plain progress reported DONE (ran to its end, its record written). */
function finishedSteps(stderr: string): string[] {
  const names = new Map<string, string>();
  const done: string[] = [];
  for (const line of stderr.split('\n')) {
    const step = /^#(\d+) (\[.*)$/.exec(line);
    if (step !== null) names.set(step[1] ?? '', step[2] ?? '');
    const finished = /^#(\d+) DONE /.exec(line);
    const name = finished === null ? undefined : names.get(finished[1] ?? '');
    if (name !== undefined && !name.startsWith('[internal]') && !/\] FROM /.test(name)) done.push(name);
  }
  return done;
}

async function verify(root: string): Promise<void> {
  const result = await runCliCaptured(['verify', '--root', root]);
  expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
}

describe('builds sharing a root', () => {
  let fx: BuildFixture;
  beforeEach(async () => {
    fx = await buildFixture();
  });
  afterEach(async () => {
    await fx.cleanup();
  });

  it('two builds of one Dockerfile at once, then eight of Dockerfiles sharing steps, all make the right image', async () => {
    const shared = 'FROM busybox\nRUN echo shared > /shared\nCOPY a.txt /a.txt\n';
    const context = await fx.context('same', { Dockerfile: `${shared}RUN cat /a.txt /shared > /out\n`, 'a.txt': 'a\n' });
    const same = await Promise.all(['one', 'two'].map((tag) => tsbuild(['build', '--root', fx.root, '--progress', 'plain', '-t', tag, context])));
    for (const run of same) expect(run.status, run.stderr).toBe(0);
    // Both may have run the same step at once (their layers then differ in times): each image is whole and right.
    for (const tag of ['one', 'two']) {
      const image = await fx.image(tag);
      expect(image.manifest.layers).toHaveLength(4);
      const files = await fx.layerFiles(image.manifest.layers.at(-1) as never);
      expect(files.find((file) => file.path === 'out')?.text).toBe('a\nshared\n');
    }

    const contexts = await Promise.all(
      Array.from({ length: 8 }, (_, i) => fx.context(`ctx${i}`, { Dockerfile: `${shared}RUN echo ${i} > /n && cat /a.txt > /copy\n`, 'a.txt': 'a\n' })),
    );
    const eight = await Promise.all(contexts.map((dir, i) => tsbuild(['build', '--root', fx.root, '--progress', 'plain', '-t', `img${i}`, dir])));
    for (const run of eight) expect(run.status, run.stderr).toBe(0);
    for (let i = 0; i < 8; i++) {
      const image = await fx.image(`img${i}`);
      const files = await fx.layerFiles(image.manifest.layers.at(-1) as never);
      expect(files.find((file) => file.path === 'n')?.text).toBe(`${i}\n`);
      expect(files.find((file) => file.path === 'copy')?.text).toBe('a\n');
    }
    await verify(fx.root);
  }, 120_000);

  it('a build killed with SIGKILL at 50 moments leaves a sound root, and its finished steps are hits', async () => {
    const dockerfile = (n: number): string => `FROM busybox\nARG N\nRUN echo $N > /n\nCOPY a.txt /a.txt\nRUN cat /a.txt /n > /both\nWORKDIR /w/${n}\nRUN echo done > done\n`;
    const context = await fx.context('killed', { Dockerfile: dockerfile(0), 'a.txt': 'a\n' });
    // How long a whole build takes here, measured on the second (the first also warms the disk
    // cache): the kills are spread over it.
    let span = 200;
    for (const n of ['warm', 'whole']) {
      const started = Date.now();
      const whole = await tsbuild(['build', '--root', fx.root, '--progress', 'plain', '--build-arg', `N=${n}`, context]);
      expect(whole.status, whole.stderr).toBe(0);
      span = Math.max(200, Date.now() - started);
    }
    let killedMidway = 0;
    const rounds = 50;
    for (let round = 0; round < rounds; round++) {
      await writeFile(join(context, 'Dockerfile'), dockerfile(round));
      const args = ['build', '--root', fx.root, '--progress', 'plain', '--build-arg', `N=${round}`, context];
      const killed = await tsbuild(args, Math.floor((span * (round + 0.5)) / rounds));
      if (killed.status === null) killedMidway++;
      // The store is rehashed whole: every fifth kill, and after the last, keeps the test short.
      if (round % 5 === 4) await verify(fx.root);
      const finished = finishedSteps(killed.stderr);
      const next = await runCliCaptured(args);
      expect(next.status, next.stderr).toBe(0);
      const hits = cachedSteps(next.stderr);
      for (const step of finished) expect(hits, `round ${round}: ${step} finished before the kill`).toContain(step);
      await sleep(0);
    }
    // Most kills land inside a build, not after it.
    expect(killedMidway, `${killedMidway} of ${rounds} kills came before the build ended`).toBeGreaterThanOrEqual(rounds / 4);
    await verify(fx.root);
  }, 300_000);
});
