/**
 * A Dockerfile that never ends (a character device, standard input fed without end) is refused
 * at a bound named in the error, with a status and no stack, instead of being read into memory
 * until the process dies of it.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runInstalledCli, scratchDir } from '../runtime/helpers.js';

describe('a Dockerfile without end', () => {
  const dir = scratchDir('tsbuild-endless-dockerfile-');
  const root = join(dir, 'root');
  writeFileSync(join(dir, 'a'), 'a\n');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is refused at 64 MiB from a file (-f /dev/zero) and from standard input, naming the bound', () => {
    for (const [args, input, name] of [
      [['build', '-f', '/dev/zero', dir], '', '/dev/zero'],
      [['build', '-f', '-', dir], Buffer.alloc(65 * 1024 * 1024), 'standard input'],
      [['build', '-'], Buffer.alloc(65 * 1024 * 1024, 0x41), 'standard input'],
    ] as const) {
      const result = runInstalledCli(args, { root, input, timeoutMs: 60_000 });
      expect(result.status, result.stderr).toBe(1);
      expect(result.stderr).toContain(`ERROR: failed to read dockerfile: ${name} is larger than 67108864 bytes, the most tsbuild reads`);
      expect(result.stderr).not.toMatch(/internal error|\n\s+at /);
    }
  });
});
