import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, listTags } from '../../src/registry/index.js';

/** A registry that only lists tags, page by page as the handler says; everything else is 404. */
let pages: Record<string, { body: string; link?: string }> = {};
let server: Server;
let host: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    if (url.pathname === '/v2/') return void response.writeHead(200).end('{}');
    const page = pages[`${url.pathname}${url.search}`];
    if (page === undefined) return void response.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
    response.writeHead(200, { 'content-type': 'application/json', ...(page.link === undefined ? {} : { link: page.link }) }).end(page.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function tagsOf(path: string): Promise<string[]> {
  const client = new RegistryClient({ credentials: () => Promise.resolve(undefined), retry: { attempts: 1 } });
  try {
    return await listTags(client.registry(host), { domain: host, path });
  } finally {
    await client.close();
  }
}

describe('listTags', () => {
  it('follows the Link pages and sorts the tags', async () => {
    pages = {
      '/v2/team/app/tags/list?n=1000': { body: '{"name":"team/app","tags":["b","a"]}', link: '</v2/team/app/tags/list?n=1000&last=b>; rel="next"' },
      '/v2/team/app/tags/list?n=1000&last=b': { body: '{"name":"team/app","tags":["c","a"]}' },
      '/v2/empty/tags/list?n=1000': { body: '{"name":"empty","tags":null}' },
    };
    expect(await tagsOf('team/app')).toEqual(['a', 'b', 'c']);
    expect(await tagsOf('empty')).toEqual([]);
  });

  it('trusts nothing the registry says: tags, pages, hosts', async () => {
    pages = {
      '/v2/bad/tags/list?n=1000': { body: '{"tags":["ok","../../etc"]}' },
      '/v2/away/tags/list?n=1000': { body: '{"tags":["a"]}', link: '<http://other.example/v2/away/tags/list?last=a>; rel="next"' },
      '/v2/loop/tags/list?n=1000': { body: '{"tags":["a"]}', link: '</v2/loop/tags/list?n=1000>; rel="next"' },
      '/v2/notjson/tags/list?n=1000': { body: '<html>' },
    };
    await expect(tagsOf('bad')).rejects.toThrow(/invalid tag/);
    await expect(tagsOf('away')).rejects.toThrow(/next page is on another host \(other.example\)/);
    await expect(tagsOf('loop')).rejects.toThrow(/more than 100 pages/);
    await expect(tagsOf('notjson')).rejects.toThrow(/other than JSON/);
    await expect(tagsOf('missing')).rejects.toThrow(/NAME_UNKNOWN/);
  });
});
