// Requests longer than a job (handle-passphrase, collect). A run that leaves its request
// running publishes the request's handle, sealed under the passphrase, as a small artifact;
// a later run with `collect` finds the newest matching handle, opens it and goes on as a
// resume, and deletes the handle once the request has ended and its results are published.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Config } from '../inputs.ts';
import type { Job } from '../pipeline/job.ts';
import type { OpenRequest } from './open-request.ts';
import { handleArtifactName, openHandle, sealHandle, type Handle } from '../github/handle.ts';
import { writeHandleFile } from '../github/pending.ts';
import { stemOf } from '../platform/common.ts';

/** With `collect`: the pending handle becomes this run's request (resume), before anything else reaches the platform. */
export async function collectHandle(job: Job, cfg: Config): Promise<void> {
  if (!cfg.collect) return;
  const { deps, report } = job;
  const ctx = { token: cfg.githubToken, env: deps.env, log: job.log, signal: job.signal };
  const { handle, artifact } = await deps.io.group('Find the pending handle', async () => {
    const found = await deps.github.findHandle(cfg.collect, ctx);
    const opened = await openHandle(found.sealed, cfg.handlePassphrase);
    deps.secrets.add(opened.key);
    deps.secrets.add(opened.sshPrivateKey);
    return { handle: opened, artifact: found.artifact };
  });
  job.log(
    `Collecting request ${handle.id} (${handle.api}, ${handle.aim} upgrade to ${handle.target}${handle.dump ? ` of ${handle.dump.name}` : ''}, started ${handle.startedAt}) ` +
      `from artifact "${artifact.name}" (id ${artifact.id}${artifact.runId !== undefined ? `, run ${artifact.runId}` : ''}).`,
  );
  if (handle.sshPrivateKey && !cfg.sshPrivateKey) cfg.sshPrivateKey = handle.sshPrivateKey;
  Object.assign(cfg, { resume: { id: handle.id, key: handle.key }, api: handle.api, target: handle.target, aim: handle.aim === 'production' ? 'production' : 'test', platformUrl: handle.platformUrl });
  report.target = handle.target;
  report.aim = cfg.aim;
  if (handle.dump) {
    report.filename = handle.dump.name;
    report.dump = { format: 'uploaded earlier', size: 0, detail: `uploaded by the run that started request ${handle.id}`, source: `pending handle "${artifact.name}"`, ...(handle.dump.sha256 ? { sha256: handle.dump.sha256 } : {}) };
  }
  report.handle = { name: artifact.name, collected: true };
  report.notes.push(
    `Collected request ${handle.id} from the pending handle "${artifact.name}" (started ${handle.startedAt}${handle.runId !== undefined ? ` by run ${handle.runId}` : ''}).`,
  );
  job.output({ 'handle-name': artifact.name });
  job.onEnd(() => dropHandle(job, artifact.id, artifact.name, ctx));
}

/** Once the collected request has ended and its results are out, nothing is left to collect. */
async function dropHandle(job: Job, id: number, name: string, ctx: Parameters<Job['deps']['github']['deleteHandle']>[1]): Promise<void> {
  const { outcome } = job.report;
  if (outcome !== 'success' && outcome !== 'failure') {
    job.log(`Handle "${name}" is kept: collect it again later.`);
    return;
  }
  const done = await job.deps.github.deleteHandle(id, ctx).catch((e: unknown) => (e as Error).message);
  if (done === true) job.log(`Deleted the pending handle "${name}": request ${job.report.requestId} has ended.`);
  else job.warn(`Could not delete the pending handle "${name}" (${done}); delete it by hand, or a later collect finds the ended request again.`);
}

/** A request this run leaves running (wait: false, or timeout-minutes): with a passphrase, its handle is published. */
export async function parkRequest(job: Job, cfg: Config, { platform, ref }: OpenRequest): Promise<void> {
  if (!cfg.handlePassphrase) return;
  const { deps, report } = job;
  if (cfg.collect) {
    job.log(`Request ${ref.id} is still running: the pending handle "${report.handle?.name}" stays for the next collect.`);
    return;
  }
  const stem = stemOf(report.filename || ref.id);
  const name = handleArtifactName(stem, cfg.target, ref.id);
  const handle: Handle = {
    api: platform.api,
    id: ref.id,
    key: ref.key,
    platformUrl: cfg.platformUrl,
    target: cfg.target,
    aim: cfg.aim,
    ...(report.filename ? { dump: { name: report.filename, ...(report.dump?.sha256 ? { sha256: report.dump.sha256 } : {}) } } : {}),
    startedAt: report.startedAt.toISOString(),
    ...(deps.env.GITHUB_REPOSITORY ? { repository: deps.env.GITHUB_REPOSITORY } : {}),
    ...(/^\d+$/.test(deps.env.GITHUB_RUN_ID ?? '') ? { runId: Number(deps.env.GITHUB_RUN_ID) } : {}),
    // Sealed with the rest: without it a collecting run could not fetch the rpc results.
    ...(platform.ephemeralSshKey?.() ? { sshPrivateKey: platform.ephemeralSshKey() } : {}),
  };
  const dir = await mkdtemp(path.join(deps.env.RUNNER_TEMP || tmpdir(), 'odoo-upgrade-handle-'));
  job.onEnd(() => rm(dir, { recursive: true, force: true }));
  const published = await deps.io.group('Publish the pending handle', async () => {
    const file = await writeHandleFile(dir, await sealHandle(handle, cfg.handlePassphrase));
    return deps.github.publishHandle({ name, file, dir, retentionDays: cfg.artifactRetentionDays, log: job.log });
  });
  report.handle = { name, collected: false };
  job.output({ 'handle-name': name });
  const text = `Pending handle published as artifact "${name}" (id ${published.id}, encrypted with \`handle-passphrase\`): a later run collects it with \`collect: ${name}\` (or a pattern such as \`odoo-upgrade-pending-${stem}-${cfg.target}-*\`) and the same passphrase.`;
  job.log(text);
  report.notes.push(text);
}
