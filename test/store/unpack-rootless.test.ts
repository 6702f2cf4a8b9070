/**
 * Unpacking as an unprivileged user, for real: what needs privilege (device nodes, trusted and
 * security xattrs) is skipped and reported, the rest is made.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readXattrs } from '../../src/common/index.js';
import { encodeHeader, endOfArchive, padding } from '../../src/exporter/tar.js';
import { asRootless, ensureRootlessUser, isRoot, repoRoot } from '../runtime/helpers.js';

describe.skipIf(!isRoot)('unpacking as an unprivileged user', () => {
  let scratch: string;
  let user: ReturnType<typeof ensureRootlessUser>;

  beforeAll(() => {
    user = ensureRootlessUser();
    scratch = mkdtempSync(join(tmpdir(), 'tsbuild-unpack-rootless-'));
    chmodSync(scratch, 0o755);
  });

  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('makes files, fifos and user xattrs, and skips device nodes and privileged xattrs with a reason', () => {
    const content = Buffer.from('ping');
    const capability = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    const layer = Buffer.concat([
      encodeHeader({ path: 'bin', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 }),
      encodeHeader({
        path: 'bin/ping',
        type: 'file',
        size: content.length,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 0,
        pax: { 'SCHILY.xattr.security.capability': capability, 'SCHILY.xattr.user.origin': 'layer', 'SCHILY.xattr.trusted.overlay.opaque': 'y', 'SCHILY.xattr.user.overlay.opaque': 'y' },
      }),
      content,
      padding(content.length),
      encodeHeader({ path: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666, uid: 0, gid: 0, mtime: 0 }),
      encodeHeader({ path: 'run/pipe', type: 'fifo', mode: 0o600, uid: 0, gid: 0, mtime: 0 }),
      endOfArchive,
    ]);
    const tar = join(scratch, 'layer.tar');
    writeFileSync(tar, layer);
    chmodSync(tar, 0o644);
    const target = join(scratch, 'target');
    mkdirSync(target);
    chownSync(target, user.uid, user.gid);

    const argv = [...asRootless(user), process.execPath, '--import', 'tsx', join(repoRoot, 'test', 'helpers', 'unpack-child.ts'), tar, target];
    const output = execFileSync(argv[0] ?? '', argv.slice(1), { cwd: repoRoot, encoding: 'utf8' });
    const result = JSON.parse(output) as { entries: number; skipped: Array<{ path: string; reason: string }> };

    expect(result.skipped).toEqual(
      expect.arrayContaining([
        { path: 'bin/ping', reason: 'xattr security.capability (EPERM)' },
        { path: 'bin/ping', reason: "xattr trusted.overlay.opaque (overlay's own)" },
        // An unprivileged overlay (userxattr) would take it as its own mark.
        { path: 'bin/ping', reason: "xattr user.overlay.opaque (overlay's own)" },
        { path: 'dev/null', reason: 'character-device (not root)' },
      ]),
    );
    expect(result.skipped).toHaveLength(4);
    const ping = lstatSync(join(target, 'bin/ping'));
    expect([ping.uid, ping.mode & 0o7777]).toEqual([user.uid, 0o755]);
    expect(readXattrs(join(target, 'bin/ping')).get('user.origin')?.toString()).toBe('layer');
    expect(lstatSync(join(target, 'run/pipe')).isFIFO()).toBe(true);
    expect(() => lstatSync(join(target, 'dev/null'))).toThrow();
  });
});
