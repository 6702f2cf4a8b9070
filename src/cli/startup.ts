/** How this process loaded the CLI, for `tsbuild doctor`. */
export interface Startup {
  /**
   * The bundle's V8 code cache: accepted; refused (made by another Node or with other V8 flags,
   * so the bundle compiled from source); stale (older than the bundle, so not used); missing;
   * or not bundled (tsc's output run directly).
   */
  readonly codeCache: 'accepted' | 'refused' | 'stale' | 'missing' | 'not bundled';
}

let current: Startup = { codeCache: 'not bundled' };

export function setStartup(startup: Startup): void {
  current = startup;
}

export function startup(): Startup {
  return current;
}
