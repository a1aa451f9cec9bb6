// The Database Upgrade API (v1), documented by Odoo until 2021 (the page was then removed as
// outdated): form-encoded calls under /database/v1/, every answer a JSON object whose
// `failures` list is read whatever the HTTP status. Answers are validated by the pure parsers
// below: a hostile shape is a BadAnswerError naming the call, never a TypeError.
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { BadAnswerError, callJson, HttpStatusError } from '../http.ts';
import { withRetry, neverReachedServer } from '../retry.ts';
import { uploadFile, downloadFile, describeError, retryableTransfer } from '../transfer/http.ts';
import type { SecretRegistry } from '../secrets.ts';
import type { DumpInfo } from '../formats/inspect.ts';
import {
  EndpointMissingError, PlatformError,
  type CreateParams, type DownloadedFile, type Platform, type RequestRef, type Status, type TransferContext, type UploadResult,
} from './types.ts';
import {
  assertPlatformUrl, CALL_TIMEOUT_MS, callSignal, callTimeoutError, kindOf, objectOf, optionalText, phaseOf, platformText, requestIdOf,
  retryableCall, retryDetail, statusLost, stemOf,
} from './common.ts';

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
  const loopback = p.hostname === 'localhost' || p.hostname === '[::1]' || /^127\./.test(p.hostname);
  if ((u.hostname === p.hostname || loopback) && u.origin !== p.origin) {
    throw new Error(`The platform gave a download URL on ${u.origin}, not its own ${p.origin}; refusing to send the request key there.`);
  }
}

export class V1Platform implements Platform {
  readonly api = 'v1' as const;
  private readonly opts: V1Options;
  private filename = '';

  constructor(opts: V1Options) {
    this.opts = opts;
  }

  private endpoint(method: string): string {
    return `${this.opts.baseUrl}/database/v1/${method}`;
  }

  /** One call; failures become PlatformError, a missing endpoint EndpointMissingError. */
  private async call(method: string, form: Record<string, string>, ctx: TransferContext): Promise<Record<string, unknown>> {
    let res;
    // A call the platform never answers must not hold the run until the socket's own timeouts.
    const timeoutMs = this.opts.callTimeoutMs ?? CALL_TIMEOUT_MS;
    const { signal, timedOut } = callSignal(ctx.signal, timeoutMs);
    try {
      res = await callJson({ url: this.endpoint(method), what: method, form, signal, acceptAnyStatusWithJson: true });
    } catch (err) {
      if (err instanceof HttpStatusError && [404, 405, 410].includes(err.status)) {
        throw new EndpointMissingError(`${method}: the v1 endpoint does not exist on ${new URL(this.opts.baseUrl).host} (HTTP ${err.status})`);
      }
      if (timedOut()) throw callTimeoutError(method, timeoutMs, err);
      throw err;
    }
    return parseV1Answer(method, res.status, res.body as Record<string, unknown>);
  }

  /**
   * Retries calls that are safe to repeat: network faults, 429/5xx, SERVER:ERROR, and answers
   * that could not be read (`parse` runs inside, so a hostile shape is retried like a 5xx).
   */
  private async callIdempotent<T = Record<string, unknown>>(
    method: string, form: Record<string, string>, ctx: TransferContext, attempts = 6,
    parse: (request: Record<string, unknown>) => T = (r) => r as T,
  ): Promise<T> {
    return withRetry(async () => parse(await this.call(method, form, ctx)), {
      attempts,
      baseMs: this.opts.retryBaseMs ?? 2000,
      signal: ctx.signal,
      retryable: retryableCall,
      onRetry: (err, attempt, delay) => ctx.log(`${method}: ${retryDetail(method, err)}; trying again in ${Math.round(delay / 1000)} s (attempt ${attempt + 1})`),
    });
  }

