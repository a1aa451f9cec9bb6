// The one place that speaks HTTP: a shared dispatcher (proxy-aware through the usual
// HTTPS_PROXY / NO_PROXY variables), JSON answers read with a size bound, and errors that
// carry the status and Retry-After so callers can decide what is safe to retry.
import { request, type Dispatcher } from 'undici';
import { makeDispatcher } from './transfer/dispatch.ts';

export const MAX_JSON_BYTES = 4 * 1024 * 1024;

/** True when the environment names a proxy (then every request goes through undici's proxy agent). */
export function proxied(): boolean {
  return ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((v) => process.env[v]);
}

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
    super(`${what}: HTTP ${status}${bodySnippet ? ` (${bodySnippet})` : ''}`);
    this.name = 'HttpStatusError';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
    this.bodySnippet = bodySnippet;
  }
}

/** An answer that is not the JSON the protocol promises (HTML error page, truncated, too large). */
export class BadAnswerError extends Error {
  override name = 'BadAnswerError';
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

export function snippet(text: string, max = 160): string {
  return text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, max);
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
  const raw = await readBounded(res.body, MAX_JSON_BYTES);
  const text = raw.toString('utf8');
  let parsed: unknown;
  let parseError = false;
  try {
    parsed = JSON.parse(text);
  } catch {
    parseError = true;
  }
  const ok = res.statusCode >= 200 && res.statusCode < 300;
  if (!ok && (parseError || !call.acceptAnyStatusWithJson)) {
    throw new HttpStatusError(call.what, res.statusCode, parseRetryAfter(res.headers['retry-after']), snippet(text));
  }
  if (parseError || parsed === null || typeof parsed !== 'object') {
    throw new BadAnswerError(`${call.what}: the platform answered something that is not a JSON object (${snippet(text) || 'empty body'})`);
  }
  return { status: res.statusCode, body: parsed };
}
