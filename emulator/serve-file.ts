// Serves a file the way a download client must cope with: Content-Length, a strong ETag,
// single byte ranges (206/416, If-Range), HEAD, and an optional cut after N body bytes.
// Always streamed from disk.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Call } from './http-util.ts';
import { sendError } from './http-util.ts';

export interface FileToServe {
  path: string;
  contentType: string;
  /** Quoted strong ETag; default from size and mtime. */
  etag?: string;
  /** Suggested download name (Content-Disposition: attachment). */
  downloadName?: string;
}

export type RangeAnswer = { start: number; end: number } | 'unsatisfiable' | undefined;

/** One `bytes=` range; undefined (serve everything) for absent, malformed or multiple ranges. */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (!header) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined; // invalid: ignore, as RFC 9110 allows
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

export async function serveFile(
  req: IncomingMessage, res: ServerResponse, call: Call, file: FileToServe, cutAfter?: number,
): Promise<void> {
  const st = await stat(file.path);
  const size = st.size;
  const etag = file.etag ?? `"${size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const headers: Record<string, string | number> = {
    'Content-Type': file.contentType,
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Last-Modified': st.mtime.toUTCString(),
    'Cache-Control': 'private, no-store',
  };
  if (file.downloadName) headers['Content-Disposition'] = contentDisposition(file.downloadName);

  const ifRange = req.headers['if-range'];
  const rangeAllowed = ifRange === undefined || ifRange === etag;
  const range = rangeAllowed ? parseRange(req.headers.range, size) : undefined;
  if (req.headers.range) call.range = req.headers.range;
  if (range === 'unsatisfiable') {
    sendError(res, call, 416, { 'Content-Range': `bytes */${size}`, 'Accept-Ranges': 'bytes', ETag: etag });
    return;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  const length = Math.max(0, end - start + 1);
  const status = range ? 206 : 200;
  headers['Content-Length'] = length;
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  call.httpStatus = status;
  res.writeHead(status, headers);
  if (call.via === 'HEAD' || length === 0) {
    res.end();
    return;
  }

  const cut = cutAfter !== undefined && cutAfter < length ? cutAfter : undefined;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      call.bytesOut += chunk.length;
      cb(null, chunk);
    },
  });
  if (cut === undefined) {
    await pipeline(createReadStream(file.path, { start, end, highWaterMark: 1 << 20 }), count, res);
    return;
  }
  // The scenario's broken connection: exactly `cut` body bytes, then the socket closes.
  call.aborted = true;
  if (cut > 0) await pipeline(createReadStream(file.path, { start, end: start + cut - 1, highWaterMark: 1 << 20 }), count, res, { end: false });
  else res.flushHeaders();
  const socket = res.socket;
  socket?.end();
  setTimeout(() => socket?.destroy(), 1000).unref();
}

function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
