// Phase 7 (with `restore-database`): the upgraded dump goes into a PostgreSQL database, the
// filestore into `filestore-dir`, so later steps of the job can use the upgraded database.
import path from 'node:path';
import type { Config } from '../inputs.ts';
import { restoreSources, restoreUpgraded } from '../restore.ts';
import type { Job } from '../pipeline/job.ts';

export async function restoreResults(job: Job, cfg: Config): Promise<void> {
  const { report, deps } = job;
  if (!cfg.restoreDatabase) {
    if (cfg.filestoreDir) job.log('Input `filestore-dir` is ignored without `restore-database`.');
    return;
  }
  const from = restoreSources(report.downloads);
  const filestoreDir = cfg.filestoreDir ? path.resolve(deps.env.GITHUB_WORKSPACE || '.', cfg.filestoreDir) : undefined;
  const restored = await deps.io.group('Restore the upgraded database', () =>
    restoreUpgraded({ connection: cfg.restoreDatabase, ...from, filestoreDir, log: job.log, signal: job.signal, secrets: deps.secrets }),
  );
  report.restored = { ...restored, filestoreDir: cfg.filestoreDir || undefined };
  job.output({ 'restored-database': restored.database });
}
