// The protocol of Odoo's own upgrade script (`python <(curl -s https://upgrade.odoo.com/upgrade)`):
// JSON-RPC calls to the entry server, then to the node that holds the request, and rsync over
// SSH to that node's data server, authenticated by the key pair whose public half went with
// `create` and pinned to the host keys `transfer/start` returns.
import { isLoopbackHost } from '../net/url-policy.ts';
import path from 'node:path';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { request } from 'undici';
import { callJson, dispatcher, HttpStatusError, BadAnswerError, parseRetryAfter, snippet } from '../net/http.ts';
import { withRetry, neverReachedServer } from '../net/retry.ts';
import { sha256File } from '../transfer/http.ts';
import { rsyncTransfer, assertRsyncTools, type RsyncJob, type SshTarget } from '../transfer/rsync.ts';
import { loadOrCreateKeyPair, makeKeyDir, writeKeyFiles, type KeyFiles, type KeyPair } from '../transfer/ssh-keys.ts';
import { redactAnswer, type SecretRegistry } from '../secrets.ts';
import type { DumpInfo } from '../formats/inspect.ts';
import {
  EndpointMissingError, PlatformError,
  type CreateParams, type DownloadedFile, type Platform, type RequestRef, type Status, type TransferContext, type UploadResult,
} from './types.ts';
import * as core from '@actions/core';
import {
  CALL_TIMEOUT_MS, callSignal, callTimeoutError, kindOf, objectOf, optionalText, phaseOf, platformText, requestIdOf, retryableCall, retryDetail, statusLost,
} from './common.ts';

export interface RpcOptions {
  serverUrl: string;
  secrets: SecretRegistry;
  download: boolean;
  sshPrivateKey: string;
  envVars: string[];
  contract: string;
  /** Tests shorten the waits between retries. */
  retryBaseMs?: number;
  /** Bound on one JSON-RPC call (default 60 s, as Odoo's script); tests shorten it. */
  callTimeoutMs?: number;
}

const DATA_USER = 'odoo';
const DATA_DIR = '/data';
const MAX_LOG_BYTES = 1024 * 1024;
const RPC_SUCCESS = ['done'];
const RPC_FAILURE = ['failed', 'cancelled'];

/** A status result: `status` must be a state name; `reason` is the platform's text, redacted. */
export function mapRpcStatus(result: Record<string, unknown>): Status {
  if (typeof result.status !== 'string' || !result.status.trim()) {
    throw new BadAnswerError(`status: the platform answered without a status (the status is ${kindOf(result.status)})`);
  }
  const state = result.status.trim().toLowerCase().slice(0, 100);
  return { state, phase: phaseOf(state, RPC_SUCCESS, RPC_FAILURE), message: optionalText(result.reason), raw: result };
}

/**
 * Any JSON-RPC answer once it is a JSON object: an error (either form) is the platform's
 * refusal, an HTTP error without one is an HttpStatusError (404/405/410: the endpoint is
 * missing), and `result` is what the call returns (an empty object when it is not an object).
 */
export function parseRpcAnswer(what: string, httpStatus: number, body: Record<string, unknown>, host: string): Record<string, unknown> {
  const error = rpcErrorText(body);
  if (error !== undefined) throw new PlatformError(`The platform refused ${what}: ${error}`, [], httpStatus >= 500);
  if (httpStatus >= 400) {
    if ([404, 405, 410].includes(httpStatus)) throw new EndpointMissingError(`${what}: the rpc endpoint does not exist on ${host} (HTTP ${httpStatus})`);
    throw new HttpStatusError(what, httpStatus, undefined, '');
  }
  if (!('result' in body)) throw new BadAnswerError(`${what}: the platform answered JSON without a result`);
  return objectOf(body.result) ?? {};
}

