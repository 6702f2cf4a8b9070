/**
 * The system calls `tsbuild run` needs and Node lacks, from native/src/runtime-native.c (built
 * by `npm ci` with the other addons): mount and unmount, a console socket that receives the pty
 * an OCI runtime sends, and a terminal's window size. Loaded on first use.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { TsbuildError } from '../common/index.js';

interface RuntimeAddon {
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount(target: string, flags: number): void;
  listenUnix(path: string): number;
  acceptFd(listenFd: number, timeoutMs: number): number;
  setWindowSize(fd: number, rows: number, columns: number): void;
  clearOutputProcessing(fd: number): void;
}

/** The same from src/, from tsc's dist/ and from the bundle in dist/cli-bundle/. */
const addonPath = fileURLToPath(new URL('../../native/build/tsbuild-runtime.node', import.meta.url));

let loaded: { readonly addon?: RuntimeAddon; readonly failure?: Error } | undefined;

function load(): { readonly addon?: RuntimeAddon; readonly failure?: Error } {
  if (loaded === undefined) {
    try {
      loaded = { addon: createRequire(import.meta.url)(addonPath) as RuntimeAddon };
    } catch (error) {
      loaded = { failure: error as Error };
    }
  }
  return loaded;
}

/** Whether the addon loads, for `tsbuild doctor`: its path, and the reason when it does not. */
export function runtimeAddonStatus(): { readonly path: string; readonly error?: string } {
  const { failure } = load();
  return failure === undefined ? { path: addonPath } : { path: addonPath, error: failure.message };
}

export function runtimeAddon(): RuntimeAddon {
  const loaded = load();
  if (loaded.addon === undefined) {
    throw new TsbuildError('INTERNAL', `${addonPath} could not be loaded (${loaded.failure?.message ?? 'no module'}); build it with \`npm run build:native\` (needs gcc, libc6-dev and make)`, {
      cause: loaded.failure,
    });
  }
  return loaded.addon;
}

/** umount2's flag: detach now, finish when the mount is no longer busy. */
export const unmountDetach = 2;
