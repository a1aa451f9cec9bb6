// The pull-request comment: one per pull request and database, found again by a hidden
// marker and updated in place on later runs. A PR comment can be public: everything in it
// is escaped, remote text loses its URLs, and the only links are the run and the artifact.
import { readFile } from 'node:fs/promises';
import { escapeMarkdown, notesHeadlines } from './html-text.ts';
import { code } from './summary.ts';
import { formatBytes, formatDuration } from '../transfer/progress.ts';
import { secrets as processSecrets, type SecretRegistry } from '../secrets.ts';
import { withRetry, isTransientNetworkError, neverReachedServer } from '../net/retry.ts';
import type { RunReport } from './report.ts';
import { githubHost } from '../github/ghes.ts';
import { reusedMarkdown } from '../github/reuse-text.ts';

const STATUS: Record<NonNullable<RunReport['outcome']>, string> = {
  success: '✅ Odoo upgrade succeeded',
  failure: '❌ Odoo upgrade failed',
  started: '⏳ Odoo upgrade started (not waited for)',
  timeout: '⌛ Stopped waiting: the Odoo upgrade is still running',
  cancelled: '🛑 Cancelled: the Odoo upgrade may still be running',
  error: '⚠️ The Odoo upgrade step failed',
};

const MAX_FREE_TEXT = 600; // per platform message or error: a comment is a glance, the summary has the rest

/** The hidden line that finds this database's comment again; the name is encoded so it cannot end the HTML comment. */
export function commentMarker(database: string): string {
  const id = [...(database || '_')].map((ch) => (/[A-Za-z0-9._]/.test(ch) || ch === '-' ? ch : encodeURIComponent(ch).replace(/!/g, '%21'))).join('');
  return `<!-- odoo-upgrade-action:${id.replace(/--/g, '-%2D')} -->`;
}

export function renderComment(report: RunReport, ctx: { runUrl: string; database: string; redact?: (s: string) => string }): string {
  const r = report;
  const outcome = r.outcome ?? 'error';
  const state = r.final?.state ? ` — state ${code(r.final.state)}` : '';
  const out: string[] = [commentMarker(ctx.database), `### ${STATUS[outcome]}${state}`, ''];

  const facts = [`Database ${code(ctx.database)}`];
  const target = r.target ?? r.final?.target;
  if (target) facts.push(`target ${code(target)}`);
  const aim = r.aim ?? r.final?.aim;
  if (aim) facts.push(`aim ${code(aim)}`);
  if (r.requestId) facts.push(`request ${code(r.requestId)}${r.resumed ? ' (resumed)' : ''}`);
  out.push(facts.join(' · '), '');
  if (r.reused) out.push(`> ${reusedMarkdown(r.reused)}`, '');
  if (aim === 'production') out.push('> [!WARNING]', '> **Production upgrade:** test the upgraded database before it replaces the production one.', '');

  if (r.final?.message) out.push('**Message from the platform:**', '', ...quote(freeText(r.final.message)), '');
  if (r.error && r.error !== r.final?.message) out.push('**Error:**', '', ...quote(freeText(r.error)), '');

  const rows: Array<[string, string]> = [];
  if (r.dump) rows.push(['Dump', `${formatBytes(r.dump.size)}, ${escapeMarkdown(oneLine(freeText(r.dump.detail)))}`]);
  if (r.upload) rows.push(['Upload', `${formatBytes(r.upload.bytes)} in ${formatDuration(r.upload.seconds)} (${r.upload.method})`]);
  if (r.waitSeconds !== undefined) rows.push(['Wait', `${formatDuration(r.waitSeconds)}${r.polls !== undefined ? ` (${r.polls} status checks)` : ''}`]);
  for (const f of r.downloads) if (f.role === 'dump' || f.role === 'sql') rows.push([`Upgraded ${f.role}`, formatBytes(f.bytes)]);
  if (r.final?.databaseVersion) rows.push(['Detected source version', escapeMarkdown(oneLine(r.final.databaseVersion))]);
  if (r.artifact) {
    const name = escapeMarkdown(oneLine(r.artifact.name));
    const url = linkable(r.artifact.url);
    rows.push(['Artifact', `${url ? `[${name}](${url})` : name} (${formatBytes(r.artifact.size)})`]);
  }
  if (rows.length) out.push('| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|')} |`), '');

  if (r.notesHtml) {
    const items = notesHeadlines(r.notesHtml).map((l) => oneLine(freeText(l))).filter(Boolean);
    if (items.length) out.push('**Upgrade notes** (first items; all of them are in the job summary):', '', ...items.map((l) => `- ${escapeMarkdown(l)}`), '');
  }

  const run = linkable(ctx.runUrl);
  const when = (r.finishedAt ?? r.startedAt).toISOString().replace('T', ' ').slice(0, 16);
  out.push(`<sub>${run ? `[Workflow run](${run}) · ` : ''}odoo-upgrade-action · ${when} UTC</sub>`, '');
  // A last pass over everything, with whatever the run registered as secret.
  return (ctx.redact ?? ((s: string) => processSecrets.redact(s)))(out.join('\n'));
}

/** Remote or error text: bounded, and without any URL (a status URL carries the request key). */
function freeText(s: string): string {
  const cut = s.length > MAX_FREE_TEXT ? `${s.slice(0, MAX_FREE_TEXT - 3)}...` : s;
  return cut.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S*/gi, '(link removed)').replace(/\bwww\.\S+/gi, '(link removed)');
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function quote(text: string): string[] {
  return escapeMarkdown(text).split('\n').map((l) => `> ${l}`);
}

/** Only plain http(s) URLs become links; anything odd is shown as no link at all. */
function linkable(url: string | undefined): string | undefined {
  return url && /^https?:\/\/[^\s()<>[\]"'`]+$/.test(url) ? url : undefined;
}

