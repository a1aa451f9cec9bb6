import { BadAnswerError, HttpStatusError } from '../net/http.ts';
import { isLoopbackHost } from '../net/url-policy.ts';
import { isTransientNetworkError } from '../net/retry.ts';
import { redactAnswer } from '../secrets.ts';
import { describeError } from '../transfer/http.ts';
import { PlatformError, type Phase } from './types.ts';

/**
 * For calls that are safe to repeat: network faults, 429/5xx (with Retry-After), temporary
 * refusals, and answers that could not be read (cut short, an HTML page, hostile shapes): one
 * garbled answer must not end hours of waiting. Never used for `create`.
 */
export function retryableCall(err: unknown): boolean | number {
  if (err instanceof PlatformError) return err.temporary;
  if (err instanceof BadAnswerError) return true;
  if (err instanceof HttpStatusError) return err.status === 429 || err.status >= 500 ? (err.retryAfterMs ?? true) : false;
  return isTransientNetworkError(err);
}

/** The default bound on one JSON call, as Odoo's own script allows each call. */
export const CALL_TIMEOUT_MS = 60_000;

/** The run's signal and a per-call timeout in one; `timedOut` tells a hung call from a cancelled run. */
export function callSignal(signal: AbortSignal | undefined, timeoutMs: number): { signal: AbortSignal; timedOut: () => boolean } {
  const timeout = AbortSignal.timeout(timeoutMs);
  return { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, timedOut: () => timeout.aborted && !signal?.aborted };
}

/** A call that got no answer in time: a network fault (ETIMEDOUT), so callers may retry what is safe to repeat. */
export function callTimeoutError(what: string, timeoutMs: number, cause: unknown): Error {
  return Object.assign(new Error(`${what}: no answer within ${Math.round(timeoutMs / 100) / 10} s`, { cause }), { code: 'ETIMEDOUT' });
}

/**
 * Status calls that kept failing after their retries: the request is not affected, only our
 * view of it. Says which request and how to pick it up again.
 */
export function statusLost(requestId: string, attempts: number, detail: string): PlatformError {
  return new PlatformError(
    `status: no answer from the platform about request ${requestId} after ${attempts} attempts (${detail}). ` +
      'The request itself is not affected and goes on on the platform: run the step again with the inputs ' +
      `\`request-id: "${requestId}"\` and \`request-key\` (this run's masked \`request-key\` output) to resume waiting for it.`,
  );
}

export function phaseOf(state: string, success: readonly string[], failure: readonly string[]): Phase {
  if (success.includes(state)) return 'success';
  if (failure.includes(state)) return 'failure';
  return 'running';
}

/** A dump's informative name without its extension(s), for result names. */
export function stemOf(filename: string): string {
  const base = filename.split(/[\\/]/).pop() || 'database';
  return base.replace(/(\.sql\.gz|\.tar\.gz|\.[A-Za-z0-9]{1,8})$/, '') || 'database';
}


/**
 * Key-bearing URLs the platform hands out are only followed to the platform's own host
 * (or a subdomain of its registrable domain), over https; loopback http only when the
 * platform itself is a loopback emulator. Anything else could send the key elsewhere.
 */
export function assertPlatformUrl(url: string, platformUrl: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error('The platform gave a download URL that is not a URL; refusing to use it.');
  }
  const p = new URL(platformUrl);
  const loopbackPlatform = isLoopbackHost(p.hostname);
  const sameSite = u.hostname === p.hostname || (!loopbackPlatform && u.hostname.endsWith(`.${registrable(p.hostname)}`));
  const schemeOk = u.protocol === 'https:' || (u.protocol === 'http:' && loopbackPlatform && isLoopbackHost(u.hostname));
  if (!schemeOk || !(sameSite || (loopbackPlatform && isLoopbackHost(u.hostname))) || u.username || u.password) {
    throw new Error(
      `The platform gave a download URL on ${u.protocol}//${u.hostname}, which is not https on the platform's own host (${p.hostname}); refusing to send the request key there.`,
    );
  }
}

function registrable(host: string): string {
  return host.split('.').slice(-2).join('.');
}

const MAX_TEXT = 2000;

/**
 * The platform's own words (a refusal, a reason, a warning) as text for a message: any JSON
 * value, bounded, and redacted like every other snippet of an answer.
 */
export function platformText(v: unknown, max = MAX_TEXT): string {
  let s: string;
  if (typeof v === 'string') s = v;
  else if (v === null || v === undefined) s = '';
  else {
    try {
      s = JSON.stringify(v) ?? String(v);
    } catch {
      s = String(v);
    }
  }
  const trimmed = s.trim();
  const safe = redactAnswer(trimmed, max);
  return trimmed.length > max ? `${safe}…` : safe;
}

/** Optional text of an answer: absent, null and empty are "nothing said". */
export function optionalText(v: unknown, max = MAX_TEXT): string | undefined {
  const s = platformText(v, max);
  return s === '' ? undefined : s;
}

/** A plain JSON object (not null, not an array), or undefined. */
export function objectOf(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** A request id as the platform gives it: a positive integer or a plain string of digits/letters. */
export function requestIdOf(v: unknown): string | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? String(v) : undefined;
  if (typeof v === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(v.trim())) return v.trim();
  return undefined;
}

/**
 * A JSON type for messages about a value of the wrong kind (never the value itself: it may be a
 * secret). Messages say "<name> is <kind>", never "<name>: <kind>", which the redaction would take for a value.
 */
export function kindOf(v: unknown): string {
  if (v === undefined) return 'missing';
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** What a failed try was, for the retry line: its own "what: " prefix dropped (the line starts with it). */
export function retryDetail(what: string, err: unknown): string {
  const d = describeError(err);
  return d.startsWith(`${what}: `) ? d.slice(what.length + 2) : d;
}
