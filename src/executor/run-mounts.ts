/**
 * `RUN --mount`: what each mount adds to the step's key, and the mounts themselves when the step
 * runs, following BuildKit's dockerfile2llb (dispatchRunMounts, dispatchSecret, dispatchSSH):
 *
 * - `bind`: the context (by default), a stage or an image, at `source` (default its root); read
 *   only unless `rw`, and then writes go to a copy thrown away after the step. The key holds
 *   the bound files' content (the context's, as COPY keys them) or the stage's or image's key.
 * - `cache`: a directory kept between builds (cache-mounts.ts); the key holds its id and
 *   options, never its contents. `from` and `source` fill it when it is first made.
 * - `tmpfs`: an empty tmpfs (`size` bytes at most).
 * - `secret`: a file (at `/run/secrets/ID` unless `target`) or an environment variable (`env`),
 *   from the build's `--secret`. The value is in no key, no layer, no history and no message.
 * - `ssh`: a socket at `/run/buildkit/ssh_agent.N` (or `target`) that reaches the agent given by
 *   the build's `--ssh`; `SSH_AUTH_SOCK` names the first one.
 *
 * Every source is resolved inside its own root and every target inside the step's root
 * filesystem: `..`, absolute paths and symlinks reach neither the host nor another stage.
 */
