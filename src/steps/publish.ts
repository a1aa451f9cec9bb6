// Phase 8: the upgraded database and its notes become a workflow artifact (with the result
// record a later production run looks for).
import { artifactNameFor, type Config } from '../inputs.ts';
import type { Status } from '../platform/types.ts';
import type { Job } from '../pipeline/job.ts';
import type { OpenRequest } from './open-request.ts';

export async function publish(job: Job, cfg: Config, { ref }: OpenRequest, final: Status): Promise<void> {
  const { report } = job;
  const stem = report.filename || final.filename || ref.id;
  const artifactName = cfg.artifactName ? artifactNameFor(cfg.artifactName, stem, final.target || cfg.target) : '';
  await job.deps.github.publish(report, cfg, { artifactName, log: job.log });
}
