export { openRemoteBlob, type OpenRemoteBlobOptions } from './blob.js';
export { RegistryClient, isLoopbackHost, type RegistryClientOptions, type TimeoutOptions, type TlsOptions } from './client.js';
export {
  dockerConfigCredentials,
  dockerConfigPath,
  eraseCredentials,
  staticCredentials,
  storeCredentials,
  type CredentialProvider,
  type Credentials,
  type DockerConfigOptions,
} from './credentials.js';
export { login, verifyCredentials, type LoginOptions } from './login.js';
export { pull, type PullOptions, type PullResult } from './pull.js';
export { copyRemoteDocument } from './copy.js';
export { putManifest } from './push.js';
export { parseDocument } from './manifest.js';
export { push, type PushOptions, type PushResult } from './push.js';
export type { BlobPhase, BlobProgress, ManifestProgress, ProgressEvent, ProgressListener } from './progress.js';
export { redactUrl } from './redact.js';
export { isPlainHttpAnswer, ManifestNotFoundError } from './errors.js';
export { requestChannel, type RequestEvent } from './transport.js';
export type { RetryOptions } from './retry.js';
export { configuredInsecureRegistries, configuredMirrors, configuredRegistries, type ConfiguredMirror, type InsecureConfigFiles } from './insecure-config.js';
export { listTags } from './tags.js';
export { fetchDocument, fetchSmallBlob, pushArtifact, pushArtifactBlobs, type ArtifactBlob, type FetchedDocument, type PushArtifactOptions } from './artifact.js';