/** The create result: id, token and node, or a BadAnswerError (the request may exist all the same). */
export function parseRpcCreate(result: Record<string, unknown>): { id: string; token: string; hostUri: string; info?: string } {
  const token = typeof result.token === 'string' ? result.token.trim() : '';
  const id = requestIdOf(result.request_id);
  const hostUri = typeof result.assigned_host_uri === 'string' ? result.assigned_host_uri.trim() : '';
  if (id === undefined || !token || /\s/.test(token) || !hostUri) {
    throw new BadAnswerError(
      `create: the platform answered without a usable request_id, token and assigned_host_uri (request_id is ${kindOf(result.request_id)}, ` +
        `token is ${token ? 'malformed' : kindOf(result.token)}, assigned_host_uri is ${kindOf(result.assigned_host_uri)})`,
    );
  }
  return { id, token, hostUri, info: optionalText(result.info) };
}

export interface TransferStart {
  port: number;
  knownHosts: string;
  dumpName?: string;
}

/** transfer/start: the data server's SSH port, its known_hosts lines and (download) the dump's name. */
export function parseTransferStart(result: Record<string, unknown>, type: 'upload' | 'download'): TransferStart {
  const p = result.ssh_port;
  const port = typeof p === 'number' || (typeof p === 'string' && /^\s*\d{1,5}\s*$/.test(p)) ? Number(p) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new BadAnswerError(`transfer/start: the platform gave no usable ssh_port (${typeof p === 'string' || typeof p === 'number' ? `"${platformText(p, 40)}"` : `it is ${kindOf(p)}`})`);
  }
  const kh = result.known_hosts;
  if (Array.isArray(kh) && kh.some((l) => typeof l !== 'string')) throw new BadAnswerError('transfer/start: the platform gave known_hosts lines that are not text');
  if (kh !== undefined && kh !== null && typeof kh !== 'string' && !Array.isArray(kh)) {
    throw new BadAnswerError(`transfer/start: the platform's known_hosts is ${kindOf(kh)}, not text`);
  }
  const knownHosts = knownHostsText(kh);
  if (!knownHosts) throw new PlatformError("transfer/start: the platform gave no known_hosts lines for its data server; refusing to connect without checking the server's identity.");
  if (type === 'upload') return { port, knownHosts };
  const dumpName = safeName(result.dump_name);
  if (!dumpName) {
    const d = result.dump_name;
    throw new BadAnswerError(`transfer/start: the platform gave no usable dump_name (${typeof d === 'string' ? `"${platformText(d, 60)}"` : `it is ${kindOf(d)}`})`);
  }
  return { port, knownHosts, dumpName };
}

/** process: the only thing read is whether the upgraded dump needs a newer PostgreSQL. */
export function parseProcess(result: Record<string, unknown>): { warnings: string[] } {
  if (result.is_pg_version_compatible !== false) return { warnings: [] };
  return {
    warnings: ['The upgraded database needs a newer PostgreSQL than the one that made the dump: restore the upgraded dump on a newer PostgreSQL server.'],
  };
}

/** wipe: the request ids wiped and not wiped (absent lists are empty; anything else is a bad answer). */
export function parseWipe(result: Record<string, unknown>): { wiped: string[]; failed: string[] } {
  const ids = (name: 'wiped' | 'failed') => {
    const v = result[name];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new BadAnswerError(`wipe: the platform's \`${name}\` is ${kindOf(v)}, not a list of request ids`);
    return v.slice(0, 10_000).map((x) => {
      const id = requestIdOf(x);
      if (id === undefined) throw new BadAnswerError(`wipe: the platform's \`${name}\` holds ${kindOf(x)} where a request id belongs`);
      return id;
    });
  };
  return { wiped: ids('wiped'), failed: ids('failed') };
}


function registrable(host: string): string {
  return host.split('.').slice(-2).join('.');
}

/**
 * The base URL of the node named by a host uri from the platform ("host" or "host:port").
 * The token goes there, so only https on the platform's own site; loopback http only when
 * the platform itself is a loopback http emulator.
 */
