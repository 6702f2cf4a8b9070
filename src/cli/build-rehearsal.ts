import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runCli } from './program.js';

/**
 * Builds a small image in a scratch store, from nothing and then again from its cache, when the
 * build bundle's code cache is made (scripts/bundle-cli.mjs). V8 compiles a function when it first
 * runs and its code cache holds only what was compiled by then: loading the modules compiles
 * their top level, not the option handling, the planner, the context walk, the cache lookups and
 * the export a build runs. Made after this, the cache spares a rebuild from the cache about 16 ms
 * of compiling (the busybox bench's warm rebuild, 145 → 128 ms, interleaved).
 *
 * Only as root: an ordinary user's build would start itself again in a user namespace, and the
 * process here is the bundler's. The cache is then made without it, as before.
 */
export async function rehearseBuild(): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const scratch = await mkdtemp(join(tmpdir(), 'tsbuild-rehearsal-'));
  try {
    const context = join(scratch, 'context');
    await mkdir(join(context, 'ctx', 'sub'), { recursive: true });
    for (let index = 0; index < 8; index++) await writeFile(join(context, 'ctx', 'sub', `f${index}.txt`), `file ${index}\n`);
    await writeFile(join(context, 'big.bin'), Buffer.alloc(1 << 16, 7));
    await writeFile(join(context, '.dockerignore'), '*.md\n!README.md\n**/tmp\n');
    await writeFile(join(context, 'base.Dockerfile'), 'FROM scratch\nCOPY ctx/sub/f0.txt /etc/passwd\nENV PATH=/bin\n');
    await writeFile(
      join(context, 'Dockerfile'),
      [
        'FROM tsbuild-rehearsal/base AS build',
        'ARG NFILES=2',
        'ENV GREETING="hello world" BUILD_DIR=/src',
        'WORKDIR $BUILD_DIR',
        'COPY ctx/sub/f1.txt /usr/local/bin/gen.sh',
        '',
        'FROM tsbuild-rehearsal/base',
        'LABEL org.opencontainers.image.title="rehearsal"',
        'ENV APP_HOME=/opt/app PATH=/opt/app/bin:/usr/local/bin:/bin',
        'WORKDIR $APP_HOME',
        'COPY --from=build /src ./data/',
        'COPY --from=build /usr/local/bin/gen.sh ./',
        'COPY big.bin ./big.bin',
        'COPY --chown=1000:1000 ctx/ ./ctx/',
        'USER 1000',
        'CMD ["app"]',
        '',
      ].join('\n'),
    );
    const root = join(scratch, 'root');
    const build = async (args: readonly string[]): Promise<void> => {
      let said = '';
      const stderr = new Writable({
        write: (chunk: Buffer, _encoding, done) => {
          said += chunk.toString();
          done();
        },
      });
      const stdout = new Writable({ write: (_chunk, _encoding, done) => done() });
      const status = await runCli(['build', '-q', '--root', root, ...args], { stdout, stderr, isTty: false });
      if (status !== 0) throw new Error(`build ${args.join(' ')} exited with ${status}: ${said.trim()}`);
    };
    await build(['-f', join(context, 'base.Dockerfile'), '-t', 'tsbuild-rehearsal/base', context]);
    // From nothing, then from the cache: a rebuild runs the second's code.
    for (let round = 0; round < 2; round++) await build(['-t', 'tsbuild-rehearsal/app', context]);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
