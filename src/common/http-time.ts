/**
 * An HTTP date (Last-Modified and the like) read as Go's net/http ParseTime reads it, which
 * BuildKit's http source uses: the IMF-fixdate layout `Mon, 02 Jan 2006 15:04:05 GMT`, then
 * RFC 850's `Monday, 02-Jan-06 15:04:05 MST`, then ANSI C's `Mon Jan _2 15:04:05 2006`, each
 * with Go's time.Parse rules. A text none of them reads is no date (BuildKit then gives the file
 * the Unix epoch), although JavaScript's Date would read many such texts (ISO 8601, numeric
 * offsets, lower-case `gmt`, no weekday).
 */

const shortDays = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const longDays = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const shortMonths = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** The fields a layout read. */
interface Fields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  nanos: number;
}

/** A reader of one layout's pieces over TEXT, failing (undefined) as Go's time.Parse does. */
class Cursor {
  constructor(private rest: string) {}

  get done(): boolean {
    return this.rest === '';
  }

  /** Literal text; a run of spaces in it matches a run of one or more spaces (none at the end). */
  literal(text: string): boolean {
    let layout = text;
    while (layout !== '') {
      if (layout.startsWith(' ')) {
        if (this.rest !== '' && !this.rest.startsWith(' ')) return false;
        layout = layout.trimStart();
        this.rest = this.rest.replace(/^ +/, '');
        continue;
      }
      if (this.rest[0] !== layout[0]) return false;
      layout = layout.slice(1);
      this.rest = this.rest.slice(1);
    }
    return true;
  }

  /** A name of TABLE, compared without case (Go's lookup); its index. */
  name(table: readonly string[]): number | undefined {
    const index = table.findIndex((name) => this.rest.slice(0, name.length).toLowerCase() === name);
    if (index < 0) return undefined;
    this.rest = this.rest.slice((table[index] as string).length);
    return index;
  }

  /** One or two digits (exactly two when FIXED): Go's getnum. */
  number(fixed: boolean): number | undefined {
    const match = (fixed ? /^\d\d/ : /^\d\d?/).exec(this.rest);
    if (match === null) return undefined;
    this.rest = this.rest.slice(match[0].length);
    return Number(match[0]);
  }

  /** Seconds `05`, with the fraction Go accepts after them though the layout has none (nanoseconds, more digits dropped). */
  seconds(fields: Fields): boolean {
    const second = this.number(true);
    if (second === undefined) return false;
    fields.second = second;
    const fraction = /^[.,](\d+)/.exec(this.rest);
    if (fraction !== null) {
      fields.nanos = Number(`${fraction[1] as string}000000000`.slice(0, 9));
      this.rest = this.rest.slice(fraction[0].length);
    }
    return true;
  }

  /** `15:04:05`. */
  clock(fields: Fields): boolean {
    const hour = this.number(false);
    if (hour === undefined || !this.literal(':')) return false;
    const minute = this.number(true);
    if (minute === undefined || !this.literal(':')) return false;
    fields.hour = hour;
    fields.minute = minute;
    return this.seconds(fields);
  }

  /** `2006`: four digits. */
  longYear(): number | undefined {
    const match = /^\d{4}/.exec(this.rest);
    if (match === null) return undefined;
    this.rest = this.rest.slice(4);
    return Number(match[0]);
  }

  /** `06`: two digits, 69 and above in the 1900s. */
  shortYear(): number | undefined {
    const year = this.number(true);
    return year === undefined ? undefined : year >= 69 ? 1900 + year : 2000 + year;
  }

  /**
   * `MST`: UTC, a zone abbreviation (three to five capitals, four or five ending in T, or ChST,
   * MeST, WITA), GMT with an hour offset, or a signed hour offset (Go's parseTimeZone). Whatever
   * it says, the time is taken as UTC: a name the daemon's zone (UTC) does not know gets Go's
   * made-up zone, which leaves the instant as if it were UTC.
   */
  zone(): boolean {
    const length = this.rest.startsWith('UTC') ? 3 : timeZoneLength(this.rest);
    if (length === undefined) return false;
    this.rest = this.rest.slice(length);
    return true;
  }
}

