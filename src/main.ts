// The pipeline, top to bottom: inputs → dump → request → upload → process → wait →
// download → restore → publish. Each phase is a step in src/steps/ that owns its log group;
// whatever happens, the run ends in `finish`: summary written, temporary things removed.
import { maskSecretInputs } from './pipeline/secret-inputs.ts';
import { startJob } from './pipeline/job.ts';
import { recordFailure } from './pipeline/outcome.ts';
import type { Deps } from './pipeline/deps.ts';
import { configure, checkRecentTest } from './steps/configure.ts';
import { makeWorkDir } from './steps/work-dir.ts';
import { findDump } from './steps/find-dump.ts';
import { openRequest } from './steps/open-request.ts';
import { sendDump } from './steps/send-dump.ts';
import { awaitOutcome } from './steps/wait.ts';
import { downloadResults } from './steps/download.ts';
import { preflightRestore } from './postgres/restore.ts';
import { restoreResults } from './steps/restore.ts';
import { settleContract } from './postgres/contract.ts';
import { publish } from './steps/publish.ts';
import { reuseEarlierUpgrade } from './steps/reuse.ts';
import { collectHandle, parkRequest } from './steps/pending.ts';
import { WaitTimeoutError } from './steps/poll.ts';
import type { Config } from './inputs.ts';
import type { DumpInfo } from './formats/inspect.ts';
import type { Job } from './pipeline/job.ts';
import { finish } from './steps/finish.ts';

export type { Deps } from './pipeline/deps.ts';

export async function run(deps: Deps): Promise<void> {
  // Before anything is read, validated or printed: a refused run must not show a secret either.
  maskSecretInputs(deps.inputs, deps.secrets);
  const job = startJob(deps);
  try {
    const cfg = configure(job);
    await checkRecentTest(job, cfg);
    const workDir = await makeWorkDir(job, cfg);
    await collectHandle(job, cfg);
    if (!cfg.resume) await settleContract(cfg, { log: job.log, warn: job.warn, signal: job.signal, secrets: job.deps.secrets });
    await preflightRestore(cfg, { log: job.log });
    const dump = await findDump(job, cfg, workDir);
    const ended = (await reuseEarlierUpgrade(job, cfg, dump, workDir)) || (await upgradeOnPlatform(job, cfg, dump));
    if (ended) {
      await restoreResults(job, cfg, dump, workDir);
      await publish(job, cfg);
      job.report.outcome = 'success';
    }
  } catch (err) {
    recordFailure(job, err);
  } finally {
    await finish(job);
  }
}

/** The platform's part: true once the results are downloaded, false when the run leaves the request running. */
async function upgradeOnPlatform(job: Job, cfg: Config, dump: DumpInfo | undefined): Promise<boolean> {
  const request = await openRequest(job, cfg);
  await sendDump(job, request, dump);
  const final = await awaitOutcome(job, cfg, request).catch(async (err: unknown) => {
    if (err instanceof WaitTimeoutError) await parkRequest(job, cfg, request);
    throw err;
  });
  if (!final) return parkRequest(job, cfg, request).then(() => false);
  await downloadResults(job, cfg, request, final);
  return true;
}
