// The `dump-artifact` source: a workflow artifact of this run (the artifact service, with
// the job's runtime token) or of another run or repository (the REST API, with
// `github-token`), downloaded into a fresh folder under the work dir. The artifact must
// hold one dump: one file, or one pg_dump directory dump. @actions/artifact is imported
// only here, when a run takes its dump from an artifact.
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { DumpError } from '../formats/inspect.ts';
import { secrets as processSecrets, type SecretRegistry } from '../secrets.ts';
import { formatBytes } from '../transfer/progress.ts';
import { listZip, ZipFormatError } from '../formats/zip.ts';
import type { ResolvedDump } from './types.ts';
import { githubHost } from '../github/ghes.ts';
import { downloadArtifactZip, listRunArtifacts } from './artifact-rest.ts';
import { withLibraryEnv } from '../github/library-env.ts';

export interface ArtifactSourceOptions {
  name: string;
  runId?: number;
  repository?: string; // owner/name
  token: string;
  workDir: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** Whose secrets are redacted from errors: this process's registry by default. */
  secrets?: SecretRegistry;
}

/** Where the artifact lives: this run (artifact service) or elsewhere (REST, with a token). */
export type ArtifactPlace =
  | { own: true; runId?: number; repository?: string }
  | { own: false; runId: number; owner: string; repo: string; token: string };

interface Found {
  id: number;
  name: string;
  size: number;
  digest?: string;
}

type Client = InstanceType<typeof import('@actions/artifact').DefaultArtifactClient>;
type LibraryClient = Pick<Client, 'listArtifacts' | 'downloadArtifact'>;

const INPUT = 'dump-artifact';
const MAX_LISTED = 10;

