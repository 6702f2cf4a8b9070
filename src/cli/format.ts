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

/**
 * How long ago CREATED (an RFC 3339 time) was, as `docker images` prints it ("2 hours ago");
 * "N/A" when unknown.
 */
export function formatCreatedSince(created: string, now: number = Date.now()): string {
  const at = Date.parse(created);
  if (created === '' || Number.isNaN(at)) return 'N/A';
  return `${humanDuration(now - at)} ago`;
}

/** A duration in the words docker's go-units HumanDuration uses, from milliseconds. */
export function humanDuration(milliseconds: number): string {
  const seconds = Math.trunc(milliseconds / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  // Rounded here, truncated elsewhere, as in go-units.
  const hours = Math.round(milliseconds / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(milliseconds / 3_600_000 / 24 / 365)} years`;
}
