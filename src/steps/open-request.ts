// Phase 3: the request on the platform, resumed (request-id + request-key) or created (api
// auto: v1 first, rpc when the v1 endpoint does not exist and nothing was created). A create
// whose outcome is unknown is never sent again.
import type { Config } from '../inputs.ts';
import { EndpointMissingError, PlatformError, type Platform, type RequestRef, type Status, type TransferContext } from '../platform/types.ts';
import { HttpStatusError } from '../net/http.ts';
import { neverReachedServer } from '../net/retry.ts';
import { describeError } from '../transfer/http.ts';
import { uncertainCreateMessage } from './guards.ts';
import type { Deps } from '../pipeline/deps.ts';
import type { Job } from '../pipeline/job.ts';

export interface OpenRequest {
  platform: Platform;
  ref: RequestRef;
  /** The state a resumed request was found in; undefined for a request created now. */
  resumedStatus?: Status;
}

export async function openRequest(job: Job, cfg: Config): Promise<OpenRequest> {
  const { report, deps } = job;
  const opened = cfg.resume ? await resume(job, cfg, cfg.resume) : await create(job, cfg);
  job.onEnd(() => opened.platform.close().catch(() => undefined));
  report.resumed = Boolean(cfg.resume);
  report.api = opened.platform.api;
  report.requestId = opened.ref.id;
  deps.state.save('request-id', opened.ref.id);
  job.output({ 'request-id': opened.ref.id, 'request-key': opened.ref.key });
  return opened;
}

async function create(job: Job, cfg: Config): Promise<OpenRequest> {
  const opened = await job.deps.io.group('Create the request', () =>
    createWithFallback(job.deps, cfg, job.report.filename ?? '', job.transfer).catch((err: unknown) => {
      throw createMayExist(err) ? new Error(uncertainCreateMessage(describeError(err), cfg)) : err;
    }),
  );
  job.log(`Request ${opened.ref.id} created with the ${opened.platform.api} protocol.`);
  for (const w of opened.ref.warnings ?? []) {
    job.warn(w);
    job.report.warnings.push(w);
  }
  return opened;
}

/** Whether a failed create may still have made a request: anything but a definite answer. */
export function createMayExist(err: unknown): boolean {
  if (err instanceof PlatformError || err instanceof EndpointMissingError) return false;
  if (err instanceof HttpStatusError && err.status < 500) return false;
  return !neverReachedServer(err);
}

async function createWithFallback(deps: Deps, cfg: Config, filename: string, ctx: TransferContext): Promise<OpenRequest> {
  const params = { contract: cfg.contract, email: cfg.email, target: cfg.target, aim: cfg.aim, filename, timezone: cfg.timezone, envVars: cfg.envVars };
  const first = await deps.createPlatform(cfg.api === 'rpc' ? 'rpc' : 'v1', cfg);
  const created = await first.create(params, ctx).catch(async (err: unknown) => {
    await first.close();
    if (cfg.api !== 'auto' || !(err instanceof EndpointMissingError)) throw err;
    ctx.log(`${err.message}: nothing was created; using the protocol of Odoo's upgrade script (rpc) instead.`);
    return undefined;
  });
  if (created) return { platform: first, ref: created };
  const second = await deps.createPlatform('rpc', cfg);
  return { platform: second, ref: await second.create(params, ctx) };
}

function resume(job: Job, cfg: Config, { id, key }: { id: string; key: string }): Promise<OpenRequest> {
  return job.deps.io.group('Resume the request', () => findRequest(job.deps, cfg, { id, key }, job.transfer));
}

/** Finds which protocol knows the request, and its current state. */
async function findRequest(deps: Deps, cfg: Config, ref: RequestRef, ctx: TransferContext): Promise<OpenRequest> {
  const apis: Array<'v1' | 'rpc'> = cfg.api === 'auto' ? ['v1', 'rpc'] : [cfg.api];
  let lastError: unknown;
  for (const api of apis) {
    const platform = await deps.createPlatform(api, cfg);
    try {
      const status = await platform.status(ref, ctx);
      ctx.log(`Request ${ref.id} (${api}) is \`${status.state}\`.`);
      return { platform, ref, resumedStatus: status };
    } catch (err) {
      await platform.close();
      lastError = err;
      if (!(err instanceof EndpointMissingError)) throw err;
    }
  }
  throw lastError;
}
