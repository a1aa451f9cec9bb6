// One run of the step: its dependencies, the report it fills as it goes, the cancellation
// signal, and what must be released at the end. Every phase takes the job.
import type { Config } from '../inputs.ts';
import type { TransferContext } from '../platform/types.ts';
import { progress } from '../transfer/progress.ts';
import { newReport, type RunReport } from '../publish/report.ts';
import { watchCancellation, type Cancellation } from './cancellation.ts';
import type { Deps } from './deps.ts';

export interface Job {
  readonly deps: Deps;
  readonly report: RunReport;
  readonly signal: AbortSignal;
  /** For the phases that move data: log, cancellation, progress lines. */
  readonly transfer: TransferContext;
  /** The validated inputs, once read: the end of the run needs them even after a failure. */
  cfg?: Config;
  log(line: string): void;
  warn(line: string): void;
  /** Sets the outputs that have a value (an output is written as soon as it is known). */
  output(values: Record<string, string | undefined>): void;
  /** Registers a release to run at the end, whatever happened (last registered, first run). */
  onEnd(release: () => Promise<unknown>): void;
  readonly releases: Array<() => Promise<unknown>>;
  readonly cancellation: Cancellation;
}

export function startJob(deps: Deps): Job {
  const { io, secrets } = deps;
  const report = newReport();
  report.startedAt = new Date(deps.clock.now());
  const log = (line: string) => io.info(secrets.redact(line));
  const warn = (line: string) => io.warning(secrets.redact(line));
  const cancellation = watchCancellation(deps.signals, (sig) => {
    io.warning(`Received ${sig}: stopping.`);
    report.outcome = 'cancelled';
  });
  const releases: Array<() => Promise<unknown>> = [];
  return {
    deps,
    report,
    signal: cancellation.signal,
    cancellation,
    transfer: {
      log,
      signal: cancellation.signal,
      progress: (label, total) => progress({ label, total, log }),
      // A platform's warning (a contract-wide wipe that took other requests) reaches the summary too.
      warn: (line) => {
        warn(line);
        report.warnings.push(deps.secrets.redact(line));
      },
    },
    log,
    warn,
    output: (values) => {
      for (const [name, value] of Object.entries(values)) if (value !== undefined && value !== '') io.setOutput(name, value);
    },
    releases,
    onEnd: (release) => releases.unshift(release),
  };
}
