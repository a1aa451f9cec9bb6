// The status polling of a long upgrade on a fake clock: waitForEnd drives itself through
// `now` and `wait`, so two hours pass in milliseconds. Counts polls and measures how late
// the end is noticed against the promise (max(60 s, 10% of the wait)).
import { waitForEnd } from '../src/steps/poll.ts';
import type { Status } from '../src/platform/types.ts';

export interface PollRun {
  endMs: number; // when the platform finished, after the wait began
  polls: number;
  lagMs: number; // end noticed this much later
  allowedMs: number;
}

// pending 5 min, upgrading until 90% of the time, then testing: state changes reset the backoff.
function stateAt(t: number, endMs: number): Status {
  const raw = {};
  if (t >= endMs) return { state: 'done', phase: 'success', raw };
  if (t < Math.min(5 * 60_000, endMs * 0.05)) return { state: 'pending', phase: 'running', raw };
  if (t < endMs * 0.9) return { state: 'processing', phase: 'running', raw };
  return { state: 'testing', phase: 'running', raw };
}

export async function simulate(endMs: number, baseMs = 30_000): Promise<PollRun> {
  let clock = 0;
  let polls = 0;
  const { status } = await waitForEnd({
    baseMs,
    timeoutMs: 48 * 3_600_000,
    log: () => {},
    now: () => clock,
    wait: async (ms) => {
      clock += ms;
    },
    poll: async () => {
      polls++;
      return stateAt(clock, endMs);
    },
  });
  if (status.phase !== 'success') throw new Error('the simulation did not end');
  return { endMs, polls, lagMs: clock - endMs, allowedMs: Math.max(60_000, 0.1 * endMs) };
}

/** The 2-hour run, and the worst lag over ends spread from 1 minute to 2 hours. */
export async function pollBench(baseMs = 30_000): Promise<{ twoHours: PollRun; worst: PollRun; breaches: number; tried: number }> {
  const twoHours = await simulate(2 * 3_600_000, baseMs);
  let worst = twoHours;
  let breaches = 0;
  let tried = 0;
  for (let end = 60_000; end <= 2 * 3_600_000; end += 7_001) {
    const r = await simulate(end, baseMs);
    tried++;
    if (r.lagMs > r.allowedMs) breaches++;
    if (r.lagMs / r.allowedMs > worst.lagMs / worst.allowedMs) worst = r;
  }
  return { twoHours, worst, breaches, tried };
}
