/**
 * Platform specifiers (`linux/arm64/v8`, `amd64`, `linux`) as containerd's `platforms` package
 * reads and writes them, which is what `FROM --platform`, `--platform` and the predefined
 * `TARGETPLATFORM`/`BUILDPLATFORM` arguments use.
 */
import { TsbuildError, type Platform } from '../common/index.js';

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
