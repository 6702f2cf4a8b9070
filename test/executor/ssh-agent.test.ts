/**
 * The agent `--ssh ID=KEYFILE` starts, checked with OpenSSH's own tools: `ssh-add -l` lists the
 * keys, and `ssh-keygen -Y sign` signs through the agent with each, the signature verified.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAgentKeys, startKeyAgent, type ClosableServer } from '../../src/executor/ssh-agent.js';

/** The agent answers from this process: its clients must not block it. */
const run = promisify(execFile);

const hasOpenSsh = spawnSync('ssh-keygen', ['-?'], { stdio: 'ignore' }).error === undefined;

describe.runIf(hasOpenSsh)('ssh agent for key files', () => {
  let dir: string;
  const servers: ClosableServer[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsbuild-agent-'));
  });
  afterAll(async () => {
    for (const server of servers) await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const keygen = (name: string, args: readonly string[]): string => {
    const path = join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-N', '', '-C', `comment-${name}`, '-f', path, ...args]);
    return path;
  };

  it('lists and signs with ed25519, RSA, ECDSA and PEM keys as ssh-add and ssh-keygen -Y expect', async () => {
    const keys = [keygen('ed', ['-t', 'ed25519']), keygen('rsa', ['-t', 'rsa', '-b', '2048']), keygen('ec', ['-t', 'ecdsa', '-b', '384']), keygen('pem', ['-t', 'rsa', '-b', '2048', '-m', 'PEM'])];
    const socket = join(dir, 'agent.sock');
    servers.push(await startKeyAgent(await loadAgentKeys(keys), socket));
    const env = { ...process.env, SSH_AUTH_SOCK: socket };
    const listed = (await run('ssh-add', ['-l'], { env, encoding: 'utf8' })).stdout.trim().split('\n');
    const fingerprints = keys.map((key) => execFileSync('ssh-keygen', ['-lf', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1]);
    expect(listed.map((line) => line.split(' ')[1])).toEqual(fingerprints);
    expect(listed[0]).toContain('comment-ed');
    const data = join(dir, 'data');
    writeFileSync(data, 'signed through the agent\n');
    for (const key of keys) {
      // With only the public key at hand, ssh-keygen asks the agent to sign.
      rmSync(`${data}.sig`, { force: true });
      await run('ssh-keygen', ['-Y', 'sign', '-f', `${key}.pub`, '-n', 'test', data], { env });
      const check = spawnSync('ssh-keygen', ['-Y', 'check-novalidate', '-n', 'test', '-f', `${key}.pub`, '-s', `${data}.sig`], { input: 'signed through the agent\n', encoding: 'utf8' });
      expect(check.stdout + check.stderr, key).toContain('Good');
      expect(check.status).toBe(0);
    }
  });

  it('refuses an encrypted key, naming the file and what to do', async () => {
    const path = join(dir, 'locked');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'passphrase', '-f', path]);
    await expect(loadAgentKeys([path])).rejects.toThrow(/the key is encrypted \(add it to an ssh-agent/);
  });
});
