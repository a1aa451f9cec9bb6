// Streaming HTTP transfers over undici (the one HTTP client). Memory stays flat whatever the
// size: bodies flow in chunks of at most a few MiB, nothing is buffered whole; SHA-256 is
// computed on this thread as the bytes pass (with SHA-NI 0.68 ms of CPU per MiB on the bench
// machine, ~8% of a core at 1 Gbit/s: no thread is worth that; docs/benchmarks.md).
import { createHash, type Hash } from 'node:crypto';
import { rename, stat, rm, open, type FileHandle } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request, type Dispatcher } from 'undici';
import { dispatcher, HttpStatusError, parseRetryAfter, readBounded, snippet, BadAnswerError } from '../net/http.ts';
import { withRetry, isTransientNetworkError } from '../net/retry.ts';
import type { ProgressSink } from './progress.ts';
import { Scavenger } from './scavenge.ts';

// Upload reads go to the socket as they are. Measured against nginx on loopback (128 MiB,
// interleaved rounds): 128–256 KiB chunks ran 1.5–2.5× faster than 1–4 MiB ones, which leave
// the socket idle while each big write is encrypted and flushed whole before the next one.
const READ_CHUNK = 128 * 1024;
// Read buffers reused in turn (see uploadFile): one being sent, one being read, two to spare.
const READ_RING = 4;
// Received chunks queue up to this much while a write is on its way to disk; they go down in
// one writev, so the disk sees few large writes whatever size the network reads were.
const WRITE_QUEUE = 8 * 1024 * 1024;

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  // One buffer for every read: a fresh one per read costs a page fault per 4 KiB (see uploadFile).
  const buf = Buffer.allocUnsafeSlow(1024 * 1024);
  const fh = await open(file, 'r');
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

export interface UploadResult {
  bytes: number;
  sha256: string;
  status: number;
  answer: unknown; // the parsed JSON answer
  attempts: number;
}

export interface TransferOptions {
  what: string;
  progress?: ProgressSink;
  signal?: AbortSignal;
  log?: (line: string) => void;
  attempts?: number;
  retryBaseMs?: number;
  /** Tests and benchmarks pass their own (timeouts, CA); the process-wide one otherwise. */
  dispatcher?: Dispatcher;
}

/** POSTs a file as application/octet-stream with Content-Length; retried whole after a cut. */
export async function uploadFile(url: string, file: string, opts: TransferOptions): Promise<UploadResult> {
  const { size } = await stat(file);
  return withRetry(
    async (attempt) => {
      let sent = 0;
      opts.progress?.update(0);
      const hash = createHash('sha256');
      const scavenger = new Scavenger(); // peak RSS: see scavenge.ts
      const fh = await open(file, 'r');
      // A few read buffers used in turn, never a fresh one per read: fresh memory costs a page
      // fault per 4 KiB, and in this VM that was half of the upload's CPU (docs/benchmarks.md).
      // A buffer is refilled only READ_RING - 1 chunks after it was yielded: undici pulls the
      // next chunk only once socket.write() took the last one or the socket drained, so the
      // bytes left in a buffer are never needed again by then (tests check what the server got).
      const ring = Array.from({ length: READ_RING }, () => Buffer.allocUnsafeSlow(READ_CHUNK));
      let reads = 0;
      const read = async (at: number): Promise<Buffer> => {
        const buf = ring[reads++ % READ_RING];
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - at), at);
        return buf.subarray(0, bytesRead);
      };
      async function* body(): AsyncGenerator<Buffer> {
        let at = 0;
        let next = size > 0 ? read(0) : undefined;
        while (next) {
          const chunk = await next;
          if (chunk.length === 0) throw new Error(`${opts.what}: ${file} ended after ${at} of ${size} bytes (it changed during the upload)`);
          at += chunk.length;
          // The next read runs while this chunk is encrypted and sent.
          next = at < size ? read(at) : undefined;
          next?.catch(() => undefined); // awaited on the next turn; a body given up early must not leave it unhandled
          // Checked before the last chunk goes: once the body is complete the server may answer
          // before a later error could reach undici.
          if (!next && (await fh.stat()).size !== size) throw new Error(`${opts.what}: ${file} changed size during the upload`);
          hash.update(chunk);
          sent += chunk.length;
          scavenger.moved(chunk.length);
          opts.progress?.update(sent);
          yield chunk;
        }
      }
      let statusCode: number;
      let retryAfter: string | string[] | undefined;
      let text: string;
      try {
        const res = await request(url, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream', 'user-agent': 'odoo-upgrade-action', 'content-length': String(size) },
          body: body() as unknown as Readable, // undici streams any async iterable; its types name Readable only
          signal: opts.signal,
          dispatcher: opts.dispatcher ?? dispatcher(),
        });
        statusCode = res.statusCode;
        retryAfter = res.headers['retry-after'];
        text = (await readBounded(res.body, 1024 * 1024)).toString('utf8');
      } catch (err) {
        // A server that answers early (a 500, a 413) and closes while the body is still going
        // out shows up as the socket's write error, before undici has read its answer: say what
        // that means rather than a bare EPIPE. Still retried as a network error.
        const code = (err as { code?: string }).code;
        if (sent < size && !opts.signal?.aborted && (code === 'EPIPE' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET')) {
          throw Object.assign(new Error(`${opts.what}: the server closed the connection after ${sent} of ${size} bytes without an answer the client could read (it may have refused the upload early)`, { cause: err }), { code });
        }
        throw err;
      } finally {
        await fh.close().catch(() => undefined);
      }
      if (statusCode < 200 || statusCode >= 300) {
        throw new HttpStatusError(opts.what, statusCode, parseRetryAfter(retryAfter), snippet(text));
      }
      if (sent !== size) throw new BadAnswerError(`${opts.what}: the server answered after ${sent} bytes of ${size}`);
      let answer: unknown;
      try {
        answer = JSON.parse(text);
      } catch {
        throw new BadAnswerError(`${opts.what}: the platform answered something that is not JSON (${snippet(text) || 'empty body'})`);
      }
      return { bytes: sent, sha256: hash.digest('hex'), status: statusCode, answer, attempts: attempt };
    },
    {
      attempts: opts.attempts ?? 5,
      baseMs: opts.retryBaseMs ?? 2000,
      signal: opts.signal,
      retryable: retryableTransfer,
      onRetry: (err, attempt, delay) => opts.log?.(`${opts.what} interrupted (${describeError(err)}); attempt ${attempt + 1} in ${Math.round(delay / 1000)} s`),
    },
  ).catch((err: unknown) => {
    throw named(err, opts);
  });
}

