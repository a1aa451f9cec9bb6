// The end of every run, whatever happened: the pull request comment and the job summary
// (both redacted), then every release the phases registered, then the step state that tells
// the post step there is nothing left to clean.
import { renderSummary } from '../publish/summary.ts';
import type { Job } from '../pipeline/job.ts';

export async function finish(job: Job): Promise<void> {
  const { report, deps, cfg } = job;
  const { io, secrets } = deps;
  job.cancellation.stop();
  report.finishedAt = new Date(deps.clock.now());
  if (cfg?.prComment && report.requestId) {
    await deps.github.comment(report, cfg, job.log).catch((e: unknown) => {
      const msg = `Could not write the pull request comment: ${secrets.redact((e as Error).message)}`;
      io.setFailed(msg);
      report.warnings.push(msg);
    });
  }
  if (cfg?.summary !== false) {
    const markdown = renderSummary(report, (s) => secrets.redact(s));
    await io.appendSummary(`${markdown}\n`).catch((e: unknown) => job.warn(`Could not write the job summary: ${(e as Error).message}`));
  }
  for (const release of job.releases) await release();
  await deps.closeNetwork();
  deps.state.save('finished', 'true');
}
