/**
 * The build cache: step results by key (local now, a registry later), and the build context as
 * docker sends it (.dockerignore) with the content digests that key COPY and ADD.
 */
export { LocalStepCache, stepKeyAnnotation, type LocalStepCacheOptions, type CacheMountSync, type LayerRef, type StepCache, type StepOutcome, type StepRecord, type StepResult, CacheImportRetry } from './step-cache.js';
export { openContext, readContextIgnoreFile, sourceDigest, splitParents, ContentHasher, type BuildContext, type ContextIgnoreFile, type OpenContextOptions, type SourceDigest, type SourceDigestOptions } from './context.js';
export { containsWildcards, goClean, PatternMatcher, readIgnoreFile, type MatchInfo } from './patterns.js';
export { CacheKeyError, lookupInSource, matchSource, missingWildcardBase, openedAsWalked, openWalkedEntry, readWalkedLink, rootfsSource, sourceNotFound, walkSource, type MatchedSource, type SourceRoot, type TreeEntry, type WalkOptions } from './tree.js';
export { BuildCache, type BuildCacheOptions } from './build-cache.js';
export { parseCacheFrom, parseCacheTo, type CacheExport, type CacheImport, type CacheMode } from './cache-spec.js';
export { exportCache, inlineCacheOf, selectRecords, type ExportCacheOptions } from './cache-export.js';
export { cacheArtifactType, cacheConfigMediaType, inlineCacheField, type CacheDocument, type CacheMountEntry, type CacheMountLayers, type CacheRecord, type InlineCache } from './cache-format.js';
export { compareSummaries, explainMiss, fileSummary, shortHash, type StepSummary } from './explain.js';
export { applyCacheCap, cacheCapSetting, cacheUsage, defaultCacheShare, pruneBuildCache, type CacheCapSetting, type CacheRecordUsage, type CacheUsage, type PruneCacheOptions, type PruneCacheResult } from './gc.js';
export { markBuildRunning, otherBuildsRunning } from './activity.js';
