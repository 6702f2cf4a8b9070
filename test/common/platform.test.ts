import { describe, expect, it } from 'vitest';
import { compatiblePlatforms, formatPlatform, hostMaximumPlatform, MediaType, normalizePlatform, parsePlatform, platformMatches, selectManifest, type Descriptor, type Digest, type Platform } from '../../src/common/index.js';

/** A platform as written; variants with a dot (`v8.2`) only come from images, not from specifiers. */
const linux = (specifier: string): Platform => {
  const [os = '', architecture = '', variant] = specifier.split('/');
  return variant !== undefined && variant.includes('.') ? { os, architecture, variant } : parsePlatform(specifier, { os: 'linux', architecture: 'amd64' });
};

let serial = 0;
/** An index entry for PLATFORM as written (aliases and all), with a digest of its own. */
function entry(architecture: string, variant?: string, os = 'linux'): Descriptor {
  serial += 1;
  return {
    mediaType: MediaType.ociManifest,
    digest: `sha256:${serial.toString(16).padStart(64, '0')}` as Digest,
    size: 1,
    platform: { os, architecture, ...(variant === undefined ? {} : { variant }) },
  };
}

describe('compatiblePlatforms', () => {
  it('lists what a platform runs, best first, as containerd does', () => {
    const vector = (specifier: string): string[] => compatiblePlatforms(linux(specifier)).map(formatPlatform);
    expect(vector('linux/amd64')).toEqual(['linux/amd64', 'linux/386']);
    expect(vector('linux/amd64/v3')).toEqual(['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386']);
    expect(vector('linux/arm/v7')).toEqual(['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
    expect(vector('linux/arm')).toEqual(['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
    expect(vector('linux/arm/v5')).toEqual(['linux/arm/v5']);
    expect(vector('linux/arm64')).toEqual(['linux/arm64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
    expect(vector('linux/arm64/v8.2')).toEqual(['linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
    expect(vector('linux/arm64/v9.1').slice(0, 9)).toEqual([
      'linux/arm64/v9.1',
      'linux/arm64/v9',
      'linux/arm64/v8.6',
      'linux/arm64/v8.5',
      'linux/arm64/v8.4',
      'linux/arm64/v8.3',
      'linux/arm64/v8.2',
      'linux/arm64/v8.1',
      'linux/arm64',
    ]);
    expect(vector('linux/s390x')).toEqual(['linux/s390x']);
  });

  it('normalizes aliases the way platform specifiers are read', () => {
    expect(normalizePlatform({ os: 'Linux', architecture: 'aarch64', variant: 'v8' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'x86_64', variant: 'v1' })).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'armhf' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(normalizePlatform({ os: 'linux', architecture: 'arm' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(normalizePlatform({ os: 'linux', architecture: 'i386' })).toEqual({ os: 'linux', architecture: '386' });
  });
});

describe('platform matching', () => {
  it('matches through aliases and implied variants, never a newer variant', () => {
    expect(platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, linux('linux/arm64'))).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'aarch64' }, linux('linux/arm64/v8'))).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: '386' }, linux('linux/amd64'))).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'amd64' }, linux('linux/386'))).toBe(false);
    // An arm entry without a variant is arm/v7: not for an arm/v6 machine.
    expect(platformMatches({ os: 'linux', architecture: 'arm' }, linux('linux/arm/v6'))).toBe(false);
    expect(platformMatches({ os: 'linux', architecture: 'amd64', variant: 'v3' }, linux('linux/amd64'))).toBe(false);
    expect(platformMatches({ os: 'windows', architecture: 'amd64' }, linux('linux/amd64'))).toBe(false);
  });

  it('chooses the best entry of an index, not the first that would run', () => {
    const i386 = entry('386');
    const amd64 = entry('amd64');
    expect(selectManifest([i386, amd64], linux('linux/amd64'))).toBe(amd64);
    expect(selectManifest([i386], linux('linux/amd64'))).toBe(i386);

    const armv5 = entry('arm', 'v5');
    const armv6 = entry('arm', 'v6');
    const arm = entry('arm');
    expect(selectManifest([armv5, armv6], linux('linux/arm/v7'))).toBe(armv6);
    expect(selectManifest([arm, armv6], linux('linux/arm/v6'))).toBe(armv6);
    expect(selectManifest([armv5, arm], linux('linux/arm64'))).toBe(arm);
    expect(selectManifest([armv6], linux('linux/arm/v5'))).toBeUndefined();

    const v2 = entry('amd64', 'v2');
    const v3 = entry('amd64', 'v3');
    expect(selectManifest([amd64, v2, v3], linux('linux/amd64/v3'))).toBe(v3);
    expect(selectManifest([amd64, v2], linux('linux/amd64/v3'))).toBe(v2);
    expect(selectManifest([v3, amd64], linux('linux/amd64'))).toBe(amd64);

    const arm64v8 = entry('arm64', 'v8');
    const arm64v85 = entry('arm64', 'v8.5');
    expect(selectManifest([arm64v8, arm64v85], linux('linux/arm64/v9'))).toBe(arm64v85);
    expect(selectManifest([arm64v85, arm64v8], linux('linux/arm64'))).toBe(arm64v8);
  });

  it('takes the first listed among equal entries and skips entries without a platform', () => {
    const first = entry('amd64');
    const second = entry('amd64');
    const attestation = entry('unknown', undefined, 'unknown');
    const bare: Descriptor = { mediaType: MediaType.ociManifest, digest: `sha256:${'f'.repeat(64)}` as Digest, size: 1 };
    expect(selectManifest([bare, attestation, first, second], linux('linux/amd64'))).toBe(first);
    expect(selectManifest([bare, attestation], linux('linux/amd64'))).toBeUndefined();
  });
});

describe('hostMaximumPlatform', () => {
  const cpuinfo = (flags: string): string => `processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: ${flags}\nbugs\t\t: spectre_v1\n`;
  const v2 = 'fpu sse2 pni ssse3 sse4_1 sse4_2 popcnt';
  const v3 = `${v2} avx avx2 bmi1 bmi2 fma xsave`;

  it.runIf(process.arch === 'x64')('names the x86-64 level the processor reaches, as moby’s maximumSpec', () => {
    expect(hostMaximumPlatform(cpuinfo('fpu sse2'))).toEqual({ os: 'linux', architecture: 'amd64', variant: 'v1' });
    expect(hostMaximumPlatform(cpuinfo(v2))).toEqual({ os: 'linux', architecture: 'amd64', variant: 'v2' });
    expect(hostMaximumPlatform(cpuinfo(v3))).toEqual({ os: 'linux', architecture: 'amd64', variant: 'v3' });
    // v4's flags without v3's reach no higher than v2: each level needs those below it.
    expect(hostMaximumPlatform(cpuinfo(`${v2} avx512f avx512bw avx512cd avx512dq avx512vl`))).toEqual({ os: 'linux', architecture: 'amd64', variant: 'v2' });
    expect(hostMaximumPlatform(cpuinfo(`${v3} avx512f avx512bw avx512cd avx512dq avx512vl`))).toEqual({ os: 'linux', architecture: 'amd64', variant: 'v4' });
    // An image of any level up to it runs here.
    expect(platformMatches({ os: 'linux', architecture: 'amd64', variant: 'v2' }, hostMaximumPlatform(cpuinfo(v3)))).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'amd64', variant: 'v3' }, hostMaximumPlatform(cpuinfo(v2)))).toBe(false);
  });
});
