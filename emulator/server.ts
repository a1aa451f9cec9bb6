// A local emulator of Odoo's Upgrade Platform (Database Upgrade API v1) on real HTTP or
// HTTPS sockets: the base of the integration tests, the demo and the benchmarks. It keeps
// every request's truth in `requests`, logs every call (never a key) in `records`, and
// injects faults from a scenario. Bodies are streamed from and to disk, never buffered.
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultCertDir, ensureCerts } from './certs.ts';
import { handleDownload, methodOfResource, RESOURCES, type Resource } from './downloads.ts';
import { discardBody, errorPage, sendError } from './http-util.ts';
import { Builder } from './processing.ts';
import type { EmulatorPostgres } from './postgres.ts';
import { ScenarioRuntime } from './scenario.ts';
import type { Outcome, Timing } from './states.ts';
import type { Env } from './context.ts';
import { handleV1, V1_METHODS } from './v1.ts';

export interface EmulatorOptions {
  tls?: boolean; // HTTPS with a server cert for 127.0.0.1 + localhost signed by a local CA (made with the `openssl` CLI)
  certDir?: string; // where ca.pem / server key+cert are made once and reused (default: os.tmpdir()/odoo-upgrade-emulator-certs)
  host?: string; // default 127.0.0.1
  port?: number; // default 0 (ephemeral)
  dataDir?: string; // uploads and results (default: a fresh mkdtemp, removed on close)
  timing?: Partial<{ pendingMs: number; processingMs: number; testingMs: number }>; // how long each state lasts (defaults 200/400/300)
  scenario?: Scenario;
  log?: (line: string) => void;
  /**
   * PostgreSQL for real upgraded SQL: false = always marked copies; true (default) = a scratch server of
   * its own, started at the first create and stopped at close; an EmulatorPostgres = that one, shared with
   * other emulators of the process (its owner closes it).
   */
  postgres?: boolean | EmulatorPostgres;
}

export interface Scenario {
  outcome?: 'done' | 'delivered' | 'failed' | 'cancelled' | 'invalid'; // final state (default 'done')
  customerMessage?: string; // shown with invalid/failed (default a sensible text)
  createFailures?: Array<Record<string, unknown>>; // create answers HTTP 200 {failures:[...]} and creates nothing
  httpErrors?: Array<{ method: string; status: number; retryAfter?: number; count: number; body?: string }>;
  // method: 'create'|'upload'|'process'|'status'|'skip_test'|'request_sftp_access'|'download'|'notes'|'*'.
  // the next `count` calls of that method answer `status` (with Retry-After seconds when given, body default small HTML) and do nothing else
  cutUploadAfterBytes?: number; // the FIRST upload: destroy the socket after this many body bytes (the partial upload is discarded)
  cutDownloadAfterBytes?: number; // the first GET of each download URL: destroy the socket after this many body bytes
  slowMs?: number; // delay before every answer
  v1Missing?: boolean; // every /database/v1/* answers 404 (an api:auto client then falls back to another protocol)
  notesHtml?: string; // override the notes document
  // Added:
  cutCreateAnswer?: boolean; // create is carried out (the request exists), then the connection is cut before any answer
  statusUrls?: Partial<Record<string, string>>; // status answers carry these *_url values instead (hostile-answer tests)
  /**
   * The next `count` calls of `method` (a v1 method, 'download', 'notes' or '*') get no answer: 'reset' reads the
   * request and destroys the connection; 'hang' holds it open, unanswered, until the client gives up (or close()).
   */
  dropCalls?: Array<{ method: string; count: number; how: 'reset' | 'hang' }>;
  /** Every GET of the upgraded dump (archive or sql) is cut after this many body bytes, resumed ones included. */
  cutEveryDumpDownloadAfterBytes?: number;
}

export interface CallRecord {
  method: string; // a v1 method, 'download', 'notes', 'status_page' or 'unknown'
  at: number;
  httpStatus: number; // 0 when the connection was cut before an answer
  requestId?: string;
  bytesIn: number;
  bytesOut: number; // body bytes
  contentType?: string; // of the request
  via: 'GET' | 'POST' | 'HEAD'; // any other verb is recorded as POST, with httpMethod telling which
  /** Added: the path with the request key replaced by *** (no query string). */
  path: string;
  httpMethod: string;
  /** Added: the connection was cut (scenario) or closed before the answer was complete. */
  aborted?: boolean;
  range?: string;
  durationMs?: number;
}

