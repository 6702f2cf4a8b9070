import { describe, expect, it } from 'vitest';
import { TsbuildError } from '../../src/common/index.js';
import { formatPlatform, parseMount, parsePlatform, parseRamSize } from '../../src/planner/index.js';

const identity = (word: string): string => word;

describe('parseMount', () => {
  it('reads a cache mount with every option', () => {
    expect(parseMount('type=cache,target=/root/.cache,id=go,sharing=locked,mode=0750,uid=1000,gid=1000', identity)).toEqual({
      type: 'cache',
      target: '/root/.cache',
      readOnly: false,
      cacheId: 'go',
      sharing: 'locked',
      required: false,
      mode: 0o750,
      uid: 1000,
      gid: 1000,
    });
  });

  it('defaults bind mounts to read-only and honours rw', () => {
    expect(parseMount('source=.,target=/src', identity).readOnly).toBe(true);
    expect(parseMount('target=/src,rw', identity).readOnly).toBe(false);
    expect(parseMount('type=tmpfs,target=/t,size=64m', identity)).toMatchObject({ readOnly: false, sizeLimit: 64 * 1024 * 1024 });
  });

  it('expands every value before validating', () => {
    const vars: Record<string, string> = { T: 'secret', ID: 'npmrc' };
    const expand = (word: string): string => word.replace(/\$(\w+)/g, (_m, name: string) => vars[name] ?? '');
    expect(parseMount('type=$T,id=$ID,required', expand)).toMatchObject({ type: 'secret', cacheId: 'npmrc', required: true });
  });

  it('reads quoted CSV fields', () => {
    expect(parseMount('"target=/a,b",type=bind', identity).target).toBe('/a,b');
    expect(() => parseMount('target=/a"b', identity)).toThrow(TsbuildError);
  });

  it.each([
    ['type=cahce,target=/x', 'unsupported mount type "cahce" (did you mean cache?)'],
    ['target=/x,mode=0755', 'mode not allowed for "bind" type mounts'],
    ['type=secret', 'invalid secret mount. one of source, target required'],
    ['type=bind,target=/x,sharing=shared', 'invalid cache sharing set for bind mount'],
    ['target=/x,bogus', "invalid field 'bogus' must be a key=value pair"],
    ['target=/x,uid=-1', 'invalid value -1 for uid'],
    ['target=/x,foo=bar', "unexpected key 'foo' in 'foo=bar'"],
  ])('rejects %s', (value, cause) => {
    expect(() => parseMount(value, identity)).toThrow(`parse mount: ${cause}`);
  });

  it('reads only from= before expansion, and refuses a variable there', () => {
    expect(parseMount('type=$T,from=build,target=$X')).toEqual({ type: 'bind', from: 'build', readOnly: true, required: false });
    expect(() => parseMount('from=$STAGE')).toThrow("'from' doesn't support variable expansion, define alias stage instead");
  });

  it('converts sizes with binary multiples', () => {
    expect(parseRamSize('1g')).toBe(1024 ** 3);
    expect(parseRamSize('1.5KiB')).toBe(1536);
    expect(parseRamSize('12')).toBe(12);
    expect(parseRamSize('big')).toBeUndefined();
  });
});

describe('platforms', () => {
  const host = { os: 'linux', architecture: 'amd64' };
  it.each([
    ['linux/amd64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/arm/6', 'linux/arm/v6'],
    ['Linux/AMD64', 'linux/amd64'],
    ['arm64', 'linux/arm64'],
    ['linux', 'linux/amd64'],
    ['windows/amd64', 'windows/amd64'],
  ])('%s → %s', (specifier, expected) => {
    expect(formatPlatform(parsePlatform(specifier, host))).toBe(expected);
  });

  it.each(['', 'linux/', 'foo', 'linux/amd64/v2/x', 'linux/am d64'])('rejects %j', (specifier) => {
    expect(() => parsePlatform(specifier, host)).toThrow(TsbuildError);
  });
});
