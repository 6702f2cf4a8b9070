/**
 * The build engine: walks the step graph and emits BuildEvents for the CLI to render. Only the
 * event contract is public so far.
 */
export type { BuildEvent, BuildEventListener, StepRef } from './events.js';