export interface EmuRequest {
  id: string; key: string; contract: string; email: string; target: string; aim: string; filename: string; timezone: string | null;
  state: string; history: Array<{ state: string; at: number }>;
  uploadedPath?: string; uploadedBytes: number; uploadedSha256?: string;
  uploads: number; // HTTPS upload attempts that reached the body, cut or failed ones included
  upgradedArchivePath?: string; upgradedArchiveSha256?: string; upgradedSqlPath?: string; upgradedSqlSha256?: string; notesHtml: string;
  // Added: the facts `state` and `history` are computed from (see states.ts) ...
  createdAt: number;
  timing: Timing;
  outcome: Outcome; // from the scenario at `process`
  customerMessage: string | null;
  processedAt?: number;
  skippedAt?: number;
  builtAt?: number;
  buildFailedAt?: number;
  buildError?: string;
  // ... and the rest of what the status answer shows or the files served.
  dir: string; // this request's folder in the data dir
  issue: number;
  compressions: string[];
  uploadedMtimeMs?: number;
  databaseVersion: string;
  postgresql: string;
  notesPath?: string; notesSha256?: string;
  modulesArchivePath?: string; modulesArchiveSha256?: string;
  generatedSql?: boolean; // dump.sql is generated filler (the upload was not plain SQL)
  markedCopy?: string; // dump.sql is a marked copy of the upload, not real upgraded SQL: why
  sftp?: SftpAccessInfo;
  /** When the upgraded dump was placed on the request's SFTP server as upgraded_<filename>. */
  sftpPublishedAt?: number;
}

export interface SftpAccessInfo {
  hostname: string;
  port: number;
  user: string;
  sharedFile: string;
  /**
   * The host folder the SFTP user sees as `/` (root-owned). When given, the emulator places the
   * upgraded dump there as `upgraded_<sharedFile>` once the request succeeded, as the platform
   * does (the seed's "Downloading your database dump" over SFTP).
   */
  root?: string;
}

export interface Emulator {
  url: string; // e.g. https://127.0.0.1:40123 (no trailing slash); the platform-url a client uses
  caFile?: string; // with tls: path of the CA certificate (clients use NODE_EXTRA_CA_CERTS=caFile)
  records: CallRecord[];
  requests: Map<string, EmuRequest>; // by id
  setScenario(s: Scenario): void; // replaces the scenario for calls from now on (fresh cut/error counters)
  /**
   * Hook for later work (SFTP): called by request_sftp_access; when unset that method answers a failure "SFTP:UNAVAILABLE".
   * The provider may point `req.uploadedPath` at the file it receives: `status` and `process` take in whatever is there then.
   */
  sftpProvider?: (req: EmuRequest, authorizedKeys: string) => Promise<SftpAccessInfo>;
  /** Test hook: called once the upgraded dump was placed on the request's SFTP server (see SftpAccessInfo.root). */
  onSftpPublished?: (req: EmuRequest, remotePath: string) => Promise<void> | void;
  close(): Promise<void>;
  /** Added: the data dir in use. */
  dataDir: string;
}

// Data dirs we made and have not removed yet: a process that exits without close() (a crashed
// test) must not leave gigabytes of dumps behind.
const ownedDirs = new Set<string>();
let exitHookSet = false;
function removeOnExit(dir: string): void {
  ownedDirs.add(dir);
  if (exitHookSet) return;
  exitHookSet = true;
  process.once('exit', () => {
    for (const d of ownedDirs) rmSync(d, { recursive: true, force: true });
  });
}

