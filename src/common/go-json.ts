/**
 * JSON as Go's encoding/json writes it, so that a document docker or BuildKit would marshal
 * (an image config) has the same bytes, and so the same digest, when tsbuild writes it.
 *
 * Two things set Go's output apart from JSON.stringify's: strings escape `<`, `>` and `&` (as
 * \u003c, \u003e, \u0026: its HTML-safe default) and U+2028 and U+2029; and a map's keys are
 * sorted by their UTF-8 bytes, where a struct keeps its fields' order. Here a `Map` is a Go map
 * and a plain object a struct, its keys in their order (a struct has no integer-like field names,
 * which JavaScript would enumerate first); an undefined member is left out, as JSON.stringify does.
 * ESCAPEHTML false writes `<`, `>` and `&` as they are, as an Encoder with SetEscapeHTML(false).
 */
/**
 * On a struct whose members carry Go's field names (as a template reaches them: `.MediaType`),
 * the names its JSON gives them (`mediaType`), as a Go struct's json tags do.
 */
export const jsonTags: unique symbol = Symbol('jsonTags');

/**
 * On a struct whose members are all its Go type's fields (an absent one undefined), the name a
 * template gives its type when it is asked for a field it has not (`*v1.Image`): Go's templates
 * fail there, where a map's missing key prints `<no value>`.
 */
export const goTypeName: unique symbol = Symbol('goTypeName');

/**
 * A struct of Go field names (their order kept) whose JSON names are TAGS (a field without one
 * keeps its name). With TYPENAME, the struct holds every field of that Go type, and a template
 * asking it for another fails as Go's does.
 */
export function goStruct<T extends object>(fields: T, tags: Readonly<Record<string, string>>, typeName?: string): T {
  Object.defineProperty(fields, jsonTags, { value: tags, enumerable: false });
  return typeName === undefined ? fields : Object.defineProperty(fields, goTypeName, { value: typeName, enumerable: false });
}

export function goJson(value: unknown, escapeHtml = true): string {
  if (value instanceof Map) {
    const entries = [...(value as Map<string, unknown>).entries()].filter(([, member]) => member !== undefined);
    entries.sort(([a], [b]) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    return `{${entries.map(([key, member]) => `${goString(key, escapeHtml)}:${goJson(member, escapeHtml)}`).join(',')}}`;
  }
  if (Array.isArray(value)) return `[${value.map((item: unknown) => (item === undefined ? 'null' : goJson(item, escapeHtml))).join(',')}]`;
  if (typeof value === 'string') return goString(value, escapeHtml);
  if (value !== null && typeof value === 'object') {
    const tags = (value as { [jsonTags]?: Readonly<Record<string, string>> })[jsonTags];
    const members = Object.entries(value).filter(([, member]) => member !== undefined);
    return `{${members.map(([key, member]) => `${goString(tags?.[key] ?? key, escapeHtml)}:${goJson(member, escapeHtml)}`).join(',')}}`;
  }
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value) ?? 'null';
}

const htmlUnsafe = '<>&\u2028\u2029';

const lineSeparators = /[\u2028\u2029]/g;

/** Characters Go escapes in a string beyond what JSON.stringify does. */
const goEscaped = /[<>&\u2028\u2029]/g;

function goString(text: string, escapeHtml: boolean): string {
  // Go 1.22 and later write \b and \f short, as JSON.stringify does; other controls both write
  // as lowercase \u00XX. Without HTML escaping (an Encoder's SetEscapeHTML(false), as docker's
  // template `json` marshals), U+2028 and U+2029 are still escaped.
  return JSON.stringify(text).replace(escapeHtml ? goEscaped : lineSeparators, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Go's json.Indent: SRC (valid JSON) with each element on a line of its own, INDENT once per
 * level after PREFIX, `": "` after keys, and empty objects and arrays kept as `{}` and `[]`.
 * Strings, numbers and key order stay byte for byte as they were; the space before the value
 * is dropped and the space after it kept, as Go does.
 */
export function goIndent(src: string, prefix: string, indent: string): string {
  let out = '';
  let depth = 0;
  let needIndent = false;
  let inString = false;
  let escaped = false;
  let started = false;
  const newline = (): string => `\n${prefix}${indent.repeat(depth)}`;
  for (let index = 0; index < src.length; index++) {
    const c = src[index] as string;
    if (inString) {
      out += c;
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      // Before the value and between its tokens: dropped; after it: kept.
      if (started && depth === 0 && !needIndent) out += c;
      continue;
    }
    started = true;
    if (needIndent && c !== '}' && c !== ']') {
      needIndent = false;
      depth++;
      out += newline();
    }
    switch (c) {
      case '"':
        inString = true;
        out += c;
        break;
      case '{':
      case '[':
        needIndent = true;
        out += c;
        break;
      case ',':
        out += c + newline();
        break;
      case ':':
        out += ': ';
        break;
      case '}':
      case ']':
        if (needIndent) needIndent = false;
        else {
          depth--;
          out += newline();
        }
        out += c;
        break;
      default:
        out += c;
    }
  }
  return out;
}

/**
 * Go's json.Compact with HTML escaping, as encoding/json applies it to what a MarshalJSON
 * method returns (a manifest's raw bytes inside a marshalled struct): insignificant space
 * removed, `<`, `>`, `&`, U+2028 and U+2029 in strings escaped.
 */
export function goCompact(src: string): string {
  let out = '';
  let inString = false;
  let escaped = false;
  for (const c of src) {
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
      out += htmlUnsafe.includes(c) ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') continue;
    if (c === '"') inString = true;
    out += c;
  }
  return out;
}
