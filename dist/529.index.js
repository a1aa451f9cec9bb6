export const id = 529;
export const ids = [529];
export const modules = {

/***/ 7310:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   t: () => (/* binding */ withLibraryEnv)
/* harmony export */ });
// @actions/artifact reads its runtime settings from process.env and nowhere else (the
// results service URL, the runtime token, the server, the workspace, retention, limits). The
// pipeline's environment is injected (Deps.env): for the length of one library call, the
// variables the library reads are taken from it. When the injected environment is
// process.env itself (the real action), nothing changes. Calls are serialized, so two runs in
// one process never see each other's values.
const LIBRARY_VARS = [
    'ACTIONS_RUNTIME_TOKEN',
    'ACTIONS_RESULTS_URL',
    'ACTIONS_RUNTIME_URL',
    'GITHUB_SERVER_URL',
    'GITHUB_WORKSPACE',
    'GITHUB_RETENTION_DAYS',
    'ACTIONS_ARTIFACT_UPLOAD_CONCURRENCY',
    'ACTIONS_ARTIFACT_UPLOAD_TIMEOUT_MS',
    'ACTIONS_ARTIFACT_MAX_ARTIFACT_COUNT',
];
let queue = Promise.resolve();
async function withLibraryEnv(env, fn) {
    if (env === process.env)
        return fn();
    const turn = queue.then(async () => {
        const saved = LIBRARY_VARS.map((k) => [k, process.env[k]]);
        for (const k of LIBRARY_VARS) {
            if (env[k] === undefined)
                delete process.env[k];
            else
                process.env[k] = env[k];
        }
        try {
            return await fn();
        }
        finally {
            for (const [k, v] of saved) {
                if (v === undefined)
                    delete process.env[k];
                else
                    process.env[k] = v;
            }
        }
    });
    queue = turn.catch(() => undefined);
    return turn;
}


/***/ }),

/***/ 15529:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  fromArtifact: () => (/* binding */ fromArtifact)
});

// UNUSED EXPORTS: artifactPlace, pickDump

// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(51455);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(76760);
var external_node_path_default = /*#__PURE__*/__webpack_require__.n(external_node_path_);
// EXTERNAL MODULE: ./src/formats/inspect.ts + 11 modules
var inspect = __webpack_require__(9827);
// EXTERNAL MODULE: ./src/secrets.ts
var secrets = __webpack_require__(27194);
// EXTERNAL MODULE: ./src/transfer/progress.ts
var progress = __webpack_require__(50484);
// EXTERNAL MODULE: ./src/formats/zip.ts + 3 modules
var zip = __webpack_require__(57700);
// EXTERNAL MODULE: ./src/github/ghes.ts
var ghes = __webpack_require__(95616);
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(73024);
// EXTERNAL MODULE: external "node:stream/promises"
var external_node_stream_promises_ = __webpack_require__(46466);
// EXTERNAL MODULE: ./node_modules/undici/index.js
var undici = __webpack_require__(46752);
// EXTERNAL MODULE: ./src/net/http.ts
var http = __webpack_require__(59663);
// EXTERNAL MODULE: ./src/net/retry.ts
var retry = __webpack_require__(37893);
;// CONCATENATED MODULE: ./src/source/artifact-rest.ts
// Artifacts of another run through the REST API alone (GET .../runs/{id}/artifacts, then the
// artifact's zip), for GitHub Enterprise Server, where @actions/artifact refuses to run at all.
// The token goes to the API only: the zip's storage address (a redirect) gets none.








