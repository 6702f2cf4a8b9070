/**
 * Byte counts in decimal units with `significant` digits, as docker prints them (go-units'
 * HumanSizeWithPrecision: Go's %g, so no trailing zeros: "2kB", "1.99MB", "91MB").
 */
export function formatBytes(bytes: number, significant = 3, separator = ' '): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${goGeneral(value, significant)}${separator}${units[unit] ?? ''}`;
}

/** Bytes in binary units as go-units' BytesSize writes them (docker stats' memory): "2.746MiB", "23.48GiB". */
export function formatBinaryBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${goGeneral(value, 4)}${units[unit] ?? ''}`;
}

/** VALUE as Go's `%.{PRECISION}g` writes it: trailing zeros dropped, an exponent of two digits at least. */
function goGeneral(value: number, precision: number): string {
  const text = value.toPrecision(precision);
  const [mantissa = text, exponent] = text.split('e');
  const trimmed = mantissa.includes('.') ? mantissa.replace(/\.?0+$/, '') : mantissa;
  if (exponent === undefined) return trimmed;
  const power = Number(exponent);
  return `${trimmed}e${power < 0 ? '-' : '+'}${String(Math.abs(power)).padStart(2, '0')}`;
}

/**
 * ROWS (the header first) as docker's CLI writes its tables, through Go's tabwriter (minimum
 * width 10 for its lists, 20 for top's; padding 3): each cell but a row's last is padded to its
 * column's widest cell plus PADDING, and to MINWIDTH at least.
 */
export function dockerTable(rows: readonly (readonly string[])[], minWidth = 10, padding = 3): string {
  const width = (cell: string): number => [...cell].length;
  const columns = Math.max(0, ...rows.map((row) => row.length));
  const widths = Array.from({ length: columns }, (_, column) => Math.max(minWidth, ...rows.filter((row) => column < row.length - 1).map((row) => width(row[column] ?? '') + padding)));
  return rows.map((row) => `${row.map((cell, column) => (column === row.length - 1 ? cell : cell + ' '.repeat(Math.max(0, (widths[column] ?? 0) - width(cell))))).join('')}\n`).join('');
}

/** TIME (milliseconds) as Go's time.Time String writes it, which docker's list rows give as CreatedAt: "2024-01-01 00:00:00 +0000 UTC". */
export function formatGoTime(time: number): string {
  const date = new Date(time);
  const offsetMinutes = -date.getTimezoneOffset();
  const local = new Date(time + offsetMinutes * 60_000).toISOString();
  const magnitude = Math.abs(offsetMinutes);
  const offset = `${offsetMinutes < 0 ? '-' : '+'}${String(Math.trunc(magnitude / 60)).padStart(2, '0')}${String(magnitude % 60).padStart(2, '0')}`;
  const zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(date).find((part) => part.type === 'timeZoneName')?.value ?? offset;
  return `${local.slice(0, 10)} ${local.slice(11, 19)} ${offset} ${zone}`;
}

/** TIME (milliseconds) as Go's time.RFC3339 writes it in this machine's time zone: "2024-01-01T00:00:00Z", or with an offset. */
export function formatRfc3339(time: number): string {
  const date = new Date(time);
  const offsetMinutes = -date.getTimezoneOffset();
  const local = new Date(time + offsetMinutes * 60_000).toISOString().slice(0, 19);
  if (offsetMinutes === 0) return `${local}Z`;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const magnitude = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.trunc(magnitude / 60)).padStart(2, '0')}:${String(magnitude % 60).padStart(2, '0')}`;
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

/**
 * `top`'s table as docker shows it: its daemon splits ps's output into the header's titles and,
 * for each process, as many fields (the last, CMD, keeping its spaces as one), and its CLI writes
 * them through a tabwriter whose columns are at least 20 wide.
 */
export function topTable(psOutput: string): string {
  const [header = '', ...lines] = psOutput.split('\n');
  const titles = header.trim().split(/\s+/).filter((title) => title !== '');
  if (titles.length === 0) return '';
  const processes = lines
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = line.trim().split(/\s+/);
      return [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')];
    });
  return dockerTable([titles, ...processes], 20);
}

/**
 * Orders A and B as docker's client sorts lines for people (fvbommel/sortorder's NaturalLess):
 * runs of digits by their value, other text by its characters, so 80 comes before 443 and 8080.
 */
export function compareNatural(a: string, b: string): number {
  const chunks = (text: string): string[] => text.match(/\d+|\D+/g) ?? [];
  const left = chunks(a);
  const right = chunks(b);
  for (let index = 0; index < Math.min(left.length, right.length); index++) {
    const x = left[index] ?? '';
    const y = right[index] ?? '';
    if (x === y) continue;
    const numeric = /^\d/.test(x) && /^\d/.test(y);
    if (numeric) {
      const difference = Number(x) - Number(y);
      if (difference !== 0) return difference;
      // Equal values: the one with fewer leading zeros first.
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  return left.length - right.length;
}
