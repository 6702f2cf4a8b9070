/**
 * Platforms as containerd's `platforms` package reads, writes and matches them, which is what
 * docker and BuildKit use: the specifiers of `FROM --platform`, `--platform` and the predefined
 * `TARGETPLATFORM`/`BUILDPLATFORM` arguments (`linux/arm64/v8`, `amd64`, `linux`), and the choice
 * of a manifest out of an index.
 */
import { readFileSync } from 'node:fs';
import { TsbuildError } from './errors.js';
import type { Descriptor, ImageConfig, Platform } from './oci.js';

const knownOS = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux',
  'nacl', 'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows', 'zos',
]);

const knownArch = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le', 'loong64',
  'mips', 'mipsle', 'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64',
  's390', 's390x', 'sparc', 'sparc64', 'wasm',
]);

const component = /^[A-Za-z0-9_-]+$/;

function normalizeOS(os: string): string {
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

function normalizeArch(arch: string, variant: string): { architecture: string; variant: string } {
  const a = arch.toLowerCase();
  const v = variant.toLowerCase();
  switch (a) {
    case 'i386':
      return { architecture: '386', variant: '' };
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return { architecture: 'amd64', variant: v === 'v1' ? '' : v };
    case 'aarch64':
    case 'arm64':
      return { architecture: 'arm64', variant: v === '8' || v === 'v8' ? '' : v };
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: 'v6' };
    case 'arm':
      if (v === '' || v === '7') return { architecture: 'arm', variant: 'v7' };
      if (v === '5' || v === '6' || v === '8') return { architecture: 'arm', variant: `v${v}` };
      return { architecture: 'arm', variant: v };
    default:
      return { architecture: a, variant: v };
  }
}

function make(os: string, architecture: string, variant: string): Platform {
  return variant === '' ? { os, architecture } : { os, architecture, variant };
}

/** The platform this process runs on, as an image platform (always Linux for tsbuild). */
export function hostPlatform(): Platform {
  const byNodeArch: Readonly<Record<string, readonly [string, string]>> = {
    x64: ['amd64', ''],
    arm64: ['arm64', ''],
    arm: ['arm', 'v7'],
    ia32: ['386', ''],
    ppc64: ['ppc64le', ''],
    s390x: ['s390x', ''],
    riscv64: ['riscv64', ''],
    loong64: ['loong64', ''],
  };
  const [architecture, variant] = byNodeArch[process.arch] ?? [process.arch, ''];
  return make('linux', architecture, variant);
}

/**
 * x86-64 microarchitecture levels by the /proc/cpuinfo flags each needs (SSE3 is `pni`), as
 * moby's archvariant reads them from the processor.
 */
const amd64Levels: readonly (readonly [string, readonly string[]])[] = [
  ['v4', ['avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl']],
  ['v3', ['avx', 'avx2', 'bmi1', 'bmi2', 'fma', 'xsave']],
  ['v2', ['pni', 'ssse3', 'sse4_1', 'sse4_2', 'popcnt']],
];

/**
 * This machine's platform as docker's daemon compares an image with it (moby's maximumSpec):
 * amd64 names the highest x86-64 level its processor reaches (`linux/amd64/v3`). CPUINFO is
 * /proc/cpuinfo's text, read when not given.
 */
export function hostMaximumPlatform(cpuinfo?: string): Platform {
  const host = hostPlatform();
  if (host.architecture !== 'amd64') return host;
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return host;
    }
  }
  const flags = new Set(/^flags\s*:(.*)$/m.exec(text)?.[1]?.trim().split(/\s+/) ?? []);
  let level = 'v1';
  // Each level needs every lower one's flags too.
  for (let index = amd64Levels.length - 1; index >= 0; index--) {
    const [name, needs] = amd64Levels[index] as (typeof amd64Levels)[number];
    if (!needs.every((flag) => flags.has(flag))) break;
    level = name;
  }
  return make(host.os, 'amd64', level);
}

/**
 * Parses `os[/arch[/variant]]` or a lone architecture, normalizing aliases (`x86_64` →
 * `amd64`, `aarch64` → `arm64`, `armhf` → `arm/v7`). A lone OS takes the host architecture and
 * a lone architecture the host OS.
 */
export function parsePlatform(specifier: string, host: Platform = hostPlatform()): Platform {
  const fail = (cause: string): never => {
    throw new TsbuildError('INVALID_ARGUMENT', `parse platform ${JSON.stringify(specifier)}: ${cause}`);
  };
  const parts = specifier.split('/');
  for (const part of parts) {
    if (!component.test(part)) fail(`invalid component ${JSON.stringify(part)}`);
  }
  const [first = '', second, third] = parts;
  if (parts.length === 1) {
    const os = normalizeOS(first);
    if (knownOS.has(os)) {
      return make(os, host.architecture, host.variant ?? '');
    }
    const arch = normalizeArch(first, '');
    if (knownArch.has(arch.architecture)) return make(host.os, arch.architecture, arch.variant);
    return fail('unknown operating system or architecture');
  }
  if (parts.length === 2 && second !== undefined) {
    const arch = normalizeArch(second, '');
    return make(normalizeOS(first), arch.architecture, arch.variant);
  }
  if (parts.length === 3 && second !== undefined && third !== undefined) {
    const arch = normalizeArch(second, third);
    return make(normalizeOS(first), arch.architecture, arch.variant);
  }
  return fail('too many components');
}

/** `os/arch[/variant]`, the form of `TARGETPLATFORM` and `BUILDPLATFORM`. */
export function formatPlatform(platform: Platform): string {
  const base = `${platform.os}/${platform.architecture}`;
  return platform.variant !== undefined && platform.variant !== '' ? `${base}/${platform.variant}` : base;
}

