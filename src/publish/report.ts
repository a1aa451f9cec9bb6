// What a run did, collected as it goes; the summary, the PR comment and the outputs are
// renderings of it. Holds no secret: ids, states, sizes, hashes and the platform's words.
import type { DownloadedFile, Status, UploadResult } from '../platform/types.ts';
import type { Transition } from '../steps/poll.ts';
import type { RecentTestProof } from '../github/recent-test.ts';
import type { ReusedUpgrade } from '../github/reuse-text.ts';

export interface RunReport {
  startedAt: Date;
  finishedAt?: Date;
  api?: 'v1' | 'rpc';
  requestId?: string;
  resumed: boolean;
  target?: string;
  aim?: string;
  filename?: string;
  dump?: { format: string; size: number; detail: string; source: string; sha256?: string };
  upload?: UploadResult;
  timeline: Transition[];
  final?: Status;
  waitSeconds?: number;
  polls?: number;
  downloads: DownloadedFile[];
  artifact?: { name: string; id: number; url: string; size: number };
  /** Where the upgraded database was restored (restore-database): names only. */
  restored?: { database: string; tables: number; filestoreFiles: number; filestoreDir?: string };
  notesHtml?: string;
  /** What proved a recent test upgrade (require-recent-test). */
  recentTest?: RecentTestProof;
  /** The earlier upgrade this run reused instead of asking the platform (reuse-days). */
  reused?: ReusedUpgrade;
  /** The pending handle this run published (left running) or collected. */
  handle?: { name: string; collected: boolean };
  warnings: string[];
  /** Plain remarks for the summary (why no PR comment was written, ...). */
  notes: string[];
  error?: string;
  /** How to go on (resume inputs), when the run stopped before the end. */
  resumeHint?: string;
  outcome?: 'success' | 'failure' | 'started' | 'timeout' | 'cancelled' | 'error';
}

export function newReport(): RunReport {
  return { startedAt: new Date(), resumed: false, timeline: [], downloads: [], warnings: [], notes: [] };
}
