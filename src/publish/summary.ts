// The job summary as a report: a status line, a table, the timeline, then the notes folded.
// Pure: takes the RunReport, returns Markdown; every remote word is escaped, the whole is
// bounded under 1 MiB, and a last pass redacts anything registered as secret.
import { escapeMarkdown, notesToMarkdown } from './html-text.ts';
import { formatBytes, formatDuration } from '../transfer/progress.ts';
import type { RunReport } from './report.ts';
import { reusedMarkdown } from '../github/reuse-text.ts';

export const MAX_SUMMARY_BYTES = 1024 * 1024 - 4096;

const HEADLINE: Record<NonNullable<RunReport['outcome']>, string> = {
  success: '✅ Upgrade succeeded',
  failure: '❌ Upgrade failed',
  started: '⏳ Upgrade started (not waited for)',
  timeout: '⌛ Stopped waiting: the upgrade is still running',
  cancelled: '🛑 Cancelled: the upgrade may still be running',
  error: '⚠️ The step failed',
};

function esc(v: string | number | undefined | null): string {
  return v === undefined || v === null || v === '' ? '—' : escapeMarkdown(String(v));
}

/** Inline code: no escaping inside (it would show), so backticks and line breaks are removed. */
export function code(v: string | number | undefined): string {
  if (v === undefined || v === '') return '—';
  return `\`${String(v).replace(/[`\r\n|]/g, ' ')}\``;
}

function time(d: Date): string {
  return `${d.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

export function renderSummary(r: RunReport, redact: (s: string) => string = (s) => s): string {
  const out: string[] = [];
  const outcome = r.outcome ?? 'error';
  const finalState = r.final ? ` — state ${code(r.final.state)}` : '';
  out.push(`## ${HEADLINE[outcome]}${finalState}`, '');
  if (r.aim === 'production') {
    out.push('> [!WARNING]', '> **Production upgrade.** The upgraded database replaces your production one: import it only after testing, and keep a backup.');
    const t = r.recentTest;
    if (t) {
      const run = t.runId !== undefined ? (t.runUrl ? `[run ${t.runId}](${safeUrl(t.runUrl)})` : `run ${t.runId}`) : 'an unknown run';
      out.push(
        '>',
        `> Recent test (\`require-recent-test: ${t.days}\`): test upgrade to ${esc(t.target)}, request ${code(t.requestId)}, finished ${esc(t.finishedAt)} in ${run}` +
          `${t.runAttempt && t.runAttempt > 1 ? ` (attempt ${t.runAttempt})` : ''}${t.workflow ? ` of ${esc(t.workflow)}` : ''}, artifact ${esc(t.artifact.name)} (id ${t.artifact.id}).`,
      );
    }
    out.push('');
  }
  if (r.reused) out.push('> [!NOTE]', `> ${reusedMarkdown(r.reused)}`, '');
  if (r.error) out.push('> [!CAUTION]', ...quote(r.error), '');
  if (r.final?.message) out.push('**Message from the platform:**', '', ...quote(r.final.message), '');
  for (const w of r.warnings) out.push('> [!WARNING]', ...quote(w), '');
  for (const n of r.notes) out.push(`> ${escapeMarkdown(n).replace(/\n/g, ' ')}`, '');
  if (r.resumeHint) out.push('**To go on with this request:**', '', r.resumeHint, '');

  const rows: Array<[string, string]> = [
    ['Request', r.requestId ? `${code(r.requestId)}${r.resumed ? ' (resumed)' : ''}` : '—'],
    ['Protocol', esc(r.api)],
    ['Target', esc(r.target ?? r.final?.target)],
    ['Aim', esc(r.aim ?? r.final?.aim)],
    ['Dump', r.dump ? `${esc(r.filename)} — ${esc(r.dump.detail)}${r.dump.detail.includes(formatBytes(r.dump.size)) ? '' : `, ${formatBytes(r.dump.size)}`}, from ${esc(r.dump.source)}` : esc(r.filename)],
  ];
  if (r.dump?.sha256 || r.upload?.sha256) rows.push([r.reused ? 'Dump sha256' : 'Uploaded sha256', `\`${r.upload?.sha256 ?? r.dump?.sha256}\``]);
  if (r.upload) {
    const rate = r.upload.seconds > 0 ? ` (${(r.upload.bytes / 1048576 / r.upload.seconds).toFixed(1)} MiB/s)` : '';
    rows.push(['Upload', `${r.upload.method}, ${formatBytes(r.upload.bytes)} in ${formatDuration(r.upload.seconds)}${rate}${r.upload.resumes ? `, ${r.upload.resumes} resume(s)` : ''}`]);
  }
  if (r.final?.databaseVersion) rows.push(['Detected source version', esc(r.final.databaseVersion)]);
  if (r.final?.postgresql) rows.push(['Detected PostgreSQL', esc(r.final.postgresql)]);
  if (r.waitSeconds !== undefined) rows.push(['Waited', `${formatDuration(r.waitSeconds)}${r.polls !== undefined ? ` (${r.polls} status checks)` : ''}`]);
  for (const f of r.downloads) {
    rows.push([`Downloaded ${f.role}`, `${code(f.path)}, ${formatBytes(f.bytes)}${f.sha256 ? `, sha256 \`${f.sha256}\`` : ''}`]);
  }
  if (r.restored) {
    const fs = r.restored.filestoreDir ? `; filestore: ${r.restored.filestoreFiles} files in ${code(r.restored.filestoreDir)}` : '';
    rows.push(['Restored into', `database ${code(r.restored.database)} (${r.restored.tables} tables)${fs}`]);
  }
  if (r.artifact) rows.push(['Artifact', `[${esc(r.artifact.name)}](${safeUrl(r.artifact.url)}) (${formatBytes(r.artifact.size)})`]);
  out.push('| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`), '');

  if (r.timeline.length) {
    out.push('### Timeline', '', '| time | state |', '|---|---|');
    for (const t of r.timeline) out.push(`| ${time(t.at)} | ${code(t.state)} |`);
    out.push('');
  }
  if (r.notesHtml) {
    out.push('<details><summary>Upgrade notes from the platform</summary>', '', notesToMarkdown(r.notesHtml), '', '</details>', '');
  }
  out.push(`<sub>odoo-upgrade-action · started ${time(r.startedAt)}${r.finishedAt ? ` · finished ${time(r.finishedAt)}` : ''}</sub>`, '');
  return bound(redact(out.join('\n')), MAX_SUMMARY_BYTES);
}

function quote(text: string): string[] {
  return escapeMarkdown(text).split('\n').map((l) => `> ${l}`);
}

function safeUrl(url: string): string {
  return /^https?:\/\/[^\s()<>]+$/.test(url) ? url : '#';
}

/** Cuts a text to `max` UTF-8 bytes on a line boundary, saying so. */
export function bound(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  const note = '\n\n*(cut: the summary would exceed GitHub\'s 1 MiB limit; the full notes are in the artifact)*\n';
  let cut = Buffer.from(text).subarray(0, max - Buffer.byteLength(note)).toString('utf8');
  cut = cut.slice(0, Math.max(0, cut.lastIndexOf('\n')));
  // A cut inside <details> would leave it open.
  if (cut.lastIndexOf('<details>') > cut.lastIndexOf('</details>')) cut += '\n</details>';
  return cut.replace(/\uFFFD$/, '') + note;
}
