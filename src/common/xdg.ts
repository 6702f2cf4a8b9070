/**
 * An XDG base directory (XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_RUNTIME_DIR): the variable's value
 * when it is an absolute path, which the Base Directory spec requires (a relative one is to be
 * ignored), else FALLBACK.
 */
export function xdgBaseDirectory(variable: string, fallback: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[variable];
  return value !== undefined && value.startsWith('/') ? value : fallback;
}