  async create(p: CreateParams, ctx: TransferContext): Promise<RequestRef> {
    this.filename = p.filename;
    const form: Record<string, string> = { contract: p.contract, email: p.email, target: p.target, aim: p.aim, filename: p.filename };
    if (p.timezone) form.timezone = p.timezone;
    // Retried only when the platform provably created nothing: never two requests for one run.
    const request = await withRetry(() => this.call('create', form, ctx), {
      attempts: 5,
      baseMs: this.opts.retryBaseMs ?? 2000,
      signal: ctx.signal,
      retryable: (err) => {
        if (err instanceof PlatformError) return err.temporary; // a failures answer created nothing
        if (err instanceof HttpStatusError) return err.status === 429 || err.status === 503 ? (err.retryAfterMs ?? true) : false;
        return neverReachedServer(err);
      },
      onRetry: (err, attempt, delay) => ctx.log(`create: ${retryDetail('create', err)}; nothing was created, trying again in ${Math.round(delay / 1000)} s (attempt ${attempt + 1})`),
    });
    // Registered before anything is checked: whatever goes wrong next, the key is masked.
    if (typeof request.key === 'string') this.opts.secrets.add(request.key);
    this.registerUrls(request);
    const { id, key } = parseV1Create(request);
    return { id, key };
  }

  private registerUrls(request: Record<string, unknown>): void {
    for (const [name, value] of Object.entries(request)) {
      if (name.endsWith('_url') && typeof value === 'string') this.opts.secrets.addUrl(value);
      if ((name === 'key' || name.endsWith('_key')) && typeof value === 'string') this.opts.secrets.add(value);
    }
  }

  private auth(ref: RequestRef): Record<string, string> {
    return { key: ref.key, request: ref.id };
  }

  async upload(ref: RequestRef, dump: DumpInfo, ctx: TransferContext): Promise<UploadResult> {
    if (dump.format === 'directory') {
      throw new PlatformError('The v1 API takes a single dump file, not a directory dump: make one with `pg_dump -Fc`, or use `api: rpc`.');
    }
    const useSftp = this.opts.uploadMethod === 'sftp' || (this.opts.uploadMethod === 'auto' && dump.size >= this.opts.sftpThreshold);
    const started = Date.now();
    if (useSftp) {
      const { uploadViaSftp } = await import('./v1-sftp.ts');
      const r = await uploadViaSftp(this, ref, dump, ctx, this.opts);
      return { method: 'sftp', bytes: r.bytes, sha256: r.sha256, seconds: (Date.now() - started) / 1000, resumes: r.resumes };
    }
    const query = new URLSearchParams(this.auth(ref)).toString();
    const progress = ctx.progress('Upload', dump.size);
    try {
      const r = await uploadFile(`${this.endpoint('upload')}?${query}`, dump.path, {
        what: 'upload', progress, signal: ctx.signal, log: ctx.log, retryBaseMs: this.opts.retryBaseMs,
      });
      const failures = failuresOf('upload', objectOf(r.answer) ?? {});
      if (failures.length) throw refusalOf('upload', failures);
      return { method: 'https', bytes: r.bytes, sha256: r.sha256, seconds: (Date.now() - started) / 1000, resumes: r.attempts - 1 };
    } finally {
      progress.finish();
    }
  }

  /** request_sftp_access, for the SFTP transport (v1-sftp.ts). */
  async requestSftpAccess(ref: RequestRef, authorizedKeys: string, ctx: TransferContext): Promise<Record<string, unknown>> {
    const url = `${this.endpoint('request_sftp_access')}?${new URLSearchParams(this.auth(ref))}`;
    const { requestMultipart } = await import('./multipart.ts');
    return requestMultipart(url, 'ssh_keys', 'authorized_keys', authorizedKeys, ctx, this.opts.retryBaseMs);
  }

  async process(ref: RequestRef, ctx: TransferContext): Promise<{ warnings: string[] }> {
    try {
      await this.callIdempotent('process', this.auth(ref), ctx);
    } catch (err) {
      // A retried process whose first try got through is refused for its state: not an error.
      if (err instanceof PlatformError) {
        const st = await this.status(ref, ctx).catch(() => undefined);
        if (st && st.state !== 'draft') return { warnings: [] };
      }
      throw err;
    }
    return { warnings: [] };
  }

  async status(ref: RequestRef, ctx: TransferContext): Promise<Status> {
    const attempts = 6;
    const st = await this.callIdempotent('status', this.auth(ref), ctx, attempts, (request) => {
      this.registerUrls(request);
      return mapV1Status(request);
    }).catch((err: unknown) => {
      throw ctx.signal?.aborted || !retryableCall(err) ? err : statusLost(ref.id, attempts, retryDetail('status', err));
    });
    if (st.filename) this.filename = st.filename;
    return st;
  }

  async skipTest(ref: RequestRef, ctx: TransferContext): Promise<void> {
    await this.callIdempotent('skip_test', this.auth(ref), ctx);
  }

