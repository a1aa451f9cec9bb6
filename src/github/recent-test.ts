// `require-recent-test`: proof, kept on GitHub, that a test upgrade of the same target ran lately.
// Every run that publishes its artifact adds RESULT_FILE to it; a production run asking for
// the proof looks through this repository's artifacts for such a record, before it creates
// anything. The v1 platform API cannot list requests, so GitHub is where the record lives.
//
// Trust: the repository's artifact store is written by its own workflows, that is by whoever
// may change its code, so a record there is believed as much as the workflow files are. Two
// things are not believed: artifacts stored by runs of forks (pull requests from forks run in
// this repository and store their artifacts here), and records that name another repository
// or another run than the one that stored them.
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { BadAnswerError, HttpStatusError, callJson, dispatcher, readBounded } from '../net/http.ts';
import { listZip, openZipEntry, ZipFormatError, type ZipEntry } from '../formats/zip.ts';
import { isTransientNetworkError, withRetry } from '../net/retry.ts';
import { githubHost, runUrl as runLink } from './ghes.ts';

export const RESULT_FILE = 'odoo-upgrade-result.json';
export const RESULT_SCHEMA = 1;

const INPUT = '`require-recent-test`';
const CANNOT_SKIP = 'The check cannot be skipped, so nothing was sent to the platform.';
const DAY_MS = 86_400_000;
const CLOCK_SKEW_MS = 5 * 60_000;
const PER_PAGE = 100;
const MAX_PAGES = 10;
const MAX_INSPECTED = 30;
const TAIL_BYTES = 64 * 1024;
const MAX_TAIL_BYTES = 2 * 1024 * 1024;
const MAX_RECORD_BYTES = 64 * 1024;

/** What a successful run leaves in its artifact: names, ids, hashes and times; never a secret. */
export interface ResultRecord {
  schema: number;
  tool: 'odoo-upgrade-action';
  requestId: string;
  api: string;
  aim: string;
  target: string;
  state: string;
  phase: string;
  /** The database version the platform reported for the request. */
  databaseVersion?: string;
  dump: { filename?: string; sha256?: string };
  upgradedSha256?: string;
  /** Size of the upgraded dump (a file; absent for a directory dump), for reports such as the fleet table. */
  upgradedBytes?: number;
  startedAt?: string;
  /** What the artifact holds, by path inside it (a directory: the entries below it): what reuse-days fetches. */
  files?: Array<{ role: string; name: string; bytes: number; sha256?: string }>;
  finishedAt: string;
  repository: string;
  runId?: number;
  runAttempt?: number;
  workflow?: string;
  ref?: string;
  sha?: string;
}

/** The record in a file's text, or why it is not one. */
export function parseResultRecord(text: string): ResultRecord | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const r = v as Record<string, unknown>;
  if (r.schema !== RESULT_SCHEMA) return `schema ${JSON.stringify(r.schema)} is not ${RESULT_SCHEMA}`;
  for (const k of ['requestId', 'aim', 'target', 'state', 'phase', 'finishedAt', 'repository'] as const) {
    if (typeof r[k] !== 'string') return `no ${k}`;
  }
  if (r.runId !== undefined && typeof r.runId !== 'number') return 'runId is not a number';
  if (!r.dump || typeof r.dump !== 'object') return 'no dump';
  return r as unknown as ResultRecord;
}

/** An artifact as the REST listing shows it, with what the check needs. */
export interface ListedArtifact {
  id: number;
  name: string;
  size: number;
  expired: boolean;
  createdAt: number; // ms, NaN when unknown
  downloadUrl: string;
  runId?: number;
  /** Stored by a run of a fork (a pull request from another repository). */
  fromFork: boolean;
}

