import { readFileInRoot, TsbuildError } from '../common/index.js';

/** What a process runs as: its ids and every group it is in, primary first (as BuildKit's spec lists them). */
export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids: number[];
}

export interface ResolvedOwner {
  readonly uid: number;
  readonly gid: number;
}

export interface ResolveChownOptions {
  /**
   * Fail on a user or group name the root filesystem does not know, as the legacy builder did.
   * BuildKit does not: an unknown user is 0 and an unknown group leaves the gid as it was.
   */
  readonly strict?: boolean;
  /**
   * ROOTFS is a scratch stage's before any step wrote files. BuildKit's file op reads a name
   * (neither `root`, a number nor empty) in the files of its destination's input, which such a
   * stage has none of: it fails with `invalid user index: -1`, and so does this.
   */
  readonly emptyRoot?: boolean;
}

/** BuildKit reads at most this much of /etc/passwd or /etc/group. */
const maxUserFileBytes = 10 << 20;
const maxId = 2 ** 31 - 1;

interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/**
 * The text of /etc/passwd or /etc/group of ROOTFS, read inside it (a symlinked /etc cannot lead
 * out of it); undefined when it does not exist, which is no error while only numeric ids are asked.
 */
async function readUserFile(rootfs: string, path: string): Promise<string | undefined> {
  return readFileInRoot(rootfs, path, maxUserFileBytes);
}

/** Go's strconv.Atoi on a field: leading garbage or an empty field gives 0, as moby/sys/user parses. */
function atoi(field: string | undefined): number {
  if (field === undefined || !/^[+-]?\d+$/.test(field)) return 0;
  return Number(field);
}

function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const fields = line.split(':');
    entries.push({ name: fields[0] ?? '', uid: atoi(fields[2]), gid: atoi(fields[3]) });
  }
  return entries;
}

function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    const list = fields[3] ?? '';
    entries.push({ name: fields[0] ?? '', gid: atoi(fields[2]), members: list === '' ? [] : list.split(',') });
  }
  return entries;
}

/**
 * moby/sys/user's parseNumeric: whether VALUE is a number at all (then it must be a valid id), and
 * which. A number out of range is an error, not a name.
 */
function parseNumeric(value: string): { readonly numeric: boolean; readonly id: number } {
  if (value === '' || !/^[+-]?\d+$/.test(value)) return { numeric: false, id: 0 };
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id < 0 || id > maxId) {
    throw new TsbuildError('INVALID_ARGUMENT', `resolve user ${JSON.stringify(value)}: uids and gids must be in range 0-${maxId}`);
  }
  return { numeric: true, id };
}

/** BuildKit's parseUID: `root` is 0, otherwise an unsigned 32-bit decimal, or not an id. */
function parseUid(value: string): number | undefined {
  if (value === 'root') return 0;
  if (!/^\d+$/.test(value)) return undefined;
  const id = Number(value);
  return id <= 0xffffffff ? id : undefined;
}

/**
 * Resolves USER's SPEC (`name`, `uid`, `name:group`, `uid:gid`, `name:gid`, …) inside ROOTFS as
 * BuildKit's executor does (moby/sys/user's GetExecUser over the root's own /etc/passwd and
 * /etc/group): numeric `uid:gid` is taken as it is; anything else needs /etc/passwd (and
 * /etc/group, when a group is named or the user matched by name) to exist; a name must be in
 * passwd; a numeric uid takes its passwd entry's group when it has one, else 0; a group name
 * must be in group. The supplementary groups are those listing the matched user's name, only when no group is given;
 * `additionalGids` holds the primary gid first, then those.
 */
