// The documented Database Upgrade API (v1): form-encoded calls under /database/v1/, every
// answer a JSON object whose `failures` list is read whatever the HTTP status.
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { callJson, HttpStatusError } from '../http.ts';
import { withRetry, neverReachedServer } from '../retry.ts';
import { uploadFile, downloadFile, describeError, retryableTransfer } from '../transfer/http.ts';
import type { SecretRegistry } from '../secrets.ts';
import type { DumpInfo } from '../formats/inspect.ts';
import {
  EndpointMissingError, PlatformError,
  type CreateParams, type DownloadedFile, type Platform, type RequestRef, type Status, type TransferContext, type UploadResult,
} from './types.ts';
import { assertPlatformUrl, CALL_TIMEOUT_MS, callSignal, callTimeoutError, phaseOf, retryableCall, statusLost, stemOf } from './common.ts';

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

export interface Failure {
  reason?: string;
  message?: string;
  code?: unknown;
  value?: unknown;
  expected?: unknown;
}

export function describeFailures(what: string, failures: Failure[]): string {
  const lines = failures.map((f) => {
    let line = `${f.reason ?? 'UNKNOWN'}: ${f.message ?? '(no message)'}`;
    if (Array.isArray(f.expected) && f.expected.length) line += ` (expected one of: ${f.expected.slice(0, 40).join(', ')})`;
    return line;
  });
  return `The platform refused ${what}:\n${lines.map((l) => `  - ${l}`).join('\n')}`;
}

export function mapV1Status(request: Record<string, unknown>): Status {
  const state = String(request.state ?? 'unknown').trim().toLowerCase();
  const text = (v: unknown) => (v === null || v === undefined || v === '' ? undefined : String(v));
  return {
    state,
    phase: phaseOf(state, V1_SUCCESS, V1_FAILURE),
    message: text(request.customer_message),
    databaseVersion: text(request.database_version),
    postgresql: text(request.postgresql),
    target: text(request.target),
    aim: text(request.aim),
    filename: text(request.filename),
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
    const body = res.body as { failures?: unknown; request?: unknown };
    const failures = Array.isArray(body.failures) ? (body.failures as Failure[]) : [];
    if (failures.length) {
      const reasons = failures.map((f) => String(f.reason ?? ''));
      throw new PlatformError(describeFailures(method, failures), reasons, reasons.some((r) => r === 'SERVER:ERROR'));
    }
    if (res.status >= 400) throw new HttpStatusError(method, res.status, undefined, '');
    const request = body.request;
    return request && typeof request === 'object' ? (request as Record<string, unknown>) : {};
  }

  /** Retries calls that are safe to repeat: network faults, 429/5xx, SERVER:ERROR. */
  private async callIdempotent(method: string, form: Record<string, string>, ctx: TransferContext, attempts = 6) {
    return withRetry(() => this.call(method, form, ctx), {
      attempts,
      baseMs: this.opts.retryBaseMs ?? 2000,
      signal: ctx.signal,
      retryable: retryableCall,
      onRetry: (err, attempt, delay) => ctx.log(`${method}: ${describeError(err)}; trying again in ${Math.round(delay / 1000)} s (attempt ${attempt + 1})`),
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
      onRetry: (err, attempt, delay) => ctx.log(`create: ${describeError(err)}; nothing was created, trying again in ${Math.round(delay / 1000)} s (attempt ${attempt + 1})`),
    });
    const id = request.id;
    const key = request.key;
    if ((typeof id !== 'number' && typeof id !== 'string') || typeof key !== 'string' || !key) {
      throw new PlatformError('create: the platform answered without a request id and key');
    }
    this.opts.secrets.add(key);
    this.registerUrls(request);
    return { id: String(id), key };
  }

  private registerUrls(request: Record<string, unknown>): void {
    for (const [name, value] of Object.entries(request)) {
      if (name.endsWith('_url') && typeof value === 'string') this.opts.secrets.addUrl(value);
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
      const answer = r.answer as { failures?: Failure[] };
      if (Array.isArray(answer?.failures) && answer.failures.length) throw new PlatformError(describeFailures('upload', answer.failures));
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
    const request = await this.callIdempotent('status', this.auth(ref), ctx, attempts).catch((err: unknown) => {
      throw ctx.signal?.aborted || !retryableCall(err) ? err : statusLost(ref.id, attempts, describeError(err));
    });
    this.registerUrls(request);
    const st = mapV1Status(request);
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
