// The Database Upgrade API v1 methods (/database/v1/<method>), strict in what they accept
// and shaped like the documented answers: HTTP 200 and a JSON object with `failures`.
// The upload itself is in upload.ts.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { checkAuthorizedKeys } from './authorized-keys.ts';
import { authenticate, missing, wrongState, type Env, type Params } from './context.ts';
import { formatDuration, formatFilesize, formatTimestamp } from './format.ts';
import type { Call, Failure } from './http-util.ts';
import { discardBody, errorPage, failure, readBounded, sendHtml, sendJson } from './http-util.ts';
import { boundaryOf, MultipartError, parseMultipart } from './multipart.ts';
import { defaultNotesHtml } from './notes.ts';
import { guessSourceVersion, makeRequest } from './request.ts';
import { sha256File } from './results.ts';
import type { EmuRequest } from './server.ts';
import { FINAL_STATES, RUNNING_STATES, SUCCESS_STATES, processingStart, timeline } from './states.ts';
import { refreshUpload, upload } from './upload.ts';

export const V1_METHODS = ['create', 'upload', 'process', 'status', 'skip_test', 'request_sftp_access'];

export const TARGETS = [
  '14.0', '15.0', '16.0', '17.0', 'saas~17.1', 'saas~17.2', 'saas~17.3', 'saas~17.4',
  '18.0', 'saas~18.1', 'saas~18.2', 'saas~18.3', 'saas~18.4', '19.0',
];
const TARGET_SHAPE = /^(saas~)?\d{1,2}\.\d+$/;
const AIMS = ['test', 'production'];
const FORM_LIMIT = 1024 * 1024;

export async function handleV1(env: Env, method: string, req: IncomingMessage, res: ServerResponse, call: Call, url: URL): Promise<void> {
  if (method === 'upload') return upload(env, req, res, call, queryParams(url));
  const params = await readParams(req, call, url);
  if (typeof params === 'number') {
    sendHtml(res, call, params, errorPage(params));
    return;
  }
  const id = params.values.get('request');
  if (id) call.requestId = id;
  const answer = (failures: Failure[], request?: unknown) => sendJson(res, call, 200, request === undefined ? { failures } : { failures, request });
  switch (method) {
    case 'create': return create(env, params, answer, () => {
      // The scenario's lost answer: the request exists, the client never hears of it.
      call.aborted = true;
      req.socket.destroy();
    });
    case 'process': return processRequest(env, params, answer);
    case 'status': return status(env, params, answer);
    case 'skip_test': return skipTest(env, params, answer);
    case 'request_sftp_access': return sftpAccess(env, params, answer);
    default: throw new Error(`no handler for ${method}`);
  }
}

type Answer = (failures: Failure[], request?: unknown) => void;

function queryParams(url: URL): Params {
  const values = new Map<string, string>();
  for (const [k, v] of url.searchParams) if (!values.has(k)) values.set(k, v);
  return { values, parts: [] };
}

/** Query string, then a form-encoded or multipart body (body values win, as in Odoo). */
async function readParams(req: IncomingMessage, call: Call, url: URL): Promise<Params | number> {
  const params = queryParams(url);
  const type = req.headers['content-type'];
  const boundary = boundaryOf(type);
  const form = /^application\/x-www-form-urlencoded\s*(;|$)/i.test(type ?? '');
  if (req.method !== 'POST' || (!form && !boundary)) {
    discardBody(req, call);
    return params;
  }
  const body = await readBounded(req, call, FORM_LIMIT);
  if (!body) return 413;
  if (form) {
    const seen = new Set<string>();
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) {
      if (!seen.has(k)) params.values.set(k, v);
      seen.add(k);
    }
    return params;
  }
  try {
    params.parts = parseMultipart(body, boundary!);
  } catch (err) {
    if (err instanceof MultipartError) return 400;
    throw err;
  }
  for (const p of params.parts) if (p.filename === undefined) params.values.set(p.name, p.data.toString('utf8'));
  return params;
}

// ---------------------------------------------------------------- create

