/**
 * Durations as Go's `time.ParseDuration` reads them: a signed sequence of decimal numbers with
 * units, `1m30s`, `1.5h`, `300ms`. HEALTHCHECK's options take them, and so does `image prune
 * --grace`. Returns nanoseconds, or an error text.
 */
const unitNanoseconds: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

export function parseGoDuration(text: string): number | string {
  const invalid = `time: invalid duration ${JSON.stringify(text)}`;
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return invalid;
  let total = 0;
  while (rest !== '') {
    const match = /^(\d*)(?:\.(\d*))?([^\d.]*)/.exec(rest);
    if (match === null) return invalid;
    const [all, whole = '', fraction = '', unit = ''] = match;
    if ((whole === '' && fraction === '') || all === '') return invalid;
    if (unit === '') return `time: missing unit in duration ${JSON.stringify(text)}`;
    const scale = unitNanoseconds[unit];
    if (scale === undefined) return `time: unknown unit ${JSON.stringify(unit)} in duration ${JSON.stringify(text)}`;
    total += Number(whole === '' ? '0' : whole) * scale + (fraction === '' ? 0 : Math.floor(Number(`0.${fraction}`) * scale));
    rest = rest.slice(all.length);
  }
  if (total > Number.MAX_SAFE_INTEGER) return invalid;
  return sign * total;
}
