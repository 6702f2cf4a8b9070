/**
 * What lets this machine execute another platform's binaries in a RUN step. The kernel does it
 * for its own architecture, and for another through a binfmt_misc handler (QEMU in user mode, as
 * `docker run --privileged tonistiigi/binfmt --install arm64` registers it). A step runs in the
 * image's root, where the handler's interpreter does not exist: only a handler registered with the
 * F flag (the kernel opens the interpreter when the handler is registered) serves a container,
 * which is why BuildKit's and podman's emulation need it too.
 */
import { readFile } from 'node:fs/promises';
import { formatPlatform, hostPlatform, type Platform } from '../common/index.js';

/** QEMU's name of each architecture docker names, as binfmt handlers are called (`qemu-aarch64`). */
const qemuNames: Readonly<Record<string, string>> = {
  amd64: 'x86_64',
  arm64: 'aarch64',
  arm: 'arm',
  '386': 'i386',
  ppc64le: 'ppc64le',
  ppc64: 'ppc64',
  s390x: 's390x',
  riscv64: 'riscv64',
  mips64le: 'mips64el',
  mips64: 'mips64',
  loong64: 'loongarch64',
};

const binfmtDirectory = '/proc/sys/fs/binfmt_misc';

/** Whether QEMU's handler `qemu-QEMU` is registered, enabled and able to serve a container. */
async function containerHandler(qemu: string): Promise<boolean> {
  const text = await readFile(`${binfmtDirectory}/qemu-${qemu}`, 'utf8').catch(() => '');
  const lines = text.split('\n');
  const flags = lines.find((line) => line.startsWith('flags:'))?.slice('flags:'.length).trim() ?? '';
  return lines[0] === 'enabled' && flags.includes('F');
}

/**
 * Why a step of PLATFORM could not start its program with the kernel's "exec format error", when
 * this machine has no emulation for it: BuildKit runs such a step all the same (a base image of
 * one manifest may hold this machine's binaries whatever the build's platform), and the kernel
 * decides; this says what would have let it run.
 */
export async function emulationHint(platform: Platform): Promise<string | undefined> {
  const host = hostPlatform();
  if (platform.os === host.os && platform.architecture === host.architecture) return undefined;
  const qemu = qemuNames[platform.architecture];
  if (platform.os === 'linux' && qemu !== undefined && (await containerHandler(qemu))) return undefined;
  const handler = qemu === undefined ? 'an emulator' : `a binfmt_misc handler ${binfmtDirectory}/qemu-${qemu} registered with the F flag (QEMU in user mode; docker run --privileged tonistiigi/binfmt --install ${platform.architecture} registers one)`;
  return `the step runs for ${formatPlatform(platform)}, and this machine (${formatPlatform(host)}) needs emulation for its binaries: ${handler}`;
}