export function parseArtifactList(body: unknown): { total: number; artifacts: ListedArtifact[] } {
  const b = body as { total_count?: unknown; artifacts?: unknown };
  if (!Array.isArray(b.artifacts)) throw new BadAnswerError('the artifact list has no `artifacts` array');
  const artifacts = b.artifacts.map((x: Record<string, unknown>) => {
    const run = (x.workflow_run ?? {}) as Record<string, unknown>;
    const repoId = run.repository_id;
    const headRepoId = run.head_repository_id;
    return {
      id: Number(x.id),
      name: String(x.name ?? ''),
      size: Number(x.size_in_bytes ?? 0),
      expired: x.expired === true,
      createdAt: typeof x.created_at === 'string' ? Date.parse(x.created_at) : Number.NaN,
      downloadUrl: String(x.archive_download_url ?? ''),
      ...(typeof run.id === 'number' ? { runId: run.id } : {}),
      fromFork: repoId !== undefined && headRepoId !== undefined && headRepoId !== null && headRepoId !== repoId,
    };
  });
  return { total: typeof b.total_count === 'number' ? b.total_count : artifacts.length, artifacts };
}

/** Why this listed artifact cannot hold the proof, or undefined when it is worth opening. */
export function artifactProblem(a: ListedArtifact, days: number, now: number): string | undefined {
  if (a.expired) return 'expired';
  if (a.fromFork) return 'stored by a run of a fork';
  if (!Number.isFinite(a.createdAt) || a.createdAt < now - days * DAY_MS) return `older than ${days} days`;
  if (!(a.id > 0) || !a.downloadUrl) return 'no download address';
  return undefined;
}

export interface Want {
  target: string;
  repository: string;
  days: number;
  now: number;
}

/** Why this record does not prove a recent test upgrade of the target, or undefined when it does. */
export function recordProblem(rec: ResultRecord, a: ListedArtifact, want: Want): string | undefined {
  if (rec.aim !== 'test') return `aim ${rec.aim || 'unknown'}, not test`;
  if (rec.phase !== 'success') return `ended in state ${rec.state || 'unknown'}`;
  if (rec.target.trim().toLowerCase() !== want.target.trim().toLowerCase()) return `target ${rec.target}, not ${want.target}`;
  if (rec.repository.toLowerCase() !== want.repository.toLowerCase()) return `made in ${rec.repository || 'an unknown repository'}`;
  if (a.runId !== undefined && rec.runId !== a.runId) return `names run ${rec.runId ?? 'none'} but was stored by run ${a.runId}`;
  const at = Date.parse(rec.finishedAt);
  if (Number.isNaN(at)) return 'no valid finishedAt';
  if (at > want.now + CLOCK_SKEW_MS) return 'finished in the future';
  if (at < want.now - want.days * DAY_MS) return `older than ${want.days} days`;
  return undefined;
}

export interface RecentTestProof {
  days: number;
  target: string;
  requestId: string;
  finishedAt: string;
  runId?: number;
  runAttempt?: number;
  workflow?: string;
  runUrl?: string;
  artifact: { id: number; name: string };
}

export class RecentTestError extends Error {
  override name = 'RecentTestError';
}

export interface RecentTestOptions {
  days: number;
  target: string;
  token: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  signal?: AbortSignal;
  now?: number;
  /** The input on whose behalf artifacts are read, named in errors (default require-recent-test). */
  input?: string;
  /** What a failed REST call means for the run, said after the error (default: the check cannot be skipped). */
  consequence?: string;
  /** Told where each opened artifact's zip lives and what it holds (reuse-days fetches entries from it). */
  onZip?: (a: ListedArtifact, zip: OpenedZip) => void;
}

export interface OpenedZip {
  blobUrl: string;
  blobHeaders: Record<string, string>;
  total: number;
  entries: ZipEntry[];
}

