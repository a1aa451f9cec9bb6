// HTTP/1.1 over a connection of its own, for the large transfers: a file's download, and a
// dump's upload. Node's HTTP clients hand every 16 KiB TLS record to JavaScript as a new
// Buffer, through a stream and an HTTP parser: ~0.75 s of CPU per GiB here with undici, where
// reading the same records into one reused buffer (`onread`) costs ~0.28 s (curl: ~0.5 s).
// Uploads send the file from four reused buffers, where a read stream makes a new one per
// chunk for the garbage collector. Measured in bench/. It speaks only what these transfers
// need: one request per connection (Connection: close), Content-Length, chunked or
// close-delimited answers. Proxies are undici's job: callers use this only when none is set.
import net from 'node:net';
import tls from 'node:tls';
import type { FileHandle } from 'node:fs/promises';

export interface DirectOptions {
  signal?: AbortSignal;
  /** Until the TLS handshake is done. */
  connectTimeoutMs?: number;
  /** From the request to the end of the response's headers. */
  headersTimeoutMs?: number;
  /** Longest silence while a body flows (either way). */
  bodyTimeoutMs?: number;
}

/** A request body sent from an open file. */
export interface FileBody {
  file: FileHandle;
  size: number;
  /** Called as the kernel takes bytes: how many so far. */
  onSent?: (bytes: number) => void;
  /** Sees each block as it is read from the file, in order, before it is sent. */
  onRead?: (block: Buffer) => void;
}

const SEND_BUFFERS = 4;
const SEND_CHUNK = 256 * 1024;

export interface DirectResponse {
  statusCode: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /**
   * Streams the body to `write`. A chunk is valid only during the call (the read buffer is
   * reused). A returned promise pauses reading until it settles. Resolves once the whole body
   * has been handed over; rejects with code ECONNRESET if the connection ends before.
   */
  pipe(write: (chunk: Uint8Array) => Promise<void> | undefined): Promise<void>;
  /** The first `limit` bytes of the body as text (for error answers), then closes. */
  text(limit: number): Promise<string>;
  close(): void;
}

const READ_BUFFER = 64 * 1024;
const MAX_HEAD = 64 * 1024;

class Failure extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

