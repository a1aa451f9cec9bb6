// Waiting for the platform: status polls that start at poll-interval, back off while
// nothing changes, and stay close enough to notice the end in time (within 60 s or 10%
// of the wait so far, whichever is larger). Retry-After is honoured. Pure schedule first.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Status } from '../platform/types.ts';

export const MAX_DELAY_MS = 5 * 60_000;

export interface ScheduleInput {
  baseMs: number; // poll-interval
  previousMs: number; // the last delay (0 before the first)
  changed: boolean; // did the state change at the last poll?
  elapsedMs: number; // time waited so far
  retryAfterMs?: number;
}

/** The delay before the next status call. */
export function nextDelay(s: ScheduleInput): number {
  // How late we may notice the end: 60 s, or 10% of the wait so far; never below the user's interval.
  const ceiling = Math.min(MAX_DELAY_MS, Math.max(s.baseMs, 60_000, 0.1 * s.elapsedMs));
  let delay = s.changed || s.previousMs === 0 ? s.baseMs : Math.min(ceiling, Math.round(s.previousMs * 1.5));
  delay = Math.min(delay, Math.max(ceiling, s.baseMs));
  if (s.retryAfterMs !== undefined) delay = Math.max(delay, s.retryAfterMs);
  return delay;
}

export interface Transition {
  state: string;
  at: Date;
}

export interface WaitOptions {
  poll: () => Promise<Status>;
  baseMs: number;
  timeoutMs: number;
  signal?: AbortSignal;
  log: (line: string) => void;
  onState?: (status: Status, transition: Transition) => void;
  /** Called between polls (the rpc log stream); must not throw. */
  between?: (status: Status) => Promise<void>;
  now?: () => number;
  wait?: (ms: number, signal?: AbortSignal) => Promise<void>;
  initial?: Status;
}

export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
  readonly last: Status;
  constructor(message: string, last: Status) {
    super(message);
    this.last = last;
  }
}

/** Polls until the request reaches success or failure; returns the last status. */
export async function waitForEnd(opts: WaitOptions): Promise<{ status: Status; polls: number }> {
  const now = opts.now ?? Date.now;
  const pause = opts.wait ?? ((ms: number, signal?: AbortSignal) => sleep(ms, undefined, { signal }));
  const started = now();
  let status = opts.initial ?? (await opts.poll());
  let polls = opts.initial ? 0 : 1;
  let lastState = '';
  let delay = 0;
  for (;;) {
    const changed = status.state !== lastState;
    if (changed) {
      const at = new Date(now());
      opts.log(`${at.toISOString().slice(11, 19)}Z state: ${status.state}${status.message ? ` (${status.message})` : ''}`);
      opts.onState?.(status, { state: status.state, at });
      lastState = status.state;
    }
    if (status.phase !== 'running') return { status, polls };
    const elapsed = now() - started;
    if (elapsed >= opts.timeoutMs) {
      throw new WaitTimeoutError(`Stopped waiting after ${Math.round(elapsed / 60_000)} min; the request is still \`${status.state}\` on the platform.`, status);
    }
    delay = nextDelay({ baseMs: opts.baseMs, previousMs: delay, changed, elapsedMs: elapsed });
    delay = Math.min(delay, Math.max(0, opts.timeoutMs - elapsed));
    if (opts.between) await opts.between(status);
    await pause(delay, opts.signal);
    status = await opts.poll();
    polls++;
  }
}
