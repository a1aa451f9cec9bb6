// The pipeline, top to bottom: inputs → dump → request → upload → process → wait →
// download → publish. Each phase is one log group; whatever happens, the summary is
// written and temporary things are removed.
import path from 'node:path';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import * as core from '@actions/core';
import { readConfig, envInputGetter, artifactNameFor, type Config } from './inputs.ts';
import { secrets } from './secrets.ts';
import { resolveSource } from './source/index.ts';
import { inspectDump, type DumpInfo } from './dump.ts';
import { createPlatform } from './platform/index.ts';
import { EndpointMissingError, type Platform, type RequestRef, type Status, type TransferContext } from './platform/types.ts';
import { waitForEnd, WaitTimeoutError } from './poll.ts';
import { progress } from './transfer/progress.ts';
import { closeDispatcher } from './http.ts';
import { newReport } from './publish/report.ts';
import { writeOutputs, publishResults, writeSummary, commentOnPullRequest } from './publish/index.ts';
import { resumeHint, guardProduction, guardRecentTest, recentTestDays, uncertainCreateMessage } from './guards.ts';
import { findRecentTest } from './recent-test.ts';
import { PlatformError } from './platform/types.ts';
import { HttpStatusError } from './http.ts';
import { neverReachedServer } from './retry.ts';
import { describeError } from './transfer/http.ts';
import type { ResolvedDump } from './source/types.ts';
import { restoreStep, preflightRestore } from './postgres/restore.ts';
import { settleContract } from './postgres/contract.ts';

const log = (line: string) => core.info(secrets.redact(line));
const warn = (line: string) => core.warning(secrets.redact(line));

