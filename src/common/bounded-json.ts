/**
 * JSON from outside (manifests, indexes, image configs, cache documents, archive members) parsed
 * with its nesting bounded. V8's JSON.parse nests without limit, but what later walks the value
 * recursively does not: JSON.stringify (inspect), goJson (configs written back) and
 * structuredClone give up with a RangeError a few thousand levels down, so a document of a few
 * KiB of `[` made the command that met it die with an internal error (moby CVE-2021-21285 class:
 * a malformed image that crashes the tool). Go's encoding/json, which docker and BuildKit read
 * these with, refuses more than 10,000 levels; no real document nests more than ten.
 */

/** Deeper than this, a document is refused: well below where the recursive walks above fail (about 2,000 for structuredClone). */
export const maxJsonNesting = 1000;

/** Whether TEXT's arrays and objects nest deeper than MAX: one pass, outside strings. */
export function jsonNestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c) i++;
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) {
      inString = true;
    } else if (code === 0x5b || code === 0x7b) {
      if (++depth > max) return true;
    } else if (code === 0x5d || code === 0x7d) {
      depth--;
    }
  }
  return false;
}

/**
 * JSON.parse of TEXT, refused (a SyntaxError, as for any other malformed JSON, which callers
 * already turn into their own error) when it nests deeper than `maxJsonNesting`.
 */
export function parseBoundedJson(text: string): unknown {
  if (jsonNestsDeeperThan(text, maxJsonNesting)) throw new SyntaxError(`exceeded max depth: nested deeper than ${maxJsonNesting} levels`);
  return JSON.parse(text) as unknown;
}
