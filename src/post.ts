// The post step's entry: cleanup after a main step that was killed (src/pipeline/post-cleanup.ts),
// reading the runner's step state.
import * as core from '@actions/core';
import { runnerState } from './pipeline/state.ts';
import { cleanUpAfterKill } from './pipeline/post-cleanup.ts';

try {
  await cleanUpAfterKill(runnerState, { info: (l) => core.info(l), warning: (l) => core.warning(l) });
} catch (err) {
  // Cleanup is best effort: it must never turn a finished job red.
  core.warning(`Post-step cleanup failed: ${(err as Error).message}`);
}
