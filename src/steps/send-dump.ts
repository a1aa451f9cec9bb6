// Phase 4: the dump goes up and the upgrade starts. A created request always needs both; a
// resumed one only while it is still `new` (rpc) or `draft`/`new` (v1), when its dump may be
// missing or partial. Once `process` was accepted the request is `pending` (queued), then
// `progress`: from there a resume only monitors, as Odoo's own upgrade script does, and never
// calls `process` a second time.
import type { DumpInfo } from '../formats/inspect.ts';
import type { Status } from '../platform/types.ts';
import type { Job } from '../pipeline/job.ts';
import type { OpenRequest } from './open-request.ts';

const WAITING_FOR_DUMP = new Set(['draft', 'new']);

/** Whether the request still waits for its dump (and for `process`). */
export function needsDump(resumedStatus: Status | undefined): boolean {
  return !resumedStatus || WAITING_FOR_DUMP.has(resumedStatus.state);
}

export async function sendDump(job: Job, request: OpenRequest, dump: DumpInfo | undefined): Promise<void> {
  const { platform, ref, resumedStatus } = request;
  if (!needsDump(resumedStatus)) return;
  if (!dump) {
    throw new Error(
      `Request ${ref.id} is still waiting for its dump (state \`${resumedStatus?.state}\`): give one of \`dump\`, \`dump-artifact\`, \`dump-url\`, \`dump-database\` to upload it.`,
    );
  }
  const { io } = job.deps;
  const { report } = job;
  report.upload = await io.group(`Upload the dump (${dump.size} bytes)`, () => platform.upload(ref, dump, job.transfer));
  if (report.dump && report.upload.sha256) report.dump.sha256 = report.upload.sha256;
  const { warnings } = await io.group('Start the upgrade', () => platform.process(ref, job.transfer));
  for (const w of warnings) {
    job.warn(w);
    report.warnings.push(w);
  }
}
