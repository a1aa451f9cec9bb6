// The v1 API's answers, validated by pure parsers (a hostile shape is a BadAnswerError naming the
// call, never a TypeError), and the options the v1 client and its SFTP transport share. Kept apart
// from the client so the transports (multipart, SFTP) need not import it.
import { isLoopbackHost } from '../net/url-policy.ts';
import { BadAnswerError, HttpStatusError } from '../net/http.ts';
import type { SecretRegistry } from '../secrets.ts';
import { PlatformError, type RequestRef, type Status, type TransferContext } from './types.ts';
import { kindOf, objectOf, optionalText, phaseOf, platformText, requestIdOf } from './common.ts';

/** What the SFTP transport needs of the v1 client: the call that grants SFTP access. */
export interface V1SftpHost {
  requestSftpAccess(ref: RequestRef, authorizedKeys: string, ctx: TransferContext): Promise<Record<string, unknown>>;
}

export interface V1Options {
  baseUrl: string;
  secrets: SecretRegistry;
  download: 'archive' | 'sql' | 'none';
  uploadMethod: 'auto' | 'https' | 'sftp';
  sftpThreshold: number;
  downloadVia: 'https' | 'sftp';
  sshPrivateKey: string;
  /** Tests shorten the waits between retries. */
  retryBaseMs?: number;
  /** Bound on one API call (default 60 s); tests shorten it. */
  callTimeoutMs?: number;
}

const V1_SUCCESS = ['done', 'delivered'];
const V1_FAILURE = ['failed', 'cancelled', 'invalid'];

/** One entry of a v1 `failures` list, as text already redacted and bounded. */
export interface Failure {
  reason?: string;
  message?: string;
  expected?: string[];
}

/** The `failures` of a v1 answer: none when absent or null; otherwise a list of objects (or plain texts). */
export function failuresOf(what: string, body: Record<string, unknown>): Failure[] {
  const list = body.failures;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new BadAnswerError(`${what}: the platform's \`failures\` is ${kindOf(list)}, not a list`);
  return list.map((item, i) => {
    if (typeof item === 'string') return { message: optionalText(item) };
    const f = objectOf(item);
    if (!f) throw new BadAnswerError(`${what}: the platform's failure #${i + 1} is ${kindOf(item)}, not an object`);
    const expected = Array.isArray(f.expected) ? f.expected.slice(0, 40).map((v) => platformText(v, 80)) : undefined;
    return { reason: optionalText(f.reason, 200), message: optionalText(f.message), expected };
  });
}

export function describeFailures(what: string, failures: Failure[]): string {
  const lines = failures.map((f) => {
    let line = `${f.reason ?? 'UNKNOWN'}: ${f.message ?? '(no message)'}`;
    if (f.expected?.length) line += ` (expected one of: ${f.expected.join(', ')})`;
    return line;
  });
  return `The platform refused ${what}:\n${lines.map((l) => `  - ${l}`).join('\n')}`;
}

/** A failures answer: the platform's refusal (temporary for SERVER:ERROR). */
export function refusalOf(what: string, failures: Failure[]): PlatformError {
  const reasons = failures.map((f) => f.reason ?? '');
  return new PlatformError(describeFailures(what, failures), reasons, reasons.includes('SERVER:ERROR'));
}

/**
 * Any v1 answer once it is a JSON object: failures are a refusal, an HTTP error without them an
 * HttpStatusError, and the `request` object (empty when absent) is what the call returns.
 */
export function parseV1Answer(what: string, httpStatus: number, body: Record<string, unknown>): Record<string, unknown> {
  const failures = failuresOf(what, body);
  if (failures.length) throw refusalOf(what, failures);
  if (httpStatus >= 400) throw new HttpStatusError(what, httpStatus, undefined, '');
  if (body.request === undefined || body.request === null) return {};
  const request = objectOf(body.request);
  if (!request) throw new BadAnswerError(`${what}: the platform's \`request\` is ${kindOf(body.request)}, not an object`);
  return request;
}

/** The create answer's request: its id and key, or a BadAnswerError (the request may exist all the same). */
export function parseV1Create(request: Record<string, unknown>): { id: string; key: string } {
  const id = requestIdOf(request.id);
  const key = typeof request.key === 'string' ? request.key.trim() : '';
  if (id === undefined || !key || /\s/.test(key)) {
    throw new BadAnswerError(
      `create: the platform answered without a usable request id and key (the id is ${kindOf(request.id)}, the key is ${key ? 'malformed' : kindOf(request.key)})`,
    );
  }
  return { id, key };
}

export function mapV1Status(request: Record<string, unknown>): Status {
  if (typeof request.state !== 'string' || !request.state.trim()) {
    throw new BadAnswerError(`status: the platform answered without a request state (the state is ${kindOf(request.state)})`);
  }
  const state = request.state.trim().toLowerCase().slice(0, 100);
  const text = (v: unknown) => optionalText(v, 200);
  return {
    state,
    phase: phaseOf(state, V1_SUCCESS, V1_FAILURE),
    message: optionalText(request.customer_message),
    databaseVersion: text(request.database_version),
    postgresql: text(request.postgresql),
    target: text(request.target),
    aim: text(request.aim),
    filename: typeof request.filename === 'string' ? text(request.filename) : undefined,
    createdAt: text(request.created_at),
    raw: request,
  };
}

/**
 * On the platform's own host (and always for a loopback platform) a key-bearing URL must be
 * the platform's very origin: another port there is another server, maybe plain http.
 */
export function assertSameOrigin(url: string, platformUrl: string): void {
  const u = new URL(url);
  const p = new URL(platformUrl);
  const loopback = isLoopbackHost(p.hostname);
  if ((u.hostname === p.hostname || loopback) && u.origin !== p.origin) {
    throw new Error(`The platform gave a download URL on ${u.origin}, not its own ${p.origin}; refusing to send the request key there.`);
  }
}

