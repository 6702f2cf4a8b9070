/**
 * URLs reach messages and progress events only through here: credentials in the authority and
 * query values that may carry tokens or upload state are replaced.
 */
const keptQueryKeys: ReadonlySet<string> = new Set(['digest', 'mount', 'from', 'service', 'scope', 'n', 'last']);

export function redactUrl(url: URL | string): string {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : new URL(url.href);
  } catch {
    return '<invalid url>';
  }
  if (parsed.username !== '' || parsed.password !== '') {
    parsed.username = 'REDACTED';
    parsed.password = '';
  }
  const entries = [...parsed.searchParams.entries()];
  if (entries.length > 0) {
    const redacted = new URLSearchParams();
    for (const [key, value] of entries) redacted.append(key, keptQueryKeys.has(key) ? value : 'REDACTED');
    parsed.search = redacted.toString();
  }
  return parsed.href;
}
