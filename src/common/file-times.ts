/**
 * A time in seconds as Node's utimes family (utimes, lutimes, futimes, their Sync forms and
 * FileHandle.utimes) must be given it to set that very time: a negative number, a time before
 * 1970, is taken there for the current time (its toUnixTimestamp), while a numeric string is
 * taken as the number it spells. Archives, layers and copies keep such times as they are.
 */
export function utimesTime(seconds: number): number | string {
  return seconds < 0 ? String(seconds) : seconds;
}
