import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nameservers, sandboxResolvConfs, withoutLoopbackNameservers } from '../../src/executor/resolv-conf.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

const google = 'nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844';

describe("a RUN's resolv.conf, as BuildKit makes it", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await temporaryDirectory();
  });
  afterEach(async () => dir.cleanup());

  it('reads nameservers as docker does: addresses only, comments left out', () => {
    expect(nameservers('# nameserver 1.1.1.1\nnameserver 10.0.0.2 # office\n  nameserver fe80::1\nnameserver not-an-address\nsearch example.com\n')).toEqual(['10.0.0.2', 'fe80::1']);
  });

  it('drops loopback nameservers, and falls back to public ones when none is left', () => {
    expect(withoutLoopbackNameservers('nameserver 127.0.0.1\nnameserver 10.0.0.2\n')).toBe('nameserver 10.0.0.2\n');
    expect(withoutLoopbackNameservers('nameserver ::1\nnameserver 192.168.1.1\n')).toBe('nameserver 192.168.1.1\n');
    expect(withoutLoopbackNameservers('search corp.example\nnameserver 127.0.1.1\n\noptions edns0\n')).toBe(`search corp.example\noptions edns0\n\n${google}`);
    expect(withoutLoopbackNameservers('')).toBe(`\n${google}`);
  });

  it('gives a step that asked for the host network the host file as it is; every other step the file without loopback resolvers', async () => {
    const host = join(dir.path, 'resolv.conf');
    const resolved = join(dir.path, 'resolved.conf');
    await writeFile(host, 'nameserver 127.0.0.1\nnameserver 10.0.0.2\nsearch example.com\n');
    expect(await sandboxResolvConfs({ host, resolved })).toEqual({ host: 'nameserver 127.0.0.1\nnameserver 10.0.0.2\nsearch example.com\n', other: 'nameserver 10.0.0.2\nsearch example.com\n' });
    // Only a loopback resolver: reachable on the host's network, not from a network of its own.
    await writeFile(host, 'nameserver 127.0.0.1\n');
    expect(await sandboxResolvConfs({ host, resolved })).toEqual({ host: 'nameserver 127.0.0.1\n', other: `\n${google}` });
    // No nameserver at all (or no file): both fall back, as BuildKit's do.
    await writeFile(host, 'search example.com\n');
    expect(await sandboxResolvConfs({ host, resolved })).toEqual({ host: `search example.com\n\n${google}`, other: `search example.com\n\n${google}` });
    expect(await sandboxResolvConfs({ host: join(dir.path, 'missing'), resolved })).toEqual({ host: `\n${google}`, other: `\n${google}` });
  });

  it("takes systemd-resolved's upstream list when the host's file names only its stub", async () => {
    const host = join(dir.path, 'resolv.conf');
    const resolved = join(dir.path, 'resolved.conf');
    await writeFile(host, 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n');
    await writeFile(resolved, 'nameserver 10.1.2.3\nsearch .\n');
    expect(await sandboxResolvConfs({ host, resolved })).toEqual({ host: 'nameserver 10.1.2.3\nsearch .\n', other: 'nameserver 10.1.2.3\nsearch .\n' });
  });
});