const PER_PAGE = 100;
const MAX_PAGES = 10;
const MAX_REDIRECTS = 5;
function headers(token) {
    return { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' };
}
const retryable = (err) => (err instanceof http/* HttpStatusError */.F9 ? err.status >= 500 || err.status === 429 : (0,retry/* isTransientNetworkError */.l)(err));
/** The run's artifacts (at most 1000), as the REST API lists them. */
async function listRunArtifacts(api, where, signal) {
    const out = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
        const url = `${api}/repos/${encodeURIComponent(where.owner)}/${encodeURIComponent(where.repo)}/actions/runs/${where.runId}/artifacts?per_page=${PER_PAGE}&page=${page}`;
        const { body } = await (0,retry/* withRetry */.bD)(() => (0,http/* callJson */.X_)({ url, what: 'listing the artifacts', headers: headers(where.token), signal }), { attempts: 3, baseMs: 1000, signal, retryable });
        const listed = body.artifacts;
        if (!Array.isArray(listed))
            throw new Error('listing the artifacts: the answer has no `artifacts` array');
        for (const a of listed) {
            out.push({ id: Number(a.id), name: String(a.name ?? ''), size: Number(a.size_in_bytes ?? 0), downloadUrl: String(a.archive_download_url ?? ''), expired: a.expired === true });
        }
        if (listed.length < PER_PAGE)
            break;
    }
    return out;
}
/** Downloads the artifact's zip to `zipFile` and unpacks it into `dir`; the zip is removed after. */
async function downloadArtifactZip(api, a, token, zipFile, dir, signal) {
    if (a.expired)
        throw new http/* HttpStatusError */.F9(`downloading artifact "${a.name}"`, 410, undefined, 'expired');
    const apiOrigin = new URL(api).origin;
    let url = a.downloadUrl;
    if (!url || new URL(url).origin !== apiOrigin)
        throw new Error(`artifact "${a.name}" has no download address on ${apiOrigin}`);
    try {
        for (let hop = 0;; hop++) {
            // The redirect's target is a signed address: it needs no token, and gets none.
            const res = await (0,undici/* request */.Em)(url, { method: 'GET', headers: hop === 0 ? headers(token) : {}, signal, dispatcher: (0,http/* dispatcher */.oh)() });
            const location = res.headers.location;
            if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string' && hop < MAX_REDIRECTS) {
                await res.body.dump().catch(() => undefined);
                url = new URL(location, url).toString();
                continue;
            }
            if (res.statusCode !== 200) {
                await res.body.dump().catch(() => undefined);
                throw new http/* HttpStatusError */.F9(`downloading artifact "${a.name}"`, res.statusCode, undefined, '');
            }
            await (0,external_node_stream_promises_.pipeline)(res.body, (0,external_node_fs_.createWriteStream)(zipFile));
            break;
        }
        await unzipInto(zipFile, dir);
    }
    finally {
        await (0,promises_.rm)(zipFile, { force: true });
    }
}
/** Every entry under `dir`; a name that would land outside it is refused, not skipped. */
async function unzipInto(zipFile, dir) {
    await (0,promises_.mkdir)(dir, { recursive: true });
    const root = external_node_path_default().resolve(dir);
    for (const e of await (0,zip/* listZip */.oV)(zipFile)) {
        const dest = external_node_path_default().resolve(root, ...e.name.split('/'));
        if (e.name.includes('\\') || external_node_path_default().isAbsolute(e.name) || (dest !== root && !dest.startsWith(`${root}${(external_node_path_default()).sep}`))) {
            throw new Error(`the artifact's zip holds an entry with an unsafe name: "${e.name}"`);
        }
        if (e.isDirectory) {
            await (0,promises_.mkdir)(dest, { recursive: true });
            continue;
        }
        await (0,promises_.mkdir)(external_node_path_default().dirname(dest), { recursive: true });
        await (0,external_node_stream_promises_.pipeline)(await (0,zip/* openZipEntry */.qs)(zipFile, e), (0,external_node_fs_.createWriteStream)(dest, { flags: 'wx' }));
    }
}

// EXTERNAL MODULE: ./src/github/library-env.ts
var library_env = __webpack_require__(7310);
;// CONCATENATED MODULE: ./src/source/artifact.ts
// The `dump-artifact` source: a workflow artifact of this run (the artifact service, with
// the job's runtime token) or of another run or repository (the REST API, with
// `github-token`), downloaded into a fresh folder under the work dir. The artifact must
// hold one dump: one file, or one pg_dump directory dump. @actions/artifact is imported
// only here, when a run takes its dump from an artifact.









