// Phase 8: the upgraded database and its notes become a workflow artifact (with the result
// record a later production run looks for).
import { artifactNameFor, type Config } from '../inputs.ts';
import type { Job } from '../pipeline/job.ts';

export async function publish(job: Job, cfg: Config): Promise<void> {
  const { report } = job;
  const stem = report.filename || report.final?.filename || report.requestId || 'dump';
  // A reused result is published already, by the run that made it: no second copy.
  const artifactName = cfg.artifactName && !report.reused ? artifactNameFor(cfg.artifactName, stem, report.final?.target || cfg.target) : '';
  await job.deps.github.publish(report, cfg, { artifactName, log: job.log });
}
