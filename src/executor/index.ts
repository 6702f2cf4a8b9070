/**
 * The executor: walks a resolved Dockerfile's stages, runs the steps that the cache does not
 * hold (RUN in the sandbox, COPY/ADD, WORKDIR), and writes the image. It never prints; it emits
 * BuildEvents.
 */
export { build, buildPlatforms, checkBuild, outlineBuild, BuildInterrupted, BuildStepError, type BuildDeps, type BuildRequest, type BuiltImage } from './build.js';
export type { BuildEvent, BuildEventListener, StepRef } from './events.js';
export type { StepHandle } from './progress.js';
export type { RunSandboxOptions } from './run-op.js';
export { checkContextName, parseNamedContextValue, type NamedContextSource } from './named-context.js';
export { dockerfileInContext, maxDockerfileBytes, readDockerfile, readStdinInput, readUrlInput, type StdinInput } from './stdin-context.js';
export { checkoutContext, isGitSource } from './git-source.js';
export { archiveStream, downloadUrls } from './copy.js';
export type { SecretSource } from './run-mounts.js';
export { reclaimAbandonedTemporaries } from './abandoned.js';
export { cacheMountUsage, removeCacheMounts, type CacheMountUsage } from './cache-mount-usage.js';
export { packCacheMount } from './cache-mounts.js';
