/**
 * Numbers as BuildKit's progress printers write them. Go's `%.Nf` rounds an exact tie to even
 * (0.25 → "0.2") where JavaScript's toFixed rounds it up ("0.3"); byte counts use the decimal
 * units of tonistiigi/units (`87B`, `32.77kB`, `1.05MB`).
 */

/** `x` with `digits` decimals, rounded as Go's fmt does. */
export function goFixed(x: number, digits: number): string {
  const rounded = x.toFixed(digits);
  if (!Number.isFinite(x) || Math.abs(x) >= 1e21) return rounded;
  // toFixed(100) is the exact decimal expansion of the double (up to 100 places), which
  // tells an exact tie from a value merely close to one.
  const exact = Math.abs(x).toFixed(100);
  const point = exact.indexOf('.');
  const rest = exact.slice(point + 1 + digits);
  if (!/^50*$/.test(rest)) return rounded;
  const truncated = `${x < 0 ? '-' : ''}${exact.slice(0, digits === 0 ? point : point + 1 + digits)}`;
  const lastDigit = Number(truncated.at(-1));
  return lastDigit % 2 === 0 ? truncated : rounded;
}

const decimalUnits = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/** `units.Bytes(n)` printed with `%.2f`: whole bytes below 1 kB, two decimals above. */
export function formatBuildkitBytes(bytes: number): string {
  let unit = 0;
  let base = 1;
  while (unit < decimalUnits.length - 1 && bytes >= base * 1000) {
    base *= 1000;
    unit++;
  }
  if (unit === 0) return `${Math.trunc(bytes)}B`;
  return `${goFixed(bytes / base, 2)}${decimalUnits[unit] ?? ''}`;
}

/** Seconds since a step started, as BuildKit prefixes a log line: 3 decimals below 10 s, 2 below 100 s, then 1. */
export function logTimestamp(milliseconds: number): string {
  const seconds = Math.max(0, milliseconds) / 1000;
  return goFixed(seconds, seconds < 10 ? 3 : seconds < 100 ? 2 : 1);
}

/** `%.1fs` of a duration in milliseconds. */
export function formatSeconds(milliseconds: number): string {
  return `${goFixed(Math.max(0, milliseconds) / 1000, 1)}s`;
}
