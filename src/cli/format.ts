/** Byte counts in decimal units with `significant` digits above 1 kB, as docker prints them. */
export function formatBytes(bytes: number, significant = 3, separator = ' '): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toPrecision(significant)}${separator}${units[unit] ?? ''}`;
}