export function nodeBaseUrl(hostUri: string, serverUrl: string): URL {
  const server = new URL(serverUrl);
  const raw = hostUri.trim();
  const serverLoopbackHttp = server.protocol === 'http:' && isLoopbackHost(server.hostname);
  let u: URL | undefined;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`);
  } catch {
    u = undefined;
  }
  const bare = u && !u.username && !u.password && u.pathname === '/' && !u.search && !u.hash;
  const host = u?.hostname ?? '';
  const sameSite = host === server.hostname || (isLoopbackHost(server.hostname) ? isLoopbackHost(host) : host.endsWith(`.${registrable(server.hostname)}`));
  const schemeOk = u?.protocol === 'https:' || (u?.protocol === 'http:' && serverLoopbackHttp);
  if (!u || !bare || !sameSite || !schemeOk || !raw) {
    throw new PlatformError(
      `The platform assigned the request to "${platformText(raw, 200)}", which is not a host on the platform's own site (${server.hostname}); refusing to send the request token there.`,
    );
  }
  const scheme = serverLoopbackHttp && isLoopbackHost(host) ? 'http:' : 'https:';
  return new URL(`${scheme}//${u.host}`);
}

/** The platform's error text (redacted), from `result.error` or a JSON-RPC `error`. */
export function rpcErrorText(body: Record<string, unknown>): string | undefined {
  const result = objectOf(body.result);
  if (result && 'error' in result) {
    const e = result.error;
    if (e !== null && e !== undefined && e !== false && e !== '') return platformText(e) || 'the platform answered with an error and no message';
  }
  if ('error' in body && body.error !== null && body.error !== undefined) {
    const e = objectOf(body.error);
    const text = e ? (objectOf(e.data)?.message ?? e.message) : body.error;
    return optionalText(text) ?? 'the platform answered with an error and no message';
  }
  return undefined;
}

function knownHostsText(v: unknown): string {
  const lines = (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v.split(/\r?\n/) : [])
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** A name the platform gives for a file under /data: one plain path component. */
function safeName(v: unknown): string | undefined {
  const s = typeof v === 'string' ? v.trim().replace(/\/+$/, '') : '';
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}$/.test(s) && !s.includes('..') ? s : undefined;
}

