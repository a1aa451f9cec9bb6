// Phase 5: the upgrade runs on the platform. With `wait: true` the step polls until the end
// (or timeout-minutes), streaming the platform's log (rpc) between polls; with `wait: false`
// it looks once and leaves the request running, saying how to resume it.
import type { Config } from '../inputs.ts';
import type { Platform, RequestRef, Status, TransferContext } from '../platform/types.ts';
import { waitForEnd } from './poll.ts';
import { resumeHint } from './guards.ts';
import { needsDump } from './send-dump.ts';
import type { Job } from '../pipeline/job.ts';
import type { OpenRequest } from './open-request.ts';

const SHOWN_LOG_LINES = 200;

/** The request's final, successful status when the run waited for it; undefined when it left it running. */
export async function awaitOutcome(job: Job, cfg: Config, request: OpenRequest): Promise<Status | undefined> {
  if (!cfg.wait) {
    // A resumed (or collected) request may have ended meanwhile: then its results are collected now.
    const seen = await lookOnce(job, cfg, request);
    return seen.phase === 'success' ? seen : undefined;
  }
  // A state read before the dump was sent is stale; one read on resume of a started request is current.
  const known = needsDump(request.resumedStatus) ? undefined : request.resumedStatus;
  const final = await waitToTheEnd(job, cfg, request, known);
  if (final.phase === 'failure') throw new Error(failureMessage(request.ref, final));
  return final;
}

async function lookOnce(job: Job, cfg: Config, { platform, ref }: OpenRequest): Promise<Status> {
  const { report } = job;
  const status = await platform.status(ref, job.transfer);
  report.final = status;
  report.timeline.push({ state: status.state, at: new Date(job.deps.clock.now()) });
  report.outcome = status.phase === 'failure' ? 'failure' : 'started';
  report.resumeHint = resumeHint(ref.id, cfg);
  job.output({ state: status.state, 'database-version': status.databaseVersion, postgresql: status.postgresql });
  if (status.phase === 'failure') throw new Error(failureMessage(ref, status));
  if (status.phase === 'success') {
    report.outcome = undefined;
    job.log(`The request is \`${status.state}\`: collecting its results now.`);
  } else {
    job.log(`Not waiting (wait: false). The request is \`${status.state}\`; resume it later with request-id ${ref.id}.`);
  }
  return status;
}

async function waitToTheEnd(job: Job, cfg: Config, { platform, ref }: OpenRequest, initial: Status | undefined): Promise<Status> {
  const { report, deps } = job;
  const { clock } = deps;
  const started = clock.now();
  const logs = platform.logs ? logStreamer(platform, ref, job.transfer) : undefined;
  const r = await deps.io
    .group('Wait for the upgrade', () =>
      waitForEnd({
        poll: () => platform.status(ref, job.transfer),
        baseMs: cfg.pollIntervalSeconds * 1000,
        timeoutMs: cfg.timeoutMinutes * 60_000,
        signal: job.signal,
        log: job.log,
        initial,
        now: () => clock.now(),
        wait: (ms, signal) => clock.sleep(ms, signal),
        onState: (s, t) => {
          report.timeline.push(t);
          report.final = s;
        },
        between: logs,
      }),
    )
    .finally(() => {
      // Whatever ended the wait (the end, timeout, cancel): the user sees how long it lasted.
      report.waitSeconds = (clock.now() - started) / 1000;
      job.output({ 'elapsed-seconds': String(Math.round(report.waitSeconds)), state: report.final?.state });
    });
  report.polls = r.polls;
  await logs?.(r.status, true);
  report.final = r.status;
  job.output({ 'database-version': r.status.databaseVersion, postgresql: r.status.postgresql });
  return r.status;
}

function failureMessage(ref: RequestRef, st: Status): string {
  return `The upgrade of request ${ref.id} ended in state \`${st.state}\`${st.message ? `: ${st.message}` : '.'}`;
}

/** The platform's upgrade log (rpc), a few lines at a time between polls; `final` flushes the end. */
function logStreamer(platform: Platform, ref: RequestRef, ctx: TransferContext) {
  let offset = 0;
  return async (st: Status, final = false): Promise<void> => {
    if ((!final && st.state !== 'progress') || !platform.logs) return;
    try {
      const text = await platform.logs(ref, offset, ctx);
      offset += Buffer.byteLength(text);
      const lines = text.split('\n').filter(Boolean);
      const shown = lines.slice(-SHOWN_LOG_LINES);
      if (lines.length > shown.length) ctx.log(`  | (${lines.length - shown.length} earlier lines are in upgrade.log)`);
      if (shown.length) ctx.log(shown.map((l) => `  | ${l}`).join('\n'));
    } catch {
      // The log is a courtesy; the status polls decide.
    }
  };
}
