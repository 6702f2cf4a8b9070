/**
 * JSON as Go's encoding/json writes it, so that a document docker or BuildKit would marshal
 * (an image config) has the same bytes, and so the same digest, when tsbuild writes it.
 *
 * Two things set Go's output apart from JSON.stringify's: strings escape `<`, `>` and `&` (as
 * \u003c, \u003e, \u0026: its HTML-safe default) and U+2028 and U+2029; and a map's keys are
 * sorted by their UTF-8 bytes, where a struct keeps its fields' order. Here a `Map` is a Go map
 * and a plain object a struct, its keys in their order (a struct has no integer-like field names,
 * which JavaScript would enumerate first); an undefined member is left out, as JSON.stringify does.
 */
export function goJson(value: unknown): string {
  if (value instanceof Map) {
    const entries = [...(value as Map<string, unknown>).entries()].filter(([, member]) => member !== undefined);
    entries.sort(([a], [b]) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    return `{${entries.map(([key, member]) => `${goString(key)}:${goJson(member)}`).join(',')}}`;
  }
  if (Array.isArray(value)) return `[${value.map((item: unknown) => (item === undefined ? 'null' : goJson(item))).join(',')}]`;
  if (typeof value === 'string') return goString(value);
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value).filter(([, member]) => member !== undefined);
    return `{${members.map(([key, member]) => `${goString(key)}:${goJson(member)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Characters Go escapes in a string beyond what JSON.stringify does. */
const goEscaped = /[<>&\u2028\u2029]/g;

function goString(text: string): string {
  // Go 1.22 and later write \b and \f short, as JSON.stringify does; other controls both write
  // as lowercase \u00XX.
  return JSON.stringify(text).replace(goEscaped, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
