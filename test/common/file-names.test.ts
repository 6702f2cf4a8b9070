import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeFileName, encodeFileName, fsPath, isTextName, readDirectoryEntries, readDirectoryNames, treeSize } from '../../src/common/index.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('file names as bytes', () => {
  it('keeps a UTF-8 name as its text and Node’s own string', () => {
    for (const name of ['plain', 'café', 'snow☃man', 'emoji😀x', '\ufffd', '']) {
      expect(decodeFileName(Buffer.from(name))).toBe(name);
      expect(encodeFileName(name).equals(Buffer.from(name))).toBe(true);
      expect(isTextName(name)).toBe(true);
      expect(fsPath(name)).toBe(name);
    }
  });

  it('escapes each stray byte of a name that is not UTF-8, and gives the bytes back', () => {
    const name = decodeFileName(latin1('caf\xe9'));
    expect(name).toBe('caf\udce9');
    expect(isTextName(name)).toBe(false);
    expect(encodeFileName(name).equals(latin1('caf\xe9'))).toBe(true);
    expect(fsPath(`/x/${name}`)).toEqual(latin1('/x/caf\xe9'));
    // A truncated sequence, an encoded surrogate, an overlong form, a code point past U+10FFFF:
    // each byte escaped alone, the valid text around them kept.
    for (const bytes of [Buffer.from([0xe2, 0x98, 0x41]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.concat([Buffer.from('é'), Buffer.from([0xff]), Buffer.from('😀')])]) {
      const decoded = decodeFileName(bytes);
      expect(isTextName(decoded)).toBe(false);
      expect(encodeFileName(decoded).equals(bytes)).toBe(true);
    }
    expect(decodeFileName(Buffer.concat([Buffer.from('é'), Buffer.from([0xff]), Buffer.from('😀')]))).toBe('é\udcff😀');
  });

  it('gives back any byte string it decoded', () => {
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let round = 0; round < 2000; round++) {
      // Bytes biased to the UTF-8 lead and continuation ranges, where decoding has cases.
      const bytes = Buffer.from(Array.from({ length: random() % 12 }, () => (random() % 3 === 0 ? random() % 128 : 0x80 + (random() % 128))));
      const decoded = decodeFileName(bytes);
      expect(encodeFileName(decoded).equals(bytes), bytes.toString('hex')).toBe(true);
      expect(decodeFileName(encodeFileName(decoded))).toBe(decoded);
    }
  });

  describe('in a directory', () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ path: dir, cleanup } = await temporaryDirectory('tsbuild-names-'));
    });
    afterEach(async () => {
      await cleanup();
    });

    it('lists names byte-exact, only a directory holding one not UTF-8 read as bytes', () => {
      const root = Buffer.from(dir);
      writeFileSync(Buffer.concat([root, latin1('/caf\xe9')]), 'x');
      mkdirSync(Buffer.concat([root, latin1('/dir\xff')]));
      writeFileSync(Buffer.concat([root, latin1('/dir\xff/f')]), 'y');
      symlinkSync('caf\xe9', Buffer.concat([root, latin1('/link')]));
      writeFileSync(join(dir, 'café'), 'z');
      // Node's own listing loses the bytes.
      expect(readdirSync(dir).sort()).toEqual(['café', 'caf\ufffd', 'dir\ufffd', 'link']);
      const names = readDirectoryNames(dir).sort();
      expect(names).toEqual(['café', 'caf\udce9', 'dir\udcff', 'link']);
      expect(readDirectoryNames(join(dir, 'dir\udcff'))).toEqual(['f']);
      const entries = readDirectoryEntries(dir)
        .map((entry) => [entry.name, entry.isDirectory(), entry.isFile(), entry.isSymbolicLink()])
        .sort();
      expect(entries).toEqual([
        ['café', false, true, false],
        ['caf\udce9', false, true, false],
        ['dir\udcff', true, false, false],
        ['link', false, false, true],
      ]);
      expect(readDirectoryEntries(join(dir, 'dir\udcff')).map((entry) => entry.name)).toEqual(['f']);
      // A tree walked by these listings counts every file: x, y, z and the link's target `café`.
      return treeSize(dir).then((bytes) => expect(bytes).toBe(3 + Buffer.byteLength('café')));
    });
  });
});
