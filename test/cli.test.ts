import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCliCaptured } from './helpers/run-cli.js';

const run = runCliCaptured;

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
    const output = execFileSync(process.execPath, [new URL('../bin/tsbuild.js', import.meta.url).pathname, '--version'], { encoding: 'utf8' });
    expect(output.trim()).toBe(version);
  });
});