const DEFAULT_TIMING: Timing = { pendingMs: 200, processingMs: 400, testingMs: 300 };
const V1_PATH = /^\/database\/v1\/([^/]*)\/?$/;
const KEYED_PATH = /^\/database\/eu1\/([^/]+)\/([^/]+)\/(.+?)\/?$/;

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const log = opts.log ?? (() => {});
  const timing: Timing = { ...DEFAULT_TIMING, ...opts.timing };
  const certs = opts.tls ? await ensureCerts(opts.certDir ?? defaultCertDir()) : undefined;
  const ownsDataDir = !opts.dataDir;
  const dataDir = opts.dataDir ? path.resolve(opts.dataDir) : await mkdtemp(path.join(os.tmpdir(), 'odoo-upgrade-emulator-'));
  await mkdir(dataDir, { recursive: true });
  if (ownsDataDir) removeOnExit(dataDir);

  const server = certs
    ? https.createServer({ key: await readFile(certs.keyFile), cert: await readFile(certs.certFile) })
    : http.createServer();
  server.requestTimeout = 0; // multi-gigabyte uploads outlast the default 5 minutes
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const runtime = new ScenarioRuntime(opts.scenario ?? {});
  const drops = new DropCounter(opts.scenario ?? {});
  const builder = new Builder(log, opts.postgres ?? true);
  const records: CallRecord[] = [];
  const requests = new Map<string, EmuRequest>();
  const inflight = new Set<Promise<void>>();
  let lastId = 10534;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${certs ? 'https' : 'http'}://${host}:${addr.port}`;

  let closing: Promise<void> | undefined;
  const emulator: Emulator = {
    url,
    caFile: certs?.caFile,
    records,
    requests,
    dataDir,
    setScenario: (s) => {
      runtime.set(s);
      drops.set(s);
    },
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await closed;
        await Promise.allSettled(inflight);
        await builder.close();
        if (ownsDataDir) {
          await rm(dataDir, { recursive: true, force: true });
          ownedDirs.delete(dataDir);
        }
        log('emulator stopped');
      })();
      return closing;
    },
  };
  const env: Env = { url, dataDir, timing, requests, runtime, builder, emulator, nextId: () => ++lastId, log };

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const call = startRecord(req);
    records.push(call);
    res.on('close', () => {
      call.durationMs = Date.now() - call.at;
      if (!res.writableFinished) call.aborted = true;
      log(`${call.httpMethod} ${call.path} -> ${call.httpStatus || 'cut'} (${call.bytesIn} B in, ${call.bytesOut} B out, ${call.durationMs} ms)`);
    });
    const done = route(env, req, res, call, drops)
      .catch((err: unknown) => {
        if (res.destroyed || req.socket.destroyed) {
          call.aborted = true; // the client went away (or close() cut it): nothing to answer
          return;
        }
        log(`internal error on ${call.path}: ${(err as Error).stack ?? err}`);
        if (!res.headersSent) sendError(res, call, 500);
        else res.destroy();
      })
      .finally(() => inflight.delete(done));
    inflight.add(done);
  });

  log(`emulator listening on ${url}${certs ? ` (CA: ${certs.caFile})` : ''}`);
  return emulator;
}

function startRecord(req: http.IncomingMessage): CallRecord {
  const u = new URL(req.url ?? '/', 'http://emulator.invalid');
  const m = req.method ?? 'GET';
  const v1 = V1_PATH.exec(u.pathname);
  const keyed = KEYED_PATH.exec(u.pathname);
  let method = 'unknown';
  let requestId: string | undefined;
  let shownPath = u.pathname;
  if (v1) {
    method = /^[a-z_]{1,40}$/.test(v1[1]!) ? v1[1]! : 'unknown';
    requestId = u.searchParams.get('request') ?? undefined;
  } else if (keyed) {
    method = (RESOURCES as readonly string[]).includes(keyed[3]!) ? methodOfResource(keyed[3]!) : 'unknown';
    requestId = keyed[1];
    shownPath = `/database/eu1/${keyed[1]}/***/${keyed[3]}`;
  } else if (/^\/database\/[^/]+\/[^/]+\/[^/]+/.test(u.pathname)) {
    shownPath = u.pathname.replace(/^(\/database\/[^/]+\/[^/]+\/)[^/]+/, '$1***'); // may hold a key
  }
  return {
    method,
    at: Date.now(),
    httpStatus: 0,
    ...(requestId ? { requestId } : {}),
    bytesIn: 0,
    bytesOut: 0,
    ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
    via: m === 'GET' || m === 'HEAD' ? m : 'POST',
    path: shownPath,
    httpMethod: m,
  };
}

