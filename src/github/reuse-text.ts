// Words for a reused result (reuse-days), shared by the log, the job summary and the PR comment.
// Kept apart from reuse.ts so the pure renderers do not pull in the network code.
import { escapeMarkdown } from '../publish/html-text.ts';
import { formatDuration } from '../transfer/progress.ts';

/** The earlier upgrade a run reused: what the outputs, the summary and the PR comment say. */
export interface ReusedUpgrade {
  days: number;
  requestId: string;
  api: string;
  state: string;
  databaseVersion?: string;
  finishedAt: string;
  /** How old the result was when this run reused it. */
  ageMs: number;
  runId?: number;
  runAttempt?: number;
  workflow?: string;
  runUrl?: string;
  artifact: { id: number; name: string; url: string; size: number };
  /** Bytes fetched from the artifact store for the files (not counting the record's lookup). */
  fetchedBytes: number;
}

/** The summary's and the PR comment's sentence: plainly reused, from which run, request and date, how old. */
export function reusedMarkdown(r: ReusedUpgrade): string {
  const runText = r.runId !== undefined ? `run ${r.runId}${r.runAttempt && r.runAttempt > 1 ? ` (attempt ${r.runAttempt})` : ''}` : 'an earlier run';
  const run = r.runUrl && /^https?:\/\/[^\s()<>]+$/.test(r.runUrl) ? `[${runText}](${r.runUrl})` : runText;
  return (
    `♻️ **Reused result** (\`reuse-days: ${r.days}\`): no request was sent to the platform. ` +
    `This is the upgrade of ${run}${r.workflow ? ` of ${escapeMarkdown(r.workflow)}` : ''}, request \`${r.requestId.replace(/[`\r\n|]/g, ' ')}\`, ` +
    `finished ${escapeMarkdown(r.finishedAt)} (${ageText(r.ageMs)} ago), from artifact ${escapeMarkdown(r.artifact.name)} (id ${r.artifact.id}).`
  );
}

/** "3h05m", or "2 days 4h" past a day. */
export function ageText(ms: number): string {
  const days = Math.floor(ms / 86_400_000);
  if (!days) return formatDuration(ms / 1000);
  const hours = Math.floor((ms % 86_400_000) / 3_600_000);
  return `${days} day${days === 1 ? '' : 's'}${hours ? ` ${hours}h` : ''}`;
}