  async download(ref: RequestRef, status: Status, outputDir: string, ctx: TransferContext): Promise<DownloadedFile[]> {
    const files: DownloadedFile[] = [];
    await mkdir(outputDir, { recursive: true });
    const stem = stemOf(status.filename || this.filename || `request-${ref.id}`);
    const checkUrl = (u: string) => {
      this.opts.secrets.addUrl(u);
      assertPlatformUrl(u, this.opts.baseUrl);
      assertSameOrigin(u, this.opts.baseUrl);
    };
    if (this.opts.download !== 'none') {
      const sql = this.opts.download === 'sql';
      const dest = path.join(outputDir, sql ? `upgraded_${stem}.sql` : `upgraded_${stem}.zip`);
      if (this.opts.downloadVia === 'sftp' && !sql) {
        const { downloadViaSftp } = await import('./v1-sftp.ts');
        files.push(await downloadViaSftp(this, ref, dest, ctx, this.opts));
      } else {
        const url = String(status.raw[sql ? 'upgraded_sql_url' : 'upgraded_dump_url'] ?? '');
        if (!url) throw new PlatformError(`The platform gave no ${sql ? 'upgraded_sql_url' : 'upgraded_dump_url'} for request ${ref.id}.`);
        const progress = ctx.progress('Download');
        try {
          const r = await downloadFile(url, dest, { what: 'download of the upgraded database', checkUrl, progress, signal: ctx.signal, log: ctx.log, retryBaseMs: this.opts.retryBaseMs });
          files.push({ role: sql ? 'sql' : 'dump', path: r.path, bytes: r.bytes, sha256: r.sha256 });
        } catch (err) {
          if (sql || !worthSftpFallback(err, ctx.signal)) throw err;
          files.push(await this.sftpFallback(ref, dest, err, ctx));
        } finally {
          progress.finish();
        }
      }
    }
    const notesUrl = typeof status.raw.notes_url === 'string' ? status.raw.notes_url : '';
    if (notesUrl) {
      const dest = path.join(outputDir, 'upgrade-notes.html');
      try {
        const r = await downloadFile(notesUrl, dest, { what: 'download of the notes', checkUrl, signal: ctx.signal, log: ctx.log, retryBaseMs: this.opts.retryBaseMs });
        files.push({ role: 'notes', path: r.path, bytes: r.bytes, sha256: r.sha256 });
      } catch (err) {
        // Notes are informative: a missing notes document does not fail an upgrade that succeeded.
        if (err instanceof HttpStatusError && err.status === 404) ctx.log('The platform has no notes for this request.');
        else throw err;
      }
    }
    return files;
  }

  /**
   * The HTTPS download of the archive gave up on faults of the way (cuts, timeouts, 5xx/429):
   * the same file is on the request's SFTP server, which resumes by offset. Tried once.
   */
  private async sftpFallback(ref: RequestRef, dest: string, httpsError: unknown, ctx: TransferContext): Promise<DownloadedFile> {
    const { downloadViaSftp, hasSftpAccess } = await import('./v1-sftp.ts');
    const why = describeError(httpsError);
    ctx.log(
      `The HTTPS download of the upgraded database failed after its retries (${why}); downloading it over SFTP instead` +
        `${hasSftpAccess(this) ? ' (with the SFTP access of this run)' : ' (asking the platform for SFTP access)'}.`,
    );
    try {
      const file = await downloadViaSftp(this, ref, dest, ctx, this.opts);
      ctx.log('The upgraded database was downloaded over SFTP after the HTTPS download failed.');
      return file;
    } catch (err) {
      if (ctx.signal?.aborted) throw err;
      throw new PlatformError(
        `The download of the upgraded database of request ${ref.id} failed over HTTPS (${why}) and over SFTP (${(err as Error).message}). ` +
          `Run the step again with \`request-id: "${ref.id}"\` and \`request-key\` to download it again.`,
      );
    }
  }

  async close(): Promise<void> {}
}

/**
 * Which HTTPS failures SFTP may get around: faults of the way (resets, cuts, timeouts) and
 * server trouble (5xx, 429) that lasted through the retries. Not a 4xx (a wrong request or a
 * file that does not exist: SFTP would not find it either), not a refused URL, not a cancel.
 */
export function worthSftpFallback(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return false;
  return retryableTransfer(err) !== false;
}