export async function resolveUser(rootfs: string, spec: string): Promise<ResolvedUser> {
  if (spec === '') {
    // BuildKit runs as 0 when no USER was given, whatever the root's files say.
    try {
      return await resolveUser(rootfs, '0');
    } catch {
      return { uid: 0, gid: 0, additionalGids: [0] };
    }
  }
  const withPrimary = (uid: number, gid: number, supplementary: readonly number[]): ResolvedUser => {
    // Whether given or read from the root's files, an id above 2^31-1 is no user: wrapped to 32
    // bits it could be 0, or the -1 that setresuid takes as "keep root" (containerd CVE-2024-40635).
    for (const id of [uid, gid, ...supplementary]) {
      if (!Number.isSafeInteger(id) || id < 0 || id > maxId) {
        throw new TsbuildError('INVALID_ARGUMENT', `resolve user ${JSON.stringify(spec)}: uids and gids must be in range 0-${maxId}, not ${id}`);
      }
    }
    return { uid, gid, additionalGids: supplementary.includes(gid) ? [...supplementary] : [gid, ...supplementary] };
  };

  const [userPart = '', groupPart = ''] = spec.split(':');
  const colon = spec.indexOf(':');
  if (colon !== -1) {
    const uid = parseUid(spec.slice(0, colon));
    const gid = parseUid(spec.slice(colon + 1));
    if (uid !== undefined && gid !== undefined) return withPrimary(uid, gid, []);
  }

  // An empty user (`:5`, `:staff`) is the default one, uid 0: its entry if passwd has one
  // (for its name and groups), else uid 0 without one, as GetExecUser takes it.
  const userId = userPart === '' ? { numeric: true, id: 0 } : parseNumeric(userPart);
  const groupId = parseNumeric(groupPart);
  const passwdText = await readUserFile(rootfs, '/etc/passwd');
  // BuildKit hands moby/sys/user the file it could not open as a nil *os.File, which reads as
  // EINVAL: any USER other than a numeric uid:gid then fails in a root without the file.
  if (passwdText === undefined) throw new TsbuildError('NOT_FOUND', `unable to find user ${userPart === '' ? '0' : userPart}: invalid argument`);
  const users = parsePasswd(passwdText);
  const user = users.find((entry) => (userId.numeric ? entry.uid === userId.id : entry.name === userPart));

  let uid = 0;
  let gid = 0;
  let matchedName = '';
  if (user !== undefined) {
    matchedName = user.name;
    uid = user.uid;
    gid = user.gid;
  } else if (!userId.numeric) {
    throw new TsbuildError('NOT_FOUND', `unable to find user ${userPart}: no matching entries in passwd file`);
  } else {
    uid = userId.id;
  }

  const supplementary: number[] = [];
  if (groupPart !== '' || matchedName !== '') {
    const groupText = await readUserFile(rootfs, '/etc/group');
    // The same for /etc/group, read when a group is named or the user matched by name.
    if (groupText === undefined) throw new TsbuildError('NOT_FOUND', `unable to find groups for spec ${matchedName}: invalid argument`);
    const groups = parseGroup(groupText);
    if (groupPart !== '') {
      const group = groups.find((entry) => (groupId.numeric ? entry.gid === groupId.id : entry.name === groupPart));
      if (group !== undefined) gid = group.gid;
      else if (groupId.numeric) gid = groupId.id;
      else throw new TsbuildError('NOT_FOUND', `unable to find group ${groupPart}: no matching entries in group file`);
    } else {
      for (const group of groups) if (group.members.includes(matchedName)) supplementary.push(group.gid);
    }
  }
  return withPrimary(uid, gid, supplementary);
}

/**
 * Resolves `--chown=SPEC` of COPY and ADD inside ROOTFS (the stage being written) with BuildKit's
 * rules (client/llb WithUser, then the file op's readUser): `root` and decimal numbers are ids,
 * anything else a name; a user name takes its passwd entry's uid and primary gid; a numeric uid
 * alone gives the same number as gid; a group, by name or id, replaces the gid. A name the root
 * does not know is 0 (user) or no change (group), as BuildKit does, unless OPTIONS.strict; an
 * empty user part is uid 0, as a number is (client/llb marshals an empty name as id 0).
 */
export async function resolveChown(rootfs: string, spec: string, options: ResolveChownOptions = {}): Promise<ResolvedOwner> {
  const colon = spec.indexOf(':');
  const userPart = colon === -1 ? spec : spec.slice(0, colon);
  const groupPart = colon === -1 ? undefined : spec.slice(colon + 1);
  let uid = 0;
  let gid = 0;
  if (options.emptyRoot === true) {
    const named = [userPart, groupPart ?? ''].find((part) => part !== '' && parseChownId(part) === undefined);
    if (named !== undefined) throw new TsbuildError('INVALID_ARGUMENT', `invalid user index: -1 (${JSON.stringify(named)} named in an empty scratch stage, which has no /etc/passwd or /etc/group to read)`);
  }

  const userId = userPart === '' ? 0 : parseChownId(userPart);
  if (userId !== undefined) {
    uid = userId;
    gid = userId;
  } else {
    const text = await readUserFile(rootfs, '/etc/passwd');
    const user = text === undefined ? undefined : parsePasswd(text).find((entry) => entry.name === userPart);
    if (user !== undefined) {
      uid = user.uid;
      gid = user.gid;
    } else if (options.strict === true) {
      throw new TsbuildError('NOT_FOUND', `unable to find user ${userPart}: no matching entries in passwd file`);
    }
  }

  if (groupPart !== undefined) {
    const groupId = parseChownId(groupPart);
    if (groupId !== undefined) {
      gid = groupId;
    } else {
      const text = await readUserFile(rootfs, '/etc/group');
      const group = text === undefined ? undefined : parseGroup(text).find((entry) => entry.name === groupPart);
      if (group !== undefined) gid = group.gid;
      else if (options.strict === true) throw new TsbuildError('NOT_FOUND', `unable to find group ${groupPart}: no matching entries in group file`);
    }
  }
  return { uid, gid };
}

/** client/llb's parseUID for --chown: `root`, or a signed 32-bit decimal; anything else is a name. */
function parseChownId(value: string): number | undefined {
  if (value === 'root') return 0;
  if (!/^[+-]?\d+$/.test(value)) return undefined;
  const id = Number(value);
  if (id < -(2 ** 31) || id > maxId) return undefined;
  if (id < 0) throw new TsbuildError('INVALID_ARGUMENT', `resolve --chown ${JSON.stringify(value)}: uids and gids must be in range 0-${maxId}`);
  return id;
}
