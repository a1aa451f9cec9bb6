// Phase 6: the results come down into output-dir; with `wipe`, the platform then forgets
// every request of the contract (the rpc wipe is contract-wide).
import { mkdir } from 'node:fs/promises';
import type { Config } from '../inputs.ts';
import type { Status } from '../platform/types.ts';
import type { Job } from '../pipeline/job.ts';
import type { OpenRequest } from './open-request.ts';

export async function downloadResults(job: Job, cfg: Config, { platform, ref }: OpenRequest, final: Status): Promise<void> {
  const { io } = job.deps;
  const { report } = job;
  await mkdir(cfg.outputDir, { recursive: true });
  report.downloads = await io.group('Download the results', () => platform.download(ref, final, cfg.outputDir, job.transfer));
  const dumpFile = report.downloads.find((f) => f.role === 'dump' || f.role === 'sql');
  const notes = report.downloads.find((f) => f.role === 'notes' || f.role === 'report');
  job.output({ 'upgraded-dump': dumpFile?.path, notes: notes?.path });
  if (cfg.wipe && platform.wipe) {
    // rpc only (refused with v1 when the inputs are read); what the platform says it wiped goes to the log.
    await io.group('Wipe the request from the platform', async () => job.log((await platform.wipe?.(ref, job.transfer)) ?? ''));
  }
}
