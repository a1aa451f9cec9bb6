// Streaming HTTP transfers. Memory stays flat whatever the size: bodies flow through
// fixed-size chunks, nothing is buffered whole; SHA-256 is computed as the bytes pass.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rename, stat, rm, open } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { dispatcher, proxied, HttpStatusError, parseRetryAfter, readBounded, snippet, BadAnswerError } from '../http.ts';
import { withRetry, isTransientNetworkError } from '../retry.ts';
import type { ProgressSink } from './progress.ts';
import { FileSink } from './file-sink.ts';
import { directGet, directPost, type FileBody } from './direct-http.ts';

const CHUNK = 1024 * 1024;

function counting(onChunk: (chunk: Buffer) => void): Transform {
  return new Transform({
    highWaterMark: CHUNK,
    transform(chunk: Buffer, _enc, cb) {
      onChunk(chunk);
      cb(null, chunk);
    },
  });
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: CHUNK }), hash);
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
  /** 'direct' (direct-http.ts, the fast path) unless a proxy is configured; 'undici' otherwise. */
  client?: 'direct' | 'undici';
}

/** POSTs a file as application/octet-stream with Content-Length; retried whole after a cut. */
export async function uploadFile(url: string, file: string, opts: TransferOptions): Promise<UploadResult> {
  const { size } = await stat(file);
  const post = direct(opts) ? postDirect : postUndici;
  return withRetry(
    async (attempt) => {
      let sent = 0;
      opts.progress?.update(0);
      // SHA-256 of the bytes as they are sent, on this thread: the server limits an upload, not
      // this thread. Against a hashing thread reading the file again, 100 MiB went up in 425–463 ms
      // instead of 462–511 ms (curl 397–535 ms, 6 alternating rounds) with 70 MiB peak instead of 83.
      const hash = createHash('sha256');
      const headers = { 'content-type': 'application/octet-stream', 'user-agent': 'odoo-upgrade-action' };
      const body = {
        size,
        onRead: (block: Buffer) => void hash.update(block),
        onSent: (n: number) => {
          sent = n;
          opts.progress?.update(n);
        },
      };
      const { statusCode, retryAfter, text } = await post(url, file, headers, body, opts);
      if (statusCode < 200 || statusCode >= 300) {
        throw new HttpStatusError(opts.what, statusCode, parseRetryAfter(retryAfter), snippet(text));
      }
      if (sent !== size) throw new BadAnswerError(`${opts.what}: sent ${sent} bytes of ${size}`);
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
  );
}

/** The dump's transfers use direct-http.ts, unless a proxy is set (undici's proxy agent) or a caller says otherwise. */
function direct(opts: TransferOptions): boolean {
  return (opts.client ?? (proxied() ? 'undici' : 'direct')) === 'direct';
}

interface Posted {
  statusCode: number;
  retryAfter?: string | string[];
  text: string;
}

type UploadBody = Omit<FileBody, 'file'> & { onRead: (block: Buffer) => void };

async function postDirect(url: string, file: string, headers: Record<string, string>, body: UploadBody, opts: TransferOptions): Promise<Posted> {
  const fh = await open(file, 'r');
  try {
    const res = await directPost(url, headers, { ...body, file: fh }, { signal: opts.signal });
    return { statusCode: res.statusCode, retryAfter: res.headers['retry-after'], text: await res.text(1024 * 1024) };
  } finally {
    await fh.close();
  }
}

async function postUndici(url: string, file: string, headers: Record<string, string>, body: UploadBody, opts: TransferOptions): Promise<Posted> {
  let sent = 0;
  const counted = createReadStream(file, { highWaterMark: CHUNK }).pipe(
    counting((chunk) => {
      body.onRead(chunk);
      body.onSent?.((sent += chunk.length));
    }),
  );
  const res = await request(url, {
    method: 'POST',
    headers: { ...headers, 'content-length': String(body.size) },
    body: counted as Readable,
    signal: opts.signal,
    dispatcher: dispatcher(),
  });
  return { statusCode: res.statusCode, retryAfter: res.headers['retry-after'], text: (await readBounded(res.body, 1024 * 1024)).toString('utf8') };
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
  await rm(part, { force: true });
  let etag: string | undefined;
  let total: number | undefined;
  let resumes = 0;
  // Written on a thread of its own (file-sink.ts), started first so that it gets going while the
  // connection is made. Hashed here as it arrives (a resume continues the same hash): the main
  // thread has the CPU to spare since it no longer writes.
  const sink = new FileSink(part);
  let hash = createHash('sha256');
  // A partial file left behind would look like a result: it goes when the download gives up.
  const giveUp = async (err: unknown) => {
    await sink.close();
    await rm(part, { force: true }).catch(() => undefined);
    throw err;
  };
  try {
    await withRetry(
      async () => {
        const have = await sink.drain();
        const headers: Record<string, string> = { 'user-agent': 'odoo-upgrade-action', 'accept-encoding': 'identity' };
        if (have > 0) {
          headers.range = `bytes=${have}-`;
          if (etag) headers['if-range'] = etag;
        }
        const res = await getFollowing(url, headers, opts);
        if (res.statusCode === 416 && total !== undefined && have === total) {
          await res.close();
          return;
        }
        if (res.statusCode !== 200 && res.statusCode !== 206) {
          const text = await res.text(64 * 1024);
          throw new HttpStatusError(opts.what, res.statusCode, parseRetryAfter(res.headers['retry-after']), snippet(text));
        }
        const resEtag = header(res.headers.etag);
        if (res.statusCode === 206) {
          const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res.headers['content-range']) ?? '');
          if (!m || Number(m[1]) !== have) throw new BadAnswerError(`${opts.what}: the server resumed at the wrong offset`);
          if (m[3] !== '*') total = Number(m[3]);
          if (etag && resEtag && etag !== resEtag) throw new BadAnswerError(`${opts.what}: the file changed on the server during the download`);
          resumes++;
        } else {
          const length = header(res.headers['content-length']);
          total = length !== undefined ? Number(length) : undefined;
          if (have > 0) {
            resumes++; // the server ignored Range: start over
            await sink.restart();
            hash = createHash('sha256');
          }
        }
        etag = resEtag ?? etag;
        let done = res.statusCode === 206 ? have : 0;
        opts.progress?.update(done);
        await res.pipe((chunk) => {
          done += chunk.length;
          opts.progress?.update(done);
          hash.update(chunk);
          return sink.write(chunk);
        });
        if (total !== undefined && done !== total) {
          throw Object.assign(new Error(`${opts.what}: connection ended at ${done} of ${total} bytes`), { code: 'ECONNRESET' });
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
    const bytes = await sink.finish();
    const sha256 = hash.digest('hex');
    const { size } = await stat(part);
    if (size !== bytes) throw new BadAnswerError(`${opts.what}: ${size} bytes on disk, ${bytes} written`);
    if (total !== undefined && size !== total) throw new BadAnswerError(`${opts.what}: got ${size} bytes, the server announced ${total}`);
    await rename(part, dest);
    return { path: dest, bytes: size, sha256, resumes };
  } catch (err) {
    return giveUp(err);
  } finally {
    await sink.close();
  }
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** A response whose body is streamed to a callback, from either HTTP client. */
interface Answer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  /** Chunks are valid only during the call; a returned promise pauses the body until it settles. */
  pipe(write: (chunk: Uint8Array) => Promise<void> | undefined): Promise<void>;
  text(limit: number): Promise<string>;
  close(): Promise<void> | void;
}

async function get(url: string, headers: Record<string, string>, opts: DownloadOptions): Promise<Answer> {
  if (direct(opts)) return directGet(url, headers, { signal: opts.signal });
  const res = await request(url, { method: 'GET', headers, signal: opts.signal, dispatcher: dispatcher() });
  return {
    statusCode: res.statusCode,
    headers: res.headers,
    pipe: async (write) => {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        const full = write(chunk);
        if (full) await full;
      }
    },
    text: async (limit) => (await readBounded(res.body, limit).catch(() => Buffer.alloc(0))).toString('utf8'),
    close: () => res.body.dump(),
  };
}

async function getFollowing(url: string, headers: Record<string, string>, opts: DownloadOptions): Promise<Answer> {
  let current = url;
  for (let hop = 0; ; hop++) {
    opts.checkUrl(current);
    const res = await get(current, headers, opts);
    if (res.statusCode < 300 || res.statusCode >= 400 || res.statusCode === 304) return res;
    await res.close();
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
