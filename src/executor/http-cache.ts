/**
 * What a URL served last, kept so that the next build revalidates it instead of downloading it
 * again, as BuildKit's http source does: the ETag and Last-Modified the server gave, and the
 * content as a blob of the store. A `304 Not Modified` then keys the step by the same digest and
 * the content comes from the store. A record whose blob was pruned is as no record.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { hashHex, parseDigest, type Digest } from '../common/index.js';
import { writeFileAtomic, type Store } from '../store/index.js';

export interface HttpRecord {
  readonly etag?: string;
  /** The Last-Modified header as served. */
  readonly lastModified?: string;
  /** sha256 of the content: the blob in the store. */
  readonly digest: Digest;
}

export class HttpCache {
  private readonly store: Store;

  constructor(store: Store) {
    this.store = store;
  }

  private recordPath(url: string): string {
    return join(this.store.root, 'http-cache', `${hashHex('sha256', url)}.json`);
  }

  /** The record for URL whose content the store still holds, or undefined. */
  async lookup(url: string): Promise<HttpRecord | undefined> {
    let record: HttpRecord;
    try {
      record = JSON.parse(await readFile(this.recordPath(url), 'utf8')) as HttpRecord;
      if (record.etag === undefined && record.lastModified === undefined) return undefined;
      parseDigest(record.digest);
    } catch {
      return undefined;
    }
    return (await this.store.blobSize(record.digest)) === undefined ? undefined : record;
  }

  /** Writes the content of RECORD to PATH (a new file, 0600). */
  async materialize(record: HttpRecord, path: string): Promise<void> {
    await pipeline(await this.store.openBlob(record.digest), createWriteStream(path, { flags: 'wx', mode: 0o600 }));
  }

  /** Keeps what URL served (the file at PATH, of sha256 DIGEST) when the server gave a validator. */
  async remember(url: string, path: string, record: HttpRecord): Promise<void> {
    if (record.etag === undefined && record.lastModified === undefined) return;
    await this.store.putBlob(createReadStream(path), { digest: record.digest });
    await mkdir(join(this.store.root, 'http-cache'), { recursive: true, mode: 0o755 });
    // Named by the URL's hash only: a URL may carry credentials, which are never written down.
    await writeFileAtomic(this.recordPath(url), `${JSON.stringify(record)}\n`);
  }
}
