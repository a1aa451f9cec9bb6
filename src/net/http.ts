// The one place that speaks HTTP: a shared dispatcher (proxy-aware through the usual
// HTTPS_PROXY / NO_PROXY variables), JSON answers read with a size bound, and errors that
// carry the status and Retry-After so callers can decide what is safe to retry.
import { request, type Dispatcher } from 'undici';
import { redactAnswer } from '../secrets.ts';
import { makeDispatcher } from './dispatch.ts';

export const MAX_JSON_BYTES = 4 * 1024 * 1024;

let shared: Dispatcher | undefined;
export function dispatcher(): Dispatcher {
  if (!shared) {
    // Proxy chosen per URL (HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as curl); final headers within 120 s in all.
    shared = makeDispatcher({ connectTimeoutMs: 30_000, headersDeadlineMs: 120_000, bodyTimeoutMs: 300_000, keepAliveTimeoutMs: 10_000 });
  }
  return shared;
}

export async function closeDispatcher(): Promise<void> {
  const d = shared;
  shared = undefined;
  await d?.close().catch(() => undefined);
}

export class HttpStatusError extends Error {
  readonly status: number;
  readonly retryAfterMs?: number;
  readonly bodySnippet: string;
  constructor(what: string, status: number, retryAfterMs: number | undefined, bodySnippet: string) {
    // The body is the server's text: redacted here, whoever built the snippet.
    const safe = redactAnswer(bodySnippet, 4000);
    super(`${what}: HTTP ${status}${safe ? ` (${safe})` : ''}`);
    this.name = 'HttpStatusError';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
    this.bodySnippet = safe;
  }
}

/**
 * An answer that is not what the protocol promises (HTML error page, truncated, too large,
 * wrong shapes). Its message quotes the answer, so it is redacted at construction.
 */
export class BadAnswerError extends Error {
  override name = 'BadAnswerError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(redactAnswer(message, 8000), options);
  }
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; bounded to one hour. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  let ms: number;
  if (/^\s*\d+\s*$/.test(v)) ms = Number(v) * 1000;
  else {
    const t = Date.parse(v);
    if (Number.isNaN(t)) return undefined;
    ms = t - now;
  }
  return Math.min(Math.max(ms, 0), 3_600_000);
}

/** Reads a body up to `max` bytes; more is an error (a hostile or broken server can't exhaust memory). */
export async function readBounded(body: AsyncIterable<Uint8Array> & { destroy?: (e?: Error) => void }, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      body.destroy?.();
      throw new BadAnswerError(`answer larger than ${Math.round(max / 1024)} KiB`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** A short, readable, redacted quote of a server's answer for a message (never the raw text). */
export function snippet(text: string, max = 160): string {
  // Redacted before the cut, so a cut never turns a recognisable secret into an unrecognisable piece;
  // only a bounded head is worked on (an answer may be 4 MiB of anything).
  const head = text.slice(0, 64 * 1024).replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return redactAnswer(head, max);
}

export interface JsonCall {
  url: string;
  what: string; // for messages: "create", "status", ...
  method?: 'GET' | 'POST';
  form?: Record<string, string>;
  json?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Statuses whose JSON body is still the answer (v1 sends failures with 200, but be liberal). */
  acceptAnyStatusWithJson?: boolean;
}

export async function callJson(call: JsonCall): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'odoo-upgrade-action', ...call.headers };
  let body: string | undefined;
  if (call.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(call.form).toString();
  } else if (call.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(call.json);
  }
  const res = await request(call.url, {
    method: call.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body,
    signal: call.signal,
    dispatcher: dispatcher(),
  });
  const raw = await readBounded(res.body, MAX_JSON_BYTES).catch((err: unknown) => {
    throw err instanceof BadAnswerError ? new BadAnswerError(`${call.what}: the platform's ${err.message}`) : err;
  });
  return parseJsonAnswer(call.what, res.statusCode, raw.toString('utf8'), res.headers['retry-after'], call.acceptAnyStatusWithJson);
}

/**
 * The framing of a JSON answer, pure: an HTTP error without a JSON body is an HttpStatusError,
 * anything that is not a JSON object a BadAnswerError naming the call; both quote the answer redacted.
 */
export function parseJsonAnswer(
  what: string, status: number, text: string, retryAfter?: string | string[], acceptAnyStatusWithJson = false,
): { status: number; body: Record<string, unknown> } {
  let parsed: unknown;
  let parseError = false;
  try {
    parsed = JSON.parse(text);
  } catch {
    parseError = true;
  }
  const ok = status >= 200 && status < 300;
  if (!ok && (parseError || !acceptAnyStatusWithJson)) {
    throw new HttpStatusError(what, status, parseRetryAfter(retryAfter), snippet(text));
  }
  if (parseError || parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BadAnswerError(`${what}: the platform answered something that is not a JSON object (${snippet(text) || 'empty body'})`);
  }
  return { status, body: parsed as Record<string, unknown> };
}
