/**
 * What the tar reader (here) and the tar writer (the exporter's) agree on: the block size and
 * the entry types tsbuild knows, with the ustar type flag each is written with.
 */
export const tarBlockSize = 512;

/** Entry types and their ustar type flags. Reading also takes `\0` and `7` as a file. */
export const tarTypeFlags = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
} as const satisfies Record<string, string>;

export type TarEntryType = keyof typeof tarTypeFlags;

/** Padding after SIZE bytes of content, up to the next block. */
export function tarPadding(size: number): number {
  const rest = size % tarBlockSize;
  return rest === 0 ? 0 : tarBlockSize - rest;
}
