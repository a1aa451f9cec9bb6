// Pending requests as workflow artifacts (handle-passphrase / collect): a run that leaves a
// request running publishes its sealed handle; a later run finds the newest handle matching
// `collect` in this repository's artifacts, opens it, and deletes it once the request ended.
// The listing follows require-recent-test's rules (newest first, bounded, fork runs ignored).
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { request } from 'undici';
import { BadAnswerError, HttpStatusError, dispatcher, readBounded } from '../net/http.ts';
import { openZip, ZipFormatError } from '../formats/zip.ts';
import { discard, ghHeaders, listPage, type ListedArtifact } from './recent-test.ts';
import { githubHost } from './ghes.ts';
import { HANDLE_FILE, HandleError, collectMatcher } from './handle.ts';

const MAX_PAGES = 10;
const MAX_HANDLE_ZIP = 1024 * 1024;
const MAX_HANDLE_TEXT = 64 * 1024;

export interface PendingContext {
  token: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  signal?: AbortSignal;
}

export interface FoundHandle {
  artifact: { id: number; name: string; createdAt: number; runId?: number };
  /** The sealed handle as stored (still encrypted). */
  sealed: string;
}

function where(env: NodeJS.ProcessEnv): { api: string; repository: string } {
  const repository = env.GITHUB_REPOSITORY ?? '';
  if (!/^[^/\s]+\/[^/\s]+$/.test(repository)) {
    throw new HandleError('collect', "looks through this repository's artifacts, but GITHUB_REPOSITORY is not set (is this a GitHub Actions job?).");
  }
  return { api: githubHost(env).apiUrl, repository };
}

/** The newest pending handle whose artifact name matches `pattern`; an error naming `collect` when there is none. */
export async function findHandle(pattern: string, ctx: PendingContext): Promise<FoundHandle> {
  const { api, repository } = where(ctx.env);
  if (!ctx.token) throw new HandleError('collect', 'reads this repository\'s artifacts through the GitHub API, which needs `github-token` (leave it at its default, with `permissions: actions: read`).');
  const matches = collectMatcher(pattern);
  const listing = { days: 0, target: '', token: ctx.token, env: ctx.env, log: ctx.log, signal: ctx.signal, input: '`collect`', consequence: 'Nothing was sent to the platform.' };
  let listed = 0;
  const skipped: string[] = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const { artifacts } = await listPage(api, repository, page, listing);
    listed += artifacts.length;
    for (const a of artifacts) {
      if (!matches(a.name)) continue;
      if (a.expired) {
        skipped.push(`"${a.name}" expired`);
        continue;
      }
      // Anyone can open a pull request from a fork; its runs may store artifacts of any name.
      if (a.fromFork) {
        skipped.push(`"${a.name}" stored by a run of a fork`);
        continue;
      }
      const sealed = await downloadHandle(a, api, ctx);
      if (typeof sealed === 'string') return { artifact: { id: a.id, name: a.name, createdAt: a.createdAt, ...(a.runId !== undefined ? { runId: a.runId } : {}) }, sealed };
      skipped.push(`"${a.name}" ${sealed.problem}`);
    }
    if (artifacts.length < 100) break;
  }
  throw new HandleError(
    'collect',
    `no pending handle named "${pattern}" was found in the artifacts of ${repository} (${listed} listed${skipped.length ? `; ${skipped.slice(0, 5).join('; ')}` : ''}). ` +
      'A handle is deleted once its request is collected; it expires with its retention; and only a run with `handle-passphrase` that left its request running (`wait: false`, or `timeout-minutes`) publishes one. Nothing was sent to the platform.',
  );
}

/** The handle file inside a (small) artifact zip, or why it cannot be read. */
async function downloadHandle(a: ListedArtifact, api: string, ctx: PendingContext): Promise<string | { problem: string }> {
  // The token goes to the API only, never to wherever a listing points.
  if (!a.downloadUrl || new URL(a.downloadUrl).origin !== new URL(api).origin) return { problem: 'has no download address on the API' };
  if (a.size > MAX_HANDLE_ZIP) return { problem: 'is too large to be a handle' };
  const res = await request(a.downloadUrl, { method: 'GET', headers: ghHeaders(ctx.token), signal: ctx.signal, dispatcher: dispatcher() });
  let bytes: Buffer;
  if (res.statusCode >= 300 && res.statusCode < 400 && typeof res.headers.location === 'string') {
    await discard(res.body);
    const blob = await request(new URL(res.headers.location, a.downloadUrl).toString(), { method: 'GET', signal: ctx.signal, dispatcher: dispatcher() });
    if (blob.statusCode !== 200) {
      await discard(blob.body);
      throw new HttpStatusError(`downloading artifact "${a.name}"`, blob.statusCode, undefined, '');
    }
    bytes = await readBounded(blob.body, MAX_HANDLE_ZIP);
  } else if (res.statusCode === 200) {
    bytes = await readBounded(res.body, MAX_HANDLE_ZIP);
  } else {
    await discard(res.body);
    if (res.statusCode === 404 || res.statusCode === 410) return { problem: 'is gone since it was listed' };
    throw new HttpStatusError(`downloading artifact "${a.name}"`, res.statusCode, undefined, '');
  }
  const dir = await mkdtemp(path.join(ctx.env.RUNNER_TEMP || os.tmpdir(), 'handle-'));
  try {
    const file = path.join(dir, 'handle.zip');
    await writeFile(file, bytes);
    const zip = await openZip(file).catch((err: unknown) => {
      if (err instanceof ZipFormatError) return undefined;
      throw err;
    });
    if (!zip) return { problem: 'is not a readable zip' };
    try {
      const entry = zip.entries.find((e) => e.name === HANDLE_FILE);
      if (!entry) return { problem: `holds no ${HANDLE_FILE}` };
      if (entry.size > MAX_HANDLE_TEXT) return { problem: `holds a ${HANDLE_FILE} too large to be a handle` };
      return (await readBounded(await zip.open(entry), MAX_HANDLE_TEXT)).toString('utf8');
    } catch (err) {
      if (err instanceof ZipFormatError || err instanceof BadAnswerError) return { problem: `holds a damaged ${HANDLE_FILE}` };
      throw err;
    } finally {
      zip.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Deletes a collected handle's artifact; false (and the reason logged by the caller) when GitHub refused. */
export async function deleteHandle(artifactId: number, ctx: PendingContext): Promise<true | string> {
  const { api, repository } = where(ctx.env);
  const res = await request(`${api}/repos/${repository}/actions/artifacts/${artifactId}`, { method: 'DELETE', headers: ghHeaders(ctx.token), signal: ctx.signal, dispatcher: dispatcher() });
  await discard(res.body);
  if (res.statusCode === 204 || res.statusCode === 404) return true;
  if (res.statusCode === 403) return 'the token may not delete artifacts (403): give the job `permissions: actions: write`';
  return `GitHub answered HTTP ${res.statusCode}`;
}

/** Writes the sealed handle where the artifact is made from. */
export async function writeHandleFile(dir: string, sealed: string): Promise<string> {
  const file = path.join(dir, HANDLE_FILE);
  const fh = await open(file, 'wx', 0o600);
  try {
    await fh.writeFile(sealed, 'utf8');
  } finally {
    await fh.close();
  }
  return file;
}
