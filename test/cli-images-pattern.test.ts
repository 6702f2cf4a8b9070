import { describe, expect, it } from 'vitest';
import { matchesImagePattern, pathPattern } from '../src/cli/commands/images.js';

describe('docker images PATTERN', () => {
  it('matches as Go path.Match does', () => {
    const match = (pattern: string, text: string): boolean | undefined => pathPattern(pattern)?.test(text);
    expect(match('busybox', 'busybox')).toBe(true);
    expect(match('busy*', 'busybox')).toBe(true);
    expect(match('*', 'team/app')).toBe(false);
    expect(match('*/*', 'team/app')).toBe(true);
    expect(match('app:?', 'app:1')).toBe(true);
    expect(match('app:?', 'app:10')).toBe(false);
    expect(match('app:[0-9]', 'app:7')).toBe(true);
    expect(match('app:[^0-9]', 'app:x')).toBe(true);
    expect(match('app:[^0-9]', 'app:7')).toBe(false);
    expect(match('a\\*b', 'a*b')).toBe(true);
    expect(match('a\\*b', 'axb')).toBe(false);
    expect(match('[\\d]', 'd')).toBe(true);
    expect(match('[\\d]', '5')).toBe(false);
    expect(match('a.b', 'axb')).toBe(false);
    expect(pathPattern('[')).toBeUndefined();
    expect(pathPattern('[]')).toBeUndefined();
    expect(pathPattern('[z-a]')).toBeUndefined();
    expect(pathPattern('a\\')).toBeUndefined();
  });

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