async function route(env: Env, req: http.IncomingMessage, res: http.ServerResponse, call: CallRecord, drops: DropCounter): Promise<void> {
  const sc = env.runtime.scenario;
  if (sc.slowMs) await sleep(sc.slowMs);
  const u = new URL(req.url ?? '/', 'http://emulator.invalid');
  const v1 = V1_PATH.exec(u.pathname);
  const keyed = KEYED_PATH.exec(u.pathname);
  const known = (v1 && V1_METHODS.includes(call.method)) || (keyed && call.method !== 'unknown');
  if (!known || (v1 && sc.v1Missing)) {
    discardBody(req, call);
    sendError(res, call, 404);
    return;
  }
  const drop = drops.take(call.method);
  if (drop) return dropCall(req, res, call, drop);
  if (sc.cutEveryDumpDownloadAfterBytes !== undefined && req.method === 'GET' && /\/upgraded\/(archive|sql)\/?$/.test(u.pathname)) {
    cutBodyAfter(res, sc.cutEveryDumpDownloadAfterBytes);
  }
  const injected = env.runtime.takeHttpError(call.method);
  if (injected) {
    discardBody(req, call);
    const headers: Record<string, string | number> = {};
    if (injected.retryAfter !== undefined) headers['Retry-After'] = String(injected.retryAfter);
    sendError(res, call, injected.status, headers, injected.body ?? errorPage(injected.status));
    return;
  }
  if (v1) {
    if (req.method !== 'GET' && req.method !== 'POST') {
      discardBody(req, call);
      sendError(res, call, 405, { Allow: 'GET, POST' });
      return;
    }
    await handleV1(env, call.method, req, res, call, u);
    return;
  }
  let key: string;
  try {
    key = decodeURIComponent(keyed![2]!);
  } catch {
    sendError(res, call, 404);
    return;
  }
  await handleDownload(env, decodeURIComponent(keyed![1]!), key, keyed![3] as Resource, req, res, call);
}

/** What is left of the scenario's dropped calls; counters start afresh with each scenario. */
class DropCounter {
  private list: NonNullable<Scenario['dropCalls']> = [];
  private left: number[] = [];

  constructor(s: Scenario) {
    this.set(s);
  }

  set(s: Scenario): void {
    this.list = s.dropCalls ?? [];
    this.left = this.list.map((d) => Math.max(0, Math.floor(d.count)));
  }

  take(method: string): 'reset' | 'hang' | undefined {
    for (let i = 0; i < this.list.length; i++) {
      const d = this.list[i]!;
      if ((d.method === method || d.method === '*') && this.left[i]! > 0) {
        this.left[i]!--;
        return d.how;
      }
    }
    return undefined;
  }
}

// A call that never gets an answer: the request is read whole (it reached the server), then
// the connection is destroyed, or held until the client gives up.
async function dropCall(req: http.IncomingMessage, res: http.ServerResponse, call: CallRecord, how: 'reset' | 'hang'): Promise<void> {
  call.aborted = true;
  await new Promise<void>((resolve) => {
    req.on('data', (c: Buffer) => (call.bytesIn += c.length));
    req.once('end', resolve);
    req.once('error', resolve);
    req.once('close', resolve);
  });
  if (how === 'reset') {
    req.socket.destroy();
    return;
  }
  if (res.destroyed || req.socket.destroyed) return;
  await new Promise<void>((resolve) => res.once('close', () => resolve()));
}

/** Lets `limit` body bytes of this answer through, then destroys the connection. */
function cutBodyAfter(res: http.ServerResponse, limit: number): void {
  let sent = 0;
  const write = res.write.bind(res) as (chunk: Buffer, cb?: (err?: Error | null) => void) => boolean;
  const cut = () => setImmediate(() => res.socket?.destroy());
  res.write = ((chunk: string | Uint8Array, encoding?: unknown, cb?: unknown) => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : Buffer.from(chunk);
    const done = typeof encoding === 'function' ? encoding : cb;
    const room = limit - sent;
    if (room <= 0) return false;
    if (buf.length < room) {
      sent += buf.length;
      return write(buf, done as (err?: Error | null) => void);
    }
    sent = limit;
    write(buf.subarray(0, room));
    cut();
    return false;
  }) as typeof res.write;
}
