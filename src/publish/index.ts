// Publishing a run: the step outputs and the workflow artifact (with the result record), and
// the pull request comment. Both take the job's environment, its runner I/O and its secrets
// from the caller (the pipeline's injected dependencies), never from this process directly.
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../inputs.ts';
import type { SecretRegistry } from '../secrets.ts';
import type { ActionIO } from '../pipeline/deps.ts';
import type { RunReport } from './report.ts';
import { stemOf } from '../platform/common.ts';
import { RESULT_FILE } from '../github/recent-test.ts';
import { buildResultRecord } from './result-record.ts';
import { runUrl as runLink } from '../github/ghes.ts';
import { completeDigests } from '../github/digest.ts';

/** Where a publication happens: the job's environment, what the runner shows, whose secrets to hide. */
export interface PublishContext {
  env: NodeJS.ProcessEnv;
  io: Pick<ActionIO, 'setOutput' | 'group' | 'info' | 'notice'>;
  secrets: SecretRegistry;
  /** The time written into the result record. */
  now?: () => Date;
}

/** Sets outputs that have a value; an output is written as soon as it is known. */
function writeOutputs(io: PublishContext['io'], values: Record<string, string | undefined>): void {
  for (const [name, value] of Object.entries(values)) if (value !== undefined && value !== '') io.setOutput(name, value);
}

const NOTES_READ_LIMIT = 2 * 1024 * 1024;

export async function publishResults(report: RunReport, cfg: Config, opts: { artifactName: string; log: (l: string) => void }, ctx: PublishContext): Promise<void> {
  const { env, io } = ctx;
  const notes = report.downloads.find((f) => f.role === 'notes' || f.role === 'report');
  if (notes) {
    const fh = await open(notes.path, 'r');
    try {
      const buf = Buffer.alloc(Math.min(notes.bytes, NOTES_READ_LIMIT));
      await fh.read(buf, 0, buf.length, 0);
      report.notesHtml = buf.toString('utf8');
    } finally {
      await fh.close();
    }
  }
  if (opts.artifactName && report.downloads.length) {
    const { publishArtifact, ArtifactServiceUnavailable } = await import('./artifact.ts');
    // The record a later production run with require-recent-test looks for.
    const record = path.join(cfg.outputDir, RESULT_FILE);
    // The record names the upgraded dump by digest, directories too: reuse-days checks it.
    await completeDigests(report.downloads);
    const when = ctx.now?.() ?? new Date();
    await writeFile(record, `${JSON.stringify(buildResultRecord(report, env, when, cfg.outputDir), null, 2)}\n`, 'utf8');
    const files = [...report.downloads.map((f) => f.path), record];
    writeOutputs(io, { 'artifact-name': opts.artifactName });
    try {
      const a = await io.group('Publish the artifact', () =>
        publishArtifact({ name: opts.artifactName, files, rootDirectory: cfg.outputDir, retentionDays: cfg.artifactRetentionDays, log: opts.log, env, secrets: ctx.secrets }),
      );
      report.artifact = { name: opts.artifactName, id: a.id, url: a.url, size: a.size };
      writeOutputs(io, { 'artifact-id': String(a.id), 'artifact-url': a.url });
    } catch (err) {
      if (!(err instanceof ArtifactServiceUnavailable)) throw err;
      // The upgrade succeeded: its files stay where they are, for a step that can publish them.
      const text =
        `${err.message} Artifact "${opts.artifactName}" was not published; every file stays in ${cfg.outputDir}. ` +
        'To publish it, follow this step with actions/upload-artifact@v3 (the version GitHub Enterprise Server supports), ' +
        'with `name` from this step\'s output `artifact-name` and `path` from its output `publish-dir`.';
      (io.notice ?? io.info)(text);
      report.notes.push(text);
      writeOutputs(io, { 'publish-dir': cfg.outputDir });
    }
  }
}

/** The PR comment, when asked; a reason not to comment goes into the summary as a note. */
export async function commentOnPullRequest(report: RunReport, cfg: Config, log: (l: string) => void, ctx: Pick<PublishContext, 'env' | 'secrets'>): Promise<void> {
  const { env, secrets } = ctx;
  const { prCommentTarget, readEventPayload, renderComment, upsertPrComment } = await import('./comment.ts');
  const target = prCommentTarget(env, await readEventPayload(env), cfg.githubToken);
  if ('skip' in target) {
    report.notes.push(target.skip);
    return;
  }
  const runUrl = runLink(env, env.GITHUB_REPOSITORY ?? '', env.GITHUB_RUN_ID ?? '');
  const database = stemOf(report.filename || report.final?.filename || report.requestId || 'database');
  const body = renderComment(report, { runUrl, database, redact: (s) => secrets.redact(s) });
  await upsertPrComment({ token: cfg.githubToken, repository: env.GITHUB_REPOSITORY ?? '', issueNumber: target.issueNumber, database, body, log, env, secrets });
}
