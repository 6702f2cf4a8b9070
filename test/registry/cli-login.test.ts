import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/run-cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

let registry: TestRegistry;
let configDir: string;
const savedDockerConfig = process.env.DOCKER_CONFIG;

const run = runCliCaptured;

beforeAll(async () => {
  configDir = await mkdtemp(join(tmpdir(), 'tsbuild-cli-login-'));
  process.env.DOCKER_CONFIG = configDir;
  registry = await startRegistry({ htpasswd: { users: { erin: 'erin-password' } } });
});

afterAll(async () => {
  if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG;
  else process.env.DOCKER_CONFIG = savedDockerConfig;
  await registry.stop();
  await rm(configDir, { recursive: true, force: true });
});

describe('tsbuild login and logout', () => {
  it('refuses wrong credentials and writes nothing', async () => {
    const result = await run(['login', '-u', 'erin', '-p', 'not-the-password', registry.host]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/credentials refused/);
    expect(result.stderr).not.toContain('not-the-password');
    await expect(stat(join(configDir, 'config.json'))).rejects.toThrow();
  });

  it('saves checked credentials with mode 0600 and erases them on logout', async () => {
    const result = await run(['login', '-u', 'erin', '-p', 'erin-password', `http://${registry.host}/`]);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Login Succeeded/);
    const path = join(configDir, 'config.json');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const config = JSON.parse(await readFile(path, 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(config.auths[registry.host]?.auth ?? '', 'base64').toString()).toBe('erin:erin-password');

    const logout = await run(['logout', registry.host]);
    expect(logout.status).toBe(0);
    expect(logout.stdout).toContain(`Removing login credentials for ${registry.host}`);
    const after = JSON.parse(await readFile(path, 'utf8')) as { auths: Record<string, unknown> };
    expect(after.auths[registry.host]).toBeUndefined();
    expect((await run(['logout', registry.host])).stdout).toContain('Not logged in');
  });

  it('asks for user name and password on a terminal, without echoing the password', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsbuild-cli-prompt-'));
    try {
      const root = new URL('../..', import.meta.url).pathname;
      const command = `${process.execPath} --import tsx src/cli/bin.ts login ${registry.host}`;
      // script(1) gives the command a terminal; what is typed goes through its standard input.
      const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: root, env: { ...process.env, DOCKER_CONFIG: dir }, stdio: ['pipe', 'pipe', 'inherit'] });
      let output = '';
      const answered = new Set<string>();
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('Username: ') && !answered.has('user')) {
          answered.add('user');
          child.stdin.write('erin\r');
        }
        if (output.includes('Password: ') && !answered.has('password')) {
          answered.add('password');
          child.stdin.write('erin-password\r');
        }
      });
      const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.stdin.end();
      expect(status).toBe(0);
      expect(output).toContain('Login Succeeded');
      expect(output).toContain('Username: erin');
      expect(output).not.toContain('erin-password');
      const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
      expect(Buffer.from(config.auths[registry.host]?.auth ?? '', 'base64').toString()).toBe('erin:erin-password');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps credentials for the registry named when its credential helper cannot run: nothing saved elsewhere or in plain text, the failure named (docker CVE-2021-41092)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsbuild-cli-helper-'));
    const saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = dir;
    try {
      for (const config of [{ credsStore: 'tsbuild-missing-helper' }, { credHelpers: { [registry.host]: 'tsbuild-missing-helper' }, auths: {} }]) {
        const text = `${JSON.stringify(config)}\n`;
        await writeFile(join(dir, 'config.json'), text);
        const result = await run(['login', '-u', 'erin', '-p', 'erin-password', registry.host]);
        expect(result.status).toBe(1);
        expect(result.stderr).toContain(`store credentials for ${registry.host}`);
        expect(result.stderr).toContain('docker-credential-tsbuild-missing-helper');
        expect(result.stderr).not.toMatch(/docker\.io|Login Succeeded/);
        expect(result.stderr).not.toContain('erin-password');
        // No fallback: the file is as it was, the password in no auths entry.
        expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(text);
        // A pull asks the same helper and fails naming it, rather than going on without.
        // Into a store of the test's own, never the machine's default one.
        const pulled = await run(['pull', '--quiet', '--root', join(dir, 'store'), `${registry.host}/none/here:1`]);
        expect(pulled.status).toBe(1);
        expect(pulled.stderr).toContain('docker-credential-tsbuild-missing-helper');
      }
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
