/**
 * A container's user as docker resolves `--user` and the image's User: names and numbers looked
 * up in the container's own /etc/passwd and /etc/group (moby/sys/user's GetExecUser rules and
 * words), every path resolved inside the root filesystem, never through a symlink out of it.
 */
import { readFileInRoot, resolveInRoot, TsbuildError } from '../common/index.js';

export interface ContainerUser {
  readonly uid: number;
  readonly gid: number;
  /** Groups the user is listed in (only when the group was not given), as docker adds them. */
  readonly additionalGids: number[];
}

export interface ContainerUserEntry extends ContainerUser {
  /** The passwd entry's name, when one matched. */
  readonly name?: string;
  /** The passwd entry's home, `/` when none matched (runc's HOME for the process). */
  readonly home: string;
}

const maxId = 2_147_483_647;
/** As BuildKit and runc (moby/sys/user) read them: at most this much of /etc/passwd or /etc/group. */
const maxUserFileBytes = 10 << 20;

/**
 * PATH (as the container sees it) as a path on the host under ROOTFS: each symlink is read and
 * followed as if ROOTFS were `/`, and `..` never climbs above it. Components that do not exist
 * are kept as they are. The result is safe to use while nothing else changes the tree (a
 * container not yet started).
 */
export async function resolvePathInRoot(rootfs: string, path: string): Promise<string> {
  return resolveInRoot(rootfs, path);
}

/** A file of the container read inside its root; undefined when absent, an error when no regular file. */
async function readInRoot(rootfs: string, path: string): Promise<string | undefined> {
  return readFileInRoot(rootfs, path, maxUserFileBytes);
}

interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

function entries(text: string | undefined): string[][] {
  if (text === undefined) return [];
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'));
}

/** As Go's strconv.Atoi in moby's parser: a malformed number counts as 0. */
function number(text: string | undefined): number {
  return text !== undefined && /^[+-]?\d+$/.test(text) ? Number(text) : 0;
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  return entries(text).map((fields) => ({ name: fields[0] ?? '', uid: number(fields[2]), gid: number(fields[3]), home: fields[5] ?? '' }));
}

function parseGroup(text: string | undefined): GroupEntry[] {
  return entries(text).map((fields) => ({
    name: fields[0] ?? '',
    gid: number(fields[2]),
    members: (fields[3] ?? '').split(',').filter((member) => member !== ''),
  }));
}

function numeric(text: string): number | undefined {
  return /^[+-]?\d+$/.test(text) ? Number(text) : undefined;
}

function checkRange(id: number): number {
  if (id < 0 || id > maxId) throw new TsbuildError('INVALID_ARGUMENT', `uids and gids must be in range 0-${maxId}`);
  return id;
}

/**
 * The user SPEC (`name`, `uid`, `name:group`, `uid:gid`, empty for root) names in the container
 * at ROOTFS, with docker's rules: a name must be in /etc/passwd, a number need not be; without an
 * explicit group the user's primary group and the groups listing it as a member apply.
 */
export async function lookupUser(rootfs: string, spec: string): Promise<ContainerUserEntry> {
  const separator = spec.indexOf(':');
  const userPart = separator < 0 ? spec : spec.slice(0, separator);
  const groupPart = separator < 0 ? '' : spec.slice(separator + 1).split(':')[0] ?? '';
  const passwdText = await readInRoot(rootfs, '/etc/passwd');
  const uidArg = numeric(userPart);
  const users = parsePasswd(passwdText).filter((entry) => (userPart === '' ? entry.uid === 0 : uidArg !== undefined ? entry.uid === uidArg : entry.name === userPart));
  let uid = 0;
  let gid = 0;
  let home = '/';
  const matched = users[0];
  if (matched !== undefined) {
    ({ uid, gid } = matched);
    home = matched.home === '' ? '/' : matched.home;
  } else if (userPart !== '') {
    if (uidArg === undefined) throw new TsbuildError('NOT_FOUND', `unable to find user ${userPart}: no matching entries in passwd file`);
    uid = checkRange(uidArg);
  }
  const additionalGids: number[] = [];
  if (groupPart !== '' || matched !== undefined) {
    const groupText = await readInRoot(rootfs, '/etc/group');
    const gidArg = numeric(groupPart);
    const groups = parseGroup(groupText).filter((entry) =>
      groupPart === '' ? matched !== undefined && entry.members.includes(matched.name) : gidArg !== undefined ? entry.gid === gidArg : entry.name === groupPart,
    );
    if (groupPart !== '') {
      const group = groups[0];
      if (group !== undefined) gid = group.gid;
      else if (gidArg === undefined) throw new TsbuildError('NOT_FOUND', `unable to find group ${groupPart}: no matching entries in group file`);
      else gid = checkRange(gidArg);
    } else {
      additionalGids.push(...groups.map((group) => group.gid));
    }
  }
  // Ids read from the image's files are checked as given ones are: above 2^31-1 an id is no
  // user (containerd CVE-2024-40635), and wrapped to 32 bits it could be 0 or setresuid's -1.
  for (const id of [uid, gid, ...additionalGids]) checkRange(id);
  return { uid, gid, additionalGids, home, ...(matched === undefined ? {} : { name: matched.name }) };
}

/** `lookupUser` reduced to the ids the runtime is given. */
export async function resolveUser(rootfs: string, spec: string): Promise<{ uid: number; gid: number; additionalGids: number[] }> {
  const { uid, gid, additionalGids } = await lookupUser(rootfs, spec);
  return { uid, gid, additionalGids };
}

/**
 * `--group-add GROUP`: a gid, or a name of the container's /etc/group (docker's words when it is
 * not there).
 */
export async function lookupGroup(rootfs: string, group: string): Promise<number> {
  const gid = numeric(group);
  if (gid !== undefined) return checkRange(gid);
  const found = parseGroup(await readInRoot(rootfs, '/etc/group')).find((entry) => entry.name === group);
  if (found === undefined) throw new TsbuildError('NOT_FOUND', `Unable to find group ${group}: no matching entries in group file`);
  return found.gid;
}
