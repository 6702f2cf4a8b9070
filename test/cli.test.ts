import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/index.js';

async function run(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk.toString()));
  stderr.on('data', (chunk: Buffer) => err.push(chunk.toString()));
  const status = await runCli(args, { stdout, stderr, isTty: false });
  return { status, stdout: out.join(''), stderr: err.join('') };
}

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
