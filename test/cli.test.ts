import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliCaptured } from './helpers/run-cli.js';

const run = runCliCaptured;
const bin = new URL('../bin/tsbuild.js', import.meta.url).pathname;

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('cli', () => {
  it('prints the package version', async () => {
    const result = await run(['--version']);
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(version);
    expect((await run(['-v'])).stdout.trim()).toBe(version);
  });

  it("leaves -v after a command's name to the command, as docker's rm -v (volumes)", async () => {
    const root = mkdtempSync(join(tmpdir(), 'tsbuild-cli-rm-'));
    try {
      const result = await run(['rm', '-v', '--root', root, 'no-such-container']);
      expect(result.stdout).not.toContain(version);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/No such container: no-such-container/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("refuses a flag it cannot parse as docker does: status 125, its flag library's words and where to read the help", async () => {
    const unknown = await run(['volume', 'create', '--bogus=1']);
    expect(unknown).toMatchObject({ status: 125, stderr: "unknown flag: --bogus\nSee 'tsbuild volume create --help'.\n" });
    expect(await run(['ps', '-z'])).toMatchObject({ status: 125, stderr: "unknown shorthand flag: 'z' in -z\nSee 'tsbuild ps --help'.\n" });
    expect(await run(['run', '--name'])).toMatchObject({ status: 125, stderr: "flag needs an argument: --name\nSee 'tsbuild run --help'.\n" });
    // A missing argument is not a flag error: docker ends it with 1.
    expect((await run(['logs'])).status).toBe(1);
    // A shorthand is named as it was written, alone or at the end of a group.
    expect(await run(['build', '-t'])).toMatchObject({ status: 125, stderr: "flag needs an argument: 't' in -t\nSee 'tsbuild build --help'.\n" });
    expect(await run(['build', '-qt'])).toMatchObject({ status: 125, stderr: "flag needs an argument: 't' in -qt\nSee 'tsbuild build --help'.\n" });
    expect(await run(['build', '--tag'])).toMatchObject({ status: 125, stderr: "flag needs an argument: --tag\nSee 'tsbuild build --help'.\n" });
    // A filter without `=` is a flag's value refused, before anything is listed.
    for (const verb of [['ps'], ['images'], ['volume', 'ls'], ['network', 'ls']]) {
      expect(await run([...verb, '--filter', 'label']), verb.join(' ')).toMatchObject({
        status: 125,
        stderr: `invalid argument "label" for "-f, --filter" flag: bad format of filter (expected name=value)\nSee 'tsbuild ${verb.join(' ')} --help'.\n`,
      });
    }
  });

  it("refuses run's and create's flag values in docker's CLI's words, status 125, before any image is looked up", async () => {
    const root = mkdtempSync(join(tmpdir(), 'tsbuild-cli-flags-'));
    try {
      expect(await run(['run', '--root', root, '--rm', '-p', 'bad', 'busybox', 'true'])).toMatchObject({ status: 125, stderr: "tsbuild: Invalid containerPort: bad.\nSee 'tsbuild run --help'.\n" });
      expect(await run(['run', '--root', root, '--rm', '--restart', 'always', 'busybox', 'true'])).toMatchObject({ status: 125, stderr: "tsbuild: Conflicting options: --restart and --rm.\nSee 'tsbuild run --help'.\n" });
      expect(await run(['run', '--root', root, '--rm', '--memory', 'xx', 'busybox', 'true'])).toMatchObject({
        status: 125,
        stderr: `invalid argument "xx" for "-m, --memory" flag: invalid size: 'xx'\nSee 'tsbuild run --help'.\n`,
      });
      expect(await run(['create', '--root', root, '--memory', 'xx', 'busybox'])).toMatchObject({
        status: 125,
        stderr: `invalid argument "xx" for "-m, --memory" flag: invalid size: 'xx'\nSee 'tsbuild create --help'.\n`,
      });
      expect(await run(['create', '--root', root, '-p', 'bad', 'busybox'])).toMatchObject({ status: 125, stderr: "tsbuild: Invalid containerPort: bad.\nSee 'tsbuild create --help'.\n" });
      // A name that is no reference, refused as such rather than looked for.
      expect(await run(['run', '--root', root, '--rm', 'Bad::x'])).toMatchObject({
        status: 125,
        stderr: `tsbuild: parse reference "Bad::x": invalid reference format: repository name must be lowercase.\nSee 'tsbuild run --help'.\n`,
      });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("refuses a wrong count of arguments in cobra's words, with the usage, and status 1", async () => {
    expect(await run(['tag', 'a', 'b', 'c'])).toMatchObject({
      status: 1,
      stdout: '',
      stderr: `"tsbuild tag" requires exactly 2 arguments.\nSee 'tsbuild tag --help'.\n\nUsage:  tsbuild tag [OPTIONS] SOURCE TARGET\n\ngive an image in the store another name\n`,
    });
    const logs = await run(['logs']);
    expect(logs).toMatchObject({ status: 1 });
    expect(logs.stderr).toMatch(/^"tsbuild logs" requires exactly 1 argument\.\nSee 'tsbuild logs --help'\.\n\nUsage: {2}tsbuild logs \[OPTIONS\] CONTAINER\n/);
    expect((await run(['run'])).stderr).toMatch(/^"tsbuild run" requires at least 1 argument\.\nSee 'tsbuild run --help'\.\n\nUsage: {2}tsbuild run \[OPTIONS\] IMAGE /);
    expect((await run(['network', 'create'])).stderr).toMatch(/^"tsbuild network create" requires exactly 1 argument\.\n/);
    expect((await run(['container', 'rm'])).stderr).toMatch(/^"tsbuild rm" requires at least 1 argument\.\n/);
    // buildx starts its errors with ERROR.
    expect(await run(['build'])).toMatchObject({ status: 1 });
    expect((await run(['build'])).stderr).toMatch(/^ERROR: "tsbuild build" requires exactly 1 argument\.\nSee 'tsbuild build --help'\.\n/);
  });

  it('reports an export of no such container as an error, not a crash of the process', () => {
    const root = mkdtempSync(join(tmpdir(), 'tsbuild-cli-export-'));
    try {
      const result = spawnSync(process.execPath, [bin, 'export', '--root', root, 'nosuch'], { encoding: 'utf8' });
      expect(result.status).toBe(1);
      expect(result.stderr).toBe('Error response from daemon: No such container: nosuch\n');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("names what is missing in docker's words: its daemon's prefix, start's closing line, network connect's container first", async () => {
    const root = mkdtempSync(join(tmpdir(), 'tsbuild-cli-missing-'));
    try {
      expect(await run(['start', '--root', root, 'nosuch', 'other'])).toMatchObject({
        status: 1,
        stderr: 'Error response from daemon: No such container: nosuch\nError response from daemon: No such container: other\nError: failed to start containers: nosuch, other\n',
      });
      expect(await run(['network', 'connect', '--root', root, 'nosuch-net', 'nosuch'])).toMatchObject({ status: 1, stderr: 'Error response from daemon: No such container: nosuch\n' });
      // What docker's daemon answers, after its CLI's prefix; what its CLI finds itself, without.
      const daemon = (message: string): { status: number; stderr: string } => ({ status: 1, stderr: `Error response from daemon: ${message}\n` });
      for (const verb of ['stop', 'rm', 'restart', 'wait', 'logs', 'pause', 'port', 'top', 'diff', 'export']) {
        expect(await run([verb, '--root', root, 'nosuch']), verb).toMatchObject(daemon('No such container: nosuch'));
      }
      expect(await run(['kill', '--root', root, 'nosuch'])).toMatchObject(daemon('cannot kill container: nosuch: No such container: nosuch'));
      // The container first, as docker's daemon: even with a name it would refuse.
      for (const name of ['other', 'x']) {
        expect(await run(['rename', '--root', root, 'nosuch', name])).toMatchObject({ status: 1, stderr: 'Error response from daemon: No such container: nosuch\nError: failed to rename container named nosuch\n' });
      }
      for (const verb of [['rmi'], ['history'], ['image', 'inspect'], ['tag']]) {
        expect(await run([...verb, '--root', root, 'nosuch', ...(verb[0] === 'tag' ? ['other'] : [])]), verb.join(' ')).toMatchObject(daemon('No such image: nosuch:latest'));
      }
      expect(await run(['network', 'rm', '--root', root, 'nosuch'])).toMatchObject(daemon('network nosuch not found'));
      for (const builtin of ['none', 'host']) expect(await run(['network', 'create', '--root', root, builtin])).toMatchObject(daemon(`operation is not permitted on predefined ${builtin} network`));
      expect(await run(['volume', 'inspect', '--root', root, 'nosuch'])).toMatchObject(daemon('get nosuch: no such volume'));
      expect(await run(['inspect', '--root', root, 'nosuch'])).toMatchObject({ status: 1, stdout: '[]\n', stderr: 'Error: No such object: nosuch\n' });
      expect(await run(['inspect', '--root', root, '--type', 'bogus', 'nosuch'])).toMatchObject({ status: 1, stderr: '"bogus" is not a valid value for --type\n' });
      expect(await run(['cp', '--root', root, 'a', 'b'])).toMatchObject({ status: 1, stderr: 'must specify at least one container source\n' });
      expect(await run(['cp', '--root', root, 'a:/x', 'b:/y'])).toMatchObject({ status: 1, stderr: 'copying between containers is not supported\n' });
      expect(await run(['push', '--root', root, '127.0.0.1:1/nosuch:1'])).toMatchObject({ status: 1, stderr: 'An image does not exist locally with the tag: 127.0.0.1:1/nosuch\n' });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('fails on an unknown command', async () => {
    const result = await run(['debgu']);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/error/);
  });

  it('runs as the installed bin', () => {
    const output = execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    expect(output.trim()).toBe(version);
  });

  it('starts the installed bin from the code cache the build made', () => {
    // doctor fails when the machine lacks something for containers; its report is read anyway.
    const result = spawnSync(process.execPath, [bin, 'doctor', '--format', 'json'], { encoding: 'utf8' });
    const checks = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { name: string; status: string; detail: string });
    const codeCache = checks.find((check) => check.name === 'code cache');
    expect(codeCache?.status).toBe('ok');
    expect(codeCache?.detail).toMatch(/started from its V8 code cache/);
  });

  it('has a code cache this Node takes for each bundle, run, build and the monitor their own', () => {
    // In a plain node: V8 takes a cache only under the flags it was made with.
    const loader = new URL('../bin/bundle-loader.cjs', import.meta.url).pathname;
    const check = `
      const { compileBundle, runBundle } = require(${JSON.stringify(loader)});
      const file = process.argv[1];
      const script = compileBundle(file, require('node:fs').readFileSync(file + '.cache'));
      const program = runBundle(script, file);
      process.stdout.write(JSON.stringify({ rejected: script.cachedDataRejected, main: typeof program.main }));
    `;
    for (const name of ['cli', 'run', 'build', 'container-monitor']) {
      const file = new URL(`../dist/cli-bundle/${name}.cjs`, import.meta.url).pathname;
      expect(JSON.parse(execFileSync(process.execPath, ['-e', check, file], { encoding: 'utf8' }))).toEqual({ rejected: false, main: 'function' });
    }
    expect(execFileSync(process.execPath, [bin, 'run', '--help'], { encoding: 'utf8' })).toMatch(/^Usage: {2}tsbuild run \[OPTIONS\] IMAGE \[ARGS...\]\n/);
    expect(execFileSync(process.execPath, [bin, 'build', '--help'], { encoding: 'utf8' })).toMatch(/^Usage: {2}tsbuild build \[OPTIONS\] CONTEXT\n/);
  });

  it('reports a code cache this Node refuses, and still runs', () => {
    // Another V8 flag changes the flag hash the cache was made under.
    const result = spawnSync(process.execPath, ['--stack-size=2000', bin, 'doctor', '--format', 'json'], { encoding: 'utf8' });
    const codeCache = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { name: string; status: string; detail: string })
      .find((check) => check.name === 'code cache');
    expect(codeCache?.status).toBe('warn');
    expect(codeCache?.detail).toMatch(/refused/);
  });

  it('does not use a code cache older than the bundle', () => {
    // A private copy of the installed layout, so that no other test sees the change.
    const root = new URL('..', import.meta.url).pathname;
    const copy = mkdtempSync(join(tmpdir(), 'tsbuild-stale-cache-'));
    try {
      cpSync(join(root, 'bin'), join(copy, 'bin'), { recursive: true });
      cpSync(join(root, 'dist', 'cli-bundle'), join(copy, 'dist', 'cli-bundle'), { recursive: true, preserveTimestamps: true });
      for (const shared of ['package.json', 'native', 'node_modules', 'runtime-shim']) symlinkSync(join(root, shared), join(copy, shared));
      const bundle = join(copy, 'dist', 'cli-bundle', 'cli.cjs');
      const doctorCodeCache = (): { status: string; detail: string } | undefined =>
        spawnSync(process.execPath, [join(copy, 'bin', 'tsbuild.js'), 'doctor', '--format', 'json'], { encoding: 'utf8' })
          .stdout.trim()
          .split('\n')
          .map((line) => JSON.parse(line) as { name: string; status: string; detail: string })
          .find((check) => check.name === 'code cache');
      expect(doctorCodeCache()?.status).toBe('ok');
      // The bundle changed after its cache was made (V8 would only compare their lengths).
      const later = new Date(Date.now() + 60_000);
      utimesSync(bundle, later, later);
      expect(doctorCodeCache()).toMatchObject({ status: 'warn', detail: expect.stringContaining('older than the bundle') });
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('says how to build it when the bundle is missing', () => {
    const root = new URL('..', import.meta.url).pathname;
    const copy = mkdtempSync(join(tmpdir(), 'tsbuild-unbuilt-'));
    try {
      cpSync(join(root, 'bin'), join(copy, 'bin'), { recursive: true });
      const result = spawnSync(process.execPath, [join(copy, 'bin', 'tsbuild.js'), '--version'], { encoding: 'utf8' });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/cli\.cjs is missing: tsbuild is not built; run npm ci/);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
