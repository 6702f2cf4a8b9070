/**
 * `docker build`'s flags for what every RUN gets (`--add-host`, `--ulimit`, `--shm-size`), and
 * those a docker or buildx command line carries that change nothing here (`--rm`, `--load`, the
 * classic builder's `--memory`, `--cpu-*`, `--compress`; `--squash`, `--isolation` and
 * `--security-opt` with docker's warnings), taken so that a CI script's build line runs unchanged.
 */
import { Option, type Command } from 'commander';
import { TsbuildError, parseByteSize } from '../../common/index.js';
import type { RunSandboxOptions } from '../../executor/index.js';
import { addHostLine, parseUlimit, ulimitRlimits } from '../../runtime/index.js';
import { collect } from '../common-options.js';
import { splitCsvRecord } from '../../parser/index.js';

export interface SandboxFlags {
  addHost: string[];
  ulimit: string[];
  shmSize?: string;
  provenance?: string;
  sbom?: string;
  attest: string[];
  squash?: boolean;
  isolation?: string;
  securityOpt: string[];
  cgroupParent?: string;
  builder?: string;
}

export function addSandboxOptions(command: Command): Command {
  return (
    command
      .option('--add-host <host:ip>', 'add a line to the /etc/hosts of every RUN; host-gateway is this machine (repeatable)', collect, [])
      .option('--ulimit <name=soft[:hard]>', 'a resource limit for every RUN, as nofile=1024:2048 (repeatable)', collect, [])
      .option('--shm-size <bytes>', 'size of /dev/shm in every RUN (b, k, m, g; default 64m)')
      // docker's and buildx's flags that ask for what tsbuild always does, or for nothing.
      .option('--rm', 'remove intermediate containers (always: steps leave none)')
      .option('--force-rm', 'remove intermediate containers even after a failure (always)')
      .option('--load', 'keep the image in the local store (always)')
      .option('--provenance <value>', 'false: no provenance attestation (tsbuild makes none)')
      .option('--sbom <value>', 'false: no SBOM attestation (tsbuild makes none)')
      .option('--attest <type=…>', 'type=provenance|sbom[,disabled=true]: an attestation (tsbuild makes none) (repeatable)', collect, [])
      // The classic builder's, which buildx takes and ignores (hidden in its help), or warns of.
      .addOption(new Option('-m, --memory <bytes>').hideHelp())
      .addOption(new Option('--memory-swap <bytes>').hideHelp())
      .addOption(new Option('-c, --cpu-shares <shares>').hideHelp())
      .addOption(new Option('--cpu-period <microseconds>').hideHelp())
      .addOption(new Option('--cpu-quota <microseconds>').hideHelp())
      .addOption(new Option('--cpuset-cpus <cpus>').hideHelp())
      .addOption(new Option('--cpuset-mems <nodes>').hideHelp())
      .addOption(new Option('--compress').hideHelp())
      .addOption(new Option('--squash').hideHelp())
      .addOption(new Option('--isolation <technology>').hideHelp())
      .addOption(new Option('--security-opt <option>').hideHelp().argParser(collect).default([]))
      .option('--cgroup-parent <path>', "the cgroup parent of the RUN steps' (not applied: tsbuild places each step in a cgroup of its own)")
      .option('--builder <name>', 'the buildx builder: default or one buildx create made (each is tsbuild itself, here)')
  );
}

const disabled = (value: string | undefined): boolean => value === undefined || /^(false|0|no|off|disabled)$/i.test(value.trim());

/** The sandbox options for the build's RUN steps (undefined when none is given), and the warnings the flags call for. */
export function sandboxOptionsOf(flags: SandboxFlags): { sandbox: RunSandboxOptions | undefined; warnings: string[] } {
  const warnings: string[] = [];
  for (const [flag, value] of [['--provenance', flags.provenance], ['--sbom', flags.sbom]] as const) {
    if (!disabled(value)) warnings.push(`${flag}=${value ?? ''}: tsbuild makes no attestations; the image has none`);
  }
  for (const value of flags.attest) {
    // buildx's form: a CSV record of KEY=VALUE with a type; disabled=true asks for none.
    const fields = new Map(splitCsvRecord(value).map((field) => [field.slice(0, Math.max(0, field.indexOf('='))).trim().toLowerCase(), field.slice(field.indexOf('=') + 1).trim()] as const));
    const type = fields.get('type');
    if (type === undefined || type === '') throw new TsbuildError('INVALID_ARGUMENT', `invalid value ${JSON.stringify(value)} for --attest: attestation type not specified`);
    if (type !== 'provenance' && type !== 'sbom') throw new TsbuildError('INVALID_ARGUMENT', `invalid value ${JSON.stringify(value)} for --attest: unknown attestation type ${JSON.stringify(type)}: provenance or sbom`);
    if (!/^(true|1)$/i.test(fields.get('disabled') ?? '')) warnings.push(`--attest=${value}: tsbuild makes no attestations; the image has none`);
  }
  // docker's own words for the classic builder's flags that BuildKit has no use for.
  if (flags.squash === true) warnings.push('experimental flag squash is removed with BuildKit. You should squash inside build using a multi-stage Dockerfile for efficiency.');
  if (flags.isolation !== undefined) warnings.push('isolation flag is deprecated with BuildKit.');
  if (flags.securityOpt.length > 0) warnings.push('security-opt flag is deprecated. "RUN --security=insecure" should be used with BuildKit.');
  if (flags.cgroupParent !== undefined) warnings.push(`--cgroup-parent ${flags.cgroupParent}: not applied; tsbuild places each RUN step in a cgroup of its own`);
  // The steps share this machine's network: the host is reached on its loopback address.
  const extraHosts = flags.addHost.map((entry) => addHostLine(entry.replace(/([:=])host-gateway$/, '$1127.0.0.1')));
  // The given limits only: the open-files limit stays BuildKit's unless --ulimit nofile says.
  const rlimits = ulimitRlimits(flags.ulimit.map(parseUlimit));
  let shmSize: number | undefined;
  if (flags.shmSize !== undefined) {
    shmSize = parseByteSize(flags.shmSize);
    if (shmSize <= 0) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${flags.shmSize}" for "--shm-size" flag: the size must be greater than 0`);
  }
  const sandbox: RunSandboxOptions = {
    ...(extraHosts.length === 0 ? {} : { extraHosts }),
    ...(Object.keys(rlimits).length === 0 ? {} : { rlimits }),
    ...(shmSize === undefined ? {} : { shmSize }),
  };
  return { sandbox: Object.keys(sandbox).length === 0 ? undefined : sandbox, warnings };
}