import { connect } from 'node:net';
import type { Stats } from 'node:fs';
import { chmod, lchown, lstat, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { TsbuildError, errnoOf, messageOf, resolveInRoot } from '../common/index.js';
import { sourceDigest, type CacheMountSync } from '../cache/index.js';
import { secretMountId, type ResolvedMount } from '../planner/index.js';
import type { MountSpec } from '../runtime/index.js';
import { makeTemporaryDirectory, type Store } from '../store/index.js';
import { inMemoryScratch, inMemoryScratchPrefix } from './abandoned.js';
import { leaseCacheMount } from './cache-mounts.js';
import type { ContextHandle, SourceState } from './copy-op.js';
import { copyInto } from './copy.js';
import type { Snapshotter } from './snapshots.js';
import { listenClosable, loadAgentKeys, startKeyAgent, type ClosableServer } from './ssh-agent.js';

/** Where a secret's value comes from (`--secret id=ID,src=FILE` or `id=ID,env=VAR`). */
export type SecretSource = { readonly file: string } | { readonly env: string };

export interface MountSources {
  context(): Promise<ContextHandle>;
  stage(index: number): Promise<SourceState>;
  image(reference: string): Promise<SourceState>;
  readonly snapshots: Snapshotter;
  readonly store: Store;
  /** `--secret`, by id. */
  readonly secrets: ReadonlyMap<string, SecretSource>;
  /** `--ssh`, by id: an agent socket, or key files. */
  readonly ssh: ReadonlyMap<string, readonly string[]>;
  /** Cache mounts imported with `--cache-from` and exported with `--cache-to …,cache-mounts=true`. */
  readonly cacheMounts?: CacheMountSync | undefined;
  /**
   * Present when the step ignores the cache (`--no-cache`, `--no-cache-filter`): whether a cache
   * id is to be emptied before this step mounts it (the first such mount of the build).
   */
  readonly emptyCacheMount?: (id: string) => boolean;
  /**
   * The build argument BUILDKIT_CACHE_MOUNT_NS: every cache id is `NS/ID` then, as BuildKit's
   * frontend scopes them (dockerui's CacheIDNamespace), so two projects on one root keep apart
   * the caches their Dockerfiles give the same id or target.
   */
  readonly cacheNamespace?: string | undefined;
}

export interface PreparedMounts {
  readonly mounts: readonly MountSpec[];
  /** Secrets given as environment variables: for the process only, never for a key. */
  readonly env: readonly string[];
  /** Mount points made in the root filesystem, dropped from the layer. */
  readonly created: readonly string[];
  /** The secrets' values, to mask in the step's output; zeroed by release. */
  readonly secrets: readonly Buffer[];
  release(): Promise<void>;
}

export interface MountPlan {
  /** What the mounts add to the step's key. */
  readonly keys: readonly unknown[];
  /** Environment the mounts set (SSH_AUTH_SOCK), part of the key. */
  readonly env: readonly string[];
  /** ROOTFS: the step's root filesystem; LOWER: what it was before; WORKDIR: the step's own directory. */
  prepare(rootfs: string, lower: string, workDir: string): Promise<PreparedMounts>;
}

interface Prepared {
  readonly spec?: MountSpec;
  /** Whether the spec's source is a copy of the step's own (a bind of the context, or `rw`). */
  readonly copy?: boolean;
  readonly env?: string;
  readonly secret?: Buffer;
  release?(): Promise<void>;
}

interface PlannedMount {
  readonly key: unknown;
  /** The target inside the step's root (absolute, before symlinks); undefined for an env secret. */
  readonly target: string | undefined;
  prepare(workDir: string): Promise<Prepared | undefined>;
}

const defaultSecretMode = 0o400;
const defaultSshMode = 0o600;
const defaultCacheMode = 0o755;

function mountError(mount: ResolvedMount, cause: string): TsbuildError {
  return new TsbuildError('INVALID_ARGUMENT', `mount ${mount.type}${mount.target === undefined ? '' : ` at ${mount.target}`}: ${cause}`);
}

/** A mount target: relative ones are below the working directory, as dispatchRunMounts joins them. */
function targetPath(mount: ResolvedMount, target: string | undefined, cwd: string): string {
  if (target === undefined || target === '') throw mountError(mount, 'a target is required');
  const absolute = posix.resolve(cwd, target);
  if (absolute === '/') throw mountError(mount, `invalid mount target ${JSON.stringify(target)}`);
  // runc's checkProcMount: only a procfs may cover /proc (below it, only a mount point that
  // exists can take a mount, and procfs makes none).
  if (absolute === '/proc') throw mountError(mount, `"/proc" cannot be mounted because it is not of type proc`);
  return absolute;
}

/** The source below its root, as BuildKit's SourcePath: `/` for none. */
function sourcePath(mount: ResolvedMount): string {
  return posix.join('/', mount.source ?? '');
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/**
 * A stage's or image's root filesystem and SOURCE resolved inside it: never a host path, never
 * another stage's, whatever `..` or symlinks on the way say.
 */
async function resolveStageSource(sources: MountSources, state: SourceState, source: string, mount: ResolvedMount): Promise<{ root: string; path: string }> {
  const root = await sources.snapshots.view(state.layers);
  const path = await resolveInRoot(root, source);
  if (!(await exists(path))) throw mountError(mount, `source ${JSON.stringify(source)}: not found`);
  return { root, path };
}

async function stateOf(sources: MountSources, mount: ResolvedMount): Promise<SourceState | undefined> {
  const from = mount.fromRef;
  if (from === undefined) return undefined;
  return from.kind === 'stage' ? sources.stage(from.stage) : sources.image(from.reference);
}

/**
 * Copies SOURCE of ROOT (the context or a root filesystem) to a new directory in WORKDIR; returns
 * the copy's path. A directory's copy keeps its mode (MODE where given) and owner (root's, from
 * the context, as docker sends it), as the mount of the source itself shows them, where the new
 * directory's own were 0700 and the caller's.
 */
async function copySource(from: Parameters<typeof copyInto>[0], sourceInfo: Stats, source: string, workDir: string, mode = sourceInfo.mode & 0o7777): Promise<string> {
  const directory = await mkdtemp(join(workDir, 'bind-'));
  const sourceIsDirectory = sourceInfo.isDirectory();
  await copyInto(from, directory, { sources: [source], contents: [], dest: sourceIsDirectory ? '/' : '/file', workdir: '/', parents: false, exclude: [], add: false });
  if (!sourceIsDirectory) return join(directory, 'file');
  if (from.kind === 'rootfs') {
    await lchown(directory, sourceInfo.uid, sourceInfo.gid).catch((error: unknown) => {
      // An owner a user namespace does not map (shown as its overflow id) stays the caller's.
      if (errnoOf(error) !== 'EINVAL' && errnoOf(error) !== 'EPERM') throw error;
    });
  }
  await chmod(directory, mode);
  return directory;
}

async function planBind(mount: ResolvedMount, target: string, sources: MountSources): Promise<PlannedMount> {
  const source = sourcePath(mount);
  const options = ['rbind', mount.readOnly ? 'ro' : 'rw'];
  const state = await stateOf(sources, mount);
  if (state === undefined) {
    const handle = await sources.context();
    const context = handle.context;
    const content = (await sourceDigest(context, [source === '/' ? '.' : source.slice(1)], {})).digest;
    return {
      key: { type: 'bind', from: 'context', content, source, target, readOnly: mount.readOnly },
      target,
      async prepare(workDir) {
        // A copy, not the directory itself: .dockerignore'd files must not be seen, and `rw`
        // writes must not reach the user's files.
        // A context the host changes meanwhile may lose a link on the way as it is read: the source is then not found.
        const path = await resolveInRoot(context.root, source, { visible: (relativePath, isDirectory) => context.visible(relativePath, isDirectory) }).catch((error: unknown) => {
          const code = errnoOf(error);
          if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
          throw error;
        });
        const info = path === undefined ? undefined : await stat(path).catch(() => undefined);
        if (info === undefined) throw mountError(mount, `source ${JSON.stringify(source)}: not found in the build context`);
        // The context's root is BuildKit's own directory, 0755, whatever the client's is.
        const copy = await copySource({ kind: 'context', context }, info, source, workDir, path === context.root ? 0o755 : undefined);
        return { spec: { destination: target, source: copy, options }, copy: true };
      },
    };
  }
  return {
    key: { type: 'bind', from: state.key, source, target, readOnly: mount.readOnly },
    target,
    async prepare(workDir) {
      const { root, path } = await resolveStageSource(sources, state, source, mount);
      if (mount.readOnly) return { spec: { destination: target, source: path, options } };
      // The stage's files are shared by every step that reads them: writes go to a copy.
      const info = await stat(path);
      const copy = await copySource({ kind: 'rootfs', dir: root }, info, relative(root, path) || '/', workDir);
      return { spec: { destination: target, source: copy, options }, copy: true };
    },
  };
}

async function planCache(mount: ResolvedMount, target: string, sources: MountSources): Promise<PlannedMount> {
  // BuildKit's default id is the target as written, cleaned (a relative one stays relative).
  const named = mount.cacheId !== undefined && mount.cacheId !== '' ? mount.cacheId : posix.normalize(mount.target ?? '').replace(/(.)\/$/, '$1');
  const id = sources.cacheNamespace === undefined || sources.cacheNamespace === '' ? named : `${sources.cacheNamespace}/${named}`;
  const sharing = mount.sharing ?? 'shared';
  const uid = mount.uid ?? 0;
  const gid = mount.gid ?? 0;
  const mode = mount.mode ?? defaultCacheMode;
  const state = await stateOf(sources, mount);
  const source = sourcePath(mount);
  return {
    key: { type: 'cache', id, sharing, target, readOnly: mount.readOnly, uid, gid, mode, ...(state === undefined ? {} : { from: state.key, source }) },
    target,
    async prepare() {
      const seed =
        state === undefined
          ? undefined
          : async (directory: string): Promise<void> => {
              const { root, path } = await resolveStageSource(sources, state, source, mount);
              if (!(await stat(path)).isDirectory()) throw mountError(mount, `source ${JSON.stringify(source)}: not a directory`);
              await copyInto({ kind: 'rootfs', dir: root }, directory, { sources: [relative(root, path) || '/'], contents: [], dest: '/', workdir: '/', parents: false, exclude: [], add: false });
            };
      const sync = sources.cacheMounts;
      // A step that ignores the cache ignores an imported cache mount too.
      const restore = sync === undefined || sources.emptyCacheMount !== undefined ? undefined : (directory: string): Promise<boolean> => sync.restore(id, directory);
      const empty = sources.emptyCacheMount?.(id) === true;
      const lease = await leaseCacheMount(sources.store, { id, sharing, uid, gid, mode, ...(seed === undefined ? {} : { seed }), ...(restore === undefined ? {} : { restore }), ...(empty ? { empty } : {}) });
      // A `private` user that got a throwaway directory wrote nothing the cache keeps.
      if (lease.shared) sync?.used(id);
      return { spec: { destination: target, source: lease.path, options: ['rbind', mount.readOnly ? 'ro' : 'rw'] }, release: () => lease.release() };
    },
  };
}

function planTmpfs(mount: ResolvedMount, target: string): PlannedMount {
  return {
    key: { type: 'tmpfs', target, size: mount.sizeLimit ?? 0 },
    target,
    prepare: () =>
      Promise.resolve({
        spec: { destination: target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', ...(mount.sizeLimit === undefined || mount.sizeLimit === 0 ? [] : [`size=${mount.sizeLimit}`])] },
      }),
  };
}

/** The value of a secret, or undefined when the build was given none by that id. */
async function secretValue(sources: MountSources, id: string): Promise<Buffer | undefined> {
  const secret = sources.secrets.get(id);
  if (secret === undefined) return undefined;
  if ('env' in secret) {
    const value = process.env[secret.env];
    return value === undefined ? undefined : Buffer.from(value);
  }
  try {
    return await readFile(secret.file);
  } catch (error) {
    // The file's name is the user's own words; its content is never quoted.
    throw new TsbuildError('INVALID_ARGUMENT', `secret ${JSON.stringify(id)}: read ${secret.file}: ${errnoOf(error) ?? 'failed'}`);
  }
}

/**
 * A 0700 directory of the step's own in memory where the host has /dev/shm (secrets stay off
 * the disk, as BuildKit keeps them on a tmpfs; socket paths stay short), else in the system's
 * temporary directory; removed after the step, or by the next build if this one is killed first
 * (its name holds the build's pid: see abandoned.ts).
 */
async function privateDirectory(prefix: string): Promise<string> {
  try {
    return await makeTemporaryDirectory(inMemoryScratch, `${inMemoryScratchPrefix}${prefix}`);
  } catch {
    return mkdtemp(join(tmpdir(), `tsbuild-${prefix}-`));
  }
}

function planSecret(mount: ResolvedMount, cwd: string, sources: MountSources): PlannedMount {
  const id = secretMountId(mount);
  if (id === undefined) throw mountError(mount, 'one of source, target required');
  const target = mount.target === undefined || mount.target === '' ? (mount.env === undefined ? `/run/secrets/${posix.basename(id)}` : undefined) : targetPath(mount, mount.target, cwd);
  const uid = mount.uid ?? 0;
  const gid = mount.gid ?? 0;
  const mode = mount.mode ?? defaultSecretMode;
  return {
    key: { type: 'secret', id, target: target ?? null, env: mount.env ?? null, required: mount.required, uid, gid, mode },
    target,
    async prepare() {
      const value = await secretValue(sources, id);
      if (value === undefined) {
        if (mount.required) throw new TsbuildError('NOT_FOUND', `secret ${id}: not found`);
        return undefined;
      }
      const env = mount.env === undefined ? undefined : `${mount.env}=${value.toString('utf8')}`;
      if (target === undefined) return { ...(env === undefined ? {} : { env }), secret: value, release: () => Promise.resolve(void value.fill(0)) };
      const directory = await privateDirectory('secret');
      try {
        const file = join(directory, 'secret');
        await writeFile(file, value, { mode: 0o600 });
        await lchown(file, uid, gid);
        await chmod(file, mode);
        return {
          spec: { destination: target, source: file, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] },
          ...(env === undefined ? {} : { env }),
          secret: value,
          release: async () => {
            value.fill(0);
            await rm(directory, { recursive: true, force: true });
          },
        };
      } catch (error) {
        await rm(directory, { recursive: true, force: true });
        throw error;
      }
    },
  };
}

/**
 * What `--ssh ID=PATHS` names: one agent socket, passed on; or key files, served by an agent of
 * the build's own (ssh-agent.ts), as BuildKit's client does.
 */
async function agentSource(id: string, paths: readonly string[]): Promise<{ readonly socket: string } | { readonly keys: readonly string[] }> {
  const kinds = await Promise.all(
    paths.map(async (path) => {
      const info = await stat(path).catch(() => undefined);
      if (info === undefined) throw new TsbuildError('NOT_FOUND', `ssh ${JSON.stringify(id)}: no agent socket or key file at ${path}`);
      return info.isSocket() ? 'socket' : 'file';
    }),
  );
  if (kinds.length === 1 && kinds[0] === 'socket') return { socket: paths[0] as string };
  if (kinds.includes('socket')) throw new TsbuildError('INVALID_ARGUMENT', `ssh ${JSON.stringify(id)}: give one agent socket, or key files, not both`);
  return { keys: paths };
}

/** A socket at PATH whose every connection is passed on to AGENT. */
function agentProxy(agent: string, path: string): Promise<ClosableServer> {
  return listenClosable(path, (client) => {
    const upstream = connect(agent);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream).pipe(client);
  });
}

function planSsh(mount: ResolvedMount, cwd: string, index: number, sources: MountSources): PlannedMount {
  if (mount.source !== undefined && mount.source !== '') throw mountError(mount, 'ssh does not support source');
  const id = mount.cacheId !== undefined && mount.cacheId !== '' ? mount.cacheId : 'default';
  const target = mount.target === undefined || mount.target === '' ? `/run/buildkit/ssh_agent.${index}` : targetPath(mount, mount.target, cwd);
  const uid = mount.uid ?? 0;
  const gid = mount.gid ?? 0;
  const mode = mount.mode ?? defaultSshMode;
  return {
    key: { type: 'ssh', id, target, required: mount.required, uid, gid, mode },
    target,
    async prepare() {
      const sockets = sources.ssh.get(id);
      if (sockets === undefined) {
        if (mount.required) throw new TsbuildError('NOT_FOUND', `no SSH key ${JSON.stringify(id)} forwarded from the client (use --ssh ${id === 'default' ? 'default' : `${id}=PATH`})`);
        return undefined;
      }
      const agent = await agentSource(id, sockets);
      const keys = 'keys' in agent ? await loadAgentKeys(agent.keys) : undefined;
      // A socket's path is at most 107 bytes: not below the store's root, which may be deep.
      const directory = await privateDirectory('ssh');
      const path = join(directory, 'agent.sock');
      let server: ClosableServer;
      try {
        if (Buffer.byteLength(path) > 107) throw new TsbuildError('INVALID_ARGUMENT', `ssh ${JSON.stringify(id)}: the socket path ${path} is too long (set TMPDIR to a shorter directory)`);
        server = 'socket' in agent ? await agentProxy(agent.socket, path) : await startKeyAgent(keys ?? [], path);
        await lchown(path, uid, gid);
        await chmod(path, mode);
      } catch (error) {
        await rm(directory, { recursive: true, force: true });
        throw error;
      }
      return {
        spec: { destination: target, source: path, options: ['rbind', 'rw', 'nosuid', 'nodev', 'noexec'] },
        release: async () => {
          await server.close();
          await rm(directory, { recursive: true, force: true });
        },
      };
    },
  };
}

/** Deeper targets after the ones they are inside, as mounts must be made. */
function depth(path: string): number {
  return path.split('/').filter((part) => part !== '').length;
}

/**
 * A mount inside another (`target=/app` and a cache at `/app/node_modules`) needs its mount
 * point in the outer one's files, which a read-only bind cannot take once mounted: where the
 * outer mount is a copy of the step's own, the point is made in the copy beforehand.
 */
async function makeNestedMountPoints(specs: readonly (MountSpec & { readonly copy: boolean })[]): Promise<void> {
  for (const inner of specs) {
    const outer = specs.filter((spec) => spec !== inner && spec.copy && spec.source !== undefined && inner.destination.startsWith(`${spec.destination}/`)).at(-1);
    if (outer?.source === undefined || !(await stat(outer.source)).isDirectory()) continue;
    const inside = await resolveInRoot(outer.source, inner.destination.slice(outer.destination.length));
    const sourceIsDirectory = inner.type === 'tmpfs' || (inner.source !== undefined && (await stat(inner.source)).isDirectory());
    if (sourceIsDirectory) await mkdir(inside, { recursive: true });
    else {
      await mkdir(dirname(inside), { recursive: true });
      await writeFile(inside, '', { flag: 'a' });
    }
  }
}

export async function planMounts(mounts: readonly ResolvedMount[], cwd: string, sources: MountSources): Promise<MountPlan> {
  const planned: PlannedMount[] = [];
  let sshIndex = 0;
  for (const mount of mounts) {
    switch (mount.type) {
      case 'bind':
        planned.push(await planBind(mount, targetPath(mount, mount.target, cwd), sources));
        break;
      case 'cache':
        planned.push(await planCache(mount, targetPath(mount, mount.target, cwd), sources));
        break;
      case 'tmpfs':
        planned.push(planTmpfs(mount, targetPath(mount, mount.target, cwd)));
        break;
      case 'secret':
        planned.push(planSecret(mount, cwd, sources));
        break;
      case 'ssh':
        planned.push(planSsh(mount, cwd, sshIndex++, sources));
        break;
    }
  }
  const firstSsh = planned.find((plan) => (plan.key as { type: string }).type === 'ssh');
  return {
    keys: planned.map((plan) => plan.key),
    env: firstSsh?.target === undefined ? [] : [`SSH_AUTH_SOCK=${firstSsh.target}`],
    async prepare(rootfs, lower, workDir) {
      const done: Prepared[] = [];
      const release = async (): Promise<void> => {
        const errors: unknown[] = [];
        for (const item of done.reverse()) await item.release?.().catch((error: unknown) => errors.push(error));
        if (errors.length > 0) throw new TsbuildError('INTERNAL', `release mounts: ${errors.map(messageOf).join('; ')}`);
      };
      try {
        const specs: (MountSpec & { readonly copy: boolean })[] = [];
        const env: string[] = [];
        const created: string[] = [];
        const secrets: Buffer[] = [];
        for (const plan of planned) {
          const prepared = await plan.prepare(workDir);
          if (prepared === undefined) continue;
          done.push(prepared);
          if (prepared.env !== undefined) env.push(prepared.env);
          if (prepared.secret !== undefined) secrets.push(prepared.secret);
          if (prepared.spec === undefined || plan.target === undefined) continue;
          // The target inside the step's root: symlinks on the way are followed there, never out.
          const inside = relative(rootfs, await resolveInRoot(rootfs, plan.target));
          if (inside === '' || inside.startsWith('..')) throw new TsbuildError('UNSAFE_PATH', `mount at ${plan.target}: the target resolves to the root directory`);
          const destination = `/${inside}`;
          if (!(await exists(join(lower, inside)))) created.push(destination);
          specs.push({ ...prepared.spec, destination, copy: prepared.copy === true });
        }
        specs.sort((a, b) => depth(a.destination) - depth(b.destination));
        await makeNestedMountPoints(specs);
        return { mounts: specs.map(({ copy: _copy, ...spec }) => spec), env, created, secrets, release };
      } catch (error) {
        await release().catch(() => undefined);
        throw error;
      }
    },
  };
}