export function samePlatform(a: Platform, b: Platform): boolean {
  return formatPlatform(a) === formatPlatform(b) && (a['os.version'] ?? '') === (b['os.version'] ?? '');
}

/** PLATFORM with its aliases resolved (`aarch64` → `arm64`, `arm` → `arm/v7`, `amd64/v1` → `amd64`). */
export function normalizePlatform(platform: Platform): Platform {
  const arch = normalizeArch(platform.architecture, platform.variant ?? '');
  const normalized = make(normalizeOS(platform.os === '' ? 'linux' : platform.os), arch.architecture, arch.variant);
  return platform['os.version'] === undefined ? normalized : { ...normalized, 'os.version': platform['os.version'] };
}

function versionOf(variant: string | undefined): number {
  // Go's strconv.Atoi after the "v": digits only.
  const digits = (variant ?? '').replace(/^v/, '');
  return /^[0-9]+$/.test(digits) ? Number(digits) : Number.NaN;
}

/**
 * The platforms an image for WANTED may be run from, best first: older variants of the same
 * architecture (amd64/v3 → v2, v1; arm/v7 → v6, v5; arm64/v8.2 → v8.1, v8), then what the
 * processor also runs (amd64 → 386; arm64 → arm/v8 and below). containerd's `platforms.Only`.
 */
export function compatiblePlatforms(wanted: Platform): Platform[] {
  const platform = normalizePlatform(wanted);
  const { os } = platform;
  const vector: Platform[] = [platform];
  const withVariant = (architecture: string, variant: string): Platform => make(os, architecture, variant);
  switch (platform.architecture) {
    case 'amd64': {
      const level = versionOf(platform.variant);
      for (let older = level - 1; older >= 1; older--) vector.push(normalizePlatform(withVariant('amd64', `v${older}`)));
      vector.push(withVariant('386', ''));
      break;
    }
    case 'arm': {
      const level = versionOf(platform.variant);
      for (let older = level - 1; older >= 5; older--) vector.push(withVariant('arm', `v${older}`));
      break;
    }
    case 'arm64': {
      let variant = platform.variant ?? 'v8';
      const [majorPart = '', minorPart] = variant.split('.', 2);
      let major = versionOf(majorPart);
      if (major >= 8) {
        // Only a one-digit minor counts (`v8.2`), as in containerd.
        let minor = variant.length === 4 && minorPart !== undefined && /^[0-9]$/.test(minorPart) ? Number(minorPart) : 0;
        const arm64 = (majorVersion: number, minorVersion: number): Platform =>
          normalizePlatform(withVariant('arm64', minorVersion === 0 ? `v${majorVersion}` : `v${majorVersion}.${minorVersion}`));
        if (major === 9) {
          for (let older = minor - 1; older >= 0; older--) vector.push(arm64(9, older));
          // v9.x took up v8.(x+5): it runs what those run, up to v8.9.
          minor = Math.min(minor + 5, 9);
          major = 8;
          vector.push(arm64(8, minor));
        }
        for (let older = minor - 1; older >= 0; older--) vector.push(arm64(major, older));
      }
      // Every arm64 processor also runs 32-bit arm/v8 code, and so everything below it.
      if (variant.startsWith('v8.') || variant.startsWith('v9.')) variant = 'v8';
      vector.push(...compatiblePlatforms(withVariant('arm', variant)));
      break;
    }
    default:
      break;
  }
  return vector;
}

function samePlatformNormalized(candidate: Platform, wanted: Platform): boolean {
  const normalized = normalizePlatform(candidate);
  return normalized.os === wanted.os && normalized.architecture === wanted.architecture && (normalized.variant ?? '') === (wanted.variant ?? '');
}

/** Where CANDIDATE stands in a compatiblePlatforms list: 0 is an exact match, -1 is none. */
function rankIn(compatible: readonly Platform[], candidate: Platform): number {
  return compatible.findIndex((entry) => samePlatformNormalized(candidate, entry));
}

export function platformMatches(candidate: Platform, wanted: Platform): boolean {
  return rankIn(compatiblePlatforms(wanted), candidate) >= 0;
}

/**
 * The entry of an index to use for WANTED: the best match (see compatiblePlatforms), the first
 * listed among equals. Entries that name no platform are left out.
 */
export function selectManifest<T extends Descriptor>(manifests: readonly T[], wanted: Platform): T | undefined {
  const vector = compatiblePlatforms(wanted);
  let best: T | undefined;
  let bestRank = vector.length;
  for (const entry of manifests) {
    if (entry.platform === undefined) continue;
    const rank = rankIn(vector, entry.platform);
    if (rank >= 0 && rank < bestRank) {
      best = entry;
      bestRank = rank;
    }
  }
  return best;
}

/** PLATFORM as OCI documents write it (an index entry's, an image config's): architecture, os, then a variant when there is one. */
export function descriptorPlatform(platform: Pick<Platform, 'os' | 'architecture' | 'variant'>): { architecture: string; os: string; variant?: string } {
  return { architecture: platform.architecture, os: platform.os, ...(platform.variant === undefined ? {} : { variant: platform.variant }) };
}

/** The platform an image's config says it is for: what an index entry without one is taken as. */
export function imagePlatform(config: Pick<ImageConfig, 'os' | 'architecture' | 'variant'>): Platform {
  return { os: config.os, architecture: config.architecture, ...(typeof config.variant === 'string' ? { variant: config.variant } : {}) };
}
