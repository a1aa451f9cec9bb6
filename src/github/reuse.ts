// `reuse-days`: a pull request's rehearsal need not ask the platform again for the upgrade of
// a dump it already upgraded. The platform's result depends on the dump and the target only,
// so a recent successful test upgrade of the same bytes to the same target, whose artifact
// still holds the upgraded dump, is fetched from GitHub instead (Odoo.sh's model: upgrade the
// backup once, restore it on every commit).
// Listing, trust and record reading are require-recent-test's (src/recent-test.ts): the same
// bounded newest-first listing, the same refusal of fork artifacts and of records naming
// another run. Only the entries needed (the upgraded dump, its notes or report, the
// filestore) are fetched, by range, straight from the artifact's zip into their files.
import { createWriteStream } from 'node:fs';
import { cp, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw } from 'node:zlib';
import { request } from 'undici';
import { BadAnswerError, HttpStatusError, dispatcher } from '../net/http.ts';
import { DEFLATE, STORED, verifier, ZipFormatError, type ZipEntry } from '../formats/zip.ts';
import { safeJoin } from '../postgres/filestore.ts';
import type { DownloadedFile } from '../platform/types.ts';
import { formatBytes } from '../transfer/progress.ts';
import type { ReusedUpgrade } from './reuse-text.ts';
import { dumpSha256 } from './digest.ts';
import { githubHost } from './ghes.ts';
import { discard, recordProblem, RESULT_FILE, type ListedArtifact, type OpenedZip, type RecentTestOptions, type ResultRecord, newScan, scanRecords } from './recent-test.ts';

const INPUT = '`reuse-days`';

export interface ReuseWanted {
  days: number;
  target: string;
  /** dumpSha256() of the dump this run would upload. */
  dumpSha256: string;
  download: 'archive' | 'sql' | 'none';
  api: 'auto' | 'v1' | 'rpc';
}

export interface ReuseOptions {
  want: ReuseWanted;
  token: string;
  env: NodeJS.ProcessEnv;
  outputDir: string;
  /** Scratch space on the same machine (the run's work dir). */
  workDir: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  now?: number;
}

export type ReuseOutcome = { hit: ReusedUpgrade; record: ResultRecord; downloads: DownloadedFile[] } | { miss: string };

/** Why this trusted record cannot stand for this run's upgrade, in the words of the miss line. */
export function reuseProblem(rec: ResultRecord, a: ListedArtifact, want: ReuseWanted & { repository: string; now: number }): string | undefined {
  const base = recordProblem(rec, a, want);
  if (base?.startsWith('target ')) return `different target (${base.slice('target '.length)})`;
  if (base?.startsWith('made in ') || base?.startsWith('names run ')) return `record not trusted (${base})`;
  if (base) return base;
  if (rec.state !== 'done' && rec.state !== 'delivered') return `ended in state ${rec.state}`;
  if (rec.dump.sha256 !== want.dumpSha256) return rec.dump.sha256 ? 'different dump (another SHA-256)' : 'no dump SHA-256 in the record';
  if (!rec.upgradedSha256 || !Array.isArray(rec.files)) return 'record without the upgraded dump\'s SHA-256 or file list (an older version of the action)';
  if (want.api !== 'auto' && rec.api !== want.api) return `made with the ${rec.api || 'unknown'} protocol, not ${want.api}`;
  const role = want.download === 'sql' ? 'sql' : 'dump';
  if (want.download !== 'none' && !rec.files.some((f) => f.role === role)) return `different download (no ${role} in the artifact)`;
  return undefined;
}