export async function run(): Promise<void> {
  const report = newReport();
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    core.warning(`Received ${sig}: stopping.`);
    report.outcome = 'cancelled';
    controller.abort(new Error(`cancelled by ${sig}`));
    // The runner kills 7.5 s after SIGINT (then 2.5 s after SIGTERM): never outlive that silently.
    setTimeout(() => process.exit(1), 7_000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let cfg: Config | undefined;
  let platform: Platform | undefined;
  let dump: ResolvedDump | undefined;
  let workDir: string | undefined;
  try {
    cfg = readConfig(envInputGetter(), process.env);
    registerSecrets(cfg);
    guardProduction(cfg, process.env);
    const ignored = guardRecentTest(cfg);
    if (ignored) warn(ignored);
    report.target = cfg.target || undefined;
    report.aim = cfg.aim;
    const recentDays = recentTestDays(cfg);
    if (recentDays !== undefined) {
      const c = cfg;
      report.recentTest = await core.group('Find a recent test upgrade', () =>
        findRecentTest({ days: recentDays, target: c.target, token: c.githubToken, env: process.env, log, signal: controller.signal }),
      );
    }
    workDir = await mkdtemp(path.join(process.env.RUNNER_TEMP || '/tmp', 'odoo-upgrade-work-'));
    // The post step removes these if this step is killed before its own cleanup; temporary
    // files of libraries (ephemeral SSH keys) land in the work dir through TMPDIR.
    core.saveState('work-dir', workDir);
    core.saveState('output-dir', cfg.outputDir);
    process.env.TMPDIR = workDir;
    const ctx: TransferContext = {
      log,
      signal: controller.signal,
      progress: (label, total) => progress({ label, total, log }),
    };
    const requested: Config = cfg;

    if (!requested.resume) await settleContract(requested, { log, warn, signal: controller.signal });
    await preflightRestore(requested, { log });
    let info: DumpInfo | undefined;
    if (requested.source) {
      dump = await core.group('Find the dump', () =>
        resolveSource(requested.source!, { api: requested.api === 'rpc' ? 'rpc' : 'v1', workDir: workDir!, githubToken: requested.githubToken, log, signal: controller.signal }),
      );
      info = await core.group('Check the dump', async () => {
        const i = await inspectDump(dump!.path, { api: requested.api === 'rpc' ? 'rpc' : 'v1', input: inputOf(requested) });
        log(`${dump!.description}: ${i.detail}, ${i.size} bytes`);
        return i;
      });
      report.filename = requested.filename || path.basename(dump.path).replace(/\/$/, '');
      report.dump = { format: info.format, size: info.size, detail: info.detail, source: dump.description };
    }

    // The request: resumed, or created (auto: v1 first, rpc when v1 does not exist).
    let ref: RequestRef;
    let status: Status | undefined;
    if (requested.resume) {
      report.resumed = true;
      ({ platform, ref, status } = await core.group('Resume the request', () => resume(requested, ctx)));
    } else {
      ({ platform, ref } = await core.group('Create the request', () =>
        createWithFallback(requested, report.filename!, ctx).catch((err: unknown) => {
          throw createMayExist(err) ? new Error(uncertainCreateMessage(describeError(err), requested)) : err;
        }),
      ));
      log(`Request ${ref.id} created with the ${platform.api} protocol.`);
      for (const w of ref.warnings ?? []) {
        warn(w);
        report.warnings.push(w);
      }
    }
    report.api = platform.api;
    report.requestId = ref.id;
    core.saveState('request-id', ref.id);
    writeOutputs({ 'request-id': ref.id });
    core.setOutput('request-key', ref.key);

    const needsUpload = !status || status.state === 'draft' || status.state === 'new';
    // rpc: `pending` may mean "uploaded, never processed" (a run stopped in between); process is safe to repeat there.
    if (status && platform.api === 'rpc' && status.state === 'pending') await platform.process(ref, ctx);
    if (needsUpload) {
      if (!info) throw new Error(`Request ${ref.id} is still waiting for its dump (state \`${status?.state}\`): give one of \`dump\`, \`dump-artifact\`, \`dump-url\`, \`dump-database\` to upload it.`);
      const p = platform;
      const dumpInfo = info;
      report.upload = await core.group(`Upload the dump (${dumpInfo.size} bytes)`, () => p.upload(ref, dumpInfo, ctx));
      if (report.dump && report.upload.sha256) report.dump.sha256 = report.upload.sha256;
      const { warnings } = await core.group('Start the upgrade', () => p.process(ref, ctx));
      for (const w of warnings) {
        warn(w);
        report.warnings.push(w);
      }
      status = undefined;
    }

    if (!requested.wait) {
      status = await platform.status(ref, ctx);
      report.final = status;
      report.timeline.push({ state: status.state, at: new Date() });
      report.outcome = status.phase === 'failure' ? 'failure' : 'started';
      report.resumeHint = resumeHint(ref.id, requested);
      writeOutputs({ state: status.state, 'database-version': status.databaseVersion, postgresql: status.postgresql });
      if (status.phase === 'failure') throw new Error(failureMessage(ref, status));
      log(`Not waiting (wait: false). The request is \`${status.state}\`; resume it later with request-id ${ref.id}.`);
      return;
    }

    const waitStarted = Date.now();
    const p = platform;
    let final: Status;
    try {
      const r = await core.group('Wait for the upgrade', () =>
        waitForEnd({
          poll: () => p.status(ref, ctx),
          baseMs: requested.pollIntervalSeconds * 1000,
          timeoutMs: requested.timeoutMinutes * 60_000,
          signal: controller.signal,
          log,
          initial: status,
          onState: (s, t) => {
            report.timeline.push(t);
            report.final = s;
          },
          between: p.logs ? streamLogs(p, ref, ctx) : undefined,
        }),
      );
      final = r.status;
      report.polls = r.polls;
      if (p.logs) await streamLogs(p, ref, ctx, true)(final);
    } finally {
      report.waitSeconds = (Date.now() - waitStarted) / 1000;
      writeOutputs({ 'elapsed-seconds': String(Math.round(report.waitSeconds)), state: report.final?.state });
    }
    report.final = final;
    writeOutputs({ 'database-version': final.databaseVersion, postgresql: final.postgresql });
    if (final.phase === 'failure') throw new Error(failureMessage(ref, final));

    const outDir = requested.outputDir;
    await mkdir(outDir, { recursive: true });
    report.downloads = await core.group('Download the results', () => p.download(ref, final, outDir, ctx));
    const dumpFile = report.downloads.find((f) => f.role === 'dump' || f.role === 'sql');
    const notes = report.downloads.find((f) => f.role === 'notes' || f.role === 'report');
    writeOutputs({ 'upgraded-dump': dumpFile?.path, notes: notes?.path });
    if (requested.wipe && p.wipe) {
      const said = await core.group('Wipe the request from the platform', () => p.wipe!(ref, ctx));
      log(said);
    }

    await restoreStep(report, requested, { log, signal: controller.signal, originalDump: dump?.path, workDir });

    await publishResults(report, requested, {
      artifactName: requested.artifactName ? artifactNameFor(requested.artifactName, report.filename || final.filename || ref.id, final.target || requested.target) : '',
      log,
    });
    report.outcome = 'success';
  } catch (err) {
    const e = secrets.redactError(err);
    if (controller.signal.aborted) report.outcome = 'cancelled';
    else if (err instanceof WaitTimeoutError) report.outcome = 'timeout';
    else if (!report.outcome || report.outcome === 'started') report.outcome = report.final?.phase === 'failure' ? 'failure' : 'error';
    if (report.requestId && cfg && report.outcome !== 'failure') report.resumeHint = resumeHint(report.requestId, cfg);
    report.error = e.message;
    core.setFailed(e.message);
    if (process.env.RUNNER_DEBUG === '1' && e.stack) core.debug(e.stack);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    report.finishedAt = new Date();
    if (cfg?.prComment && report.requestId) {
      await commentOnPullRequest(report, cfg, secrets, log).catch((e) => {
        const msg = secrets.redact((e as Error).message);
        core.setFailed(`Could not write the pull request comment: ${msg}`);
        report.warnings.push(`Could not write the pull request comment: ${msg}`);
      });
    }
    if (cfg?.summary !== false) {
      await writeSummary(report, secrets).catch((e) => warn(`Could not write the job summary: ${(e as Error).message}`));
    }
    await platform?.close().catch(() => undefined);
    await dump?.cleanup().catch(() => undefined);
    if (workDir) await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    await closeDispatcher();
    core.saveState('finished', 'true');
  }
}

/** Whether a failed create may still have made a request: anything but a definite answer. */
function createMayExist(err: unknown): boolean {
  if (err instanceof PlatformError || err instanceof EndpointMissingError) return false;
  if (err instanceof HttpStatusError && err.status < 500) return false;
  return !neverReachedServer(err);
}

function registerSecrets(cfg: Config): void {
  secrets.add(cfg.contract);
  secrets.add(cfg.resume?.key);
  secrets.add(cfg.sshPrivateKey);
  secrets.add(cfg.githubToken);
  secrets.add(cfg.restoreDatabase);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(cfg.originalFilestore)) secrets.addUrl(cfg.originalFilestore);
  if (cfg.source?.kind === 'url') {
    secrets.addUrl(cfg.source.url);
    for (const line of cfg.source.headers.split(/\r?\n/)) {
      const value = line.slice(line.indexOf(':') + 1).trim();
      if (line.includes(':')) secrets.add(value);
    }
  }
  if (cfg.source?.kind === 'database') {
    secrets.addUrl(cfg.source.connection);
    const pw = /password=([^\s]+)/.exec(cfg.source.connection)?.[1];
    secrets.add(pw);
  }
}

