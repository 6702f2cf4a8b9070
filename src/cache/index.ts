/**
 * The build cache: step results by key (local now, a registry later) and the build context's
 * content hashing.
 */
export { LocalStepCache, stepKeyAnnotation, type LayerRef, type StepCache, type StepResult } from './step-cache.js';