// ---------------------------------------------------------------- where to comment

const PR_EVENTS = new Set(['pull_request', 'pull_request_target']);

/** The event's payload (GITHUB_EVENT_PATH), or undefined when there is none to read. */
export async function readEventPayload(env: NodeJS.ProcessEnv = process.env): Promise<unknown> {
  if (!env.GITHUB_EVENT_PATH) return undefined;
  try {
    return JSON.parse(await readFile(env.GITHUB_EVENT_PATH, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** Which pull request to comment on, or why not (said in the summary). */
export function prCommentTarget(env: NodeJS.ProcessEnv, eventPayload: unknown, token: string = env['INPUT_GITHUB-TOKEN'] ?? ''): { issueNumber: number } | { skip: string } {
  const event = env.GITHUB_EVENT_NAME ?? '';
  if (!PR_EVENTS.has(event)) return { skip: `\`pr-comment\`: this run was started by ${event ? `a \`${event}\` event` : 'no known event'}, not a pull request; no comment written.` };
  const pr = (eventPayload as { pull_request?: unknown } | undefined)?.pull_request as PullRequestPayload | undefined;
  const number = pr?.number ?? (eventPayload as { number?: unknown } | undefined)?.number;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 1) {
    return { skip: '`pr-comment`: the event payload (GITHUB_EVENT_PATH) names no pull request number; no comment written.' };
  }
  if (!token.trim()) return { skip: '`pr-comment`: input `github-token` is empty; no comment written.' };
  if (event === 'pull_request') {
    const head = pr?.head?.repo?.full_name;
    const base = pr?.base?.repo?.full_name;
    if (!head || !base || head.toLowerCase() !== base.toLowerCase()) {
      return {
        skip:
          `\`pr-comment\`: pull request #${number} comes from a fork (${head ?? 'a deleted repository'}); ` +
          'on `pull_request` events from forks the workflow token is read-only, so no comment was written.',
      };
    }
    if (env.GITHUB_ACTOR === 'dependabot[bot]') {
      return { skip: `\`pr-comment\`: pull request #${number} was opened by Dependabot, whose \`pull_request\` runs get a read-only token; no comment written.` };
    }
  }
  return { issueNumber: number };
}

interface PullRequestPayload {
  number?: unknown;
  head?: { repo?: { full_name?: string } | null };
  base?: { repo?: { full_name?: string } | null };
}

// ---------------------------------------------------------------- create or update

export async function upsertPrComment(opts: {
  token: string;
  repository: string;
  issueNumber: number;
  database: string;
  body: string;
  log: (l: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Whose secrets are redacted from errors: this process's registry by default. */
  secrets?: SecretRegistry;
}): Promise<{ id: number; created: boolean }> {
  const [owner, repo, ...rest] = opts.repository.split('/');
  if (!owner || !repo || rest.length) throw new Error(`Cannot write the pull request comment: "${opts.repository}" is not an owner/name repository.`);
  const marker = commentMarker(opts.database);
  const body = opts.body.trimStart().startsWith(marker) ? opts.body : `${marker}\n${opts.body}`;
  const env = opts.env ?? process.env;
  const { getOctokit } = await import('@actions/github');
  // The base URL is read now, not when the library was first imported.
  const octokit = getOctokit(opts.token, { baseUrl: githubHost(env).apiUrl });
  const where = { owner, repo };
  const retryRead = { attempts: 3, baseMs: 1000, retryable: (e: unknown) => isTransientNetworkError(e) || serverError(e) };

  try {
    const existing = await withRetry(async () => {
      for await (const page of octokit.paginate.iterator(octokit.rest.issues.listComments, { ...where, issue_number: opts.issueNumber, per_page: 100 })) {
        const hit = page.data.find((c) => (c.body ?? '').trimStart().startsWith(marker));
        if (hit) return hit.id;
      }
      return undefined;
    }, retryRead);
    if (existing !== undefined) {
      try {
        await withRetry(() => octokit.rest.issues.updateComment({ ...where, comment_id: existing, body }), retryRead);
        opts.log(`Updated the comment on pull request #${opts.issueNumber} (comment ${existing}).`);
        return { id: existing, created: false };
      } catch (err) {
        if (statusOf(err) !== 404) throw err; // deleted meanwhile: write a new one
      }
    }
    // A create is not idempotent: retried only when it cannot have reached GitHub.
    const { data } = await withRetry(() => octokit.rest.issues.createComment({ ...where, issue_number: opts.issueNumber, body }), {
      attempts: 3,
      baseMs: 1000,
      retryable: neverReachedServer,
    });
    opts.log(`Commented on pull request #${opts.issueNumber} (comment ${data.id}).`);
    return { id: data.id, created: true };
  } catch (err) {
    throw commentError(err, opts.repository, opts.issueNumber, opts.secrets ?? processSecrets);
  }
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown }).status;
  return typeof s === 'number' ? s : undefined;
}

function serverError(err: unknown): boolean {
  const s = statusOf(err);
  return s !== undefined && s >= 500;
}

function commentError(err: unknown, repository: string, issue: number, secrets: SecretRegistry): Error {
  const e = secrets.redactError(err);
  const status = statusOf(err);
  const head = `Cannot write the comment on pull request #${issue} of ${repository}`;
  let why: string;
  if (status === 403) {
    why =
      'the token in `github-token` lacks permission (403). Give the workflow (or job) `permissions: pull-requests: write` ' +
      '(or `issues: write`); pull requests from forks get a read-only token on `pull_request` events.';
  } else if (status === 401) {
    why = 'the token in `github-token` was refused (401: bad or expired credentials).';
  } else if (status === 404) {
    why = 'the pull request was not found, or the token in `github-token` cannot see this repository (404).';
  } else {
    why = (e.message.split('\n')[0] ?? '') || 'unknown error';
  }
  return new Error(`${head}: ${why}`, { cause: e });
}
