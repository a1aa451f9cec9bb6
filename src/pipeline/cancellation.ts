// Cancellation as a runner does it: SIGINT, then SIGTERM 7.5 s later, then SIGKILL 2.5 s after.
// The first signal aborts every phase through one AbortSignal; the process never outlives the
// runner's patience silently.
import type { SignalSource } from './deps.ts';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
const HARD_EXIT_MS = 7_000;

export interface Cancellation {
  readonly signal: AbortSignal;
  /** Stops listening (the run is over). A hard exit already armed stays armed. */
  stop(): void;
}

export function watchCancellation(source: SignalSource, onCancel: (signal: NodeJS.Signals) => void): Cancellation {
  const controller = new AbortController();
  const listener = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    onCancel(sig);
    controller.abort(new Error(`cancelled by ${sig}`));
    // Cleanup (summary, work dir) gets 7 s; after that exit rather than be killed mid-write.
    setTimeout(() => source.exit(1), HARD_EXIT_MS).unref();
  };
  for (const s of SIGNALS) source.on(s, listener);
  return {
    signal: controller.signal,
    stop: () => {
      for (const s of SIGNALS) source.off(s, listener);
    },
  };
}
