import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The version in package.json, two folders above both src/cli and dist/cli. */
export function packageVersion(): string {
  if (cached === undefined) {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    cached = manifest.version;
  }
  return cached;
}
