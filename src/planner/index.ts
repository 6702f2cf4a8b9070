/**
 * The planner: from a parsed Dockerfile to what a build does. Variable expansion and scoping
 * live here (the word rules are common's `shell/`, shared with the parser; `resolve.ts` says
 * which words and which scope).
 */
export { errorRanges, withoutPlannerLocation } from './errors.js';
export type * from './model.js';
export { parseMount, parseRamSize, secretMountId, type CacheSharing, type MountType, type RunMount } from '../parser/index.js';
export { formatPlatform, hostPlatform, parsePlatform } from '../common/index.js';
export { outlineOf, type BuildOutline, type OutlineArg, type OutlineMount } from './outline.js';
export { baseImagesOf, parseBuildArgs, proxyFromBuildArgs, resolveRaw } from './resolve.js';
export { Linter, lintConfigOf, lintRules, lintStages, lintSyntax, lintWarningShort, parseCheckOptions, type LintBaseImage, type LintConfig, type LintRuleName, type LintWarning } from './lint.js';
export { DockerfileParseError, listTargets, type BuildTarget, resolveDockerfile, type DockerfileInput, type ResolvedBuild } from './dockerfile.js';
export { baseImageKey, copyKey, copyResultKey, execKey, mkdirKey, scratchKey, sourceDateEpochKey, type CopyKeyInput, type ExecKeyInput } from './cachekey.js';
