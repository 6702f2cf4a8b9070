/**
 * Hex digits no other writer picks at the same time, for temporary names and lock tokens: they
 * guard against collisions (with the process ID beside them), not against an adversary, so
 * Math.random does.
 */
export function uniqueHex(bytes: number): string {
  let text = '';
  while (text.length < 2 * bytes) text += Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  return text.slice(0, 2 * bytes);
}
