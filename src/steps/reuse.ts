// Phase 3a (reuse-days): after the dump is found and checked, before anything is created.
// True when an earlier upgrade was reused (the report then holds what a platform run's
// download would have left: request, final state, files, artifact), false otherwise.
import type { Config } from '../inputs.ts';
import type { DumpInfo } from '../formats/inspect.ts';
import type { Job } from '../pipeline/job.ts';
import { dumpSha256 } from '../github/digest.ts';
import { findReusable } from '../github/reuse.ts';
import { ageText, type ReusedUpgrade } from '../github/reuse-text.ts';

export async function reuseEarlierUpgrade(job: Job, cfg: Config, info: DumpInfo | undefined, workDir: string): Promise<boolean> {
  if (!info) return false;
  const { report } = job;
  const writeOutputs = job.output;
  const ctx = { log: job.log, signal: job.signal, workDir };
  const env = job.deps.env;
  if (cfg.reuseDays === 0) {
    writeOutputs({ reused: 'false' });
    // The upload hashes what it sends, except rsync (rpc) and directories: the record of a test
    // upgrade needs the dump's digest so that later runs can reuse it.
    if (report.dump && cfg.aim === 'test' && cfg.artifactName && (cfg.api === 'rpc' || info.format === 'directory')) {
      report.dump.sha256 = await dumpSha256(info.path);
    }
    return false;
  }
  const outcome = await job.deps.io.group('Look for an upgrade to reuse', async () => {
    const sha = await dumpSha256(info.path);
    if (report.dump) report.dump.sha256 = sha;
    ctx.log(`Dump SHA-256: ${sha}`);
    return findReusable({
      want: { days: cfg.reuseDays, target: cfg.target, dumpSha256: sha, download: cfg.download, api: cfg.api },
      token: cfg.githubToken,
      env,
      outputDir: cfg.outputDir,
      workDir: ctx.workDir,
      log: ctx.log,
      signal: ctx.signal,
    });
  });
  if ('miss' in outcome) {
    writeOutputs({ reused: 'false' });
    if (!cfg.contract) {
      throw new Error(
        `\`reuse-days: ${cfg.reuseDays}\`: nothing to reuse (${outcome.miss}), and input \`contract\` is empty, so no new upgrade can be requested ` +
          '(pull requests from forks get no secrets). Run the rehearsal upgrade of this dump and target (aim: test, with its artifact published), then run this again. Nothing was sent to the platform.',
      );
    }
    ctx.log(`\`reuse-days: ${cfg.reuseDays}\`: nothing to reuse, upgrading through the platform: ${outcome.miss}.`);
    report.notes.push(`Nothing reused (reuse-days: ${cfg.reuseDays}): ${outcome.miss}.`);
    return false;
  }
  const { hit, record, downloads } = outcome;
  ctx.log(`\`reuse-days: ${cfg.reuseDays}\`: ${reusedText(hit)}. No request was sent to the platform.`);
  report.reused = hit;
  report.api = record.api === 'rpc' ? 'rpc' : 'v1';
  report.requestId = record.requestId;
  report.final = {
    state: record.state,
    phase: 'success',
    target: record.target,
    aim: record.aim,
    ...(record.databaseVersion ? { databaseVersion: record.databaseVersion } : {}),
    ...(record.dump.filename ? { filename: record.dump.filename } : {}),
    raw: {},
  };
  report.timeline.push({ state: record.state, at: new Date(record.finishedAt) });
  report.downloads = downloads;
  report.artifact = { name: hit.artifact.name, id: hit.artifact.id, url: hit.artifact.url, size: hit.artifact.size };
  const dump = downloads.find((f) => f.role === 'dump' || f.role === 'sql');
  const notes = downloads.find((f) => f.role === 'notes' || f.role === 'report');
  writeOutputs({
    reused: 'true',
    'reused-run-id': hit.runId !== undefined ? String(hit.runId) : undefined,
    'request-id': record.requestId,
    state: record.state,
    'database-version': record.databaseVersion,
    'upgraded-dump': dump?.path,
    notes: notes?.path,
    'artifact-id': String(hit.artifact.id),
    'artifact-url': hit.artifact.url,
  });
  return true;
}

/** One plain sentence: which run, request and date, and how old. */
export function reusedText(r: ReusedUpgrade): string {
  const run = r.runId !== undefined ? `run ${r.runId}${r.runAttempt && r.runAttempt > 1 ? ` (attempt ${r.runAttempt})` : ''}${r.workflow ? ` of "${r.workflow}"` : ''}` : 'an earlier run';
  return `reused the upgrade of ${run}: request ${r.requestId}, state ${r.state}, finished ${r.finishedAt} (${ageText(r.ageMs)} ago), artifact "${r.artifact.name}" (id ${r.artifact.id})`;
}

