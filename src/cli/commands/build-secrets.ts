/**
 * `tsbuild build --secret`, `--ssh` and `--allow`, read as buildx reads them. A secret's value
 * is never read here: only where it comes from, checked to exist.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { TsbuildError, errnoOf } from '../../common/index.js';
import type { SecretSource } from '../../executor/index.js';
import { splitCsvRecord } from '../../parser/index.js';

/** `id=ID,src=FILE`, `id=ID,env=VAR`, `type=env,id=ID,src=VAR`, or `id=ID` (the variable ID when set, else the file ID). */
export async function parseSecrets(values: readonly string[], env: NodeJS.ProcessEnv): Promise<Map<string, SecretSource>> {
  const secrets = new Map<string, SecretSource>();
  for (const value of values) {
    let type: 'file' | 'env' | undefined;
    let id = '';
    let file = '';
    let variable = '';
    for (const field of splitCsvRecord(value)) {
      const eq = field.indexOf('=');
      const key = eq < 0 ? field : field.slice(0, eq);
      const fieldValue = eq < 0 ? '' : field.slice(eq + 1);
      if (eq < 0) throw new TsbuildError('INVALID_ARGUMENT', `build --secret: invalid field '${field}' must be a key=value pair`);
      switch (key.toLowerCase()) {
        case 'type':
          if (fieldValue !== 'file' && fieldValue !== 'env') throw new TsbuildError('INVALID_ARGUMENT', `build --secret: unsupported secret type ${JSON.stringify(fieldValue)}`);
          type = fieldValue;
          break;
        case 'id':
          id = fieldValue;
          break;
        case 'source':
        case 'src':
          file = fieldValue;
          break;
        case 'env':
          variable = fieldValue;
          break;
        default:
          throw new TsbuildError('INVALID_ARGUMENT', `build --secret: unexpected key '${key}' in '${field}'`);
      }
    }
    if (type === 'env' && variable === '') {
      variable = file;
      file = '';
    }
    if (id === '') throw new TsbuildError('INVALID_ARGUMENT', 'build --secret: secret missing ID');
    if (variable === '' && file === '') {
      if (env[id] !== undefined) variable = id;
      else file = id;
    }
    if (variable !== '') {
      secrets.set(id, { env: variable });
      continue;
    }
    const path = resolve(file);
    const info = await stat(path).catch((error: unknown) => {
      throw new TsbuildError('INVALID_ARGUMENT', `build --secret ${id}: failed to stat ${path}: ${errnoOf(error) ?? 'failed'}`);
    });
    if (!info.isFile()) throw new TsbuildError('INVALID_ARGUMENT', `build --secret ${id}: ${path} is not a regular file`);
    secrets.set(id, { file: path });
  }
  return secrets;
}

/** `default`, `ID=SOCKET`, `ID=KEYFILE,KEYFILE`: the agent socket or key files of each id (`default` alone: SSH_AUTH_SOCK). */
export function parseSsh(values: readonly string[], env: NodeJS.ProcessEnv): Map<string, string[]> {
  const ssh = new Map<string, string[]>();
  for (const value of values) {
    const eq = value.indexOf('=');
    const id = eq < 0 ? value : value.slice(0, eq);
    if (id === '' || !/^[A-Za-z0-9_.-]+$/.test(id)) throw new TsbuildError('INVALID_ARGUMENT', `build --ssh: invalid id ${JSON.stringify(id)}`);
    let paths = eq < 0 ? [] : value.slice(eq + 1).split(',').filter((path) => path !== '');
    if (paths.length === 0) {
      const socket = env.SSH_AUTH_SOCK;
      if (socket === undefined || socket === '') throw new TsbuildError('INVALID_ARGUMENT', `build --ssh ${id}: invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set`);
      paths = [socket];
    }
    ssh.set(id, paths.map((path) => resolve(path)));
  }
  return ssh;
}

const entitlements = ['security.insecure', 'network.host'];

/** `--allow security.insecure` (repeatable, or comma-separated). */
export function parseAllow(values: readonly string[]): string[] {
  const allowed = values.flatMap((value) => value.split(',')).map((value) => value.trim()).filter((value) => value !== '');
  for (const value of allowed) {
    if (!entitlements.includes(value)) throw new TsbuildError('INVALID_ARGUMENT', `build --allow: invalid entitlement ${JSON.stringify(value)}: use ${entitlements.join(' or ')}`);
  }
  return allowed;
}