async function create(env: Env, p: Params, answer: Answer, cut: () => void): Promise<void> {
  const forced = env.runtime.scenario.createFailures;
  if (forced?.length) return answer(forced as Failure[]);
  const v = p.values;
  const failures = missing(v, ['contract', 'email', 'target', 'aim', 'filename']);
  const target = v.get('target');
  if (target && (!TARGET_SHAPE.test(target) || !TARGETS.includes(target))) {
    failures.push(failure('TARGET:INVALID', `Invalid value "${target}"`, { expected: TARGETS, value: target }));
  }
  const contract = v.get('contract');
  if (contract?.toLowerCase().startsWith('unknown')) {
    failures.push(failure('CONTRACT:NOT_FOUND', `Can not find contract ${contract}`, { code: contract }));
  }
  const aim = v.get('aim');
  if (aim && !AIMS.includes(aim)) failures.push(failure('AIM:INVALID', `Invalid value "${aim}"`, { expected: AIMS, value: aim }));
  const email = v.get('email');
  if (email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) failures.push(failure('EMAIL:INVALID', `Invalid email address "${email}"`, { value: email }));
  const filename = v.get('filename');
  if (filename && (/[/\\\x00-\x1f]/.test(filename) || filename === '.' || filename === '..')) {
    failures.push(failure('FILENAME:INVALID', `Invalid file name "${filename}": a plain file name is expected`, { value: filename }));
  }
  if (failures.length) return answer(failures);

  const id = String(env.nextId());
  const dir = path.join(env.dataDir, id);
  await mkdir(path.join(dir, 'upload'), { recursive: true });
  const databaseVersion = guessSourceVersion(target!);
  const r = makeRequest({
    id,
    key: `${randomBytes(16).toString('base64url')}==`,
    contract: contract!,
    email: email!,
    target: target!,
    aim: aim!,
    filename: filename!,
    timezone: v.get('timezone') || null,
    uploadedBytes: 0,
    uploads: 0,
    notesHtml: '',
    createdAt: Date.now(),
    timing: env.timing,
    outcome: 'done',
    customerMessage: null,
    dir,
    issue: 640000 + Number(id),
    compressions: [],
    databaseVersion,
    postgresql: '15',
  });
  r.notesHtml = notesFor(env, r);
  env.requests.set(id, r);
  env.log(`request ${id} created (${r.aim}, target ${r.target})`);
  if (env.runtime.scenario.cutCreateAnswer) return cut();
  answer([], requestJson(env, r));
}

function notesFor(env: Env, r: EmuRequest): string {
  return env.runtime.scenario.notesHtml ?? defaultNotesHtml(r);
}

// ---------------------------------------------------------------- process, skip_test, status

const DEFAULT_MESSAGES: Record<string, string> = {
  failed: 'The upgrade of your database failed: an error occurred while upgrading the module "sale_management". Our team has been notified and will contact you.',
  invalid: 'The uploaded file is not a valid database dump. Upload a dump made with pg_dump (custom format) or a backup made by the database manager.',
};

async function processRequest(env: Env, p: Params, answer: Answer): Promise<void> {
  const r = authenticate(env, p.values);
  if (Array.isArray(r)) return answer(r);
  if (r.state !== 'draft') return answer([wrongState(r.state, ['draft'], 'process')]);
  await refreshUpload(r);
  if (!r.uploadedPath || r.uploadedBytes === 0) {
    return answer([failure('UPLOAD:MISSING', 'No database dump was uploaded for this request')]);
  }
  if (!r.uploadedSha256) r.uploadedSha256 = await sha256File(r.uploadedPath);
  if (r.state !== 'draft') return answer([wrongState(r.state, ['draft'], 'process')]);
  const sc = env.runtime.scenario;
  r.outcome = sc.outcome ?? 'done';
  r.customerMessage = sc.customerMessage ?? DEFAULT_MESSAGES[r.outcome] ?? null;
  r.notesHtml = notesFor(env, r);
  r.processedAt = Date.now();
  env.builder.schedule(r);
  env.log(`request ${r.id}: processing asked (outcome ${r.outcome})`);
  answer([]);
}

async function skipTest(env: Env, p: Params, answer: Answer): Promise<void> {
  const r = authenticate(env, p.values);
  if (Array.isArray(r)) return answer(r);
  const state = r.state;
  if (!RUNNING_STATES.includes(state)) return answer([wrongState(state, RUNNING_STATES, 'skip the tests of')]);
  r.skippedAt ??= Date.now();
  answer([]);
}

async function status(env: Env, p: Params, answer: Answer): Promise<void> {
  const r = authenticate(env, p.values);
  if (Array.isArray(r)) return answer(r);
  if (r.state === 'draft') await refreshUpload(r);
  env.builder.ensure(r);
  const json = requestJson(env, r);
  if (SUCCESS_STATES.includes(String(json.state))) await publishOnSftp(env, r);
  const replaced = Object.entries(env.runtime.scenario.statusUrls ?? {}).filter(([, v]) => v !== undefined);
  answer([], { ...json, ...Object.fromEntries(replaced) });
}

