// How a run that threw ended, in the words of the summary: cancelled, timed out, refused by
// the platform (failure), or broken on our side (error). Always with the error redacted.
import { WaitTimeoutError } from '../steps/poll.ts';
import { resumeHint } from '../steps/guards.ts';
import type { RunReport } from '../publish/report.ts';
import type { Job } from './job.ts';

export function classify(err: unknown, report: RunReport, cancelled: boolean): NonNullable<RunReport['outcome']> {
  if (cancelled) return 'cancelled';
  if (err instanceof WaitTimeoutError) return 'timeout';
  if (report.outcome && report.outcome !== 'started') return report.outcome;
  return report.final?.phase === 'failure' ? 'failure' : 'error';
}

/** Records a failed run: outcome, how to go on, the message; marks the step failed. */
export function recordFailure(job: Job, err: unknown): void {
  const { report, deps } = job;
  const e = deps.secrets.redactError(err);
  report.outcome = classify(err, report, job.signal.aborted);
  if (report.requestId && job.cfg && report.outcome !== 'failure') report.resumeHint = resumeHint(report.requestId, job.cfg);
  report.error = e.message;
  deps.io.setFailed(e.message);
  if (deps.env.RUNNER_DEBUG === '1' && e.stack) deps.io.debug(e.stack);
}
