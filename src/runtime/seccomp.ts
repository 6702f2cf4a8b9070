/**
 * docker's default seccomp confinement of a container, as the runtime spec's `linux.seccomp`
 * (which crun and runc compile with libseccomp) and as the classic BPF program the runtime-shim
 * installs (the shim carries no syscall table; tsbuild compiles the same rules here).
 *
 * docker's profile lists the syscalls it allows; what it refuses, as its documentation lists
 * them, is what matters to a container, so the rules here name those: the kernel's keyring,
 * module and kexec calls, mounts and namespaces (with CAP_SYS_ADMIN only, clone's namespace
 * flags included), clock setting, raw I/O, handles, bpf and perf (with their capabilities), the
 * obsolete calls, and io_uring (refused since docker 25). clone3 answers ENOSYS, so that the C
 * library falls back to clone, whose flags a filter can read. Every other syscall is allowed.
 */
import { arch } from 'node:process';

/** The runtime spec's `linux.seccomp`, as far as these rules use it. */
export interface SeccompProfile {
  readonly defaultAction: 'SCMP_ACT_ALLOW';
  readonly architectures: readonly string[];
  readonly syscalls: readonly SeccompRule[];
}

export interface SeccompRule {
  readonly names: readonly string[];
  readonly action: 'SCMP_ACT_ERRNO';
  readonly errnoRet: number;
  /** All must hold (the spec's AND): `(arg[index] & value) == valueTwo`. */
  readonly args?: ReadonlyArray<{ readonly index: number; readonly value: number; readonly valueTwo: number; readonly op: 'SCMP_CMP_MASKED_EQ' }>;
}

const EPERM = 1;
const ENOSYS = 38;

/** What docker refuses, and the capabilities (any one of them) that lift each refusal. */
const refusals: ReadonlyArray<{ readonly names: readonly string[]; readonly unless: readonly string[]; readonly errno?: number }> = [
  {
    names: ['add_key', 'keyctl', 'request_key', 'nfsservctl', 'uselib', 'ustat', 'sysfs', '_sysctl', 'vm86', 'vm86old', 'get_kernel_syms', 'query_module', 'create_module', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'],
    unless: [],
  },
  {
    names: ['mount', 'umount', 'umount2', 'pivot_root', 'setns', 'unshare', 'swapon', 'swapoff', 'quotactl', 'quotactl_fd', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'open_tree', 'move_mount', 'mount_setattr', 'name_to_handle_at', 'fanotify_init', 'lookup_dcookie'],
    unless: ['CAP_SYS_ADMIN'],
  },
  { names: ['clone3'], unless: ['CAP_SYS_ADMIN'], errno: ENOSYS },
  { names: ['bpf'], unless: ['CAP_SYS_ADMIN', 'CAP_BPF'] },
  { names: ['perf_event_open'], unless: ['CAP_SYS_ADMIN', 'CAP_PERFMON'] },
  { names: ['syslog'], unless: ['CAP_SYS_ADMIN', 'CAP_SYSLOG'] },
  { names: ['reboot', 'kexec_load', 'kexec_file_load'], unless: ['CAP_SYS_BOOT'] },
  { names: ['init_module', 'finit_module', 'delete_module'], unless: ['CAP_SYS_MODULE'] },
  { names: ['acct'], unless: ['CAP_SYS_PACCT'] },
  { names: ['iopl', 'ioperm'], unless: ['CAP_SYS_RAWIO'] },
  { names: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'clock_adjtime', 'clock_adjtime64'], unless: ['CAP_SYS_TIME'] },
  { names: ['vhangup'], unless: ['CAP_SYS_TTY_CONFIG'] },
  { names: ['open_by_handle_at'], unless: ['CAP_DAC_READ_SEARCH'] },
  { names: ['userfaultfd'], unless: ['CAP_SYS_PTRACE'] },
];

/** clone's namespace flags (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET): docker's mask 0x7E020000. */
const namespaceFlags = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];

/** docker's default profile for a container holding CAPABILITIES (`CAP_…` names). */
export function defaultSeccompProfile(capabilities: readonly string[]): SeccompProfile {
  const held = new Set(capabilities);
  const syscalls: SeccompRule[] = [];
  for (const refusal of refusals) {
    if (refusal.unless.some((capability) => held.has(capability))) continue;
    syscalls.push({ names: refusal.names, action: 'SCMP_ACT_ERRNO', errnoRet: refusal.errno ?? EPERM });
  }
  if (!held.has('CAP_SYS_ADMIN')) {
    // One rule per flag: the spec ANDs a rule's conditions, and any one flag is refused.
    for (const flag of namespaceFlags) syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }] });
  }
  return { defaultAction: 'SCMP_ACT_ALLOW', architectures: architectures[arch] ?? [], syscalls };
}

