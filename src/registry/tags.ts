/**
 * The tags of a repository (`GET /v2/NAME/tags/list`), following the registry's `Link` pages.
 * A registry's answer is not trusted: pages are bounded in number and size, every tag is
 * validated before it is used in a reference, and a next page must stay on the same origin.
 */
import { TsbuildError, formatReference, withTag, type ImageReference } from '../common/index.js';
import type { Registry } from './client.js';
import { networkError, readCapped, statusError } from './errors.js';
import { pullScope, readWhole } from './manifest.js';
import { header } from './transport.js';

const maxPages = 100;
const maxPageBytes = 4 * 1024 * 1024;
const pageSize = 1000;

/** The URL of a `Link: <...>; rel="next"` header, if there is one. */
function nextPage(link: string | undefined, current: URL): URL | undefined {
  if (link === undefined) return undefined;
  for (const part of link.split(',')) {
    const match = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (match !== null && /(?:^|;)\s*rel\s*=\s*"?next"?\s*(?:;|$)/i.test(match[2] ?? '')) return new URL(match[1] ?? '', current);
  }
  return undefined;
}

export async function listTags(registry: Registry, reference: ImageReference, signal?: AbortSignal): Promise<string[]> {
  const name = formatReference({ domain: reference.domain, path: reference.path });
  const context = { action: 'list tags', reference: name };
  let url: URL | undefined = await registry.url(`${reference.path}/tags/list`);
  url.search = `?n=${pageSize}`;
  const tags = new Set<string>();
  for (let page = 0; url !== undefined; page++) {
    if (page >= maxPages) throw new TsbuildError('REGISTRY', `list tags of ${name}: more than ${maxPages} pages`);
    const current: URL = url;
    const response = await registry.send({ method: 'GET', url: current, scopes: [pullScope(reference.path)], context, ...(signal === undefined ? {} : { signal }) });
    if (response.status !== 200) throw statusError({ context, method: 'GET', url: current, status: response.status, body: await readCapped(response.body) });
    const link = header(response, 'link');
    const bytes = await readWhole(response.body, maxPageBytes + 1, (error) => networkError(context, 'GET', current, error));
    if (bytes.length > maxPageBytes) throw new TsbuildError('REGISTRY', `list tags of ${name}: a page exceeds the ${maxPageBytes}-byte limit`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new TsbuildError('REGISTRY', `list tags of ${name}: the registry answered something other than JSON`);
    }
    const listed = typeof parsed === 'object' && parsed !== null ? (parsed as { tags?: unknown }).tags : undefined;
    if (listed !== null && listed !== undefined && !Array.isArray(listed)) throw new TsbuildError('REGISTRY', `list tags of ${name}: "tags" is not a list`);
    for (const tag of listed ?? []) {
      // withTag validates the tag as a reference would.
      if (typeof tag !== 'string') throw new TsbuildError('REGISTRY', `list tags of ${name}: a tag is not a string`);
      withTag(reference, tag);
      tags.add(tag);
    }
    const next = nextPage(link, current);
    if (next !== undefined && next.origin !== current.origin) throw new TsbuildError('REGISTRY', `list tags of ${name}: the next page is on another host (${next.host})`);
    url = next;
  }
  return [...tags].sort();
}
