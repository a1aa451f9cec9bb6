// Retries with jittered exponential backoff within a budget. Callers decide which errors
// are worth retrying: a retry must never risk doing a non-idempotent thing twice.
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryOptions {
  attempts?: number; // total tries, first included
  baseMs?: number;
  maxMs?: number;
  signal?: AbortSignal;
  /** Decide per error; return a delay in ms to override the backoff (Retry-After). */
  retryable: (err: unknown, attempt: number) => boolean | number;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  random?: () => number;
}

export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  // "Equal jitter": never less than half the step, so retries do not hammer a server.
  return Math.round(exp / 2 + (random() * exp) / 2);
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const attempts = opts.attempts ?? 5;
  const baseMs = opts.baseMs ?? 1000;
  const maxMs = opts.maxMs ?? 30_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted || attempt >= attempts) throw err;
      const verdict = opts.retryable(err, attempt);
      if (verdict === false) throw err;
      const delay = typeof verdict === 'number' ? verdict : backoffDelay(attempt, baseMs, maxMs, opts.random);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, undefined, { signal: opts.signal });
    }
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);

/** True for network-level faults (reset, refused, timeouts), looking through `cause`. */
export function isTransientNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: string }).code;
    if (code && TRANSIENT_CODES.has(code)) return true;
    if (e instanceof Error && /other side closed|socket hang up|terminated/i.test(e.message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** True only when the request can't have reached the server (safe to retry a create). */
export function neverReachedServer(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: string }).code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'UND_ERR_CONNECT_TIMEOUT') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
