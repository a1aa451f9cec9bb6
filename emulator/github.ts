// A local stand-in for the GitHub services the action talks to, on one loopback port:
//  - the artifact "results" service (Twirp JSON, as @actions/artifact 6 speaks it),
//  - the blob store its signed URLs point to (Azure block-blob subset: Put Block, Put Block
//    List, Put Blob, Get Blob), blocks and blobs kept on disk since dumps can be large,
//  - a few REST endpoints (repository and run artifacts, artifact zip redirect, issue comments);
//    the blob store answers range requests, as Azure does.
// Artifacts are zips, or "raw" single files (upload-artifact's `archive: false`, the
// library's `skipArchive`): those are served as they are, named by Content-Disposition.
// Routes live in one table so later steps can add endpoints next to the existing ones.
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { AddressInfo } from 'node:net';
import { readZip, writeStoredZip } from './zip-reader.ts';

export interface FakeArtifact {
  id: number;
  name: string;
  size: number;
  digest?: string; // "sha256:<hex>", as the REST API shows it
  /** The stored blob: the zip, or the file itself for a raw artifact. */
  zipPath: string;
  /** Stored unzipped (one file, served as is). */
  raw: boolean;
  finalized: boolean;
  retentionDays?: number;
  runId: number;
  repository: string;
  createdAt: string;
  expiresAt?: string;
  /** Listed as expired (its download answers 410); tests may flip it. */
  expired?: boolean;
  /** Stored by a run of a fork (a pull request from another repository). */
  fromFork?: boolean;
  /** Unzipped file name -> bytes (fine for test-sized artifacts); a raw artifact: its one file. */
  entries(): Promise<Map<string, Buffer>>;
}

/** What a token may do on the REST side, as a GITHUB_TOKEN's `permissions:` grant it. */
export interface TokenPermissions {
  actions?: 'none' | 'read' | 'write';
  issues?: 'none' | 'read' | 'write'; // issue and pull-request comments alike
}

export interface SeedArtifact {
  runId: number;
  repository: string;
  name: string;
  files: Record<string, Buffer>;
  /** Store the one file unzipped, as `archive: false` uploads are. */
  raw?: boolean;
  /** Raw only: send Content-Disposition with the file name (default true). Without it the library names the file "artifact". */
  contentDisposition?: boolean;
  /** ISO time; default now. */
  createdAt?: string;
  expired?: boolean;
  fromFork?: boolean;
}

export interface FakeComment {
  id: number;
  issue: number;
  body: string;
  user: string;
  createdAt: string;
  updatedAt: string;
}

export interface GitHubFake {
  url: string; // http://127.0.0.1:PORT
  /** Where the REST API answers: `url`, or `url`/api/v3 as GitHub Enterprise Server serves it. */
  apiUrl: string;
  env: Record<string, string>;
  /** What `github-token` must be for the REST endpoints. */
  token: string;
  /** The JWT handed to @actions/artifact (ACTIONS_RUNTIME_TOKEN). */
  runtimeToken: string;
  backendIds: { workflowRunBackendId: string; workflowJobRunBackendId: string };
  artifacts: FakeArtifact[];
  comments: FakeComment[];
  requests: Array<{ method: string; path: string; authorization?: string; range?: string }>;
  addArtifact(a: SeedArtifact): Promise<FakeArtifact>;
  /** Another valid REST token with narrower permissions (missing ones answer 403). */
  addToken(token: string, permissions: TokenPermissions): void;
  close(): Promise<void>;
}

const TWIRP_PREFIX = '/twirp/github.actions.results.api.v1.ArtifactService/';
const BLOB_PREFIX = '/blob/actions-results/';
const BOT = 'github-actions[bot]';
const DAY_MS = 86_400_000;
// The characters GitHub refuses in artifact names (same list as @actions/artifact).
const BAD_NAME_CHARS = ['"', ':', '<', '>', '|', '*', '?', '\r', '\n', '\\', '/'];

interface Run {
  runId: number;
  repository: string;
  backendId: string;
  jobBackendId: string;
}

interface Blob {
  file: string;
  blocksDir: string;
  committed: boolean;
  contentType: string;
  /** Sent on download (raw artifacts): the library takes the file name from it. */
  disposition?: string;
}

interface Artifact extends FakeArtifact {
  run: Run;
  blobKey: string;
}

class HttpError extends Error {
  status: number;
  code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

type Kind = 'rest' | 'twirp' | 'blob';

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: string[];
}

interface Route {
  method: string;
  pattern: RegExp;
  kind: Kind;
  /** REST only: the permission the token needs. */
  needs?: { scope: keyof TokenPermissions; level: 'read' | 'write' };
  handle: (w: World, ctx: Ctx) => Promise<void>;
}

