/** Device nodes and fifos, which Node cannot make: through tsbuild-fs's mknod. */
import { fsPath } from './file-names.js';
import { fsAddon } from './native-addons.js';

export type SpecialFileType = 'character-device' | 'block-device' | 'fifo';

const typeBits: Record<SpecialFileType, number> = { 'character-device': 0o020000, 'block-device': 0o060000, fifo: 0o010000 };

/** Makes a device node or fifo at PATH (not following a symlink there: mknod never does). */
export function makeSpecialFile(path: string, type: SpecialFileType, mode: number, major = 0, minor = 0): void {
  fsAddon().mknod(fsPath(path), typeBits[type] | (mode & 0o7777), major, minor);
}
