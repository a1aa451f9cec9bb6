// The record every published run leaves in its artifact (odoo-upgrade-result.json): what a
// later production run (require-recent-test) or pull request (reuse-days) reads back.
import path from 'node:path';
import type { RunReport } from './report.ts';
import { RESULT_SCHEMA, type ResultRecord } from '../github/recent-test.ts';

export function buildResultRecord(report: RunReport, env: NodeJS.ProcessEnv, now: Date, outputDir?: string): ResultRecord {
  const num = (v: string | undefined) => (v && /^\d+$/.test(v) ? Number(v) : undefined);
  const upgraded = report.downloads.find((f) => f.role === 'dump' || f.role === 'sql');
  const rec: ResultRecord = {
    schema: RESULT_SCHEMA,
    tool: 'odoo-upgrade-action',
    requestId: report.requestId ?? '',
    api: report.api ?? '',
    aim: report.aim ?? report.final?.aim ?? '',
    target: report.target ?? report.final?.target ?? '',
    state: report.final?.state ?? '',
    phase: report.final?.phase ?? '',
    dump: {},
    finishedAt: now.toISOString(),
    repository: env.GITHUB_REPOSITORY ?? '',
  };
  if (report.final?.databaseVersion) rec.databaseVersion = report.final.databaseVersion;
  const filename = report.filename || report.final?.filename;
  if (filename) rec.dump.filename = filename;
  const sha = report.upload?.sha256 ?? report.dump?.sha256;
  if (sha) rec.dump.sha256 = sha;
  if (upgraded?.sha256) rec.upgradedSha256 = upgraded.sha256;
  if (upgraded && Number.isSafeInteger(upgraded.bytes) && upgraded.bytes > 0) rec.upgradedBytes = upgraded.bytes;
  rec.startedAt = report.startedAt.toISOString();
  if (outputDir !== undefined && report.downloads.length) {
    rec.files = report.downloads.map((f) => ({
      role: f.role,
      name: path.relative(outputDir, f.path).split(path.sep).join('/'),
      bytes: f.bytes,
      ...(f.sha256 ? { sha256: f.sha256 } : {}),
    }));
  }
  const runId = num(env.GITHUB_RUN_ID);
  const attempt = num(env.GITHUB_RUN_ATTEMPT);
  if (runId !== undefined) rec.runId = runId;
  if (attempt !== undefined) rec.runAttempt = attempt;
  if (env.GITHUB_WORKFLOW) rec.workflow = env.GITHUB_WORKFLOW;
  if (env.GITHUB_REF) rec.ref = env.GITHUB_REF;
  if (env.GITHUB_SHA) rec.sha = env.GITHUB_SHA;
  return rec;
}
