import { describe, expect, it } from 'vitest';
import { imageFilter, matchesImagePattern } from '../../src/store/index.js';

describe('docker images PATTERN', () => {
  it('matches repository:tag, then the repository alone', () => {
    const image = { repository: '127.0.0.1:5000/team/app', tag: '1' };
    expect(matchesImagePattern(image, '127.0.0.1:5000/team/app')).toBe(true);
    expect(matchesImagePattern(image, '127.0.0.1:5000/team/app:1')).toBe(true);
    expect(matchesImagePattern(image, '127.0.0.1:5000/team/app:2')).toBe(false);
    expect(matchesImagePattern(image, '127.0.0.1:5000/*/app')).toBe(true);
    expect(matchesImagePattern(image, 'app')).toBe(false);
    expect(matchesImagePattern({ repository: 'busybox', tag: 'latest' }, 'busybox')).toBe(true);
    expect(() => matchesImagePattern(image, '[')).toThrow(/bad pattern/);
  });
});

describe('docker images --filter', () => {
  const summary = (name: string, created: string, labels: Record<string, string> = {}) => {
    const [repository = '', tag = ''] = name.split(':');
    return { name, repository, tag, digest: `sha256:${name}`, id: `sha256:${name.length.toString().padStart(64, '0')}`, created, size: 0, unpackedSize: 0, labels };
  };
  const images = [
    summary('app:1', '2026-01-01T00:00:00Z', { team: 'web', tier: 'front' }),
    summary('app:2', '2026-02-01T00:00:00Z', { team: 'web' }),
    summary('db:1', '2026-03-01T00:00:00Z', { team: 'data' }),
  ];
  // As the store's findImage would answer, by name only here.
  const find = (image: string): Promise<{ descriptor: { digest: string } } | undefined> => Promise.resolve(images.some((entry) => entry.name === image) ? { descriptor: { digest: `sha256:${image}` } } : undefined);
  const names = async (terms: string[]): Promise<string[]> => {
    const filter = await imageFilter(terms, images, find);
    return images.filter(filter).map((image) => image.name);
  };

  it('takes reference, label, before, since and dangling as docker does', async () => {
    expect(await names([])).toEqual(['app:1', 'app:2', 'db:1']);
    expect(await names(['reference=app'])).toEqual(['app:1', 'app:2']);
    expect(await names(['reference=app:1', 'reference=db'])).toEqual(['app:1', 'db:1']);
    expect(await names(['label=tier'])).toEqual(['app:1']);
    expect(await names(['label=team=web'])).toEqual(['app:1', 'app:2']);
    expect(await names(['label=team=web', 'reference=*:2'])).toEqual(['app:2']);
    expect(await names(['before=app:2'])).toEqual(['app:1']);
    expect(await names(['since=app:2'])).toEqual(['db:1']);
    expect(await names(['dangling=true'])).toEqual([]);
    expect(await names(['dangling=false'])).toEqual(['app:1', 'app:2', 'db:1']);
  });

  it('refuses what it does not know', async () => {
    await expect(names(['colour=red'])).rejects.toThrow("invalid filter 'colour'");
    await expect(names(['label'])).rejects.toThrow('bad format of filter (expected name=value): label');
    await expect(names(['dangling=maybe'])).rejects.toThrow("invalid filter 'dangling=[maybe]'");
    await expect(names(['before=nosuch'])).rejects.toThrow('No such image: nosuch:latest');
    expect(await names(['label='])).toEqual([]);
  });
});