const INPUT = 'dump-artifact';
const MAX_LISTED = 10;
async function fromArtifact(opts, env = process.env) {
    const name = opts.name.trim();
    if (!name)
        throw new inspect/* DumpError */.tR(`${INPUT}: the artifact name is empty.`);
    const place = artifactPlace(opts, env);
    const where = placeText(place);
    const description = `artifact "${name}" of ${where}`;
    const host = (0,ghes/* githubHost */.S)(env);
    if (host.enterpriseServer) {
        if (place.own) {
            throw new inspect/* DumpError */.tR(`${INPUT}: this job runs on GitHub Enterprise Server (${host.serverUrl}), which has no artifacts v4 service, so an artifact of this run cannot be read by the action. ` +
                'Download it with actions/download-artifact@v3 in an earlier step and give the file with `dump`; an artifact of an earlier run can be named with `dump-artifact-run-id`.');
        }
        return fromArtifactRest(opts, name, place, where, host.apiUrl);
    }
    if (place.own) {
        const missing = ['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_RESULTS_URL'].filter((k) => !env[k]);
        if (missing.length) {
            throw new inspect/* DumpError */.tR(`${INPUT}: cannot reach the artifact service of this run: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set ` +
                '(outside a GitHub Actions job, or in a container step that does not pass them on). ' +
                'For an artifact of another run, set `dump-artifact-run-id` (it then uses `github-token`).');
        }
    }
    opts.signal?.throwIfAborted();
    // The library reads the runtime token and service URL from process.env: the job's, for each call.
    const { DefaultArtifactClient } = await Promise.all(/* import() */[__webpack_require__.e(351), __webpack_require__.e(118), __webpack_require__.e(645)]).then(__webpack_require__.bind(__webpack_require__, 9645));
    const client = libraryClient(new DefaultArtifactClient(), env);
    const redact = opts.secrets ?? secrets/* secrets */.O3;
    const found = await findArtifact(client, name, place, where, redact);
    const tmp = await (0,promises_.mkdtemp)(external_node_path_default().join(opts.workDir, 'dump-artifact-'));
    const cleanup = () => (0,promises_.rm)(tmp, { recursive: true, force: true });
    try {
        // The folder's name is what a directory dump at the artifact's root is called.
        const dir = external_node_path_default().join(tmp, folderName(found.name));
        opts.log(`Downloading ${description} (id ${found.id}, ${(0,progress/* formatBytes */.z3)(found.size)})`);
        const download = (skipDecompress) => abortable(downloadInto(client, found, place, dir, skipDecompress, where, redact), opts.signal);
        // An `archive: false` upload of a .zip (an Odoo backup) carries the zip type, so the
        // library would unzip the backup itself: fetch the bytes as they are, then decide.
        let kept = false;
        if (/\.zip$/i.test(found.name)) {
            await download(true);
            kept = await keepAsBackupZip(dir, found.name);
            if (!kept) {
                await (0,promises_.rm)(dir, { recursive: true, force: true });
                await download(false);
            }
        }
        else {
            await download(false);
        }
        if (!kept)
            await nameRawFile(dir, found.name);
        const files = await listFiles(dir);
        const chosen = pickDump(files, found.name, where);
        const dumpPath = chosen === '' ? dir : external_node_path_default().join(dir, ...chosen.split('/'));
        opts.log(`Artifact "${found.name}" holds ${chosen === '' ? 'a directory dump' : `"${chosen}"`}.`);
        return { path: dumpPath, kind: 'artifact', description, cleanup };
    }
    catch (err) {
        await cleanup();
        throw err;
    }
}
/** GHES: the run's listing and the artifact's zip through the REST API at GITHUB_API_URL. */
async function fromArtifactRest(opts, name, place, where, api) {
    let listed;
    try {
        listed = await listRunArtifacts(api, place, opts.signal);
    }
    catch (err) {
        throw accessError(err, place, where, opts.secrets ?? secrets/* secrets */.O3);
    }
    const found = findIn(listed.filter((a) => !a.expired), name, place, where);
    const rest = listed.find((a) => a.id === found.id);
    const tmp = await (0,promises_.mkdtemp)(external_node_path_default().join(opts.workDir, 'dump-artifact-'));
    const cleanup = () => (0,promises_.rm)(tmp, { recursive: true, force: true });
    try {
        const dir = external_node_path_default().join(tmp, folderName(found.name));
        opts.log(`Downloading artifact "${name}" of ${where} (id ${found.id}, ${(0,progress/* formatBytes */.z3)(found.size)}) from ${new URL(api).host}`);
        try {
            await downloadArtifactZip(api, rest, place.token, external_node_path_default().join(tmp, 'artifact.zip'), dir, opts.signal);
        }
        catch (err) {
            throw err instanceof zip/* ZipFormatError */.PA ? new inspect/* DumpError */.tR(`${INPUT}: the zip of artifact "${found.name}" is damaged: ${err.message}`) : accessError(err, place, where, opts.secrets ?? secrets/* secrets */.O3, `downloading artifact "${found.name}"`);
        }
        const chosen = pickDump(await listFiles(dir), found.name, where);
        opts.log(`Artifact "${found.name}" holds ${chosen === '' ? 'a directory dump' : `"${chosen}"`}.`);
        return { path: chosen === '' ? dir : external_node_path_default().join(dir, ...chosen.split('/')), kind: 'artifact', description: `artifact "${name}" of ${where}`, cleanup };
    }
    catch (err) {
        await cleanup();
        throw err;
    }
}
/** This run unless another run is named; the runtime token reaches this run without `github-token`. */
function artifactPlace(opts, env) {
    const ownRepo = env.GITHUB_REPOSITORY || undefined;
    const ownRun = env.GITHUB_RUN_ID ? Number(env.GITHUB_RUN_ID) : undefined;
    if (opts.runId === undefined) {
        if (opts.repository)
            throw new inspect/* DumpError */.tR('`dump-artifact-repository` needs `dump-artifact-run-id` (the run that made the artifact).');
        return { own: true, runId: ownRun, repository: ownRepo };
    }
    const repository = opts.repository || ownRepo;
    if (!repository)
        throw new inspect/* DumpError */.tR('`dump-artifact-run-id` is set but the repository is unknown (GITHUB_REPOSITORY is not set): set `dump-artifact-repository` too.');
    const [owner, repo, ...rest] = repository.split('/');
    if (!owner || !repo || rest.length)
        throw new inspect/* DumpError */.tR(`\`dump-artifact-repository\` must be \`owner/name\`, got "${repository}".`);
    const sameRepo = ownRepo !== undefined && ownRepo.toLowerCase() === repository.toLowerCase();
    if (sameRepo && opts.runId === ownRun && env.ACTIONS_RUNTIME_TOKEN)
        return { own: true, runId: ownRun, repository: ownRepo };
    if (!opts.token) {
        throw new inspect/* DumpError */.tR(`${INPUT}: an artifact of run ${opts.runId} (${repository}) is read through the GitHub API, which needs a token: ` +
            'input `github-token` is empty. Leave it at its default (`${{ github.token }}`) with `permissions: actions: read`, ' +
            'or give a token that can read that repository\'s Actions.');
    }
    return { own: false, runId: opts.runId, owner, repo, token: opts.token };
}
function placeText(p) {
    if (!p.own)
        return `run ${p.runId} (${p.owner}/${p.repo})`;
    if (p.runId !== undefined && p.repository)
        return `run ${p.runId} (${p.repository})`;
    return 'this run';
}
function findBy(p) {
    return p.own ? undefined : { token: p.token, workflowRunId: p.runId, repositoryOwner: p.owner, repositoryName: p.repo };
}
/** One listing finds the artifact and, when it is missing, says what the run does hold. */
async function findArtifact(client, name, place, where, secrets) {
    let listed;
    try {
        const by = findBy(place);
        ({ artifacts: listed } = await client.listArtifacts(by ? { findBy: by } : {}));
    }
    catch (err) {
        throw accessError(err, place, where, secrets);
    }
    return findIn(listed, name, place, where);
}
/** The newest artifact of that name, or an error saying what the run does hold. */
function findIn(listed, name, place, where) {
    // Several with one name (re-runs): the newest, as the library's getArtifact picks.
    const match = listed.filter((a) => a.name === name).sort((a, b) => b.id - a.id)[0];
    if (match)
        return match;
    const names = [...new Set(listed.map((a) => a.name))].sort();
    const caseTwin = names.find((n) => n.toLowerCase() === name.toLowerCase());
    const has = names.length
        ? `That run has ${names.length === 1 ? 'one artifact' : `${names.length} artifacts`}: ${quoteList(names)}.${caseTwin ? ` Names are case-sensitive: did you mean "${caseTwin}"?` : ''}`
        : 'That run has no artifacts (none uploaded yet, or all expired).';
    const hint = place.own
        ? ' An artifact of another workflow run needs `dump-artifact-run-id` (and `dump-artifact-repository` for another repository); an artifact of this run must be uploaded by a job that finished before this step.'
        : ' Artifacts expire after their retention period (90 days by default).';
    throw new inspect/* DumpError */.tR(`${INPUT}: no artifact named "${name}" in ${where}. ${has}${hint}`);
}
async function downloadInto(client, found, place, dir, skipDecompress, where, secrets) {
    await (0,promises_.mkdir)(dir, { recursive: true });
    const by = findBy(place);
    let result;
    try {
        result = await client.downloadArtifact(found.id, {
            path: dir,
            skipDecompress,
            ...(found.digest ? { expectedHash: found.digest } : {}),
            ...(by ? { findBy: by } : {}),
        });
    }
    catch (err) {
        throw accessError(err, place, where, secrets, `downloading artifact "${found.name}"`);
    }
    if (result.digestMismatch) {
        throw new inspect/* DumpError */.tR(`${INPUT}: the download of artifact "${found.name}" does not match its digest (${found.digest}): the bytes were damaged on the way. Run the job again.`);
    }
}
/** The library's two calls, each made with the job's environment in process.env. */
function libraryClient(client, env) {
    return {
        listArtifacts: (...args) => (0,library_env/* withLibraryEnv */.t)(env, () => client.listArtifacts(...args)),
        downloadArtifact: (...args) => (0,library_env/* withLibraryEnv */.t)(env, () => client.downloadArtifact(...args)),
    };
}
/** The library's and the API's errors, in words that say which permission or input to fix. */
function accessError(err, place, where, secrets, doing = 'listing its artifacts') {
    const e = secrets.redactError(err);
    // Signed blob URLs carry their key in the query: never let one into a message.
    const msg = e.message.replace(/([?&](?:sig|se|sp|sv|sr)=)[^&\s"']+/gi, '$1***').split('\n')[0] ?? '';
    const status = statusOf(err, msg);
    let text;
    if (e.name === 'GHESNotSupportedError') {
        text = 'workflow artifacts (the artifact v4 service) are not available on GitHub Enterprise Server: download the dump in an earlier step and give it with `dump`.';
    }
    else if (status === 403) {
        text = place.own
            ? 'the artifact service refused the job\'s runtime token (403).'
            : `the token in \`github-token\` may not read the Actions artifacts of ${place.owner}/${place.repo} (403). ` +
                'Give the workflow (or job) `permissions: actions: read`; for another repository, use a token that can read its Actions.';
    }
    else if (status === 401) {
        text = 'the token in `github-token` was refused (401: bad or expired credentials).';
    }
    else if (status === 404 && !place.own) {
        text =
            `run ${place.runId} of ${place.owner}/${place.repo} was not found, or the token in \`github-token\` cannot see that repository ` +
                '(a workflow\'s own token reaches only its repository: for a private one elsewhere, use a token with `actions: read` there).';
    }
    else {
        text = msg || 'unknown error';
    }
    return new inspect/* DumpError */.tR(`${INPUT}: ${doing} of ${where} failed: ${text}`, { cause: e });
}
function statusOf(err, msg) {
    const s = err.status;
    if (typeof s === 'number')
        return s;
    const m = /\((\d{3})\)/.exec(msg); // Twirp client: "Failed request: (403) Forbidden"
    return m ? Number(m[1]) : undefined;
}
/** A .zip named artifact fetched unopened: keep it when it is an Odoo backup (dump.sql at its root). */
async function keepAsBackupZip(dir, artifactName) {
    const entries = await (0,promises_.readdir)(dir, { withFileTypes: true });
    const file = entries.length === 1 && entries[0]?.isFile() ? external_node_path_default().join(dir, entries[0].name) : undefined;
    if (!file)
        return false;
    let names;
    try {
        names = (await (0,zip/* listZip */.oV)(file)).map((e) => e.name);
    }
    catch (err) {
        // Not a zip at all: a raw file with a misleading name, already as it should be.
        if (err instanceof zip/* ZipFormatError */.PA) {
            await nameRawFile(dir, artifactName);
            return true;
        }
        throw err;
    }
    if (!names.includes('dump.sql'))
        return false;
    await nameRawFile(dir, artifactName);
    return true;
}
/** Without Content-Disposition the library calls a raw download "artifact"; its real name is the artifact's. */
async function nameRawFile(dir, artifactName) {
    const entries = await (0,promises_.readdir)(dir);
    const target = folderName(artifactName);
    if (entries.length !== 1 || entries[0] !== 'artifact' || !external_node_path_default().extname(target) || target === 'artifact')
        return;
    await (0,promises_.rename)(external_node_path_default().join(dir, 'artifact'), external_node_path_default().join(dir, target));
}
/** Files below `dir`, as `/`-separated relative paths, sorted. */
async function listFiles(dir) {
    const entries = await (0,promises_.readdir)(dir, { recursive: true, withFileTypes: true });
    return entries
        .filter((d) => d.isFile())
        .map((d) => external_node_path_default().relative(dir, external_node_path_default().join(d.parentPath, d.name)).split((external_node_path_default()).sep).join('/'))
        .sort();
}
/**
 * The one dump among the artifact's files: '' for a directory dump at the root, else the
 * relative path of the file or directory dump. Several candidates, or none, is an error.
 */
function pickDump(files, artifactName, where) {
    const dirDumps = [...new Set(files.filter((f) => f === 'toc.dat' || f.endsWith('/toc.dat')).map((f) => f.slice(0, -'toc.dat'.length).replace(/\/$/, '')))]
        .sort((a, b) => a.length - b.length)
        // Keep the outermost: a dump folder inside another is part of it.
        .filter((d, i, all) => !all.slice(0, i).some((outer) => outer === '' || d.startsWith(`${outer}/`)));
    const inside = (f) => dirDumps.some((d) => d === '' || f.startsWith(`${d}/`));
    const candidates = [...dirDumps.map((d) => (d === '' ? '' : `${d}/`)), ...files.filter((f) => !inside(f))];
    if (candidates.length === 1)
        return (candidates[0] ?? '').replace(/\/$/, '');
    if (candidates.length === 0) {
        throw new inspect/* DumpError */.tR(`${INPUT}: artifact "${artifactName}" of ${where} is empty. Check the upload step: its \`path\` matched no file.`);
    }
    const shown = candidates.map((c) => (c === '' ? '(the artifact root: a directory dump)' : c));
    throw new inspect/* DumpError */.tR(`${INPUT}: artifact "${artifactName}" of ${where} holds ${candidates.length} candidate dumps: ${quoteList(shown)}. ` +
        'It must hold one dump: one file, or one pg_dump directory dump (a folder with toc.dat). ' +
        'Upload the dump alone (e.g. `path: db.dump` in actions/upload-artifact), or download the artifact in an earlier step ' +
        '(actions/download-artifact) and give the file with `dump`.');
}
function quoteList(names) {
    const head = names.slice(0, MAX_LISTED).map((n) => `"${n}"`);
    return names.length > MAX_LISTED ? `${head.join(', ')} and ${names.length - MAX_LISTED} more` : head.join(', ');
}
/** The artifact's name as a folder or file name (artifact names never hold / or \\). */
function folderName(artifactName) {
    const base = external_node_path_default().basename(artifactName).slice(0, 200);
    return base === '' || base === '.' || base === '..' ? 'artifact' : base;
}
/** The library's downloads cannot be stopped: on abort, stop waiting (cleanup removes what they write). */
function abortable(p, signal) {
    if (!signal)
        return p;
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
        const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        signal.addEventListener('abort', onAbort, { once: true });
        p.then((v) => {
            signal.removeEventListener('abort', onAbort);
            resolve(v);
        }, (e) => {
            signal.removeEventListener('abort', onAbort);
            reject(e);
        });
    });
}


/***/ })

};