type Framing = { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' } | { kind: 'none' };

export function directGet(url: string, headers: Record<string, string>, opts: DirectOptions = {}): Promise<DirectResponse> {
  return directRequest('GET', url, headers, undefined, opts);
}

/** POSTs `body` (Content-Length set from its size); resolves with the answer once its headers are in. */
export function directPost(url: string, headers: Record<string, string>, body: FileBody, opts: DirectOptions = {}): Promise<DirectResponse> {
  return directRequest('POST', url, { ...headers, 'content-length': String(body.size) }, body, opts);
}

function directRequest(method: string, url: string, headers: Record<string, string>, upload: FileBody | undefined, opts: DirectOptions): Promise<DirectResponse> {
  const u = new URL(url);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return Promise.reject(new Error(`unsupported protocol ${u.protocol}`));
  const lines = [`${method} ${u.pathname}${u.search} HTTP/1.1`, `host: ${u.host}`];
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name + value)) return Promise.reject(new Error(`header ${name}: line breaks are not allowed`));
    lines.push(`${name}: ${value}`);
  }
  lines.push('connection: close', '', '');
  const requestText = lines.join('\r\n');
  return new Promise<DirectResponse>((resolveHead, rejectHead) => {
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const port = Number(u.port) || (u.protocol === 'https:' ? 443 : 80);
    const buffer = Buffer.allocUnsafe(READ_BUFFER);
    let head: Buffer[] = [];
    let headBytes = 0;
    let response: DirectResponse | undefined;
    let framing: Framing = { kind: 'none' };
    // Chunked framing: what is being read (a size line, data, the CRLF after it, trailers).
    let chunkState: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
    let chunkLeft = 0;
    let line = '';
    let received = 0;
    let finished = false;
    let early: Buffer[] = []; // body bytes that came with the headers, before pipe()
    let writer: ((chunk: Uint8Array) => Promise<void> | undefined) | undefined;
    let settleBody: { resolve: () => void; reject: (err: unknown) => void } | undefined;
    let bodyError: unknown;
    let paused = false;

    const onread = { buffer, callback: (n: number, buf: Buffer) => onData(buf.subarray(0, n)) };
    // tls.connect takes `onread` like net.connect (Node's docs; its types lack it).
    const tlsOptions = { host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'], onread };
    const socket: net.Socket = u.protocol === 'https:' ? tls.connect(tlsOptions) : net.connect({ host, port, onread });
    const connected = u.protocol === 'https:' ? 'secureConnect' : 'connect';
    socket.setTimeout(opts.connectTimeoutMs ?? 30_000);
    socket.once(connected, () => {
      socket.write(requestText);
      if (!upload) return void socket.setTimeout(opts.headersTimeoutMs ?? 120_000);
      socket.setTimeout(opts.bodyTimeoutMs ?? 300_000);
      send(upload).then(
        () => !response && !finished && socket.setTimeout(opts.headersTimeoutMs ?? 120_000),
        (err) => fail(err),
      );
    });
    socket.on('timeout', () => {
      const what = !response ? 'no answer' : 'nothing more of the body';
      fail(new Failure(`${u.host} sent ${what} for ${Math.round(socketTimeout() / 1000)} s`, 'ETIMEDOUT'));
    });
    socket.on('error', (err) => fail(err));
    socket.on('close', () => {
      if (finished) return;
      if (framing.kind === 'close' && response) return done();
      const where = response ? `after ${received} bytes of the body` : 'before the answer';
      fail(new Failure(`${u.host} closed the connection ${where}`, 'ECONNRESET'));
    });
    const onAbort = () => fail(opts.signal!.reason ?? new Error('aborted'));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    /** Sends the file from a few reused buffers; stops early if the answer comes first. */
    async function send(body: FileBody): Promise<void> {
      const free = Array.from({ length: SEND_BUFFERS }, () => Buffer.allocUnsafe(SEND_CHUNK));
      let wake: (() => void) | undefined;
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      let sent = 0;
      for (let pos = 0; pos < body.size; ) {
        while (!free.length && !finished && !response) await Promise.race([new Promise<void>((r) => (wake = r)), closed]);
        if (finished || response) return; // an early answer (an error, most likely) or a failure
        const buf = free.pop()!;
        const { bytesRead } = await body.file.read(buf, 0, Math.min(SEND_CHUNK, body.size - pos), pos);
        if (bytesRead === 0) throw new Failure(`the file to send ended at ${pos} of ${body.size} bytes`, 'ERR_FILE_CHANGED');
        if (finished || response) return;
        pos += bytesRead;
        body.onRead?.(buf.subarray(0, bytesRead));
        const more = socket.write(buf.subarray(0, bytesRead), (err) => {
          free.push(buf);
          if (!err) body.onSent?.((sent += bytesRead));
          wake?.();
        });
        if (!more) await Promise.race([new Promise<void>((r) => socket.once('drain', () => r())), closed]);
      }
    }

    function socketTimeout(): number {
      return (socket as unknown as { timeout?: number }).timeout ?? 0;
    }

    function fail(err: unknown): void {
      if (finished) return;
      finished = true;
      opts.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (!response) return rejectHead(err);
      bodyError = err;
      settleBody?.reject(err);
    }

    function done(): void {
      if (finished) return;
      finished = true;
      opts.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      settleBody?.resolve();
    }

    function onData(data: Buffer): boolean {
      if (finished) return false;
      if (!response) {
        data = readHead(data)!;
        if (!data) return !finished;
        if (!writer) {
          // The caller decides what to do with the body: hold on to it until pipe() or text().
          if (data.length) early.push(Buffer.from(data));
          socket.pause();
          return false;
        }
      }
      body(data);
      return !paused && !finished;
    }

    /** Collects the status line and headers; returns the bytes after them once complete. */
    function readHead(data: Buffer): Buffer | undefined {
      head.push(Buffer.from(data));
      headBytes += data.length;
      const all = Buffer.concat(head);
      const end = all.indexOf('\r\n\r\n');
      if ((end < 0 ? headBytes : end) > MAX_HEAD) {
        fail(new Failure(`the answer of ${u.host} has over ${MAX_HEAD} bytes of headers`, 'EPROTO'));
        return undefined;
      }
      if (end < 0) return undefined;
      const [status, ...fields] = all.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(status);
      if (!m) {
        fail(new Failure(`${u.host} did not answer in HTTP/1.1`, 'EPROTO'));
        return undefined;
      }
      const statusCode = Number(m[1]);
      const rest = all.subarray(end + 4);
      head = [];
      headBytes = 0;
      if (statusCode >= 100 && statusCode < 200) return rest.length ? readHead(rest) : undefined; // 100 Continue and the like
      const h: Record<string, string> = {};
      for (const f of fields) {
        const colon = f.indexOf(':');
        if (colon <= 0) continue;
        const name = f.slice(0, colon).trim().toLowerCase();
        const value = f.slice(colon + 1).trim();
        h[name] = h[name] !== undefined ? `${h[name]}, ${value}` : value;
      }
      if (statusCode === 204 || statusCode === 304) framing = { kind: 'none' };
      else if (/\bchunked\b/i.test(h['transfer-encoding'] ?? '')) framing = { kind: 'chunked' };
      else if (h['content-length'] !== undefined) {
        const left = Number(h['content-length']);
        if (!Number.isSafeInteger(left) || left < 0) {
          fail(new Failure(`${u.host} sent a bad Content-Length`, 'EPROTO'));
          return undefined;
        }
        framing = { kind: 'length', left };
      } else framing = { kind: 'close' };
      socket.setTimeout(opts.bodyTimeoutMs ?? 300_000);
      response = {
        statusCode,
        headers: h,
        pipe: (write) => {
          writer = write;
          const p = new Promise<void>((resolve, reject) => (settleBody = { resolve, reject }));
          if (bodyError) settleBody!.reject(bodyError);
          else if (finished) settleBody!.resolve();
          else {
            const held = early;
            early = [];
            for (const b of held) body(b);
            if (framing.kind === 'none' || (framing.kind === 'length' && framing.left === 0)) done();
            else if (!paused && !finished) socket.resume();
          }
          return p;
        },
        text: async (limit) => {
          const parts: Buffer[] = [];
          let size = 0;
          await response!
            .pipe((c) => {
              if (size < limit) parts.push(Buffer.from(c.subarray(0, limit - size)));
              size += c.length;
              if (size >= limit) done();
              return undefined;
            })
            .catch(() => undefined);
          return Buffer.concat(parts).toString('utf8');
        },
        close: () => done(),
      };
      resolveHead(response);
      return rest;
    }

    function body(data: Buffer): void {
      if (framing.kind === 'chunked') return chunked(data);
      if (framing.kind === 'length') {
        if (data.length > framing.left) data = data.subarray(0, framing.left);
        framing.left -= data.length;
        emit(data);
        if (framing.left === 0) done();
        return;
      }
      if (framing.kind === 'close') return emit(data);
      done();
    }

    function chunked(data: Buffer): void {
      let i = 0;
      while (i < data.length && !finished) {
        if (chunkState === 'data') {
          const n = Math.min(chunkLeft, data.length - i);
          emit(data.subarray(i, i + n));
          i += n;
          chunkLeft -= n;
          if (chunkLeft === 0) chunkState = 'crlf';
          continue;
        }
        const nl = data.indexOf(10, i);
        const piece = data.subarray(i, nl < 0 ? data.length : nl + 1).toString('latin1');
        i += piece.length;
        line += piece;
        if (line.length > 4096) return fail(new Failure(`${u.host} sent a malformed chunked body`, 'EPROTO'));
        if (nl < 0) continue;
        const text = line.replace(/\r?\n$/, '');
        line = '';
        if (chunkState === 'crlf') {
          if (text !== '') return fail(new Failure(`${u.host} sent a malformed chunked body`, 'EPROTO'));
          chunkState = 'size';
        } else if (chunkState === 'size') {
          const size = /^([0-9a-fA-F]{1,12})\s*(;.*)?$/.exec(text);
          if (!size) return fail(new Failure(`${u.host} sent a malformed chunk size`, 'EPROTO'));
          chunkLeft = parseInt(size[1], 16);
          chunkState = chunkLeft === 0 ? 'trailer' : 'data';
        } else if (text === '') {
          return done(); // the empty line after the trailers
        }
      }
    }

    function emit(chunk: Buffer): void {
      if (!chunk.length) return;
      received += chunk.length;
      const wait = writer!(chunk);
      if (!wait || paused) return;
      paused = true;
      socket.pause();
      socket.setTimeout(0); // waiting for the disk is no silence of the server
      wait.then(
        () => {
          paused = false;
          if (finished) return;
          socket.setTimeout(opts.bodyTimeoutMs ?? 300_000);
          socket.resume();
        },
        (err) => fail(err),
      );
    }
  });
}