/**
 * A failure that says which transfer failed: undici's own errors ("other side closed",
 * "Response does not match the HTTP/1.1 protocol") name neither. Ours already do; a
 * cancellation keeps its reason as it is.
 */
function named(err: unknown, opts: TransferOptions): unknown {
  if (err instanceof HttpStatusError || err instanceof BadAnswerError || opts.signal?.aborted) return err;
  if (!(err instanceof Error)) return new Error(`${opts.what} failed: ${String(err)}`);
  if (err.message.startsWith(opts.what)) return err;
  const code = describeError(err);
  const reason = err.message && err.message !== code ? `${err.message} (${code})` : code;
  return Object.assign(new Error(`${opts.what} failed: ${reason}`, { cause: err }), { code: (err as { code?: string }).code });
}

export function retryableTransfer(err: unknown): boolean | number {
  if (err instanceof HttpStatusError) {
    if (err.status === 429 || err.status >= 500) return err.retryAfterMs ?? true;
    return false;
  }
  return isTransientNetworkError(err);
}

export function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  return e?.code ?? e?.cause?.code ?? e?.message ?? String(err);
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  resumes: number;
}

export interface DownloadOptions extends TransferOptions {
  /** Checks every URL before a request is sent to it (the first and each redirect). */
  checkUrl: (url: string) => void;
  maxRedirects?: number;
}

/**
 * GETs a URL into `dest`, through `dest.part`, resuming with Range (and If-Range on the
 * ETag) after a cut. The size is checked against Content-Length / Content-Range.
 */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions): Promise<DownloadResult> {
  const part = `${dest}.part`;
  const fh = await open(part, 'w+');
  const file = new HashedFile(fh);
  let etag: string | undefined;
  let total: number | undefined;
  let resumes = 0;
  try {
    await withRetry(
      async () => {
        const have = file.position;
        const headers: Record<string, string> = { 'user-agent': 'odoo-upgrade-action', 'accept-encoding': 'identity' };
        if (have > 0) {
          headers.range = `bytes=${have}-`;
          if (etag) headers['if-range'] = etag;
        }
        const res = await getFollowing(url, headers, opts);
        if (res.statusCode === 416 && total !== undefined && have === total) {
          await res.body.dump();
          return;
        }
        if (res.statusCode !== 200 && res.statusCode !== 206) {
          const text = (await readBounded(res.body, 64 * 1024).catch(() => Buffer.alloc(0))).toString('utf8');
          throw new HttpStatusError(opts.what, res.statusCode, parseRetryAfter(res.headers['retry-after']), snippet(text));
        }
        const resEtag = header(res.headers.etag);
        try {
          if (res.statusCode === 206) {
            const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res.headers['content-range']) ?? '');
            if (!m || Number(m[1]) !== have) throw new BadAnswerError(`${opts.what}: the server resumed at the wrong offset`);
            if (m[3] !== '*') total = Number(m[3]);
            if (etag && resEtag && etag !== resEtag) throw new BadAnswerError(`${opts.what}: the file changed on the server during the download`);
            resumes++;
          } else {
            const length = header(res.headers['content-length']);
            total = length !== undefined ? Number(length) : undefined;
            if (total !== undefined && !Number.isSafeInteger(total)) throw new BadAnswerError(`${opts.what}: the server announced a length of ${snippet(String(length), 40)}`);
            if (have > 0) {
              resumes++; // the server ignored Range: start over
              await file.restart();
            }
          }
        } catch (err) {
          // Destroying a body nobody reads emits an 'error' that would otherwise be uncaught.
          res.body.once('error', () => undefined).destroy();
          throw err;
        }
        etag = resEtag ?? etag;
        opts.progress?.update(file.position);
        file.onWritten = (at) => opts.progress?.update(at);
        await pipeline(res.body, file.writer());
        if (total !== undefined && file.position !== total) {
          throw Object.assign(new Error(`${opts.what}: connection ended at ${file.position} of ${total} bytes`), { code: 'ECONNRESET' });
        }
      },
      {
        attempts: opts.attempts ?? 6,
        baseMs: opts.retryBaseMs ?? 1000,
        signal: opts.signal,
        retryable: retryableTransfer,
        onRetry: (err, attempt, delay) =>
          opts.log?.(`${opts.what} interrupted (${describeError(err)}); resuming (attempt ${attempt + 1}) in ${Math.round(delay / 1000)} s`),
      },
    );
    const bytes = file.position;
    const sha256 = file.digest();
    await fh.close();
    const { size } = await stat(part);
    if (size !== bytes) throw new BadAnswerError(`${opts.what}: ${size} bytes on disk, ${bytes} written`);
    if (total !== undefined && size !== total) throw new BadAnswerError(`${opts.what}: got ${size} bytes, the server announced ${total}`);
    await rename(part, dest);
    return { path: dest, bytes: size, sha256, resumes };
  } catch (err) {
    // A partial file left behind would look like a result: it goes when the download gives up.
    await fh.close().catch(() => undefined);
    await rm(part, { force: true }).catch(() => undefined);
    throw named(err, opts);
  }
}

