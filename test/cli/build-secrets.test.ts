/** `tsbuild build --secret`, `--ssh` and `--allow` as buildx reads them. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllow, parseSecrets, parseSsh } from '../../src/cli/commands/build-secrets.js';

describe('build --secret, --ssh, --allow', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsbuild-secrets-'));
    await writeFile(join(dir, 'token'), 'the value');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads files, variables, type=env and an id alone (the variable when set, else the file)', async () => {
    const file = join(dir, 'token');
    const secrets = await parseSecrets([`id=a,src=${file}`, `id=b,source=${file}`, 'id=c,env=HOME', 'type=env,id=d,src=PATH', 'id=SOME_VAR', `id=${file}`], { SOME_VAR: 'x' });
    expect(Object.fromEntries(secrets)).toEqual({ a: { file }, b: { file }, c: { env: 'HOME' }, d: { env: 'PATH' }, SOME_VAR: { env: 'SOME_VAR' }, [file]: { file } });
  });

  it('refuses a missing id, an unknown key or type, and a file that is not there, never reading it', async () => {
    await expect(parseSecrets(['src=/x'], {})).rejects.toThrow('secret missing ID');
    await expect(parseSecrets(['id=a,path=/x'], {})).rejects.toThrow("unexpected key 'path'");
    await expect(parseSecrets(['id=a,type=vault'], {})).rejects.toThrow('unsupported secret type "vault"');
    await expect(parseSecrets([`id=a,src=${join(dir, 'missing')}`], {})).rejects.toThrow(/build --secret a: failed to stat .*missing: ENOENT/);
    await expect(parseSecrets([`id=a,src=${dir}`], {})).rejects.toThrow('is not a regular file');
  });

  it('takes SSH_AUTH_SOCK for an id alone, paths otherwise, and refuses an empty agent', () => {
    expect(Object.fromEntries(parseSsh(['default', 'deploy=/k1,/k2'], { SSH_AUTH_SOCK: '/run/agent.sock' }))).toEqual({ default: ['/run/agent.sock'], deploy: ['/k1', '/k2'] });
    expect(() => parseSsh(['default'], {})).toThrow('make sure SSH_AUTH_SOCK is set');
    expect(() => parseSsh(['bad id=/x'], {})).toThrow('invalid id');
  });

  it('allows the known entitlements only', () => {
    expect(parseAllow(['security.insecure', 'network.host,security.insecure'])).toEqual(['security.insecure', 'network.host', 'security.insecure']);
    expect(() => parseAllow(['device'])).toThrow('invalid entitlement "device"');
  });
});
