import { describe, expect, it } from 'vitest';
import { compareSummaries, type StepSummary } from '../../src/cache/index.js';

describe('a cache miss explained', () => {
  const summary = (inputs: Record<string, string>): StepSummary => ({ parent: 'p', slot: 's', text: 'COPY . /ctx', inputs });

  // A newline in a file name started a line of its own in the progress, one that may pass for progress.
  it('quotes a file name holding a control character or bytes that are not UTF-8, and only those', () => {
    const reasons = compareSummaries(summary({}), summary({ 'file:new\nline': 'a', 'file:tab\there': 'b', 'file:bad\ufffd': 'c', 'file:plain name é': 'd' }));
    expect(reasons).toEqual(['file "bad\ufffd" added', 'file "new\\nline" added', 'file plain name é added', 'file "tab\\there" added']);
    expect(reasons.every((reason) => !reason.includes('\n'))).toBe(true);
  });
});
