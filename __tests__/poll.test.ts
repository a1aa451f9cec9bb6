import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextDelay, waitForEnd, WaitTimeoutError, MAX_DELAY_MS } from '../src/steps/poll.ts';
import type { Status } from '../src/platform/types.ts';

const st = (state: string, phase: Status['phase'] = 'running'): Status => ({ state, phase, raw: {} });

test('backoff starts at the interval and grows while nothing changes, reset on change', () => {
  let d = nextDelay({ baseMs: 30_000, previousMs: 0, changed: true, elapsedMs: 0 });
  assert.equal(d, 30_000);
  d = nextDelay({ baseMs: 30_000, previousMs: d, changed: false, elapsedMs: 30_000 });
  assert.equal(d, 45_000);
  d = nextDelay({ baseMs: 30_000, previousMs: d, changed: false, elapsedMs: 75_000 });
  assert.equal(d, 60_000, 'capped at 60 s early on');
  d = nextDelay({ baseMs: 30_000, previousMs: 60_000, changed: false, elapsedMs: 3_600_000 });
  assert.equal(d, 90_000);
  assert.equal(nextDelay({ baseMs: 30_000, previousMs: 90_000, changed: true, elapsedMs: 3_600_000 }), 30_000);
});

test('never more than 5 minutes, never later than 10% of the wait (or 60 s)', () => {
  let prev = 0;
  let t = 0;
  for (let i = 0; i < 500; i++) {
    prev = nextDelay({ baseMs: 30_000, previousMs: prev, changed: i === 0, elapsedMs: t });
    assert.ok(prev <= MAX_DELAY_MS);
    assert.ok(prev <= Math.max(60_000, 0.1 * t) + 1, `delay ${prev} at ${t}`);
    t += prev;
  }
});

test('a simulated 2-hour wait stays under 150 status requests', () => {
  let prev = 0;
  let t = 0;
  let polls = 1;
  while (t < 2 * 3600_000) {
    prev = nextDelay({ baseMs: 30_000, previousMs: prev, changed: polls === 1, elapsedMs: t });
    t += prev;
    polls++;
  }
  assert.ok(polls <= 150, `${polls} polls`);
});

test('Retry-After lengthens the delay; a user interval above 60 s is respected', () => {
  assert.equal(nextDelay({ baseMs: 5_000, previousMs: 5_000, changed: true, elapsedMs: 0, retryAfterMs: 20_000 }), 20_000);
  assert.equal(nextDelay({ baseMs: 120_000, previousMs: 0, changed: true, elapsedMs: 0 }), 120_000);
  assert.equal(nextDelay({ baseMs: 120_000, previousMs: 120_000, changed: false, elapsedMs: 10_000 }), 120_000);
});

test('waitForEnd logs each state once and stops on success', async () => {
  const states = ['pending', 'pending', 'processing', 'processing', 'testing', 'done'];
  let i = 0;
  let clock = 0;
  const lines: string[] = [];
  const seen: string[] = [];
  const r = await waitForEnd({
    poll: async () => {
      const s = states[i++];
      return st(s, s === 'done' ? 'success' : 'running');
    },
    baseMs: 1000,
    timeoutMs: 3600_000,
    log: (l) => lines.push(l),
    onState: (s) => seen.push(s.state),
    now: () => clock,
    wait: async (ms) => {
      clock += ms;
    },
  });
  assert.equal(r.status.state, 'done');
  assert.equal(r.polls, 6);
  assert.deepEqual(seen, ['pending', 'processing', 'testing', 'done']);
  assert.equal(lines.length, 4);
});

test('waitForEnd gives up at the timeout with the last status', async () => {
  let clock = 0;
  await assert.rejects(
    waitForEnd({
      poll: async () => st('processing'),
      baseMs: 60_000,
      timeoutMs: 10 * 60_000,
      log: () => {},
      now: () => clock,
      wait: async (ms) => {
        clock += ms;
      },
    }),
    (e: unknown) => e instanceof WaitTimeoutError && e.last.state === 'processing' && clock <= 10 * 60_000,
  );
});

test('a failure state ends the wait', async () => {
  const r = await waitForEnd({ poll: async () => st('invalid', 'failure'), baseMs: 1, timeoutMs: 1000, log: () => {} });
  assert.equal(r.status.phase, 'failure');
});