export async function fromArtifact(opts: ArtifactSourceOptions, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedDump> {
  const name = opts.name.trim();
  if (!name) throw new DumpError(`${INPUT}: the artifact name is empty.`);
  const place = artifactPlace(opts, env);
  const where = placeText(place);
  const description = `artifact "${name}" of ${where}`;
  const host = githubHost(env);
  if (host.enterpriseServer) {
    if (place.own) {
      throw new DumpError(
        `${INPUT}: this job runs on GitHub Enterprise Server (${host.serverUrl}), which has no artifacts v4 service, so an artifact of this run cannot be read by the action. ` +
          'Download it with actions/download-artifact@v3 in an earlier step and give the file with `dump`; an artifact of an earlier run can be named with `dump-artifact-run-id`.',
      );
    }
    return fromArtifactRest(opts, name, place, where, host.apiUrl);
  }
  if (place.own) {
    const missing = ['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_RESULTS_URL'].filter((k) => !env[k]);
    if (missing.length) {
      throw new DumpError(
        `${INPUT}: cannot reach the artifact service of this run: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set ` +
          '(outside a GitHub Actions job, or in a container step that does not pass them on). ' +
          'For an artifact of another run, set `dump-artifact-run-id` (it then uses `github-token`).',
      );
    }
  }

  opts.signal?.throwIfAborted();
  // The library reads the runtime token and service URL from process.env: the job's, for each call.
  const { DefaultArtifactClient } = await import('@actions/artifact');
  const client = libraryClient(new DefaultArtifactClient(), env);
  const redact = opts.secrets ?? processSecrets;
  const found = await findArtifact(client, name, place, where, redact);

  const tmp = await mkdtemp(path.join(opts.workDir, 'dump-artifact-'));
  const cleanup = () => rm(tmp, { recursive: true, force: true });
  try {
    // The folder's name is what a directory dump at the artifact's root is called.
    const dir = path.join(tmp, folderName(found.name));
    opts.log(`Downloading ${description} (id ${found.id}, ${formatBytes(found.size)})`);
    const download = (skipDecompress: boolean) => abortable(downloadInto(client, found, place, dir, skipDecompress, where, redact), opts.signal);

    // An `archive: false` upload of a .zip (an Odoo backup) carries the zip type, so the
    // library would unzip the backup itself: fetch the bytes as they are, then decide.
    let kept = false;
    if (/\.zip$/i.test(found.name)) {
      await download(true);
      kept = await keepAsBackupZip(dir, found.name);
      if (!kept) {
        await rm(dir, { recursive: true, force: true });
        await download(false);
      }
    } else {
      await download(false);
    }
    if (!kept) await nameRawFile(dir, found.name);

    const files = await listFiles(dir);
    const chosen = pickDump(files, found.name, where);
    const dumpPath = chosen === '' ? dir : path.join(dir, ...chosen.split('/'));
    opts.log(`Artifact "${found.name}" holds ${chosen === '' ? 'a directory dump' : `"${chosen}"`}.`);
    return { path: dumpPath, kind: 'artifact', description, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** GHES: the run's listing and the artifact's zip through the REST API at GITHUB_API_URL. */
async function fromArtifactRest(opts: ArtifactSourceOptions, name: string, place: Extract<ArtifactPlace, { own: false }>, where: string, api: string): Promise<ResolvedDump> {
  let listed;
  try {
    listed = await listRunArtifacts(api, place, opts.signal);
  } catch (err) {
    throw accessError(err, place, where, opts.secrets ?? processSecrets);
  }
  const found = findIn(listed.filter((a) => !a.expired), name, place, where);
  const rest = listed.find((a) => a.id === found.id)!;
  const tmp = await mkdtemp(path.join(opts.workDir, 'dump-artifact-'));
  const cleanup = () => rm(tmp, { recursive: true, force: true });
  try {
    const dir = path.join(tmp, folderName(found.name));
    opts.log(`Downloading artifact "${name}" of ${where} (id ${found.id}, ${formatBytes(found.size)}) from ${new URL(api).host}`);
    try {
      await downloadArtifactZip(api, rest, place.token, path.join(tmp, 'artifact.zip'), dir, opts.signal);
    } catch (err) {
      throw err instanceof ZipFormatError ? new DumpError(`${INPUT}: the zip of artifact "${found.name}" is damaged: ${err.message}`) : accessError(err, place, where, opts.secrets ?? processSecrets, `downloading artifact "${found.name}"`);
    }
    const chosen = pickDump(await listFiles(dir), found.name, where);
    opts.log(`Artifact "${found.name}" holds ${chosen === '' ? 'a directory dump' : `"${chosen}"`}.`);
    return { path: chosen === '' ? dir : path.join(dir, ...chosen.split('/')), kind: 'artifact', description: `artifact "${name}" of ${where}`, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** This run unless another run is named; the runtime token reaches this run without `github-token`. */
export function artifactPlace(opts: Pick<ArtifactSourceOptions, 'runId' | 'repository' | 'token'>, env: NodeJS.ProcessEnv): ArtifactPlace {
  const ownRepo = env.GITHUB_REPOSITORY || undefined;
  const ownRun = env.GITHUB_RUN_ID ? Number(env.GITHUB_RUN_ID) : undefined;
  if (opts.runId === undefined) {
    if (opts.repository) throw new DumpError('`dump-artifact-repository` needs `dump-artifact-run-id` (the run that made the artifact).');
    return { own: true, runId: ownRun, repository: ownRepo };
  }
  const repository = opts.repository || ownRepo;
  if (!repository) throw new DumpError('`dump-artifact-run-id` is set but the repository is unknown (GITHUB_REPOSITORY is not set): set `dump-artifact-repository` too.');
  const [owner, repo, ...rest] = repository.split('/');
  if (!owner || !repo || rest.length) throw new DumpError(`\`dump-artifact-repository\` must be \`owner/name\`, got "${repository}".`);
  const sameRepo = ownRepo !== undefined && ownRepo.toLowerCase() === repository.toLowerCase();
  if (sameRepo && opts.runId === ownRun && env.ACTIONS_RUNTIME_TOKEN) return { own: true, runId: ownRun, repository: ownRepo };
  if (!opts.token) {
    throw new DumpError(
      `${INPUT}: an artifact of run ${opts.runId} (${repository}) is read through the GitHub API, which needs a token: ` +
        'input `github-token` is empty. Leave it at its default (`${{ github.token }}`) with `permissions: actions: read`, ' +
        'or give a token that can read that repository\'s Actions.',
    );
  }
  return { own: false, runId: opts.runId, owner, repo, token: opts.token };
}

function placeText(p: ArtifactPlace): string {
  if (!p.own) return `run ${p.runId} (${p.owner}/${p.repo})`;
  if (p.runId !== undefined && p.repository) return `run ${p.runId} (${p.repository})`;
  return 'this run';
}

function findBy(p: ArtifactPlace) {
  return p.own ? undefined : { token: p.token, workflowRunId: p.runId, repositoryOwner: p.owner, repositoryName: p.repo };
}

/** One listing finds the artifact and, when it is missing, says what the run does hold. */
async function findArtifact(client: LibraryClient, name: string, place: ArtifactPlace, where: string, secrets: SecretRegistry): Promise<Found> {
  let listed: Found[];
  try {
    const by = findBy(place);
    ({ artifacts: listed } = await client.listArtifacts(by ? { findBy: by } : {}));
  } catch (err) {
    throw accessError(err, place, where, secrets);
  }
  return findIn(listed, name, place, where);
}

/** The newest artifact of that name, or an error saying what the run does hold. */
function findIn(listed: Found[], name: string, place: ArtifactPlace, where: string): Found {
  // Several with one name (re-runs): the newest, as the library's getArtifact picks.
  const match = listed.filter((a) => a.name === name).sort((a, b) => b.id - a.id)[0];
  if (match) return match;
  const names = [...new Set(listed.map((a) => a.name))].sort();
  const caseTwin = names.find((n) => n.toLowerCase() === name.toLowerCase());
  const has = names.length
    ? `That run has ${names.length === 1 ? 'one artifact' : `${names.length} artifacts`}: ${quoteList(names)}.${caseTwin ? ` Names are case-sensitive: did you mean "${caseTwin}"?` : ''}`
    : 'That run has no artifacts (none uploaded yet, or all expired).';
  const hint = place.own
    ? ' An artifact of another workflow run needs `dump-artifact-run-id` (and `dump-artifact-repository` for another repository); an artifact of this run must be uploaded by a job that finished before this step.'
    : ' Artifacts expire after their retention period (90 days by default).';
  throw new DumpError(`${INPUT}: no artifact named "${name}" in ${where}. ${has}${hint}`);
}

async function downloadInto(client: LibraryClient, found: Found, place: ArtifactPlace, dir: string, skipDecompress: boolean, where: string, secrets: SecretRegistry): Promise<void> {
  await mkdir(dir, { recursive: true });
  const by = findBy(place);
  let result: { digestMismatch?: boolean };
  try {
    result = await client.downloadArtifact(found.id, {
      path: dir,
      skipDecompress,
      ...(found.digest ? { expectedHash: found.digest } : {}),
      ...(by ? { findBy: by } : {}),
    });
  } catch (err) {
    throw accessError(err, place, where, secrets, `downloading artifact "${found.name}"`);
  }
  if (result.digestMismatch) {
    throw new DumpError(`${INPUT}: the download of artifact "${found.name}" does not match its digest (${found.digest}): the bytes were damaged on the way. Run the job again.`);
  }
}

/** The library's two calls, each made with the job's environment in process.env. */
function libraryClient(client: Client, env: NodeJS.ProcessEnv): LibraryClient {
  return {
    listArtifacts: (...args) => withLibraryEnv(env, () => client.listArtifacts(...args)),
    downloadArtifact: (...args) => withLibraryEnv(env, () => client.downloadArtifact(...args)),
  };
}

/** The library's and the API's errors, in words that say which permission or input to fix. */
function accessError(err: unknown, place: ArtifactPlace, where: string, secrets: SecretRegistry, doing = 'listing its artifacts'): Error {
  const e = secrets.redactError(err);
  // Signed blob URLs carry their key in the query: never let one into a message.
  const msg = e.message.replace(/([?&](?:sig|se|sp|sv|sr)=)[^&\s"']+/gi, '$1***').split('\n')[0] ?? '';
  const status = statusOf(err, msg);
  let text: string;
  if (e.name === 'GHESNotSupportedError') {
    text = 'workflow artifacts (the artifact v4 service) are not available on GitHub Enterprise Server: download the dump in an earlier step and give it with `dump`.';
  } else if (status === 403) {
    text = place.own
      ? 'the artifact service refused the job\'s runtime token (403).'
      : `the token in \`github-token\` may not read the Actions artifacts of ${place.owner}/${place.repo} (403). ` +
        'Give the workflow (or job) `permissions: actions: read`; for another repository, use a token that can read its Actions.';
  } else if (status === 401) {
    text = 'the token in `github-token` was refused (401: bad or expired credentials).';
  } else if (status === 404 && !place.own) {
    text =
      `run ${place.runId} of ${place.owner}/${place.repo} was not found, or the token in \`github-token\` cannot see that repository ` +
      '(a workflow\'s own token reaches only its repository: for a private one elsewhere, use a token with `actions: read` there).';
  } else {
    text = msg || 'unknown error';
  }
  return new DumpError(`${INPUT}: ${doing} of ${where} failed: ${text}`, { cause: e });
}

function statusOf(err: unknown, msg: string): number | undefined {
  const s = (err as { status?: unknown }).status;
  if (typeof s === 'number') return s;
  const m = /\((\d{3})\)/.exec(msg); // Twirp client: "Failed request: (403) Forbidden"
  return m ? Number(m[1]) : undefined;
}

/** A .zip named artifact fetched unopened: keep it when it is an Odoo backup (dump.sql at its root). */
async function keepAsBackupZip(dir: string, artifactName: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true });
  const file = entries.length === 1 && entries[0]?.isFile() ? path.join(dir, entries[0].name) : undefined;
  if (!file) return false;
  let names: string[];
  try {
    names = (await listZip(file)).map((e) => e.name);
  } catch (err) {
    // Not a zip at all: a raw file with a misleading name, already as it should be.
    if (err instanceof ZipFormatError) {
      await nameRawFile(dir, artifactName);
      return true;
    }
    throw err;
  }
  if (!names.includes('dump.sql')) return false;
  await nameRawFile(dir, artifactName);
  return true;
}

/** Without Content-Disposition the library calls a raw download "artifact"; its real name is the artifact's. */
async function nameRawFile(dir: string, artifactName: string): Promise<void> {
  const entries = await readdir(dir);
  const target = folderName(artifactName);
  if (entries.length !== 1 || entries[0] !== 'artifact' || !path.extname(target) || target === 'artifact') return;
  await rename(path.join(dir, 'artifact'), path.join(dir, target));
}

/** Files below `dir`, as `/`-separated relative paths, sorted. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)).split(path.sep).join('/'))
    .sort();
}

/**
 * The one dump among the artifact's files: '' for a directory dump at the root, else the
 * relative path of the file or directory dump. Several candidates, or none, is an error.
 */
export function pickDump(files: string[], artifactName: string, where: string): string {
  const dirDumps = [...new Set(files.filter((f) => f === 'toc.dat' || f.endsWith('/toc.dat')).map((f) => f.slice(0, -'toc.dat'.length).replace(/\/$/, '')))]
    .sort((a, b) => a.length - b.length)
    // Keep the outermost: a dump folder inside another is part of it.
    .filter((d, i, all) => !all.slice(0, i).some((outer) => outer === '' || d.startsWith(`${outer}/`)));
  const inside = (f: string) => dirDumps.some((d) => d === '' || f.startsWith(`${d}/`));
  const candidates = [...dirDumps.map((d) => (d === '' ? '' : `${d}/`)), ...files.filter((f) => !inside(f))];
  if (candidates.length === 1) return (candidates[0] ?? '').replace(/\/$/, '');
  if (candidates.length === 0) {
    throw new DumpError(`${INPUT}: artifact "${artifactName}" of ${where} is empty. Check the upload step: its \`path\` matched no file.`);
  }
  const shown = candidates.map((c) => (c === '' ? '(the artifact root: a directory dump)' : c));
  throw new DumpError(
    `${INPUT}: artifact "${artifactName}" of ${where} holds ${candidates.length} candidate dumps: ${quoteList(shown)}. ` +
      'It must hold one dump: one file, or one pg_dump directory dump (a folder with toc.dat). ' +
      'Upload the dump alone (e.g. `path: db.dump` in actions/upload-artifact), or download the artifact in an earlier step ' +
      '(actions/download-artifact) and give the file with `dump`.',
  );
}

function quoteList(names: string[]): string {
  const head = names.slice(0, MAX_LISTED).map((n) => `"${n}"`);
  return names.length > MAX_LISTED ? `${head.join(', ')} and ${names.length - MAX_LISTED} more` : head.join(', ');
}

/** The artifact's name as a folder or file name (artifact names never hold / or \\). */
function folderName(artifactName: string): string {
  const base = path.basename(artifactName).slice(0, 200);
  return base === '' || base === '.' || base === '..' ? 'artifact' : base;
}

/** The library's downloads cannot be stopped: on abort, stop waiting (cleanup removes what they write). */
function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
