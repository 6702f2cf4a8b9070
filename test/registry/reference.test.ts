import { describe, expect, it } from 'vitest';
import { familiarReference, formatReference, isTsbuildError, parseReference, registryApiHost } from '../../src/common/index.js';

const digest = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1'],
    ['user/app', 'docker.io/user/app:latest'],
    ['user/app/deep:v1.2-rc_3', 'docker.io/user/app/deep:v1.2-rc_3'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:1', 'localhost:5000/app:1'],
    ['127.0.0.1:5000/a/b', '127.0.0.1:5000/a/b:latest'],
    ['ghcr.io/owner/repo:tag', 'ghcr.io/owner/repo:tag'],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
    ['registry.example.com/a__b/c.d-e', 'registry.example.com/a__b/c.d-e:latest'],
    [`busybox@${digest}`, `docker.io/library/busybox@${digest}`],
    [`busybox:1@${digest}`, `docker.io/library/busybox:1@${digest}`],
    [`host:5000/app@${digest}`, `host:5000/app@${digest}`],
  ])('normalizes %s', (input, expected) => {
    expect(formatReference(parseReference(input))).toBe(expected);
  });

  it('splits domain, path, tag and digest', () => {
    expect(parseReference(`localhost:5000/team/app:v1@${digest}`)).toEqual({ domain: 'localhost:5000', path: 'team/app', tag: 'v1', digest });
  });

  it('leaves the tag out when asked', () => {
    expect(parseReference('busybox', { defaultTag: false }).tag).toBeUndefined();
  });

  it.each([
    [''],
    ['Busybox'],
    ['user/App'],
    ['busybox:'],
    ['busybox:-tag'],
    [`busybox:${'t'.repeat(129)}`],
    ['busybox@sha256:abc'],
    ['busybox@md5:0123'],
    ['a//b'],
    ['/busybox'],
    ['busybox/'],
    ['-busybox'],
    ['bad_host:99999/app'],
    ['host:0x50/app'],
    [' busybox'],
    ['a'.repeat(64)],
    [`example.com/${'a'.repeat(250)}`],
    ['my.registry/ap--p?x'],
  ])('rejects %j with INVALID_REFERENCE', (input) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (error) {
      caught = error;
    }
    expect(isTsbuildError(caught, 'INVALID_REFERENCE')).toBe(true);
    expect((caught as Error).message).toMatch(/^parse reference /);
  });

  it('prints the familiar form docker shows', () => {
    expect(familiarReference(parseReference('docker.io/library/busybox'))).toBe('busybox:latest');
    expect(familiarReference(parseReference('docker.io/user/app:1'))).toBe('user/app:1');
    expect(familiarReference(parseReference('localhost:5000/app'))).toBe('localhost:5000/app:latest');
  });

  it('maps docker.io to the Docker Hub API host only', () => {
    expect(registryApiHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryApiHost('localhost:5000')).toBe('localhost:5000');
  });
});
