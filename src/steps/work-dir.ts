// The run's private scratch directory: dump copies and, through TMPDIR, the temporary files
// of libraries (ephemeral SSH keys). Removed at the end; the post step removes it when this
// step was killed first, so its place is recorded in the step state at once.
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Config } from '../inputs.ts';
import type { Job } from '../pipeline/job.ts';

export const WORK_DIR_PREFIX = 'odoo-upgrade-work-';

export async function makeWorkDir(job: Job, cfg: Config): Promise<string> {
  const { env, state } = job.deps;
  const workDir = await mkdtemp(path.join(env.RUNNER_TEMP || '/tmp', WORK_DIR_PREFIX));
  job.onEnd(() => rm(workDir, { recursive: true, force: true }).catch(() => undefined));
  state.save('work-dir', workDir);
  state.save('output-dir', cfg.outputDir);
  env.TMPDIR = workDir;
  return workDir;
}
