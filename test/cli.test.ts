import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
});
