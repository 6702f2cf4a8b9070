export { openContext, sourceDigest, splitParents, ContentHasher, type BuildContext, type OpenContextOptions, type SourceDigest, type SourceDigestOptions } from './context.js';
export { containsWildcards, goClean, goPathMatch, PatternMatcher, readIgnoreFile, type MatchInfo } from './patterns.js';
export { lookupInSource, matchSource, rootfsSource, sourceNotFound, walkSource, type MatchedSource, type SourceRoot, type TreeEntry, type WalkOptions } from './tree.js';