/** Go's parseSignedOffset: `+H` or `-HH` up to 23 hours, its length; 0 when none. */
function signedOffsetLength(value: string): number {
  const match = /^[+-](\d+)/.exec(value);
  return match === null || Number(match[1]) > 23 ? 0 : match[0].length;
}

/** Go's parseTimeZone: how long the zone at the start of VALUE is, or undefined. */
function timeZoneLength(value: string): number | undefined {
  if (value.length < 3) return undefined;
  if (value.startsWith('ChST') || value.startsWith('MeST')) return 4;
  if (value.startsWith('GMT')) return 3 + signedOffsetLength(value.slice(3));
  if (value.startsWith('+') || value.startsWith('-')) {
    const length = signedOffsetLength(value);
    return length > 0 ? length : undefined;
  }
  const upper = (/^[A-Z]{0,6}/.exec(value) as RegExpExecArray)[0];
  if (upper.length === 3) return 3;
  if (upper.length === 4 && (upper[3] === 'T' || upper === 'WITA')) return 4;
  if (upper.length === 5 && upper[4] === 'T') return 5;
  return undefined;
}

function daysIn(month: number, year: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month + 1, 0);
  return date.getUTCDate();
}

function toDate(fields: Fields): Date | undefined {
  if (fields.day < 1 || fields.day > daysIn(fields.month, fields.year)) return undefined;
  if (fields.hour > 23 || fields.minute > 59 || fields.second > 59) return undefined;
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: that one takes the years 0 to 99 for the 1900s.
  date.setUTCFullYear(fields.year, fields.month, fields.day);
  date.setUTCHours(fields.hour, fields.minute, fields.second, Math.floor(fields.nanos / 1e6));
  return date;
}

const empty = (): Fields => ({ year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, nanos: 0 });

/** `02 Jan 2006` (LONG year, IMF-fixdate) or `02-Jan-06` (RFC 850): the day, month and year, SEPARATOR between. */
function dayMonthYear(at: Cursor, separator: string, long: boolean): Pick<Fields, 'day' | 'month' | 'year'> | undefined {
  const day = at.number(true);
  if (day === undefined || !at.literal(separator)) return undefined;
  const month = at.name(shortMonths);
  if (month === undefined || !at.literal(separator)) return undefined;
  const year = long ? at.longYear() : at.shortYear();
  return year === undefined ? undefined : { day, month, year };
}

/** `Mon, 02 Jan 2006 15:04:05 GMT`. */
function imfFixdate(text: string): Date | undefined {
  const at = new Cursor(text);
  const fields = empty();
  if (at.name(shortDays) === undefined || !at.literal(', ')) return undefined;
  const date = dayMonthYear(at, ' ', true);
  if (date === undefined || !at.literal(' ') || !at.clock(fields) || !at.literal(' GMT') || !at.done) return undefined;
  return toDate({ ...fields, ...date });
}

/** `Monday, 02-Jan-06 15:04:05 MST`. */
function rfc850(text: string): Date | undefined {
  const at = new Cursor(text);
  const fields = empty();
  if (at.name(longDays) === undefined || !at.literal(', ')) return undefined;
  const date = dayMonthYear(at, '-', false);
  if (date === undefined || !at.literal(' ') || !at.clock(fields) || !at.literal(' ') || !at.zone() || !at.done) return undefined;
  return toDate({ ...fields, ...date });
}

/** `Mon Jan _2 15:04:05 2006`, in the daemon's zone (UTC). */
function ansiC(text: string): Date | undefined {
  const at = new Cursor(text);
  const fields = empty();
  if (at.name(shortDays) === undefined || !at.literal(' ')) return undefined;
  const month = at.name(shortMonths);
  if (month === undefined || !at.literal(' ')) return undefined;
  const day = at.number(false);
  if (day === undefined || !at.literal(' ') || !at.clock(fields) || !at.literal(' ')) return undefined;
  const year = at.longYear();
  if (year === undefined || !at.done) return undefined;
  return toDate({ ...fields, year, month, day });
}

/** TEXT as Go's http.ParseTime reads it; undefined when it does not. */
export function parseHttpTime(text: string): Date | undefined {
  return imfFixdate(text) ?? rfc850(text) ?? ansiC(text);
}