/** Finds the newest record proving a test upgrade of the target within `days`; throws when there is none. */
export async function findRecentTest(opts: RecentTestOptions): Promise<RecentTestProof> {
  const { days, env, log } = opts;
  const target = opts.target.trim();
  const repository = env.GITHUB_REPOSITORY ?? '';
  if (!target) throw new RecentTestError(`Input ${INPUT} needs \`target\`: it looks for a test upgrade of the same target.`);
  if (!/^[^/\s]+\/[^/\s]+$/.test(repository)) {
    throw new RecentTestError(`Input ${INPUT} looks through this repository's artifacts, but GITHUB_REPOSITORY is not set (is this a GitHub Actions job?).`);
  }
  if (!opts.token) {
    throw new RecentTestError(
      `Input ${INPUT} reads this repository's artifacts through the GitHub API, which needs a token: input \`github-token\` is empty. ` +
        'Leave it at its default (`${{ github.token }}`) with `permissions: actions: read`.',
    );
  }
  const api = githubHost(env).apiUrl;
  const now = opts.now ?? Date.now();
  const want: Want = { target, repository, days, now };
  const scan = newScan();
  const tmp = await mkdtemp(path.join(env.RUNNER_TEMP || os.tmpdir(), 'recent-test-'));
  try {
    for await (const { artifact: a, record: read } of scanRecords(scan, { api, repository, days, now, tmp }, opts)) {
      const bad = recordProblem(read, a, want);
      if (bad) {
        scan.skip(bad);
        continue;
      }
      const runUrl = read.runId !== undefined ? runLink(env, repository, read.runId) : undefined;
      const proof: RecentTestProof = {
        days,
        target: read.target,
        requestId: read.requestId,
        finishedAt: read.finishedAt,
        artifact: { id: a.id, name: a.name },
        ...(read.runId !== undefined ? { runId: read.runId } : {}),
        ...(read.runAttempt !== undefined ? { runAttempt: read.runAttempt } : {}),
        ...(read.workflow ? { workflow: read.workflow } : {}),
        ...(runUrl ? { runUrl } : {}),
      };
      log(`${INPUT}: ${proofText(proof)}.`);
      return proof;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
  const { listed, inspected, morePages, reasons } = scan;
  const why = [...reasons.entries()].map(([r, n]) => `${n} ${r}`).join('; ');
  throw new RecentTestError(
    `Input ${INPUT} is ${days}: no test upgrade of target ${target} that ended well in the last ${days} day${days === 1 ? '' : 's'} was found in the artifacts of ${repository} ` +
      `(${listed} listed${morePages ? ` in the first ${MAX_PAGES * PER_PAGE}` : ''}, ${inspected} opened${why ? `: ${why}` : ''}). ` +
      `Run a test upgrade (aim: test) of target ${target} with its artifact published (a non-empty \`artifact-name\`), then run this again; ` +
      `or raise ${INPUT} if your last test is older. Nothing was sent to the platform.`,
  );
}

/** What a scan of the artifacts passed over, and how far it went. */
export interface RecordScan {
  listed: number;
  inspected: number;
  morePages: boolean;
  reasons: Map<string, number>;
  skip(why: string): void;
}

export function newScan(): RecordScan {
  const reasons = new Map<string, number>();
  return { listed: 0, inspected: 0, morePages: false, reasons, skip: (why) => reasons.set(why, (reasons.get(why) ?? 0) + 1) };
}

/**
 * The result records of this repository's artifacts that may be trusted and are recent enough,
 * newest first, bounded (pages listed, artifacts opened); what is passed over is counted in
 * `scan`, in the caller's words when `words` is given. Shared by require-recent-test and reuse-days.
 */
export async function* scanRecords(
  scan: RecordScan,
  where: { api: string; repository: string; days: number; now: number; tmp: string },
  opts: RecentTestOptions,
  words: (why: string) => string = (why) => why,
): AsyncGenerator<{ artifact: ListedArtifact; record: ResultRecord }> {
  const { api, repository, days, now, tmp } = where;
  for (let page = 1; page <= MAX_PAGES; page++) {
    const { artifacts } = await listPage(api, repository, page, opts);
    scan.listed += artifacts.length;
    for (const a of artifacts) {
      const problem = artifactProblem(a, days, now);
      if (problem) {
        scan.skip(words(problem));
        continue;
      }
      if (scan.inspected >= MAX_INSPECTED) {
        scan.skip('not opened (limit reached)');
        continue;
      }
      scan.inspected++;
      const record = await readRecord(a, api, opts, path.join(tmp, `${a.id}.zip`));
      if (typeof record === 'string') scan.skip(words(record));
      else yield { artifact: a, record };
    }
    // The listing is newest first: a page with nothing recent ends the search.
    if (artifacts.length < PER_PAGE || !artifacts.some((a) => a.createdAt >= now - days * DAY_MS)) break;
    if (page === MAX_PAGES) scan.morePages = true;
  }
}

/** One human line saying what proved the test. */
export function proofText(p: RecentTestProof): string {
  const run = p.runId !== undefined ? `run ${p.runId}${p.runAttempt && p.runAttempt > 1 ? ` (attempt ${p.runAttempt})` : ''}` : 'an unknown run';
  return `test upgrade to ${p.target} (request ${p.requestId}) finished ${p.finishedAt} in ${run}${p.workflow ? ` of "${p.workflow}"` : ''}, artifact "${p.artifact.name}" (id ${p.artifact.id})`;
}

export async function listPage(api: string, repository: string, page: number, opts: RecentTestOptions): Promise<ReturnType<typeof parseArtifactList>> {
  const url = `${api}/repos/${repository}/actions/artifacts?per_page=${PER_PAGE}&page=${page}`;
  try {
    // A GET: safe to repeat after a network blip or a 5xx, so one hiccup does not block production.
    const { body } = await withRetry(() => callJson({ url, what: `listing the artifacts of ${repository}`, headers: ghHeaders(opts.token), signal: opts.signal }), {
      attempts: 3,
      baseMs: Number(opts.env.ODOO_UPGRADE_RETRY_BASE_MS) > 0 ? Number(opts.env.ODOO_UPGRADE_RETRY_BASE_MS) : 1000,
      signal: opts.signal,
      retryable: (err) => (err instanceof HttpStatusError ? (err.status >= 500 || err.status === 429 ? (err.retryAfterMs ?? true) : false) : isTransientNetworkError(err)),
      onRetry: (err, attempt) => opts.log(`${opts.input ?? INPUT}: listing the artifacts failed (${(err as Error).message}); trying again (${attempt + 1}/3).`),
    });
    return parseArtifactList(body);
  } catch (err) {
    throw restError(err, `listing the artifacts of ${repository}`, repository, opts);
  }
}

export function ghHeaders(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' };
}

/** The REST failure in words that say which permission or input to fix; never silent. */
function restError(err: unknown, doing: string, repository: string, opts: Pick<RecentTestOptions, 'input' | 'consequence'>): RecentTestError {
  const status = err instanceof HttpStatusError ? err.status : undefined;
  let text: string;
  if (status === 401) text = 'the token in `github-token` was refused (401: bad or expired credentials).';
  else if (status === 403) text = 'the token in `github-token` may not read this repository\'s Actions artifacts (403): give the workflow (or job) `permissions: actions: read`.';
  else if (status === 404) text = `${repository || 'it'} was not found, or the token in \`github-token\` cannot see it (404).`;
  else if (err instanceof HttpStatusError || err instanceof BadAnswerError) text = err.message;
  else text = `the GitHub API could not be reached (${(err as { code?: string }).code ?? (err as Error)?.message ?? String(err)}).`;
  return new RecentTestError(`Input ${opts.input ?? INPUT}: ${doing} failed: ${text} ${opts.consequence ?? CANNOT_SKIP}`, { cause: err });
}

/**
 * The record in one artifact, or why there is none. Only the zip's tail (its central
 * directory) and the record's own bytes are fetched, with range requests, into a sparse
 * copy the zip reader can open: an artifact holding a multi-GiB dump costs a few KiB.
 */
export async function readRecord(a: ListedArtifact, api: string, opts: RecentTestOptions, file: string): Promise<ResultRecord | string> {
  const doing = `downloading artifact "${a.name}" (id ${a.id})`;
  // The token goes to the API only, never to wherever a listing points.
  if (new URL(a.downloadUrl).origin !== new URL(api).origin) return 'download address outside the API';
  let blobUrl: string;
  let blobHeaders: Record<string, string> = {};
  try {
    const res = await request(a.downloadUrl, { method: 'GET', headers: ghHeaders(opts.token), signal: opts.signal, dispatcher: dispatcher() });
    await discard(res.body);
    const location = res.headers.location;
    if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
      blobUrl = new URL(location, a.downloadUrl).toString();
    } else if (res.statusCode >= 200 && res.statusCode < 300) {
      blobUrl = a.downloadUrl; // served in place: ask again for ranges, with the token
      blobHeaders = ghHeaders(opts.token);
    } else if (res.statusCode === 404 || res.statusCode === 410) {
      return 'gone since it was listed';
    } else {
      throw new HttpStatusError(doing, res.statusCode, undefined, '');
    }
  } catch (err) {
    throw restError(err, doing, '', opts);
  }
  const fh = await open(file, 'w+');
  try {
    let total = a.size;
    let tailStart = total;
    const fetchInto = async (start: number, end: number): Promise<number> => {
      const got = await fetchRange(blobUrl, blobHeaders, start, end, opts.signal).catch((err: unknown) => {
        // The signed address is a secret of sorts: the message names the artifact only.
        throw new RecentTestError(`Input ${opts.input ?? INPUT}: ${doing} failed: ${(err as Error).message} ${opts.consequence ?? CANNOT_SKIP}`);
      });
      total = got.total;
      await fh.truncate(total);
      await fh.write(got.bytes, 0, got.bytes.length, got.start);
      return got.start;
    };
    if (!(total > 0)) return 'empty';
    tailStart = await fetchInto(Math.max(0, total - TAIL_BYTES), total - 1);
    let entries;
    try {
      entries = await listZip(file);
    } catch (err) {
      if (!(err instanceof ZipFormatError)) throw err;
      if (tailStart === 0) return 'not a zip';
      tailStart = await fetchInto(Math.max(0, total - MAX_TAIL_BYTES), total - 1);
      entries = await listZip(file).catch((e: unknown) => {
        if (e instanceof ZipFormatError) return undefined;
        throw e;
      });
      if (!entries) return 'not a readable zip';
    }
    opts.onZip?.(a, { blobUrl, blobHeaders, total, entries });
    const entry = entries.find((e) => e.name === RESULT_FILE);
    if (!entry) return `no ${RESULT_FILE}`;
    if (entry.size > MAX_RECORD_BYTES || entry.compressedSize > MAX_RECORD_BYTES) return `${RESULT_FILE} too large`;
    // Local header (30 bytes), name and extra field (each up to 64 KiB), then the data.
    if (entry.offset < tailStart) await fetchInto(entry.offset, Math.min(total, entry.offset + 30 + 2 * 0xffff + entry.compressedSize) - 1);
    let text: string;
    try {
      text = (await readBounded(await openZipEntry(file, entry), MAX_RECORD_BYTES)).toString('utf8');
    } catch (err) {
      if (err instanceof ZipFormatError || err instanceof BadAnswerError) return `${RESULT_FILE} unreadable`;
      throw err;
    }
    const rec = parseResultRecord(text);
    return typeof rec === 'string' ? `${RESULT_FILE} ${rec}` : rec;
  } finally {
    await fh.close();
  }
}

/** Bytes start..end (inclusive) of a blob, and its total size; a server ignoring ranges is read only when small. */
async function fetchRange(
  url: string,
  headers: Record<string, string>,
  start: number,
  end: number,
  signal?: AbortSignal,
): Promise<{ start: number; bytes: Buffer; total: number }> {
  const res = await request(url, { method: 'GET', headers: { ...headers, range: `bytes=${start}-${end}` }, signal, dispatcher: dispatcher() });
  if (res.statusCode === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
    if (!m) {
      await discard(res.body);
      throw new BadAnswerError('the artifact store answered a range without a valid Content-Range.');
    }
    const bytes = await readBounded(res.body, MAX_TAIL_BYTES + 2 * 0xffff + MAX_RECORD_BYTES);
    const from = Number(m[1]);
    if (bytes.length !== Number(m[2]) - from + 1) throw new BadAnswerError('the artifact store sent a range of the wrong length.');
    return { start: from, bytes, total: Number(m[3]) };
  }
  if (res.statusCode === 200) {
    // Whole blob: fine when small, refused when large (never read a dump to find a small file).
    const bytes = await readBounded(res.body, MAX_TAIL_BYTES);
    return { start: 0, bytes, total: bytes.length };
  }
  await discard(res.body);
  throw new HttpStatusError('the artifact store', res.statusCode, undefined, '');
}

/** Drops an answer's body without leaving an unhandled stream error behind. */
export async function discard(body: { dump(opts?: { limit: number }): Promise<void> }): Promise<void> {
  await body.dump({ limit: 64 * 1024 }).catch(() => undefined);
}