export function requestJson(env: Env, r: EmuRequest): Record<string, unknown> {
  const now = Date.now();
  const history = timeline(r, now);
  const state = history.at(-1)!.state;
  const start = processingStart(r);
  const started = start !== undefined && now >= start;
  const finalAt = FINAL_STATES.includes(state) ? history.at(-1)!.at : undefined;
  const planned = r.timing.pendingMs + r.timing.processingMs + (r.aim === 'test' ? r.timing.testingMs : 0);
  const base = `${env.url}/database/eu1/${r.id}/${r.key}`;
  return {
    id: Number(r.id),
    key: r.key,
    email: r.email,
    target: r.target,
    aim: r.aim,
    filename: r.filename,
    timezone: r.timezone,
    state,
    issue_stage: issueStage(state),
    issue: r.issue,
    status_url: `${base}/status`,
    notes_url: `${base}/upgraded/notes`,
    original_sql_url: `${base}/original/sql`,
    original_dump_url: `${base}/original/archive`,
    upgraded_sql_url: `${base}/upgraded/sql`,
    upgraded_dump_url: `${base}/upgraded/archive`,
    modules_url: `${base}/modules/archive`,
    filesize: formatFilesize(r.uploadedBytes),
    database_uuid: started ? uuidOf(r) : null,
    created_at: formatTimestamp(r.createdAt),
    estimated_time: r.processedAt === undefined ? null : formatDuration(planned),
    processed_at: started ? formatTimestamp(start) : null,
    elapsed: started ? formatDuration((finalAt ?? now) - start) : '00:00',
    filestore: started && r.compressions.includes('zip'),
    customer_message: FINAL_STATES.includes(state) && !SUCCESS_STATES.includes(state) ? (r.buildError ? 'An internal error occurred while building your upgraded database.' : r.customerMessage) : null,
    database_version: started ? r.databaseVersion : null,
    postgresql: r.uploadedBytes > 0 ? r.postgresql : null,
    compressions: r.compressions,
  };
}

function issueStage(state: string): string {
  if (state === 'draft' || state === 'pending') return 'new';
  if (state === 'processing' || state === 'testing') return 'in_progress';
  return state === 'done' || state === 'delivered' ? 'done' : 'cancelled';
}

function uuidOf(r: EmuRequest): string {
  const h = createHash('sha256').update(`database ${r.id}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

// ---------------------------------------------------------------- request_sftp_access

// In state done the request's SFTP access serves the upgraded dump as upgraded_<filename>
// (the seed's "Downloading your database dump"): placed there before a status says done.
async function publishOnSftp(env: Env, r: EmuRequest): Promise<void> {
  const root = r.sftp?.root;
  if (!root || r.sftpPublishedAt !== undefined || !r.upgradedArchivePath) return;
  const dest = path.join(root, `upgraded_${r.sftp!.sharedFile}`);
  await copyFile(r.upgradedArchivePath, dest);
  await chmod(dest, 0o644);
  r.sftpPublishedAt = Date.now();
  env.log(`request ${r.id}: upgraded dump placed on its SFTP server as ${path.basename(dest)}`);
  await env.emulator.onSftpPublished?.(r, dest);
}

async function sftpAccess(env: Env, p: Params, answer: Answer): Promise<void> {
  const r = authenticate(env, p.values);
  if (Array.isArray(r)) return answer(r);
  if (r.state !== 'draft') return answer([wrongState(r.state, ['draft'], 'open SFTP access to')]);
  const part = p.parts.find((x) => x.name === 'ssh_keys');
  if (!part) return answer(missing(new Map(), ['ssh_keys']));
  const text = part.data.toString('utf8');
  const check = checkAuthorizedKeys(text);
  if (check.badLines.length) {
    return answer([failure('SSH_KEYS:INVALID', `Only public keys, blank lines and comments are allowed: line ${check.badLines.join(', ')} is not an SSH public key`, { value: check.badLines })]);
  }
  if (check.keys === 0) return answer([failure('SSH_KEYS:INVALID', 'The file holds no SSH public key')]);
  const provider = env.emulator.sftpProvider;
  if (!provider) return answer([failure('SFTP:UNAVAILABLE', 'SFTP access is not available on this server')]);
  let access;
  try {
    access = await provider(r, text);
  } catch (err) {
    env.log(`request ${r.id}: the SFTP provider failed: ${(err as Error).message}`);
    return answer([failure('SERVER:ERROR', 'Could not prepare the SFTP server, please try again later')]);
  }
  r.sftp = access;
  env.builder.warm(); // a dump is on its way: PostgreSQL starts while it arrives
  answer([], {
    hostname: access.hostname,
    sftp_port: access.port,
    sftp_user: access.user,
    shared_file: access.sharedFile,
    request_id: Number(r.id),
    sample_command: `sftp -P ${access.port} ${access.user}@${access.hostname}`,
  });
}