const architectures: Readonly<Record<string, readonly string[]>> = {
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
};

/** The numbers of the syscalls the rules name, per audit architecture (from the kernel's unistd headers). */
const syscallNumbers: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  SCMP_ARCH_X86_64: {
    add_key: 248, keyctl: 250, request_key: 249, nfsservctl: 180, uselib: 134, ustat: 136, sysfs: 139, _sysctl: 156, get_kernel_syms: 177,
    query_module: 178, create_module: 174, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, lookup_dcookie: 212, mount: 165,
    umount2: 166, pivot_root: 155, setns: 308, unshare: 272, swapon: 167, swapoff: 168, quotactl: 179, quotactl_fd: 443, fsopen: 430,
    fsconfig: 431, fsmount: 432, fspick: 433, open_tree: 428, move_mount: 429, mount_setattr: 442, name_to_handle_at: 303, fanotify_init: 300,
    clone: 56, clone3: 435, bpf: 321, perf_event_open: 298, syslog: 103, reboot: 169, kexec_load: 246, kexec_file_load: 320, init_module: 175,
    finit_module: 313, delete_module: 176, acct: 163, iopl: 172, ioperm: 173, settimeofday: 164, clock_settime: 227, clock_adjtime: 305,
    vhangup: 153, open_by_handle_at: 304, userfaultfd: 323,
  },
  SCMP_ARCH_X86: {
    add_key: 286, keyctl: 288, request_key: 287, nfsservctl: 169, uselib: 86, ustat: 62, sysfs: 135, _sysctl: 149, vm86: 166, vm86old: 113,
    get_kernel_syms: 130, query_module: 167, create_module: 127, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
    lookup_dcookie: 253, mount: 21, umount: 22, umount2: 52, pivot_root: 217, setns: 346, unshare: 310, swapon: 87, swapoff: 115, quotactl: 131,
    quotactl_fd: 443, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, open_tree: 428, move_mount: 429, mount_setattr: 442,
    name_to_handle_at: 341, fanotify_init: 338, clone: 120, clone3: 435, bpf: 357, perf_event_open: 336, syslog: 103, reboot: 88,
    kexec_load: 283, init_module: 128, finit_module: 350, delete_module: 129, acct: 51, iopl: 110, ioperm: 101, settimeofday: 79, stime: 25,
    clock_settime: 264, clock_settime64: 404, clock_adjtime: 343, clock_adjtime64: 405, vhangup: 111, open_by_handle_at: 342, userfaultfd: 374,
  },
  SCMP_ARCH_AARCH64: {
    add_key: 217, keyctl: 219, request_key: 218, nfsservctl: 42, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
    lookup_dcookie: 18, mount: 40, umount2: 39, pivot_root: 41, setns: 268, unshare: 97, swapon: 224, swapoff: 225, quotactl: 60,
    quotactl_fd: 443, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, open_tree: 428, move_mount: 429, mount_setattr: 442,
    name_to_handle_at: 264, fanotify_init: 262, clone: 220, clone3: 435, bpf: 280, perf_event_open: 241, syslog: 116, reboot: 142,
    kexec_load: 104, kexec_file_load: 294, init_module: 105, finit_module: 273, delete_module: 106, acct: 89, settimeofday: 170,
    clock_settime: 112, clock_adjtime: 266, vhangup: 58, open_by_handle_at: 265, userfaultfd: 282,
  },
};

/** AUDIT_ARCH_* of each architecture the filter can answer for. */
const auditArchitectures: Readonly<Record<string, number>> = {
  SCMP_ARCH_X86_64: 0xc000003e,
  SCMP_ARCH_X86: 0x40000003,
  SCMP_ARCH_AARCH64: 0xc00000b7,
};

/** x32 syscalls are x86-64 numbers with this bit: refused whole (ENOSYS, as a kernel without x32). */
const x32SyscallBit = 0x40000000;

// Classic BPF, as seccomp runs it over struct seccomp_data { nr, arch, ip, args[6] }.
const loadWord = 0x20; // BPF_LD | BPF_W | BPF_ABS
const jumpIfEqual = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const jumpIfAtLeast = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const andConstant = 0x54; // BPF_ALU | BPF_AND | BPF_K
const returnConstant = 0x06; // BPF_RET | BPF_K
const retAllow = 0x7fff0000;
const retErrno = (errno: number): number => 0x00050000 | (errno & 0xffff);
const offsetNumber = 0;
const offsetArchitecture = 4;
const offsetArgument = (index: number, high: boolean): number => 16 + 8 * index + (high ? 4 : 0);