function inputOf(cfg: Config): string {
  return { path: 'dump', artifact: 'dump-artifact', url: 'dump-url', database: 'dump-database' }[cfg.source!.kind];
}

function failureMessage(ref: RequestRef, st: Status): string {
  return `The upgrade of request ${ref.id} ended in state \`${st.state}\`${st.message ? `: ${st.message}` : '.'}`;
}

async function createWithFallback(cfg: Config, filename: string, ctx: TransferContext): Promise<{ platform: Platform; ref: RequestRef }> {
  const params = { contract: cfg.contract, email: cfg.email, target: cfg.target, aim: cfg.aim, filename, timezone: cfg.timezone, envVars: cfg.envVars };
  const first = await createPlatform(cfg.api === 'rpc' ? 'rpc' : 'v1', cfg, secrets);
  try {
    return { platform: first, ref: await first.create(params, ctx) };
  } catch (err) {
    if (cfg.api !== 'auto' || !(err instanceof EndpointMissingError)) {
      await first.close();
      throw err;
    }
    await first.close();
    ctx.log(`${err.message}: nothing was created; using the protocol of Odoo's upgrade script (rpc) instead.`);
    const second = await createPlatform('rpc', cfg, secrets);
    return { platform: second, ref: await second.create(params, ctx) };
  }
}

/** Resume: find which protocol knows the request, and its current state. */
async function resume(cfg: Config, ctx: TransferContext): Promise<{ platform: Platform; ref: RequestRef; status: Status }> {
  const ref: RequestRef = { id: cfg.resume!.id, key: cfg.resume!.key };
  const apis: Array<'v1' | 'rpc'> = cfg.api === 'auto' ? ['v1', 'rpc'] : [cfg.api];
  let lastError: unknown;
  for (const api of apis) {
    const platform = await createPlatform(api, cfg, secrets);
    try {
      const status = await platform.status(ref, ctx);
      ctx.log(`Request ${ref.id} (${api}) is \`${status.state}\`.`);
      return { platform, ref, status };
    } catch (err) {
      await platform.close();
      lastError = err;
      if (!(err instanceof EndpointMissingError)) throw err;
    }
  }
  throw lastError;
}

const logOffsets = new WeakMap<Platform, number>();

/** The platform's upgrade log (rpc), a few lines at a time between polls; `final` flushes the end. */
function streamLogs(p: Platform, ref: RequestRef, ctx: TransferContext, final = false) {
  return async (st: Status) => {
    if ((!final && st.state !== 'progress') || !p.logs) return;
    const offset = logOffsets.get(p) ?? 0;
    try {
      const text = await p.logs(ref, offset, ctx);
      logOffsets.set(p, offset + Buffer.byteLength(text));
      const lines = text.split('\n').filter(Boolean);
      const shown = lines.slice(-200);
      if (lines.length > shown.length) ctx.log(`  | (${lines.length - shown.length} earlier lines are in upgrade.log)`);
      if (shown.length) ctx.log(shown.map((l) => `  | ${l}`).join('\n'));
    } catch {
      // The log is a courtesy; the status polls decide.
    }
  };
}