/** The data server of a node for ssh/rsync: the node's host (no brackets) and the port transfer/start gave. */
export function dataServer(node: URL, port: number): { host: string; port: number } {
  return { host: node.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

async function treeSize(p: string): Promise<number> {
  const st = await stat(p);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const e of await readdir(p, { withFileTypes: true })) {
    if (e.isDirectory() || e.isFile()) total += await treeSize(path.join(p, e.name));
  }
  return total;
}

export class RpcPlatform implements Platform {
  readonly api = 'rpc' as const;
  private readonly opts: RpcOptions;
  private readonly serverBase: URL;
  private node?: URL; // where calls go once the platform named the request's node
  private created?: CreateParams;
  private pair?: KeyPair;
  private keyDir?: { dir: string; cleanup(): Promise<void> };
  private keyFiles?: KeyFiles;
  /**
   * Where the caller's next log offset (bytes of redacted text it was given) falls in the raw log:
   * redaction changes lengths, so the offsets the caller adds up are not the platform's.
   */
  private logMark?: { id: string; shown: number; raw: number };

  constructor(opts: RpcOptions) {
    this.opts = opts;
    this.serverBase = new URL(opts.serverUrl.replace(/\/+$/, ''));
  }

  private checkServer(): void {
    const u = this.serverBase;
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopbackHost(u.hostname))) {
      throw new PlatformError(`The rpc protocol only talks to an https:// platform URL (got ${u.protocol}//${u.host}).`);
    }
  }

  private url(base: URL, endpoint: string): string {
    return `${base.origin}${base.pathname.replace(/\/+$/, '')}/${endpoint}`;
  }

  /** One JSON-RPC call; the platform's refusals become PlatformError, a missing endpoint EndpointMissingError. */
  private async call(base: URL, endpoint: string, params: Record<string, unknown>, ctx: TransferContext): Promise<Record<string, unknown>> {
    const what = endpoint.replace(/^upgrade\/request\//, '');
    const timeoutMs = this.opts.callTimeoutMs ?? CALL_TIMEOUT_MS;
    const { signal, timedOut } = callSignal(ctx.signal, timeoutMs);
    let res: { status: number; body: unknown };
    try {
      res = await callJson({
        url: this.url(base, endpoint),
        what,
        json: { jsonrpc: '2.0', method: 'not_used', params, id: 'not_used' },
        signal,
        acceptAnyStatusWithJson: true,
      });
    } catch (err) {
      if (err instanceof HttpStatusError && [404, 405, 410].includes(err.status)) {
        throw new EndpointMissingError(`${what}: the rpc endpoint does not exist on ${base.host} (HTTP ${err.status})`);
      }
      if (timedOut()) throw callTimeoutError(what, timeoutMs, err);
      throw err;
    }
    return parseRpcAnswer(what, res.status, res.body as Record<string, unknown>, base.host);
  }

  /**
   * Retries calls that are safe to repeat: network faults, timeouts, 429/5xx, and answers that
   * could not be read (`parse` runs inside, so a hostile shape is retried like a 5xx).
   */
  private callIdempotent<T = Record<string, unknown>>(
    base: URL | (() => URL), endpoint: string, params: Record<string, unknown>, ctx: TransferContext, attempts = 6,
    parse: (result: Record<string, unknown>) => T = (r) => r as T,
  ): Promise<T> {
    const what = endpoint.replace(/^upgrade\/request\//, '');
    return withRetry(async () => parse(await this.call(typeof base === 'function' ? base() : base, endpoint, params, ctx)), {
      attempts,
      baseMs: this.opts.retryBaseMs ?? 2000,
      signal: ctx.signal,
      retryable: retryableCall,
      onRetry: (err, attempt, delay) => ctx.log(`${what}: ${retryDetail(what, err)}; trying again in ${Math.round(delay / 1000)} s (attempt ${attempt + 1})`),
    });
  }

  ephemeralSshKey(): string | undefined {
    return this.pair?.ephemeral ? this.pair.privateKey : undefined;
  }

  private keyPair(): KeyPair {
    this.pair ??= loadOrCreateKeyPair(this.opts.sshPrivateKey, this.opts.secrets);
    return this.pair;
  }

  private nodeFor(ref: RequestRef): URL {
    if (this.node) return this.node;
    if (ref.hostUri) this.node = nodeBaseUrl(ref.hostUri, this.serverBase.href);
    return this.node ?? this.serverBase;
  }

  async create(p: CreateParams, ctx: TransferContext): Promise<RequestRef> {
    this.checkServer();
    // A request whose dump cannot be sent would be wasted: check the tools and the key first.
    await assertRsyncTools();
    const pair = this.keyPair();
    const contract = p.contract || this.opts.contract;
    this.opts.secrets.add(contract);
    const params = {
      contract,
      target: p.target,
      aim: p.aim,
      actuator: 'cli',
      env_vars: p.envVars ?? this.opts.envVars,
      ssh_key: pair.publicKey,
      api_version: '0.2',
    };
    // Retried only when the platform provably received nothing: never two requests for one run.
    const result = await withRetry(() => this.call(this.serverBase, 'upgrade/request/create', params, ctx), {
      attempts: 5,
      baseMs: this.opts.retryBaseMs ?? 2000,
      signal: ctx.signal,
      retryable: (err) => {
        if (err instanceof HttpStatusError) return err.status === 429 || err.status === 503 ? (err.retryAfterMs ?? true) : false;
        if (err instanceof PlatformError || err instanceof EndpointMissingError) return false;
        return neverReachedServer(err);
      },
      onRetry: (err, attempt, delay) => ctx.log(`create: ${retryDetail('create', err)}; nothing was created, trying again in ${Math.round(delay / 1000)} s (attempt ${attempt + 1})`),
    });
    // Registered before anything is checked: whatever goes wrong next, the token is masked.
    if (typeof result.token === 'string') this.opts.secrets.add(result.token.trim());
    const { id, token, hostUri, info } = parseRpcCreate(result);
    this.node = nodeBaseUrl(hostUri, this.serverBase.href);
    this.created = p;
    const warnings: string[] = [];
    if (info) {
      warnings.push(info);
      ctx.log(`The platform says: ${info}`);
    }
    if (pair.ephemeral) {
      ctx.log('The SSH key pair for this request was made for this run only: a later run can follow the request but not transfer its data unless `ssh-private-key` is set.');
    }
    return { id: String(id), key: token, hostUri, warnings };
  }

  async status(ref: RequestRef, ctx: TransferContext): Promise<Status> {
    this.checkServer();
    const attempts = 6;
    const { st, hostUri } = await this.callIdempotent(() => this.nodeFor(ref), 'upgrade/request/status', { token: ref.key }, ctx, attempts, (result) => ({
      st: mapRpcStatus(result),
      hostUri: typeof result.host_uri === 'string' ? result.host_uri.trim() : '',
    })).catch((err: unknown) => {
      throw ctx.signal?.aborted || !retryableCall(err) ? err : statusLost(ref.id, attempts, retryDetail('status', err));
    });
    if (hostUri && hostUri !== ref.hostUri) {
      this.node = nodeBaseUrl(hostUri, this.serverBase.href);
      ref.hostUri = hostUri;
    }
    if (this.created) {
      st.target = this.created.target;
      st.aim = this.created.aim;
      st.filename = this.created.filename;
    }
    return st;
  }

  async process(ref: RequestRef, ctx: TransferContext): Promise<{ warnings: string[] }> {
    try {
      return await this.callIdempotent(this.nodeFor(ref), 'upgrade/request/process', { token: ref.key }, ctx, 6, parseProcess);
    } catch (err) {
      // A retried process whose first try got through is refused for its state: not an error.
      if (err instanceof PlatformError) {
        const st = await this.status(ref, ctx).catch(() => undefined);
        if (st && st.state !== 'new' && st.state !== 'pending') return { warnings: [] };
      }
      throw err;
    }
  }

  /** transfer/start: the data server's port and host keys, written where ssh reads them. */
  private async startTransfer(ref: RequestRef, type: 'upload' | 'download', ctx: TransferContext) {
    const pair = this.keyPair();
    if (pair.ephemeral && !this.created) {
      throw new PlatformError(
        `Request ${ref.id} only lets in the SSH key sent when it was created, and this run has no \`ssh-private-key\` (its key pair was made just now). ` +
          'Give the same `ssh-private-key` as the run that created the request.',
      );
    }
    await assertRsyncTools();
    const node = this.nodeFor(ref);
    const result = await this.callIdempotent(node, 'upgrade/request/transfer/start', { token: ref.key, transfer_type: type }, ctx, 6, (r) => parseTransferStart(r, type));
    const { port, knownHosts } = result;
    if (!this.keyDir) this.keyDir = await makeKeyDir();
    this.keyFiles ??= await writeKeyFiles(pair, this.keyDir.dir);
    const knownHostsFile = path.join(this.keyDir.dir, 'known_hosts');
    await writeFile(knownHostsFile, knownHosts, { mode: 0o600 });
    const target: SshTarget = { ...dataServer(node, port), user: DATA_USER, privateKeyFile: this.keyFiles.privateKeyPath, knownHostsFile };
    return { target, node, result };
  }

  /** One transfer session: transfer/start, rsync (resumed by rsync itself), transfer/stop. */
  private async rsyncSession(
    ref: RequestRef, type: 'upload' | 'download', ctx: TransferContext, progressLabel: string, total: number | undefined,
    job: (dumpName: string | undefined) => Pick<RsyncJob, 'what' | 'sources' | 'dest' | 'options'>,
  ): Promise<{ seconds: number; attempts: number; dumpName?: string }> {
    const { target, node, result } = await this.startTransfer(ref, type, ctx);
    const progress = ctx.progress(progressLabel, total);
    let r;
    try {
      r = await rsyncTransfer({
        ...job(result.dumpName),
        target,
        direction: type,
        progress,
        log: ctx.log,
        redact: (t) => this.opts.secrets.redact(t),
        signal: ctx.signal,
        retryBaseMs: this.opts.retryBaseMs,
      });
    } finally {
      progress.finish();
    }
    await this.callIdempotent(node, 'upgrade/request/transfer/stop', { token: ref.key }, ctx);
    return { seconds: r.seconds, attempts: r.attempts, dumpName: result.dumpName };
  }

  async upload(ref: RequestRef, dump: DumpInfo, ctx: TransferContext): Promise<UploadResult> {
    const directory = dump.format === 'directory' || dump.uploadExt === '.dump/';
    const r = await this.rsyncSession(ref, 'upload', ctx, 'Upload', dump.size, () => ({
      what: 'upload of the dump',
      // A directory dump's content goes into /data/origin.dump/; a file becomes /data/origin<ext>.
      sources: [directory ? `${dump.path.replace(/\/+$/, '')}/` : dump.path],
      dest: directory ? `${DATA_DIR}/origin.dump/` : `${DATA_DIR}/origin${dump.uploadExt}`,
      // The platform's services read what its SSH user writes: group and others may read.
      options: ['--recursive', '--times', '--append-verify', '--chmod=u+rwX,g+rwX,o+rX', ...(directory ? ['--delete'] : [])],
    }));
    return { method: 'rsync', bytes: dump.size, seconds: r.seconds, resumes: r.attempts - 1 };
  }

  async download(ref: RequestRef, status: Status, outputDir: string, ctx: TransferContext): Promise<DownloadedFile[]> {
    if (!this.opts.download) return [];
    if (status.raw.archived === true) {
      throw new PlatformError(`Request ${ref.id} is archived: the platform no longer holds its upgraded database.`);
    }
    await mkdir(outputDir, { recursive: true });
    const { dumpName } = await this.rsyncSession(ref, 'download', ctx, 'Download', undefined, (name) => ({
      what: 'download of the upgraded database',
      sources: [`${DATA_DIR}/${name}`, `${DATA_DIR}/filestore`, `${DATA_DIR}/upgrade-report.html`, `${DATA_DIR}/upgrade.log`],
      dest: `${path.resolve(outputDir)}/`,
      // No symlinks, devices or owners from the server; the two folders mirror the server's.
      options: ['--recursive', '--times', '--ignore-missing-args', '--delete'],
    }));
    if (!dumpName) throw new BadAnswerError('transfer/start: the platform gave no dump_name');

    const dumpDir = path.join(outputDir, dumpName);
    const toc = await stat(path.join(dumpDir, 'toc.dat')).catch(() => undefined);
    if (!toc?.isFile()) throw new PlatformError(`The platform's upgraded dump ${dumpName} arrived without its toc.dat: it is not a usable directory dump.`);
    const files: DownloadedFile[] = [{ role: 'dump', path: dumpDir, bytes: await treeSize(dumpDir) }];
    const filestore = path.join(outputDir, 'filestore');
    if ((await stat(filestore).catch(() => undefined))?.isDirectory()) files.push({ role: 'filestore', path: filestore, bytes: await treeSize(filestore) });
    for (const [role, name] of [['report', 'upgrade-report.html'], ['log', 'upgrade.log']] as const) {
      const p = path.join(outputDir, name);
      const st = await stat(p).catch(() => undefined);
      if (st?.isFile()) files.push({ role, path: p, bytes: st.size, sha256: await sha256File(p) });
    }
    return files;
  }

  /**
   * The upgrade log from byte `offset` (Range: bytes=N-), whole lines only, redacted as every other
   * platform text is (the log is the platform's own words: a key or token in it must not be printed).
   * `offset` counts the bytes of text this method returned, so a caller that adds up what it was
   * given reads on from where the last call stopped, redacted or not.
   */
  async logs(ref: RequestRef, offset: number, ctx: TransferContext): Promise<string> {
    const shownOffset = Math.max(0, Math.floor(offset));
    const mark = this.logMark;
    const rawOffset = mark && mark.id === ref.id && mark.shown === shownOffset ? mark.raw : shownOffset;
    const raw = await this.rawLogs(ref, rawOffset, ctx);
    const text = redactAnswer(raw.toString('utf8'));
    this.logMark = { id: ref.id, shown: shownOffset + Buffer.byteLength(text), raw: rawOffset + raw.length };
    return text;
  }

  private async rawLogs(ref: RequestRef, offset: number, ctx: TransferContext): Promise<Buffer> {
    const url = `${this.url(this.nodeFor(ref), 'upgrade/request/logs')}?${new URLSearchParams({ token: ref.key })}`;
    const timeoutMs = this.opts.callTimeoutMs ?? CALL_TIMEOUT_MS;
    const { signal, timedOut } = callSignal(ctx.signal, timeoutMs);
    let res;
    try {
      res = await request(url, {
        method: 'GET',
        headers: { range: `bytes=${Math.max(0, Math.floor(offset))}-`, 'user-agent': 'odoo-upgrade-action', 'accept-encoding': 'identity' },
        signal,
        dispatcher: dispatcher(),
      });
    } catch (err) {
      if (timedOut()) throw callTimeoutError('logs', timeoutMs, err);
      throw err;
    }
    if (res.statusCode === 416) {
      await res.body.dump();
      return Buffer.alloc(0);
    }
    if (res.statusCode !== 200 && res.statusCode !== 206) {
      const text = await res.body.text().catch(() => '');
      throw new HttpStatusError('logs', res.statusCode, parseRetryAfter(res.headers['retry-after']), snippet(text));
    }
    // A server that ignores Range sends everything: skip what was already shown.
    let skip = res.statusCode === 200 ? offset : 0;
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    for await (const chunk of res.body) {
      let b = Buffer.from(chunk as Uint8Array);
      if (skip > 0) {
        const n = Math.min(skip, b.length);
        b = b.subarray(n);
        skip -= n;
      }
      chunks.push(b);
      size += b.length;
      if (size >= MAX_LOG_BYTES) {
        truncated = true;
        res.body.destroy();
        break;
      }
    }
    let buf = Buffer.concat(chunks);
    if (truncated) {
      // The next call starts where this one stopped: cut at a line end so nothing is split.
      const nl = buf.lastIndexOf(0x0a, MAX_LOG_BYTES - 1);
      buf = buf.subarray(0, nl >= 0 ? nl + 1 : MAX_LOG_BYTES);
    }
    return buf;
  }

  /**
   * Contract-wide, as Odoo's script says ("All associated requests of the contract will be wiped
   * out"): sent to the main server (not the node) with the contract and this request's token.
   * Every id reported is logged; ids other than this run's request are a warning.
   */
  async wipe(ref: RequestRef, ctx: TransferContext): Promise<string> {
    this.checkServer();
    const contract = this.created?.contract || this.opts.contract;
    const { wiped, failed } = await this.callIdempotent(this.serverBase, 'upgrade/request/wipe', { contract, token: ref.key }, ctx, 6, parseWipe);
    const warn = ctx.warn ?? ((line: string) => core.warning(this.opts.secrets.redact(line)));
    const others = wiped.filter((id) => id !== ref.id);
    if (others.length) {
      warn(
        `wipe is contract-wide: besides this run's request ${ref.id}, the platform wiped request${others.length > 1 ? 's' : ''} ${others.join(', ')} of the same contract. ` +
          'Their results are gone from the platform, and Odoo support can no longer look at them.',
      );
    }
    if (failed.length) {
      warn(`The platform could not wipe request${failed.length > 1 ? 's' : ''} ${failed.join(', ')}: ${failed.length > 1 ? 'their' : 'its'} data stays on the platform (kept up to 3 months).`);
    }
    const parts: string[] = [];
    if (wiped.length) parts.push(`wiped the data of request${wiped.length > 1 ? 's' : ''} ${wiped.join(', ')}`);
    if (failed.length) parts.push(`could not wipe request${failed.length > 1 ? 's' : ''} ${failed.join(', ')}`);
    return parts.length ? `The platform ${parts.join(' and ')}.` : `The platform wiped nothing for request ${ref.id}.`;
  }

  async close(): Promise<void> {
    const files = this.keyFiles;
    const dir = this.keyDir;
    this.keyFiles = undefined;
    this.keyDir = undefined;
    await files?.cleanup().catch(() => undefined);
    await dir?.cleanup().catch(() => undefined);
  }
}