interface Instruction {
  readonly code: number;
  readonly jumpTrue: number;
  readonly jumpFalse: number;
  readonly constant: number;
}

const statement = (code: number, constant: number): Instruction => ({ code, jumpTrue: 0, jumpFalse: 0, constant });
const jump = (code: number, constant: number, jumpTrue: number, jumpFalse: number): Instruction => ({ code, jumpTrue, jumpFalse, constant });

/**
 * The profile as a seccomp filter for this machine's architectures (struct sock_filter, 8
 * bytes each, in the machine's byte order): each architecture's rules in order, the first that
 * matches answers, then the default; an architecture the profile does not name is refused.
 */
export function compileSeccompFilter(profile: SeccompProfile): Buffer {
  const known = profile.architectures.filter((name) => syscallNumbers[name] !== undefined && auditArchitectures[name] !== undefined);
  const blocks = known.map((name) => architectureBlock(name, profile));
  const program: Instruction[] = [statement(loadWord, offsetArchitecture)];
  // One comparison per architecture, jumping past the comparisons after it, the refusal that
  // follows them, and the blocks before its own.
  let before = 0;
  for (const [index, name] of known.entries()) {
    const offset = known.length - index + before;
    if (offset > 255) throw new Error('seccomp filter: an architecture block lies beyond a jump');
    program.push(jump(jumpIfEqual, auditArchitectures[name] as number, offset, 0));
    before += (blocks[index] as Instruction[]).length;
  }
  program.push(statement(returnConstant, retErrno(ENOSYS)));
  for (const block of blocks) program.push(...block);
  if (program.length > 4096) throw new Error(`seccomp filter of ${program.length} instructions: more than the kernel takes`);
  const bytes = Buffer.alloc(program.length * 8);
  for (const [index, instruction] of program.entries()) {
    const at = index * 8;
    bytes.writeUInt16LE(instruction.code, at);
    bytes.writeUInt8(instruction.jumpTrue, at + 2);
    bytes.writeUInt8(instruction.jumpFalse, at + 3);
    bytes.writeUInt32LE(instruction.constant >>> 0, at + 4);
  }
  return bytes;
}

function architectureBlock(name: string, profile: SeccompProfile): Instruction[] {
  const numbers = syscallNumbers[name] as Readonly<Record<string, number>>;
  const block: Instruction[] = [statement(loadWord, offsetNumber)];
  if (name === 'SCMP_ARCH_X86_64') {
    block.push(jump(jumpIfAtLeast, x32SyscallBit, 0, 1), statement(returnConstant, retErrno(ENOSYS)));
  }
  for (const rule of profile.syscalls) {
    for (const syscall of rule.names) {
      const number = numbers[syscall];
      if (number === undefined) continue;
      const conditions: Instruction[] = [];
      for (const argument of rule.args ?? []) {
        // 64-bit arguments, compared a 32-bit half at a time; the halves of value and valueTwo.
        for (const high of [true, false]) {
          const mask = high ? Math.floor(argument.value / 2 ** 32) : argument.value % 2 ** 32;
          const expected = high ? Math.floor(argument.valueTwo / 2 ** 32) : argument.valueTwo % 2 ** 32;
          if (mask === 0 && expected === 0) continue;
          conditions.push(statement(loadWord, offsetArgument(argument.index, high)), statement(andConstant, mask), jump(jumpIfEqual, expected, 0, 0));
        }
      }
      const answer = statement(returnConstant, retErrno(rule.errnoRet));
      // A failed condition skips to the end of this rule, where the number is loaded again.
      const reload = conditions.length > 0;
      const bodyLength = conditions.length + 1 + (reload ? 1 : 0);
      block.push(jump(jumpIfEqual, number, 0, bodyLength));
      for (const [index, condition] of conditions.entries()) {
        if (condition.code !== jumpIfEqual) {
          block.push(condition);
          continue;
        }
        // To the reload: past the conditions after this one and the answer.
        block.push(jump(jumpIfEqual, condition.constant, 0, conditions.length - index - 1 + 1));
      }
      block.push(answer);
      if (reload) block.push(statement(loadWord, offsetNumber));
    }
  }
  block.push(statement(returnConstant, retAllow));
  return block;
}
