/** Flags shared by the commands that talk to registries. */
import { setFlagsFromString } from 'node:v8';
import { RegistryClient, configuredRegistries } from '../../registry/index.js';

// Declared where declaring them loads nothing (the build declares them, and loads this file only to pull or push).
export { addInsecureRegistryOption, collect } from '../common-options.js';

/**
 * The client for a command: insecure registries are those of --insecure-registry and those the
 * machine's docker daemon.json and containers registries.conf already name; registries' mirrors
 * those of daemon.json's registry-mirrors (Docker Hub's) and registries.conf's.
 */
export function registryClient(options: { readonly insecureRegistry?: readonly string[] }): RegistryClient {
  const configured = configuredRegistries();
  return new RegistryClient({ insecureRegistries: [...(options.insecureRegistry ?? []), ...configured.insecure], mirrors: configured.mirrors, userAgent: 'tsbuild' });
}

/**
 * For `pull` and `push`, which run no WebAssembly but undici's HTTP parser: V8's baseline
 * compiler only, for the modules compiled from here on. Otherwise V8 also recompiles the parser
 * with its optimizing compiler in background threads, and the command waits for that at exit.
 * Measured on 2026-12-03, the machine's 2 cores shared with other work (load 11 to 17): a push
 * whose blobs the registry has, 212 → 120 ms of CPU (mean of 20 runs); a 300 MB push 0.47 →
 * 0.34 s and pull 0.81 → 0.69 s of CPU, pull 1.08x → 0.89x skopeo's time (medians of 9
 * interleaved rounds). Not for a command that runs other WebAssembly (the build cache hashes
 * with xxhash-wasm, whose speed needs the optimizing compiler): the flag holds for the rest of
 * the process. Set after the bundle is compiled, so its code cache is taken as it was made.
 */
export function baselineWasmCompilerOnly(): void {
  setFlagsFromString('--liftoff-only');
}

/** `docker login` accepts a server as a host, a URL, or Docker Hub's historical index URL. */
export function serverDomain(server: string | undefined): string {
  if (server === undefined || server === '') return 'docker.io';
  const stripped = server.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  if (stripped === 'index.docker.io' || stripped === 'registry-1.docker.io' || stripped === 'docker.io') return 'docker.io';
  return stripped;
}
