// Everything the pipeline touches in the world, in one object: src/index.ts builds the real
// one (@actions/core, process.env, the platform clients, the wall clock, GitHub's services);
// tests build their own and run the whole pipeline in-process.
import type { Config, InputGetter } from '../inputs.ts';
import type { SecretRegistry } from '../secrets.ts';
import type { Platform } from '../platform/types.ts';
import type { RunReport } from '../publish/report.ts';
import type { RecentTestOptions, RecentTestProof } from '../github/recent-test.ts';
import type { StateProvider } from './state.ts';
import type { FoundHandle, PendingContext } from '../github/pending.ts';

/** What the runner sees: log lines, masks, outputs, the job summary. */
export interface ActionIO {
  info(line: string): void;
  warning(line: string): void;
  /** A notice annotation (`::notice::`); where absent, an info line. */
  notice?(line: string): void;
  debug(line: string): void;
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Masks a value in everything the runner prints from now on (`::add-mask::`). */
  setSecret(value: string): void;
  setOutput(name: string, value: string): void;
  /** Marks the step failed (exit code 1) with this message. */
  setFailed(message: string): void;
  appendSummary(markdown: string): Promise<void>;
}

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The process signals a runner sends on cancel; `exit` ends the process when cleanup overstays. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  exit(code: number): void;
}

/** The GitHub side of a run: the recent-test proof, the artifact, the pull request comment. */
export interface GitHubServices {
  findRecentTest(opts: RecentTestOptions): Promise<RecentTestProof>;
  publish(report: RunReport, cfg: Config, opts: { artifactName: string; log: (line: string) => void }): Promise<void>;
  comment(report: RunReport, cfg: Config, log: (line: string) => void): Promise<void>;
  /** Pending handles (handle-passphrase, collect): published, found by name or pattern, deleted once collected. */
  publishHandle(opts: { name: string; file: string; dir: string; retentionDays?: number; log: (line: string) => void }): Promise<{ id: number; url: string }>;
  findHandle(pattern: string, ctx: PendingContext): Promise<FoundHandle>;
  deleteHandle(artifactId: number, ctx: PendingContext): Promise<true | string>;
}

export interface Deps {
  inputs: InputGetter;
  env: NodeJS.ProcessEnv;
  io: ActionIO;
  state: StateProvider;
  secrets: SecretRegistry;
  createPlatform(api: 'v1' | 'rpc', cfg: Config): Promise<Platform>;
  clock: Clock;
  github: GitHubServices;
  signals: SignalSource;
  /** Releases shared network resources (the HTTP dispatcher) at the end of the run. */
  closeNetwork(): Promise<void>;
}
