// Artifacts of another run through the REST API alone (GET .../runs/{id}/artifacts, then the
// artifact's zip), for GitHub Enterprise Server, where @actions/artifact refuses to run at all.
// The token goes to the API only: the zip's storage address (a redirect) gets none.
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { callJson, dispatcher, HttpStatusError } from '../net/http.ts';
import { isTransientNetworkError, withRetry } from '../net/retry.ts';
import { listZip, openZipEntry } from '../formats/zip.ts';

export interface RestArtifact {
  id: number;
  name: string;
  size: number;
  downloadUrl: string;
  expired: boolean;
}

const PER_PAGE = 100;
const MAX_PAGES = 10;
const MAX_REDIRECTS = 5;

function headers(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' };
}

const retryable = (err: unknown) => (err instanceof HttpStatusError ? err.status >= 500 || err.status === 429 : isTransientNetworkError(err));

/** The run's artifacts (at most 1000), as the REST API lists them. */
export async function listRunArtifacts(
  api: string,
  where: { owner: string; repo: string; runId: number; token: string },
  signal?: AbortSignal,
): Promise<RestArtifact[]> {
  const out: RestArtifact[] = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const url = `${api}/repos/${encodeURIComponent(where.owner)}/${encodeURIComponent(where.repo)}/actions/runs/${where.runId}/artifacts?per_page=${PER_PAGE}&page=${page}`;
    const { body } = await withRetry(() => callJson({ url, what: 'listing the artifacts', headers: headers(where.token), signal }), { attempts: 3, baseMs: 1000, signal, retryable });
    const listed = (body as { artifacts?: unknown }).artifacts;
    if (!Array.isArray(listed)) throw new Error('listing the artifacts: the answer has no `artifacts` array');
    for (const a of listed as Array<Record<string, unknown>>) {
      out.push({ id: Number(a.id), name: String(a.name ?? ''), size: Number(a.size_in_bytes ?? 0), downloadUrl: String(a.archive_download_url ?? ''), expired: a.expired === true });
    }
    if (listed.length < PER_PAGE) break;
  }
  return out;
}

/** Downloads the artifact's zip to `zipFile` and unpacks it into `dir`; the zip is removed after. */
export async function downloadArtifactZip(api: string, a: RestArtifact, token: string, zipFile: string, dir: string, signal?: AbortSignal): Promise<void> {
  if (a.expired) throw new HttpStatusError(`downloading artifact "${a.name}"`, 410, undefined, 'expired');
  const apiOrigin = new URL(api).origin;
  let url = a.downloadUrl;
  if (!url || new URL(url).origin !== apiOrigin) throw new Error(`artifact "${a.name}" has no download address on ${apiOrigin}`);
  try {
    for (let hop = 0; ; hop++) {
      // The redirect's target is a signed address: it needs no token, and gets none.
      const res = await request(url, { method: 'GET', headers: hop === 0 ? headers(token) : {}, signal, dispatcher: dispatcher() });
      const location = res.headers.location;
      if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string' && hop < MAX_REDIRECTS) {
        await res.body.dump().catch(() => undefined);
        url = new URL(location, url).toString();
        continue;
      }
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => undefined);
        throw new HttpStatusError(`downloading artifact "${a.name}"`, res.statusCode, undefined, '');
      }
      await pipeline(res.body, createWriteStream(zipFile));
      break;
    }
    await unzipInto(zipFile, dir);
  } finally {
    await rm(zipFile, { force: true });
  }
}

/** Every entry under `dir`; a name that would land outside it is refused, not skipped. */
async function unzipInto(zipFile: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const root = path.resolve(dir);
  for (const e of await listZip(zipFile)) {
    const dest = path.resolve(root, ...e.name.split('/'));
    if (e.name.includes('\\') || path.isAbsolute(e.name) || (dest !== root && !dest.startsWith(`${root}${path.sep}`))) {
      throw new Error(`the artifact's zip holds an entry with an unsafe name: "${e.name}"`);
    }
    if (e.isDirectory) {
      await mkdir(dest, { recursive: true });
      continue;
    }
    await mkdir(path.dirname(dest), { recursive: true });
    await pipeline(await openZipEntry(zipFile, e), createWriteStream(dest, { flags: 'wx' }));
  }
}
