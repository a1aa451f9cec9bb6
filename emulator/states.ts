// A request's state is a pure function of the facts recorded about it (when it was processed,
// when tests were skipped, when its results were built) and of the clock: no timers drive it,
// and the history a client observes can never contradict a later answer.

export type Outcome = 'done' | 'delivered' | 'failed' | 'cancelled' | 'invalid';
export interface Timing { pendingMs: number; processingMs: number; testingMs: number }

export interface Lifecycle {
  createdAt: number;
  aim: string;
  timing: Timing;
  outcome: Outcome;
  processedAt?: number; // the `process` call
  skippedAt?: number; // the `skip_test` call
  builtAt?: number; // upgraded files written
  buildFailedAt?: number;
}

export interface StateChange { state: string; at: number }

export const SUCCESS_STATES: readonly string[] = ['done', 'delivered'];
export const FINAL_STATES: readonly string[] = ['done', 'delivered', 'failed', 'cancelled', 'invalid'];
export const RUNNING_STATES: readonly string[] = ['pending', 'processing', 'testing'];

export function isSuccess(outcome: string): boolean {
  return SUCCESS_STATES.includes(outcome);
}

/** Every state the request has been in up to `now`, oldest first. */
export function timeline(l: Lifecycle, now: number): StateChange[] {
  const out: StateChange[] = [{ state: 'draft', at: l.createdAt }];
  const reach = (state: string, at: number): boolean => {
    if (at > now) return false;
    out.push({ state, at });
    return true;
  };
  if (l.processedAt === undefined) return out;
  if (!reach('pending', l.processedAt)) return out;
  const processingAt = l.processedAt + l.timing.pendingMs;
  if (!reach('processing', processingAt)) return out;
  const processingEnd = processingAt + l.timing.processingMs;

  // A failed upgrade is failed whatever the tests: it ends with processing, builds nothing.
  if (!isSuccess(l.outcome)) {
    reach(l.outcome, processingEnd);
    return out;
  }

  const skipped = l.skippedAt !== undefined;
  const tested = l.aim === 'test' && !(skipped && l.skippedAt! < processingEnd);
  let end = processingEnd;
  if (tested) {
    end = processingEnd + l.timing.testingMs;
    if (skipped) end = Math.min(end, Math.max(l.skippedAt!, processingEnd));
    if (!reach('testing', processingEnd)) return out;
  }
  if (l.buildFailedAt !== undefined) {
    reach('failed', Math.max(end, l.buildFailedAt));
    return out;
  }
  // done/delivered only once the upgraded files exist: until then the last state lasts.
  if (l.builtAt !== undefined) reach(skipped ? 'delivered' : l.outcome, Math.max(end, l.builtAt));
  return out;
}

export function stateAt(l: Lifecycle, now: number): string {
  const t = timeline(l, now);
  return t[t.length - 1]!.state;
}

/** When processing starts (results are built from then on), if `process` was called. */
export function processingStart(l: Lifecycle): number | undefined {
  return l.processedAt === undefined ? undefined : l.processedAt + l.timing.pendingMs;
}