/** Looks for a reusable upgrade and fetches it; a miss says in one line why there was none. */
export async function findReusable(opts: ReuseOptions): Promise<ReuseOutcome> {
  const { want, env, log } = opts;
  const repository = env.GITHUB_REPOSITORY ?? '';
  if (!/^[^/\s]+\/[^/\s]+$/.test(repository)) return { miss: 'GITHUB_REPOSITORY is not set (not a GitHub Actions job?)' };
  if (!opts.token) return { miss: 'input `github-token` is empty, so the artifacts cannot be listed' };
  const { apiUrl: api, serverUrl: server } = githubHost(env);
  const now = opts.now ?? Date.now();
  const zips = new Map<number, OpenedZip>();
  const lookup: RecentTestOptions = {
    days: want.days, target: want.target, token: opts.token, env, log, signal: opts.signal, now,
    input: '`reuse-days`', consequence: 'Nothing was sent to the platform.',
    onZip: (a, zip) => zips.set(a.id, zip),
  };
  const scan = newScan();
  const tmp = await mkdtemp(path.join(opts.workDir, 'reuse-'));
  try {
    for await (const { artifact: a, record: rec } of scanRecords(scan, { api, repository, days: want.days, now, tmp }, lookup, missWords)) {
      const bad = reuseProblem(rec, a, { ...want, repository, now });
      if (bad) {
        scan.skip(bad);
        continue;
      }
      const zip = zips.get(a.id);
      if (!zip) {
        scan.skip('artifact unreadable');
        continue;
      }
      const got = await fetchResult(a, rec, zip, opts, tmp);
      if (typeof got === 'string') {
        scan.skip(got);
        continue;
      }
      const server = (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, '');
      const hit: ReusedUpgrade = {
        days: want.days,
        requestId: rec.requestId,
        api: rec.api,
        state: rec.state,
        finishedAt: rec.finishedAt,
        ageMs: Math.max(0, now - Date.parse(rec.finishedAt)),
        artifact: { id: a.id, name: a.name, url: `${server}/${repository}/actions/runs/${a.runId ?? rec.runId ?? ''}/artifacts/${a.id}`, size: a.size },
        fetchedBytes: got.fetched,
        ...(rec.databaseVersion ? { databaseVersion: rec.databaseVersion } : {}),
        ...(rec.runId !== undefined ? { runId: rec.runId, runUrl: `${server}/${repository}/actions/runs/${rec.runId}` } : {}),
        ...(rec.runAttempt !== undefined ? { runAttempt: rec.runAttempt } : {}),
        ...(rec.workflow ? { workflow: rec.workflow } : {}),
      };
      return { hit, record: rec, downloads: got.downloads };
    }
  } catch (err) {
    if (opts.signal?.aborted) throw err; // cancelled: not a reason to upgrade
    return { miss: `the artifacts of ${repository} could not be read (${plainReason(err)})` };
  } finally {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
  const { listed, inspected, reasons } = scan;
  if (!listed) return { miss: `none found (no artifacts in ${repository})` };
  const why = [...reasons.entries()].map(([r, n]) => `${n} ${r}`).join('; ');
  return { miss: `none found among ${listed} artifact${listed === 1 ? '' : 's'} (${inspected} opened${why ? `: ${why}` : ''})` };
}

/** One line of words for the miss; require-recent-test's errors speak of their own input. */
function plainReason(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof HttpStatusError && cause.status === 403) return 'the token may not read Actions artifacts (403): give the job `permissions: actions: read`';
  if (cause instanceof HttpStatusError) return `GitHub answered ${cause.status}`;
  return String((err as Error)?.message ?? err)
    .replace(/^Input `reuse-days`: /, '')
    .replace(/ Nothing was sent to the platform\.$/, '');
}

/** The scan's reasons in the words of the miss line. */
function missWords(why: string): string {
  if (why === 'expired') return 'artifact expired';
  if (why.includes('fork')) return `not trusted (${why})`;
  if (why === 'gone since it was listed') return 'artifact expired or deleted since it was listed';
  if (why.startsWith(RESULT_FILE) || why === 'not a zip') return `not a result (${why})`;
  return why;
}

/**
 * Fetches the upgraded dump, its notes or report and the filestore into outputDir, checked
 * against the record; or says why the artifact cannot serve (it then stays untouched).
 */
async function fetchResult(
  a: ListedArtifact,
  rec: ResultRecord,
  zip: OpenedZip,
  opts: ReuseOptions,
  tmp: string,
): Promise<{ downloads: DownloadedFile[]; fetched: number } | string> {
  const roles = opts.want.download === 'none' ? ['notes', 'report'] : ['dump', 'sql', 'notes', 'report', 'filestore'];
  const files = (rec.files ?? []).filter((f) => roles.includes(f.role) && safeJoin(opts.outputDir, f.name));
  const wanted = new Map<string, ZipEntry[]>();
  for (const f of files) {
    const inside = zip.entries.filter((e) => !e.isDirectory && (e.name === f.name || e.name.startsWith(`${f.name}/`)));
    if (!inside.length) {
      if (f.role === 'dump' || f.role === 'sql') return `artifact no longer holds the upgraded ${f.role} ${f.name}`;
      continue;
    }
    wanted.set(f.name, inside);
  }
  const stage = await mkdtemp(path.join(tmp, 'files-'));
  let fetched: number;
  try {
    fetched = await extract(zip, [...wanted.values()].flat(), stage, opts.signal);
  } catch (err) {
    if (err instanceof ZipFormatError) return `artifact damaged (${err.message})`;
    throw err;
  }
  const downloads: DownloadedFile[] = [];
  for (const f of files) {
    if (!wanted.has(f.name)) continue;
    const staged = path.join(stage, f.name);
    const st = await stat(staged);
    const isDump = f.role === 'dump' || f.role === 'sql';
    const sha = isDump || f.sha256 ? await dumpSha256(staged) : undefined;
    if (isDump && sha !== rec.upgradedSha256) return `upgraded dump does not match the record's SHA-256 (${sha} instead of ${rec.upgradedSha256})`;
    if (f.sha256 && sha !== f.sha256) return `${f.name} does not match the record's SHA-256`;
    const bytes = st.isDirectory() ? f.bytes : st.size;
    downloads.push({ role: f.role as DownloadedFile['role'], path: path.join(opts.outputDir, f.name), bytes, ...(sha ? { sha256: sha } : {}) });
  }
  // Checked: now into place, replacing what an earlier run left there.
  await mkdir(opts.outputDir, { recursive: true });
  for (const d of downloads) {
    const rel = path.relative(opts.outputDir, d.path);
    await rm(d.path, { recursive: true, force: true });
    await mkdir(path.dirname(d.path), { recursive: true });
    await rename(path.join(stage, rel), d.path).catch(async (err: NodeJS.ErrnoException) => {
      // output-dir on another file system than the work dir: copy instead.
      if (err.code !== 'EXDEV') throw err;
      await cp(path.join(stage, rel), d.path, { recursive: true });
    });
  }
  opts.log(`${INPUT}: fetched ${downloads.map((d) => `${d.role} ${path.relative(opts.outputDir, d.path)}`).join(', ')} (${formatBytes(fetched)} of the artifact's ${formatBytes(a.size)}); the upgraded dump matches the record's SHA-256.`);
  return { downloads, fetched };
}

