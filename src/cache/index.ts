/**
 * The build cache: step results by key (local now, a registry later), and the build context as
 * docker sends it (.dockerignore) with the content digests that key COPY and ADD.
 */
export { LocalStepCache, stepKeyAnnotation, type LayerRef, type StepCache, type StepOutcome, type StepResult } from './step-cache.js';
export { openContext, sourceDigest, splitParents, ContentHasher, type BuildContext, type OpenContextOptions, type SourceDigest, type SourceDigestOptions } from './context.js';
export { containsWildcards, goClean, PatternMatcher, readIgnoreFile, type MatchInfo } from './patterns.js';
export { lookupInSource, matchSource, rootfsSource, sourceNotFound, walkSource, type MatchedSource, type SourceRoot, type TreeEntry, type WalkOptions } from './tree.js';
