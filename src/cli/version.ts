import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The version in package.json, two folders above both src/cli and dist/cli. */
export function packageVersion(): string {
  if (cached === undefined) {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    cached = manifest.version;
  }
  return cached;
}

/** The installed `tsbuild` command (bin/tsbuild.js), two folders above both src/cli and dist/cli. */
export function tsbuildEntry(): string {
  return fileURLToPath(new URL('../../bin/tsbuild.js', import.meta.url));
}
