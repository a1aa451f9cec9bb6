// Phase 2: the dump, wherever it comes from (path, artifact, URL, live database), checked
// for its format before anything is created on the platform.
import path from 'node:path';
import type { Config, SourceSpec } from '../inputs.ts';
import { resolveSource } from '../source/index.ts';
import { inspectDump, type DumpInfo } from '../formats/inspect.ts';
import type { Job } from '../pipeline/job.ts';

const INPUT_OF: Record<SourceSpec['kind'], string> = { path: 'dump', artifact: 'dump-artifact', url: 'dump-url', database: 'dump-database' };

/** The dump to upload, or undefined when the run resumes a request without one. */
export async function findDump(job: Job, cfg: Config, workDir: string): Promise<DumpInfo | undefined> {
  return cfg.source ? fetchAndCheck(job, cfg, cfg.source, workDir) : undefined;
}

async function fetchAndCheck(job: Job, cfg: Config, source: SourceSpec, workDir: string): Promise<DumpInfo> {
  const { io } = job.deps;
  const api = cfg.api === 'rpc' ? 'rpc' : 'v1';
  const dump = await io.group('Find the dump', () => resolveSource(source, { api, workDir, githubToken: cfg.githubToken, log: job.log, signal: job.signal, env: job.deps.env, secrets: job.deps.secrets }));
  job.onEnd(() => dump.cleanup().catch(() => undefined));
  const info = await io.group('Check the dump', async () => {
    const i = await inspectDump(dump.path, { api, input: INPUT_OF[source.kind] });
    job.log(`${dump.description}: ${i.detail}, ${i.size} bytes`);
    return i;
  });
  job.report.filename = cfg.filename || path.basename(dump.path).replace(/\/$/, '');
  job.report.dump = { format: info.format, size: info.size, detail: info.detail, source: dump.description };
  return info;
}
