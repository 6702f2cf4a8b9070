/**
 * `docker build`'s flags for what every RUN gets (`--add-host`, `--ulimit`, `--shm-size`), and
 * those a docker or buildx command line carries that change nothing here (`--rm`, `--load`…),
 * taken so that a CI script's build line runs unchanged.
 */
import type { Command } from 'commander';
import { TsbuildError, parseByteSize } from '../../common/index.js';
import type { RunSandboxOptions } from '../../executor/index.js';
import { addHostLine, parseUlimit, ulimitRlimits } from '../../runtime/index.js';
import { collect } from '../common-options.js';

export interface SandboxFlags {
  addHost: string[];
  ulimit: string[];
  shmSize?: string;
  provenance?: string;
  sbom?: string;
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
  );
}

const disabled = (value: string | undefined): boolean => value === undefined || /^(false|0|no|off|disabled)$/i.test(value.trim());

/** The sandbox options for the build's RUN steps (undefined when none is given), and the warnings the flags call for. */
export function sandboxOptionsOf(flags: SandboxFlags): { sandbox: RunSandboxOptions | undefined; warnings: string[] } {
  const warnings: string[] = [];
  for (const [flag, value] of [['--provenance', flags.provenance], ['--sbom', flags.sbom]] as const) {
    if (!disabled(value)) warnings.push(`${flag}=${value ?? ''}: tsbuild makes no attestations; the image has none`);
  }
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
