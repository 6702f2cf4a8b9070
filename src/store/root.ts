import { homedir } from 'node:os';
import { join } from 'node:path';
import { xdgBaseDirectory } from '../common/index.js';

/**
 * The store root: `TSBUILD_ROOT` when set; `/var/lib/tsbuild` for root; otherwise
 * `$XDG_DATA_HOME/tsbuild`, falling back to `~/.local/share/tsbuild`.
 */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 0): string {
  const explicit = env.TSBUILD_ROOT;
  if (explicit !== undefined && explicit !== '') return explicit;
  if (uid === 0) return '/var/lib/tsbuild';
  return join(xdgBaseDirectory('XDG_DATA_HOME', join(env.HOME ?? homedir(), '.local', 'share'), env), 'tsbuild');
}