/**
 * Writes the given zip entries under `dir`, each checked against its CRC-32 and size.
 * Entries next to each other in the zip come in one range request; returns the bytes fetched.
 */
async function extract(zip: OpenedZip, wanted: ZipEntry[], dir: string, signal?: AbortSignal): Promise<number> {
  const all = [...zip.entries].sort((x, y) => x.offset - y.offset);
  const index = new Map(all.map((e, i) => [e, i]));
  const sorted = [...wanted].sort((x, y) => x.offset - y.offset);
  const groups: ZipEntry[][] = [];
  for (const e of sorted) {
    const last = groups.at(-1);
    if (last && index.get(last.at(-1)!)! + 1 === index.get(e)) last.push(e);
    else groups.push([e]);
  }
  let fetched = 0;
  for (const group of groups) {
    const first = group[0]!;
    const after = all[index.get(group.at(-1)!)! + 1];
    const end = (after ? after.offset : zip.total) - 1;
    const res = await request(zip.blobUrl, { method: 'GET', headers: { ...zip.blobHeaders, range: `bytes=${first.offset}-${end}` }, signal, dispatcher: dispatcher() });
    if (res.statusCode !== 206 && res.statusCode !== 200) {
      await discard(res.body);
      throw new HttpStatusError('the artifact store', res.statusCode, undefined, '');
    }
    const reader = byteReader(res.body, res.statusCode === 206 ? first.offset : 0, (n) => (fetched += n));
    try {
      for (const e of group) {
        if (e.encrypted) throw new ZipFormatError(`entry "${e.name}" is encrypted`);
        if (e.method !== STORED && e.method !== DEFLATE) throw new ZipFormatError(`entry "${e.name}" uses compression method ${e.method}`);
        const dest = safeJoin(dir, e.name);
        if (!dest) throw new ZipFormatError(`entry "${e.name}" leaves its folder`);
        await reader.skipTo(e.offset);
        const head = await reader.read(30);
        if (head.readUInt32LE(0) !== 0x04034b50) throw new ZipFormatError(`no local header for entry "${e.name}"`);
        await reader.skipTo(e.offset + 30 + head.readUInt16LE(26) + head.readUInt16LE(28));
        await mkdir(path.dirname(dest), { recursive: true });
        const data = Readable.from(reader.take(e.compressedSize));
        if (e.method === DEFLATE) await pipeline(data, createInflateRaw(), verifier(e), createWriteStream(dest));
        else await pipeline(data, verifier(e), createWriteStream(dest));
      }
    } finally {
      await discard(res.body);
    }
  }
  return fetched;
}

/** Sequential reads over a response body that starts at byte `start` of the zip. */
function byteReader(body: AsyncIterable<Uint8Array>, start: number, onBytes: (n: number) => void) {
  const it = body[Symbol.asyncIterator]();
  let pending: Buffer = Buffer.alloc(0);
  let pos = start; // offset of pending[0] in the zip
  const more = async (): Promise<void> => {
    const r = await it.next();
    if (r.done) throw new ZipFormatError('the artifact store sent fewer bytes than the zip says (cut short?)');
    onBytes(r.value.length);
    const chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.length);
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
  };
  return {
    async skipTo(at: number): Promise<void> {
      if (at < pos) throw new BadAnswerError('zip entries overlap');
      while (pos < at) {
        if (!pending.length) await more();
        const k = Math.min(at - pos, pending.length);
        pending = pending.subarray(k);
        pos += k;
      }
    },
    async read(n: number): Promise<Buffer> {
      while (pending.length < n) await more();
      const out = pending.subarray(0, n);
      pending = pending.subarray(n);
      pos += n;
      return out;
    },
    async *take(n: number): AsyncGenerator<Buffer> {
      let left = n;
      while (left > 0) {
        if (!pending.length) await more();
        const k = Math.min(left, pending.length);
        const out = pending.subarray(0, k);
        pending = pending.subarray(k);
        pos += k;
        left -= k;
        yield out;
      }
    },
  };
}
