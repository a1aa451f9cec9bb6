// Phase 7 (with `restore-database`): the upgraded dump goes into a PostgreSQL database and the
// filestore into `filestore-dir`: first the original filestore (`original-filestore`, or the
// uploaded zip dump's own), then the upgraded files over it, as Odoo's own script lays them.
import path from 'node:path';
import type { Config } from '../inputs.ts';
import type { DumpInfo } from '../formats/inspect.ts';
import { findOriginal, restoreSources, restoreUpgraded } from '../postgres/restore.ts';
import type { Job } from '../pipeline/job.ts';

export async function restoreResults(job: Job, cfg: Config, dump: DumpInfo | undefined, workDir: string): Promise<void> {
  const { report, deps } = job;
  if (!cfg.restoreDatabase) {
    if (cfg.filestoreDir) job.log('Input `filestore-dir` is ignored without `restore-database`.');
    return;
  }
  const from = restoreSources(report.downloads);
  const workspace = deps.env.GITHUB_WORKSPACE || '.';
  const opts = { log: job.log, signal: job.signal, originalDump: dump?.path, workDir, env: deps.env, secrets: deps.secrets };
  const restored = await deps.io.group('Restore the upgraded database', async () => {
    const original = cfg.filestoreDir ? await findOriginal(cfg, opts, workspace) : undefined;
    try {
      return await restoreUpgraded({
        connection: cfg.restoreDatabase,
        ...from,
        filestoreDir: cfg.filestoreDir ? path.resolve(workspace, cfg.filestoreDir) : undefined,
        originalFilestore: original?.path,
        originalLabel: original?.label,
        jobs: cfg.restoreJobs,
        log: job.log,
        signal: job.signal,
        secrets: deps.secrets,
      });
    } finally {
      await original?.cleanup();
    }
  });
  report.restored = { database: restored.database, tables: restored.tables, filestoreFiles: restored.filestoreFiles, filestoreDir: cfg.filestoreDir || undefined };
  job.output({ 'restored-database': restored.database });
}
