/**
 * The mount a local volume made with `-o type=… -o device=… -o o=…` stands for, as docker's
 * local driver makes it (moby's volume/local and moby/sys/mount): `o` split into mount(2)'s
 * flags and the filesystem's data, and a failure told in the same words, which docker users
 * read to tell a missing device from options the filesystem refused.
 */

/** mount(2)'s flags by name (linux/mount.h), and whether the name sets or clears them. */
const flagNames: Readonly<Record<string, { readonly clear: boolean; readonly flag: number }>> = {
  defaults: { clear: false, flag: 0 },
  ro: { clear: false, flag: 0x1 },
  rw: { clear: true, flag: 0x1 },
  suid: { clear: true, flag: 0x2 },
  nosuid: { clear: false, flag: 0x2 },
  dev: { clear: true, flag: 0x4 },
  nodev: { clear: false, flag: 0x4 },
  exec: { clear: true, flag: 0x8 },
  noexec: { clear: false, flag: 0x8 },
  sync: { clear: false, flag: 0x10 },
  async: { clear: true, flag: 0x10 },
  dirsync: { clear: false, flag: 0x80 },
  remount: { clear: false, flag: 0x20 },
  mand: { clear: false, flag: 0x40 },
  nomand: { clear: true, flag: 0x40 },
  atime: { clear: true, flag: 0x400 },
  noatime: { clear: false, flag: 0x400 },
  diratime: { clear: true, flag: 0x800 },
  nodiratime: { clear: false, flag: 0x800 },
  bind: { clear: false, flag: 0x1000 },
  rbind: { clear: false, flag: 0x1000 | 0x4000 },
  unbindable: { clear: false, flag: 0x20000 },
  runbindable: { clear: false, flag: 0x20000 | 0x4000 },
  private: { clear: false, flag: 0x40000 },
  rprivate: { clear: false, flag: 0x40000 | 0x4000 },
  slave: { clear: false, flag: 0x80000 },
  rslave: { clear: false, flag: 0x80000 | 0x4000 },
  shared: { clear: false, flag: 0x100000 },
  rshared: { clear: false, flag: 0x100000 | 0x4000 },
  relatime: { clear: false, flag: 0x200000 },
  norelatime: { clear: true, flag: 0x200000 },
  strictatime: { clear: false, flag: 0x1000000 },
  nostrictatime: { clear: true, flag: 0x1000000 },
};

const remountFlag = 0x20;
const bindFlag = 0x1000;
const readOnlyFlag = 0x1;
const propagationFlags = 0x20000 | 0x40000 | 0x80000 | 0x100000;

/** A local volume's mount, from its driver options; undefined when it is a plain directory. */
export interface LocalVolumeMount {
  readonly type: string;
  readonly device: string;
  /** mount(2)'s flags without the propagation ones, which a second call applies. */
  readonly flags: number;
  readonly propagation: number;
  readonly data: string;
  /** A read-only bind: the kernel ignores MS_RDONLY on a new bind, so it is remounted read-only. */
  readonly remountReadOnly: boolean;
}

/** moby/sys/mount's parseOptions: the names it knows become flags, the rest the filesystem's data. */
export function parseMountOptions(options: string): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const option of options.split(',')) {
    const known = Object.hasOwn(flagNames, option) ? flagNames[option] : undefined;
    if (known === undefined) {
      // moby keeps the empty pieces of `a,,b` out of the data as well.
      if (option !== '') data.push(option);
    } else if (known.clear) flags &= ~known.flag;
    else flags |= known.flag;
  }
  return { flags, data: data.join(',') };
}

/** The mount a volume's driver options ask for (docker's needsMount), or undefined. */
export function localVolumeMount(options: Readonly<Record<string, string>> | null): LocalVolumeMount | undefined {
  if (options === null) return undefined;
  const type = options['type'] ?? '';
  const device = options['device'] ?? '';
  if (type === '' && device === '') return undefined;
  const { flags, data } = parseMountOptions(options['o'] ?? '');
  return {
    type,
    device,
    flags: flags & ~propagationFlags,
    propagation: flags & propagationFlags,
    data,
    remountReadOnly: (flags & (bindFlag | readOnlyFlag | remountFlag)) === (bindFlag | readOnlyFlag),
  };
}

/** Go's text for an errno (lower-case strerror), as moby's errors end. */
export function errnoText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // The native addon's messages read "ENOENT: No such file or directory, mount '/path'".
  const text = /^E[A-Z0-9]+: (.*?), \w+ '.*'$/s.exec(message)?.[1] ?? /^E[A-Z0-9]+: (.*?), \w+$/s.exec(message)?.[1] ?? message;
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** moby/sys/mount's mountError: `mount DEVICE:TARGET, flags: 0x…, data: …: ERRNO`. */
export function mountFailure(mount: LocalVolumeMount, target: string, flags: number, cause: string): string {
  let text = `mount ${mount.device === '' ? target : `${mount.device}:${target}`}`;
  if (flags !== 0) text += `, flags: 0x${flags.toString(16)}`;
  if (mount.data !== '') text += `, data: ${mount.data}`;
  text += `: ${cause}`;
  // As docker's: a CIFS password never shows in an error.
  const password = /(?:^|,)password=([^,]*)/.exec(mount.data)?.[1];
  return password === undefined || password === '' ? text : text.replace(`password=${password}`, 'password=********');
}
