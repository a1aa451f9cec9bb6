// Phase 1: the inputs, validated all at once, and the rules about whether the run may go ahead.
import { readConfig, type Config } from '../inputs.ts';
import { guardProduction, guardRecentTest, recentTestDays } from './guards.ts';
import type { Job } from '../pipeline/job.ts';

export function configure(job: Job): Config {
  const { deps, report } = job;
  const cfg = readConfig(deps.inputs, deps.env);
  job.cfg = cfg;
  guardProduction(cfg, deps.env);
  const ignored = guardRecentTest(cfg);
  if (ignored) job.warn(ignored);
  report.target = cfg.target || undefined;
  report.aim = cfg.aim;
  return cfg;
}

/** A production run with require-recent-test: proof of a test upgrade before anything is created. */
export async function checkRecentTest(job: Job, cfg: Config): Promise<void> {
  const days = recentTestDays(cfg);
  if (days === undefined) return;
  const { deps } = job;
  job.report.recentTest = await deps.io.group('Find a recent test upgrade', () =>
    deps.github.findRecentTest({ days, target: cfg.target, token: cfg.githubToken, env: deps.env, log: job.log, signal: job.signal, now: deps.clock.now() }),
  );
}
