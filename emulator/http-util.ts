// Small HTTP helpers shared by the API and the download URLs. Every byte counted here ends
// up in the call's record.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { CallRecord } from './server.ts';

export type Call = CallRecord;

export interface Failure { reason: string; message: string; [extra: string]: unknown }

export function failure(reason: string, message: string, extra: Record<string, unknown> = {}): Failure {
  return { reason, message, ...extra };
}

export function sendJson(res: ServerResponse, call: Call, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  call.httpStatus = status;
  call.bytesOut += body.length;
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

export function sendHtml(
  res: ServerResponse, call: Call, status: number, html: string,
  headers: Record<string, string | number> = {}, headOnly = false,
): void {
  const body = Buffer.from(html);
  call.httpStatus = status;
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': body.length, ...headers });
  if (headOnly) {
    res.end();
    return;
  }
  call.bytesOut += body.length;
  res.end(body);
}

/** A plain web-server error page, as a proxy or the framework would answer. */
export function errorPage(status: number, detail = ''): string {
  const title = `${status} ${STATUS_CODES[status] ?? 'Error'}`;
  return `<!DOCTYPE html>\n<html><head><title>${title}</title></head><body><h1>${title}</h1>${detail ? `<p>${detail}</p>` : ''}</body></html>\n`;
}

export function sendError(res: ServerResponse, call: Call, status: number, headers: Record<string, string | number> = {}, html?: string): void {
  sendHtml(res, call, status, html ?? errorPage(status), headers, call.via === 'HEAD');
}

/** Reads a small body whole; undefined when it is larger than `limit` (the rest is discarded). */
export function readBounded(req: IncomingMessage, call: Call, limit: number): Promise<Buffer | undefined> {
  // Events rather than for-await: leaving an async iterator early would destroy the socket.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      call.bytesIn += chunk.length;
      if (size > limit) over = true;
      if (!over) chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Drains a request body we will not read, so the connection can answer. */
export function discardBody(req: IncomingMessage, call: Call): void {
  req.on('data', (chunk: Buffer) => {
    call.bytesIn += chunk.length;
  });
  req.resume();
}
