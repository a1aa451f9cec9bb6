// The Database Upgrade API (v1), documented by Odoo until 2021 (the page was then removed as
// outdated): form-encoded calls under /database/v1/, every answer a JSON object whose
// `failures` list is read whatever the HTTP status. Answers are validated by the pure parsers
// of v1-answers.ts: a hostile shape is a BadAnswerError naming the call, never a TypeError.
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { BadAnswerError, callJson, HttpStatusError } from '../net/http.ts';
import { withRetry, neverReachedServer } from '../net/retry.ts';
import { uploadFile, downloadFile, describeError, retryableTransfer } from '../transfer/http.ts';
import type { DumpInfo } from '../formats/inspect.ts';
import {
  EndpointMissingError, PlatformError,
  type CreateParams, type DownloadedFile, type Platform, type RequestRef, type Status, type TransferContext, type UploadResult,
} from './types.ts';
import { assertPlatformUrl, CALL_TIMEOUT_MS, callSignal, callTimeoutError, objectOf, retryableCall, retryDetail, statusLost, stemOf } from './common.ts';
import { failuresOf, refusalOf, parseV1Answer, parseV1Create, mapV1Status, assertSameOrigin, describeFailures, type V1Options } from './v1-answers.ts';

export { failuresOf, refusalOf, parseV1Answer, parseV1Create, mapV1Status, assertSameOrigin, describeFailures, type V1Options };

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