interface World {
  url: string;
  apiUrl: string;
  /** GitHub Enterprise Server: REST under /api/v3, no artifact results service (Twirp). */
  ghes: boolean;
  serverUrl: string;
  dir: string;
  token: string;
  /** Tokens other than the all-powerful `token`, with what they may do. */
  scopedTokens: Map<string, TokenPermissions>;
  runtimeToken: string;
  secret: Buffer;
  own: Run;
  runs: Run[];
  blobs: Map<string, Blob>;
  artifacts: Artifact[];
  comments: FakeComment[];
  nextArtifactId: number;
  nextCommentId: number;
  sha: string;
}

export interface GitHubFakeOptions {
  repository?: string;
  runId?: number;
  token?: string;
  ghes?: boolean;
  /** Serve https with this key and certificate (always listening on 127.0.0.1). */
  tls?: { key: Buffer; cert: Buffer };
  /**
   * The host written into the fake's URLs (default 127.0.0.1). `0.0.0.0` reaches the same
   * loopback listener on Linux while @actions/http-client, which never proxies loopback names,
   * does not take it for one: the way to show GitHub's calls going through a proxy here.
   */
  host?: string;
}

export async function startGitHubFake(opts: GitHubFakeOptions = {}): Promise<GitHubFake> {
  const repository = opts.repository ?? 'octo-org/odoo-project';
  const runId = opts.runId ?? 7_000_001;
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'github-fake-'));
  await fsp.mkdir(path.join(dir, 'blobs'));
  await fsp.mkdir(path.join(dir, 'blocks'));
  const own: Run = { runId, repository, backendId: randomUUID(), jobBackendId: randomUUID() };
  const secret = randomBytes(32);
  const w: World = {
    url: '',
    apiUrl: '',
    ghes: opts.ghes === true,
    serverUrl: '',
    dir,
    token: opts.token ?? `ghs_fake${randomBytes(12).toString('hex')}`,
    scopedTokens: new Map(),
    runtimeToken: runtimeJwt(own, secret),
    secret,
    own,
    runs: [own],
    blobs: new Map(),
    artifacts: [],
    comments: [],
    nextArtifactId: 1001,
    nextCommentId: 5001,
    sha: createHash('sha1').update(`${repository}#${runId}`).digest('hex'),
  };
  const requests: GitHubFake['requests'] = [];

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const auth = req.headers.authorization;
    const range = req.headers.range;
    requests.push({ method: req.method ?? '', path: req.url ?? '', ...(auth ? { authorization: auth } : {}), ...(range ? { range } : {}) });
    void dispatch(w, req, res);
  };
  const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  w.url = `${opts.tls ? 'https' : 'http'}://${opts.host ?? '127.0.0.1'}:${port}`;
  // @actions/artifact refuses to run when the server looks like GHES; *.localhost passes its
  // check. Nothing fetches this URL: it only shapes the links the action prints. In GHES mode
  // the server is the fake itself, with the API under /api/v3 as an enterprise server has it.
  w.serverUrl = w.ghes ? w.url : `${opts.tls ? 'https' : 'http'}://github.localhost:${port}`;
  w.apiUrl = w.ghes ? `${w.url}/api/v3` : w.url;

  const [owner] = repository.split('/');
  const env: Record<string, string> = {
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    ACTIONS_RUNTIME_TOKEN: w.runtimeToken,
    // GHES runners give the (v3) pipelines service, never the results service.
    ...(w.ghes ? { ACTIONS_RUNTIME_URL: `${w.url}/` } : { ACTIONS_RESULTS_URL: `${w.url}/` }),
    GITHUB_API_URL: w.apiUrl,
    GITHUB_GRAPHQL_URL: w.ghes ? `${w.url}/api/graphql` : `${w.url}/graphql`,
    GITHUB_SERVER_URL: w.serverUrl,
    GITHUB_REPOSITORY: repository,
    GITHUB_REPOSITORY_OWNER: owner ?? '',
    GITHUB_RUN_ID: String(runId),
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_RUN_NUMBER: '1',
    GITHUB_WORKFLOW: 'Upgrade database',
    GITHUB_JOB: 'upgrade',
    GITHUB_ACTION: 'odoo-upgrade',
    GITHUB_ACTOR: 'octocat',
    GITHUB_EVENT_NAME: 'push',
    GITHUB_SHA: w.sha,
    GITHUB_REF: 'refs/heads/main',
    GITHUB_REF_NAME: 'main',
    GITHUB_RETENTION_DAYS: '90',
  };

  return {
    url: w.url,
    apiUrl: w.apiUrl,
    env,
    token: w.token,
    runtimeToken: w.runtimeToken,
    backendIds: { workflowRunBackendId: own.backendId, workflowJobRunBackendId: own.jobBackendId },
    artifacts: w.artifacts,
    comments: w.comments,
    requests,
    addArtifact: (a) => seedArtifact(w, a),
    addToken(token, permissions) {
      w.scopedTokens.set(token, { ...permissions });
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- routing

const ACTIONS_READ = { scope: 'actions', level: 'read' } as const;
const ACTIONS_WRITE = { scope: 'actions', level: 'write' } as const;
const ISSUES_READ = { scope: 'issues', level: 'read' } as const;
const ISSUES_WRITE = { scope: 'issues', level: 'write' } as const;

const routes: Route[] = [
  { method: 'POST', pattern: /^\/twirp\/github\.actions\.results\.api\.v1\.ArtifactService\/(\w+)$/, kind: 'twirp', handle: twirp },
  { method: 'PUT', pattern: /^\/blob\/actions-results\/([^/]+)$/, kind: 'blob', handle: putBlob },
  { method: 'GET', pattern: /^\/blob\/actions-results\/([^/]+)$/, kind: 'blob', handle: getBlob },
  { method: 'HEAD', pattern: /^\/blob\/actions-results\/([^/]+)$/, kind: 'blob', handle: getBlob },
  { method: 'GET', pattern: /^\/repos\/([^/]+)\/([^/]+)\/actions\/artifacts$/, kind: 'rest', needs: ACTIONS_READ, handle: listRepoArtifacts },
  { method: 'GET', pattern: /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/(\d+)\/artifacts$/, kind: 'rest', needs: ACTIONS_READ, handle: listRunArtifacts },
  { method: 'GET', pattern: /^\/repos\/([^/]+)\/([^/]+)\/actions\/artifacts\/(\d+)$/, kind: 'rest', needs: ACTIONS_READ, handle: getArtifact },
  { method: 'DELETE', pattern: /^\/repos\/([^/]+)\/([^/]+)\/actions\/artifacts\/(\d+)$/, kind: 'rest', needs: ACTIONS_WRITE, handle: deleteRestArtifact },
  { method: 'GET', pattern: /^\/repos\/([^/]+)\/([^/]+)\/actions\/artifacts\/(\d+)\/(\w+)$/, kind: 'rest', needs: ACTIONS_READ, handle: downloadArtifact },
  { method: 'GET', pattern: /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/, kind: 'rest', needs: ISSUES_READ, handle: listComments },
  { method: 'POST', pattern: /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/, kind: 'rest', needs: ISSUES_WRITE, handle: createComment },
  { method: 'GET', pattern: /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/, kind: 'rest', needs: ISSUES_READ, handle: getComment },
  { method: 'PATCH', pattern: /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/, kind: 'rest', needs: ISSUES_WRITE, handle: updateComment },
];

async function dispatch(w: World, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', w.url);
  const kind: Kind = url.pathname.startsWith(TWIRP_PREFIX) ? 'twirp' : url.pathname.startsWith(BLOB_PREFIX) ? 'blob' : 'rest';
  try {
    // GHES: REST only under /api/v3, and no results service at all.
    let where = url.pathname;
    if (w.ghes && kind === 'rest') where = where.startsWith('/api/v3/') ? where.slice('/api/v3'.length) : '/not-under-api-v3';
    const matching = routes.filter((r) => r.pattern.test(where) && !(w.ghes && r.kind === 'twirp'));
    if (matching.length === 0) throw new HttpError(404, 'not_found', `No route for ${url.pathname}`);
    const route = matching.find((r) => r.method === req.method);
    if (!route) throw new HttpError(405, 'bad_route', `${req.method} not allowed on ${url.pathname}`);
    const params = (route.pattern.exec(where) ?? []).slice(1).map(decodeURIComponent);
    if (route.kind === 'rest') checkRestAuth(w, req, route.needs);
    await route.handle(w, { req, res, url, params });
  } catch (err) {
    req.resume(); // drain an unread body so the connection stays usable
    const e = err instanceof HttpError ? err : new HttpError(500, 'internal', err instanceof Error ? err.message : String(err));
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendError(res, kind, e);
  }
}

function sendError(res: ServerResponse, kind: Kind, e: HttpError): void {
  if (kind === 'twirp') return sendJson(res, e.status, { code: e.code, msg: e.message });
  if (kind === 'rest') return sendJson(res, e.status, { message: e.message, documentation_url: 'https://docs.github.com/rest', status: String(e.status) });
  const xml = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${e.code}</Code><Message>${xmlEscape(e.message)}</Message></Error>`;
  res.writeHead(e.status, { 'content-type': 'application/xml', 'x-ms-error-code': e.code, 'x-ms-request-id': randomUUID() });
  res.end(xml);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readJson(req: IncomingMessage, kind: Kind): Promise<Record<string, unknown>> {
  const text = (await readSmallBody(req)).toString('utf8');
  try {
    const value: unknown = text ? JSON.parse(text) : {};
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw kind === 'twirp' ? new HttpError(400, 'malformed', 'body is not a JSON object') : new HttpError(400, 'bad_request', 'Problems parsing JSON');
}

async function readSmallBody(req: IncomingMessage, limit = 1 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, 'too_large', 'request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------- artifact service (Twirp)

async function twirp(w: World, { req, res, params }: Ctx): Promise<void> {
  if (req.headers.authorization !== `Bearer ${w.runtimeToken}`) throw new HttpError(401, 'unauthenticated', 'invalid runtime token');
  const body = await readJson(req, 'twirp');
  const method = params[0];
  if (method === 'CreateArtifact') return sendJson(res, 200, await createArtifact(w, body));
  if (method === 'FinalizeArtifact') return sendJson(res, 200, await finalizeArtifact(w, body));
  if (method === 'ListArtifacts') return sendJson(res, 200, listArtifacts(w, body));
  if (method === 'GetSignedArtifactURL') return sendJson(res, 200, signedArtifactUrl(w, body));
  if (method === 'DeleteArtifact') return sendJson(res, 200, deleteArtifact(w, body));
  throw new HttpError(404, 'bad_route', `no method ${method}`);
}

function callerRun(w: World, body: Record<string, unknown>, needJob: boolean): Run {
  // The runtime token only grants its own run (and job, for writes).
  if (body.workflow_run_backend_id !== w.own.backendId || (needJob && body.workflow_job_run_backend_id !== w.own.jobBackendId)) {
    throw new HttpError(403, 'permission_denied', 'backend ids do not match the runtime token');
  }
  return w.own;
}

function requireName(body: Record<string, unknown>): string {
  const name = body.name;
  if (typeof name !== 'string' || !name) throw new HttpError(400, 'invalid_argument', 'name is required');
  const bad = BAD_NAME_CHARS.find((c) => name.includes(c));
  if (bad) throw new HttpError(400, 'invalid_argument', `artifact name contains ${JSON.stringify(bad)}`);
  return name;
}

async function createArtifact(w: World, body: Record<string, unknown>): Promise<object> {
  const run = callerRun(w, body, true);
  const name = requireName(body);
  const existing = w.artifacts.find((a) => a.run === run && a.name === name);
  if (existing?.finalized) throw new HttpError(409, 'already_exists', `an artifact named ${name} already exists in this run`);
  if (existing) w.artifacts.splice(w.artifacts.indexOf(existing), 1); // an abandoned attempt: start over
  let expiresAt: string | undefined;
  let retentionDays: number | undefined;
  if (typeof body.expires_at === 'string') {
    const ms = Date.parse(body.expires_at);
    if (Number.isNaN(ms)) throw new HttpError(400, 'invalid_argument', 'expires_at is not a timestamp');
    expiresAt = new Date(ms).toISOString();
    retentionDays = Math.round((ms - Date.now()) / DAY_MS);
  }
  const mime = typeof body.mime_type === 'string' ? body.mime_type : 'application/zip';
  // skipArchive uploads name the artifact after its one file and give that file's type.
  const raw = !ZIP_TYPES.has(mime.toLowerCase());
  const a = await newArtifact(w, run, name, mime, { expiresAt, retentionDays }, raw ? { fileName: name } : undefined);
  return { ok: true, signed_upload_url: signedBlobUrl(w, a.blobKey, 'cw') };
}

async function finalizeArtifact(w: World, body: Record<string, unknown>): Promise<object> {
  const run = callerRun(w, body, true);
  const name = requireName(body);
  const a = w.artifacts.find((x) => x.run === run && x.name === name && !x.finalized);
  if (!a) throw new HttpError(404, 'not_found', `no artifact upload named ${name} in progress`);
  const blob = w.blobs.get(a.blobKey);
  if (!blob?.committed) throw new HttpError(412, 'failed_precondition', 'the artifact blob was never committed');
  const size = (await fsp.stat(blob.file)).size;
  if (String(body.size ?? '0') !== String(size)) throw new HttpError(400, 'invalid_argument', `size ${String(body.size)} does not match the blob (${size})`);
  const digest = `sha256:${await sha256File(blob.file)}`;
  // Stricter than GitHub (which trusts the hash): a mismatch here means the fake or the upload lost bytes.
  if (body.hash !== undefined && body.hash !== digest) throw new HttpError(400, 'invalid_argument', `hash ${String(body.hash)} does not match the blob`);
  a.size = size;
  a.digest = digest;
  a.finalized = true;
  return { ok: true, artifact_id: String(a.id) };
}

function listArtifacts(w: World, body: Record<string, unknown>): object {
  const run = callerRun(w, body, false);
  const nameFilter = typeof body.name_filter === 'string' ? body.name_filter : undefined;
  const idFilter = body.id_filter !== undefined ? String(body.id_filter) : undefined;
  const found = w.artifacts.filter(
    (a) => a.run === run && a.finalized && (nameFilter === undefined || a.name === nameFilter) && (idFilter === undefined || String(a.id) === idFilter),
  );
  return {
    artifacts: found.map((a) => ({
      workflow_run_backend_id: a.run.backendId,
      workflow_job_run_backend_id: a.run.jobBackendId,
      database_id: String(a.id),
      name: a.name,
      size: String(a.size),
      created_at: a.createdAt,
      ...(a.digest ? { digest: a.digest } : {}),
    })),
  };
}

function signedArtifactUrl(w: World, body: Record<string, unknown>): object {
  const run = callerRun(w, body, false);
  const name = requireName(body);
  const a = w.artifacts.find((x) => x.run === run && x.name === name && x.finalized);
  if (!a) throw new HttpError(404, 'not_found', `no artifact named ${name}`);
  return { signed_url: signedBlobUrl(w, a.blobKey, 'r') };
}

function deleteArtifact(w: World, body: Record<string, unknown>): object {
  const run = callerRun(w, body, true);
  const name = requireName(body);
  const a = w.artifacts.find((x) => x.run === run && x.name === name && x.finalized);
  if (!a) throw new HttpError(404, 'not_found', `no artifact named ${name}`);
  w.artifacts.splice(w.artifacts.indexOf(a), 1);
  return { ok: true, artifact_id: String(a.id) };
}

async function newArtifact(
  w: World,
  run: Run,
  name: string,
  contentType: string,
  retention: { expiresAt?: string; retentionDays?: number },
  raw?: { fileName: string; disposition?: boolean },
): Promise<Artifact> {
  const id = w.nextArtifactId++;
  // The library unzips whatever URL path ends in .zip: a raw blob's must not.
  const blobKey = raw ? `artifact-${id}` : `artifact-${id}.zip`;
  const blob: Blob = {
    file: path.join(w.dir, 'blobs', blobKey),
    blocksDir: path.join(w.dir, 'blocks', String(id)),
    committed: false,
    contentType,
    ...(raw && raw.disposition !== false ? { disposition: contentDisposition(raw.fileName) } : {}),
  };
  w.blobs.set(blobKey, blob);
  const a: Artifact = {
    id,
    name,
    size: 0,
    zipPath: blob.file,
    finalized: false,
    runId: run.runId,
    repository: run.repository,
    createdAt: new Date().toISOString(),
    ...(retention.expiresAt ? { expiresAt: retention.expiresAt } : {}),
    ...(retention.retentionDays !== undefined ? { retentionDays: retention.retentionDays } : {}),
    raw: raw !== undefined,
    run,
    blobKey,
    entries: async () => (raw ? new Map([[raw.fileName, await fsp.readFile(blob.file)]]) : readZip(await fsp.readFile(blob.file))),
  };
  w.artifacts.push(a);
  return a;
}

async function seedArtifact(w: World, s: SeedArtifact): Promise<FakeArtifact> {
  let run = w.runs.find((r) => r.runId === s.runId && r.repository.toLowerCase() === s.repository.toLowerCase());
  if (!run) {
    run = { runId: s.runId, repository: s.repository, backendId: randomUUID(), jobBackendId: randomUUID() };
    w.runs.push(run);
  }
  const names = Object.keys(s.files);
  if (s.raw && names.length !== 1) throw new Error(`a raw artifact holds exactly one file, got ${names.length}`);
  const fileName = names[0] ?? '';
  const a = s.raw
    ? await newArtifact(w, run, s.name, mimeOf(fileName), {}, { fileName, disposition: s.contentDisposition !== false })
    : await newArtifact(w, run, s.name, 'application/zip', {});
  const zip = s.raw ? (s.files[fileName] ?? Buffer.alloc(0)) : await writeStoredZip(s.files);
  await fsp.writeFile(a.zipPath, zip);
  const blob = w.blobs.get(a.blobKey);
  if (blob) blob.committed = true;
  a.size = zip.length;
  a.digest = `sha256:${createHash('sha256').update(zip).digest('hex')}`;
  if (s.createdAt) a.createdAt = new Date(s.createdAt).toISOString();
  if (s.expired) a.expired = true;
  if (s.fromFork) a.fromFork = true;
  a.finalized = true;
  return a;
}

// ---------------------------------------------------------------- blob store (Azure subset)

function signature(w: World, perms: string, pathname: string): string {
  return createHmac('sha256', w.secret).update(`${perms}\n${pathname}`).digest('base64');
}

function signedBlobUrl(w: World, key: string, perms: string): string {
  const pathname = `${BLOB_PREFIX}${key}`;
  const q = new URLSearchParams({ sv: '2023-11-03', sr: 'b', sp: perms, se: new Date(Date.now() + DAY_MS).toISOString(), sig: signature(w, perms, pathname) });
  return `${w.url}${pathname}?${q.toString()}`;
}

function authorizeBlob(w: World, url: URL, need: string): Blob {
  const perms = url.searchParams.get('sp') ?? '';
  const given = Buffer.from(url.searchParams.get('sig') ?? '');
  const expected = Buffer.from(signature(w, perms, url.pathname));
  if (given.length !== expected.length || !timingSafeEqual(given, expected) || !perms.includes(need)) {
    throw new HttpError(403, 'AuthenticationFailed', 'Server failed to authenticate the request.');
  }
  const blob = w.blobs.get(url.pathname.slice(BLOB_PREFIX.length));
  if (!blob) throw new HttpError(404, 'BlobNotFound', 'The specified blob does not exist.');
  return blob;
}

function blobHeaders(): Record<string, string> {
  return {
    'x-ms-request-id': randomUUID(),
    'x-ms-version': '2023-11-03',
    'x-ms-request-server-encrypted': 'true',
    date: new Date().toUTCString(),
  };
}

async function putBlob(w: World, { req, res, url }: Ctx): Promise<void> {
  const comp = url.searchParams.get('comp');
  const blob = authorizeBlob(w, url, 'w');
  if (comp === 'block') {
    const blockId = url.searchParams.get('blockid');
    if (!blockId) throw new HttpError(400, 'InvalidQueryParameterValue', 'blockid is required');
    await fsp.mkdir(blob.blocksDir, { recursive: true });
    const final = blockPath(blob, blockId);
    await receiveFile(req, final);
    res.writeHead(201, { ...blobHeaders(), 'content-length': '0' });
    return void res.end();
  }
  if (comp === 'blocklist') {
    const xml = (await readSmallBody(req)).toString('utf8');
    const ids = [...xml.matchAll(/<(Latest|Committed|Uncommitted)>([^<]*)<\/\1>/g)].map((m) => xmlUnescape(m[2] ?? ''));
    const parts = ids.map((id) => blockPath(blob, id));
    for (const [i, p] of parts.entries()) {
      if (!(await exists(p))) throw new HttpError(400, 'InvalidBlockList', `block ${ids[i]} was never staged`);
    }
    await concatFiles(parts, blob.file);
    await fsp.rm(blob.blocksDir, { recursive: true, force: true }); // Azure drops uncommitted blocks on commit
    commitBlob(blob, req);
    res.writeHead(201, { ...blobHeaders(), etag: `"0x${randomBytes(8).toString('hex').toUpperCase()}"`, 'last-modified': new Date().toUTCString(), 'content-length': '0' });
    return void res.end();
  }
  if (comp === null && req.headers['x-ms-blob-type'] === 'BlockBlob') {
    await receiveFile(req, blob.file);
    commitBlob(blob, req);
    res.writeHead(201, { ...blobHeaders(), etag: `"0x${randomBytes(8).toString('hex').toUpperCase()}"`, 'last-modified': new Date().toUTCString(), 'content-length': '0' });
    return void res.end();
  }
  throw new HttpError(400, 'UnsupportedQueryParameter', `comp=${comp ?? ''} is not supported by this fake`);
}

function commitBlob(blob: Blob, req: IncomingMessage): void {
  const type = req.headers['x-ms-blob-content-type'];
  if (typeof type === 'string' && type) blob.contentType = type;
  blob.committed = true;
}

function blockPath(blob: Blob, blockId: string): string {
  // Block ids are base64 (with / and +): hash them into safe file names.
  return path.join(blob.blocksDir, createHash('sha256').update(blockId).digest('hex'));
}

async function getBlob(w: World, { req, res, url }: Ctx): Promise<void> {
  const blob = authorizeBlob(w, url, 'r');
  if (!blob.committed) throw new HttpError(404, 'BlobNotFound', 'The specified blob does not exist.');
  const { size } = await fsp.stat(blob.file);
  const common = {
    ...blobHeaders(),
    'content-type': blob.contentType,
    'x-ms-blob-type': 'BlockBlob',
    'accept-ranges': 'bytes',
    ...(blob.disposition ? { 'content-disposition': blob.disposition } : {}),
  };
  const range = byteRange(req.headers['x-ms-range'] ?? req.headers.range, size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...common, 'content-range': `bytes */${size}`, 'content-length': '0', 'x-ms-error-code': 'InvalidRange' });
    return void res.end();
  }
  if (range) {
    res.writeHead(206, { ...common, 'content-range': `bytes ${range.start}-${range.end}/${size}`, 'content-length': String(range.end - range.start + 1) });
    if (req.method === 'HEAD') return void res.end();
    return void (await pipeline(createReadStream(blob.file, { start: range.start, end: range.end }), res));
  }
  res.writeHead(200, { ...common, 'content-length': String(size) });
  if (req.method === 'HEAD') return void res.end();
  await pipeline(createReadStream(blob.file), res);
}

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range, clipped to the blob; anything else is ignored (whole blob). */
function byteRange(header: string | string[] | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = typeof header === 'string' ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Streams a request body to a file, atomically: a half-received block never counts. */
async function receiveFile(req: IncomingMessage, dest: string): Promise<void> {
  const tmp = `${dest}.${randomBytes(6).toString('hex')}.part`;
  try {
    await pipeline(req, createWriteStream(tmp));
    const expected = req.headers['content-length'];
    const { size } = await fsp.stat(tmp);
    if (expected !== undefined && Number(expected) !== size) throw new HttpError(400, 'InvalidInput', `body ended after ${size} of ${expected} bytes`);
    await fsp.rename(tmp, dest);
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

async function concatFiles(parts: string[], dest: string): Promise<void> {
  const tmp = `${dest}.${randomBytes(6).toString('hex')}.part`;
  const out = createWriteStream(tmp);
  try {
    for (const p of parts) await pipeline(createReadStream(p), out, { end: false });
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    await fsp.rename(tmp, dest);
  } finally {
    out.destroy();
    await fsp.rm(tmp, { force: true });
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

// ---------------------------------------------------------------- REST

function checkRestAuth(w: World, req: IncomingMessage, needs: Route['needs']): void {
  const auth = req.headers.authorization;
  if (!auth) throw new HttpError(401, 'unauthorized', 'Requires authentication');
  const m = /^(?:token|bearer)\s+(\S+)$/i.exec(auth);
  const given = m?.[1];
  if (given === undefined) throw new HttpError(401, 'unauthorized', 'Bad credentials');
  if (given === w.token) return;
  const perms = w.scopedTokens.get(given);
  if (!perms) throw new HttpError(401, 'unauthorized', 'Bad credentials');
  if (!needs) return;
  const rank = { none: 0, read: 1, write: 2 } as const;
  // GitHub's words when a GITHUB_TOKEN lacks a permission.
  if (rank[perms[needs.scope] ?? 'none'] < rank[needs.level]) throw new HttpError(403, 'forbidden', 'Resource not accessible by integration');
}

function sameRepo(a: string, owner: string | undefined, repo: string | undefined): boolean {
  return a.toLowerCase() === `${owner}/${repo}`.toLowerCase();
}

/** GitHub-style page slicing, with the Link header octokit's paginate() follows. */
function paginate<T>(items: T[], ctx: Ctx): { page: T[]; headers: Record<string, string> } {
  const perPage = Math.min(100, Math.max(1, Number(ctx.url.searchParams.get('per_page') ?? 30) || 30));
  const pageNo = Math.max(1, Number(ctx.url.searchParams.get('page') ?? 1) || 1);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const link = (p: number, rel: string): string => {
    const u = new URL(ctx.url);
    u.searchParams.set('per_page', String(perPage));
    u.searchParams.set('page', String(p));
    return `<${u.toString()}>; rel="${rel}"`;
  };
  const links: string[] = [];
  if (pageNo < last) links.push(link(pageNo + 1, 'next'), link(last, 'last'));
  if (pageNo > 1) links.push(link(1, 'first'), link(pageNo - 1, 'prev'));
  return { page: items.slice((pageNo - 1) * perPage, pageNo * perPage), headers: links.length ? { link: links.join(', ') } : {} };
}

function restArtifact(w: World, a: Artifact): object {
  const api = `${w.apiUrl}/repos/${a.repository}/actions/artifacts/${a.id}`;
  return {
    id: a.id,
    node_id: Buffer.from(`Artifact:${a.id}`).toString('base64'),
    name: a.name,
    size_in_bytes: a.size,
    url: api,
    archive_download_url: `${api}/zip`,
    expired: a.expired === true,
    digest: a.digest ?? null,
    created_at: a.createdAt,
    updated_at: a.createdAt,
    expires_at: a.expiresAt ?? new Date(Date.parse(a.createdAt) + 90 * DAY_MS).toISOString(),
    workflow_run: { id: a.runId, repository_id: 1, head_repository_id: a.fromFork ? 2 : 1, head_branch: 'main', head_sha: w.sha },
  };
}

async function listRunArtifacts(w: World, ctx: Ctx): Promise<void> {
  const [owner, repo, runId] = ctx.params;
  const name = ctx.url.searchParams.get('name');
  const found = w.artifacts.filter(
    (a) => a.finalized && sameRepo(a.repository, owner, repo) && String(a.runId) === runId && (name === null || a.name === name),
  );
  const { page, headers } = paginate(found, ctx);
  sendJson(ctx.res, 200, { total_count: found.length, artifacts: page.map((a) => restArtifact(w, a)) }, headers);
}

/** All artifacts of a repository the fake knows, newest first, as GitHub lists them. */
async function listRepoArtifacts(w: World, ctx: Ctx): Promise<void> {
  const [owner, repo] = ctx.params;
  if (!w.runs.some((r) => sameRepo(r.repository, owner, repo))) throw new HttpError(404, 'not_found', 'Not Found');
  const name = ctx.url.searchParams.get('name');
  const found = w.artifacts
    .filter((a) => a.finalized && sameRepo(a.repository, owner, repo) && (name === null || a.name === name))
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || b.id - a.id);
  const { page, headers } = paginate(found, ctx);
  sendJson(ctx.res, 200, { total_count: found.length, artifacts: page.map((a) => restArtifact(w, a)) }, headers);
}

function findRestArtifact(w: World, ctx: Ctx): Artifact {
  const [owner, repo, id] = ctx.params;
  const a = w.artifacts.find((x) => x.finalized && String(x.id) === id && sameRepo(x.repository, owner, repo));
  if (!a) throw new HttpError(404, 'not_found', 'Not Found');
  return a;
}

async function getArtifact(w: World, ctx: Ctx): Promise<void> {
  sendJson(ctx.res, 200, restArtifact(w, findRestArtifact(w, ctx)));
}

/** DELETE /repos/{owner}/{repo}/actions/artifacts/{id}: 204 and gone (GitHub needs `actions: write`). */
async function deleteRestArtifact(w: World, ctx: Ctx): Promise<void> {
  const a = findRestArtifact(w, ctx);
  w.artifacts.splice(w.artifacts.indexOf(a), 1);
  ctx.res.writeHead(204);
  ctx.res.end();
}

async function downloadArtifact(w: World, ctx: Ctx): Promise<void> {
  const a = findRestArtifact(w, ctx);
  if (ctx.params[3] !== 'zip') throw new HttpError(404, 'not_found', 'Not Found');
  if (a.expired) throw new HttpError(410, 'gone', 'Artifact has expired');
  ctx.res.writeHead(302, { location: signedBlobUrl(w, a.blobKey, 'r'), 'content-length': '0' });
  ctx.res.end();
}

function restComment(w: World, c: FakeComment): object {
  const repo = w.own.repository;
  return {
    id: c.id,
    node_id: Buffer.from(`IssueComment:${c.id}`).toString('base64'),
    url: `${w.apiUrl}/repos/${repo}/issues/comments/${c.id}`,
    html_url: `${w.serverUrl}/${repo}/issues/${c.issue}#issuecomment-${c.id}`,
    issue_url: `${w.apiUrl}/repos/${repo}/issues/${c.issue}`,
    body: c.body,
    user: { login: c.user, id: c.user === BOT ? 41898282 : 1, type: c.user === BOT ? 'Bot' : 'User' },
    created_at: c.createdAt,
    updated_at: c.updatedAt,
    author_association: 'NONE',
  };
}

/** Comments live on the fake's own repository only. */
function ownRepo(w: World, ctx: Ctx): void {
  if (!sameRepo(w.own.repository, ctx.params[0], ctx.params[1])) throw new HttpError(404, 'not_found', 'Not Found');
}

function nowSeconds(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function commentBody(ctx: Ctx): Promise<string> {
  const body = (await readJson(ctx.req, 'rest')).body;
  if (typeof body !== 'string' || !body) throw new HttpError(422, 'validation_failed', 'Validation Failed: body is required');
  if (body.length > 65536) throw new HttpError(422, 'validation_failed', 'Validation Failed: body is too long (maximum is 65536 characters)');
  return body;
}

async function listComments(w: World, ctx: Ctx): Promise<void> {
  ownRepo(w, ctx);
  const found = w.comments.filter((c) => String(c.issue) === ctx.params[2]).sort((a, b) => a.id - b.id);
  const { page, headers } = paginate(found, ctx);
  sendJson(ctx.res, 200, page.map((c) => restComment(w, c)), headers);
}

async function createComment(w: World, ctx: Ctx): Promise<void> {
  ownRepo(w, ctx);
  const body = await commentBody(ctx);
  const at = nowSeconds();
  const c: FakeComment = { id: w.nextCommentId++, issue: Number(ctx.params[2]), body, user: BOT, createdAt: at, updatedAt: at };
  w.comments.push(c);
  sendJson(ctx.res, 201, restComment(w, c), { location: `${w.apiUrl}/repos/${w.own.repository}/issues/comments/${c.id}` });
}

function findComment(w: World, ctx: Ctx): FakeComment {
  ownRepo(w, ctx);
  const c = w.comments.find((x) => String(x.id) === ctx.params[2]);
  if (!c) throw new HttpError(404, 'not_found', 'Not Found');
  return c;
}

async function getComment(w: World, ctx: Ctx): Promise<void> {
  sendJson(ctx.res, 200, restComment(w, findComment(w, ctx)));
}

async function updateComment(w: World, ctx: Ctx): Promise<void> {
  const c = findComment(w, ctx);
  c.body = await commentBody(ctx);
  c.updatedAt = nowSeconds();
  sendJson(ctx.res, 200, restComment(w, c));
}

// ---------------------------------------------------------------- helpers

/** A JWT (signed with the fake's own key) whose `scp` claim carries the backend ids, as the library parses it. */
function runtimeJwt(run: Run, secret: Buffer): string {
  const b64 = (v: object): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const header = b64({ typ: 'JWT', alg: 'HS256' });
  const payload = b64({
    scp: `Actions.ExampleScope Actions.Results:${run.backendId}:${run.jobBackendId}`,
    iss: 'vstoken.actions.githubusercontent.com',
    aud: 'vso:fake',
    nbf: now - 60,
    iat: now - 60,
    exp: now + 6 * 3600,
  });
  const sig = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${sig}`;
}

const ZIP_TYPES = new Set(['application/zip', 'application/x-zip-compressed', 'application/zip-compressed']);

/** The type @actions/artifact gives a raw upload (by extension; the few a dump can have). */
function mimeOf(fileName: string): string {
  const ext = path.extname(fileName).toLowerCase();
  return ext === '.zip' ? 'application/zip' : ext === '.gz' ? 'application/gzip' : ext === '.tar' ? 'application/x-tar' : 'application/octet-stream';
}

/** `attachment` with an ASCII fallback name and the exact UTF-8 one (RFC 6266 / 5987). */
function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function xmlUnescape(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}