/**
 * The partial download on disk and the SHA-256 of exactly what is on disk: bytes are hashed
 * once written, so after a cut the hash and `position` agree and a resume goes on from there.
 */
class HashedFile {
  position = 0;
  onWritten?: (position: number) => void;
  private readonly scavenger = new Scavenger();
  private hash: Hash = createHash('sha256');
  private inflight: Promise<unknown> = Promise.resolve();
  private readonly fh: FileHandle;

  constructor(fh: FileHandle) {
    this.fh = fh;
  }

  async restart(): Promise<void> {
    await this.inflight;
    await this.fh.truncate(0);
    this.position = 0;
    this.hash = createHash('sha256');
  }

  digest(): string {
    return this.hash.digest('hex');
  }

  /** A sink for one response body; queued chunks are written together with writev. */
  writer(): Writable {
    const write = (bufs: Buffer[], cb: (err?: Error | null) => void) => {
      const p = this.writeAll(bufs);
      this.inflight = p.catch(() => undefined);
      p.then(() => cb(), cb);
    };
    return new Writable({
      highWaterMark: WRITE_QUEUE,
      write: (chunk: Buffer, _enc, cb) => write([chunk], cb),
      writev: (chunks, cb) => write(chunks.map((c) => c.chunk as Buffer), cb),
      // A cut leaves the stream destroyed mid-write: the resume waits for that write to land.
      destroy: (err, cb) => void this.inflight.then(() => cb(err)),
    });
  }

  private async writeAll(bufs: Buffer[]): Promise<void> {
    let rest = bufs;
    while (rest.length) {
      const { bytesWritten } = await this.fh.writev(rest, this.position);
      let n = bytesWritten;
      const done: Buffer[] = [];
      while (rest.length && n >= rest[0].length) {
        n -= rest[0].length;
        done.push(rest[0]);
        rest = rest.slice(1);
      }
      if (n > 0) {
        done.push(rest[0].subarray(0, n));
        rest = [rest[0].subarray(n), ...rest.slice(1)];
      }
      if (bytesWritten === 0) throw new Error(`writing ${this.position} bytes into the download file made no progress`);
      for (const b of done) this.hash.update(b);
      this.position += bytesWritten;
      this.scavenger.moved(bytesWritten); // peak RSS: see scavenge.ts
      this.onWritten?.(this.position);
    }
  }
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

type Answer = Dispatcher.ResponseData;

async function getFollowing(url: string, headers: Record<string, string>, opts: DownloadOptions): Promise<Answer> {
  let current = url;
  for (let hop = 0; ; hop++) {
    opts.checkUrl(current);
    const res = await request(current, { method: 'GET', headers, signal: opts.signal, dispatcher: opts.dispatcher ?? dispatcher() });
    if (res.statusCode < 300 || res.statusCode >= 400 || res.statusCode === 304) return res;
    await res.body.dump().catch(() => undefined);
    const location = header(res.headers.location);
    if (!location) throw new BadAnswerError(`${opts.what}: redirect without a Location`);
    if (hop >= (opts.maxRedirects ?? 5)) throw new BadAnswerError(`${opts.what}: too many redirects`);
    current = new URL(location, current).toString();
  }
}

/** Makes sure a file exists and is readable, for clear errors before anything is sent. */
export async function assertReadable(file: string): Promise<void> {
  const fh = await open(file, 'r');
  await fh.close();
}
