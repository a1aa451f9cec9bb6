export const id = 625;
export const ids = [625];
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

/***/ 67625:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   ArtifactServiceUnavailable: () => (/* binding */ ArtifactServiceUnavailable),
/* harmony export */   publishArtifact: () => (/* binding */ publishArtifact)
/* harmony export */ });
/* unused harmony exports artifactNameProblem, artifactServiceProblem */
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var _secrets_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(27194);
/* harmony import */ var _transfer_progress_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(50484);
/* harmony import */ var _github_ghes_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(95616);
/* harmony import */ var _github_library_env_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(7310);
// Publishes the upgraded dump and its notes as a workflow artifact. @actions/artifact pulls
// in the Azure SDK and protobuf runtime: it is imported only when a run publishes something.






// What GitHub refuses in artifact names, with words for the message.
const FORBIDDEN = [
    ['"', 'double quote "'],
    [':', 'colon :'],
    ['<', 'less than <'],
    ['>', 'greater than >'],
    ['|', 'vertical bar |'],
    ['*', 'asterisk *'],
    ['?', 'question mark ?'],
    ['\r', 'carriage return'],
    ['\n', 'line feed'],
    ['\\', 'backslash \\'],
    ['/', 'forward slash /'],
];
/** Why GitHub would refuse this artifact name, or undefined when it is fine. */
function artifactNameProblem(name) {
    if (!name)
        return 'Input `artifact-name` is empty here, yet an artifact was to be published (an empty `artifact-name` disables publishing).';
    const bad = FORBIDDEN.filter(([c]) => name.includes(c)).map(([, words]) => words);
    if (bad.length)
        return `Input \`artifact-name\` gives the name "${name}", which GitHub refuses: it contains ${bad.join(', ')}.`;
    return undefined;
}
/**
 * The artifact service does not exist where the job runs (GitHub Enterprise Server): not a
 * failure of the upgrade. The caller skips publishing and leaves the files to an
 * actions/upload-artifact@v3 step.
 */
class ArtifactServiceUnavailable extends Error {
    name = 'ArtifactServiceUnavailable';
}
function ghesUnavailable(serverUrl) {
    return new ArtifactServiceUnavailable(`This job runs on GitHub Enterprise Server (${serverUrl}), which has no service for the workflow artifacts this action publishes (artifacts v4).`);
}
/** Why the artifact service is out of reach from this process, or undefined. */
function artifactServiceProblem(env = process.env) {
    const missing = ['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_RESULTS_URL'].filter((k) => !env[k]);
    if (!missing.length)
        return undefined;
    return (`Cannot publish the workflow artifact: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set, so the GitHub artifact service is out of reach ` +
        '(this happens outside a GitHub Actions job, or in a container step that does not pass them on). ' +
        'Set input `artifact-name` to an empty string to publish nothing.');
}
async function publishArtifact(opts) {
    const env = opts.env ?? process.env;
    const nameProblem = artifactNameProblem(opts.name);
    if (nameProblem)
        throw new Error(nameProblem);
    const days = opts.retentionDays;
    if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 90)) {
        throw new Error(`Input \`artifact-retention-days\` must be a whole number from 1 to 90, got ${days}.`);
    }
    // Before the runtime variables: GHES runners do not set ACTIONS_RESULTS_URL, and that is no mistake of the workflow.
    const host = (0,_github_ghes_js__WEBPACK_IMPORTED_MODULE_4__/* .githubHost */ .S)(env);
    if (host.enterpriseServer)
        throw ghesUnavailable(host.serverUrl);
    const serviceProblem = artifactServiceProblem(env);
    if (serviceProblem)
        throw new Error(serviceProblem);
    const root = node_path__WEBPACK_IMPORTED_MODULE_1___default().resolve(opts.rootDirectory);
    const files = await expandFiles(opts.files.map((f) => node_path__WEBPACK_IMPORTED_MODULE_1___default().resolve(root, f)), root);
    if (!files.length)
        throw new Error(`Nothing to publish in artifact "${opts.name}": no files given.`);
    let total = 0;
    for (const f of files)
        total += (await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.stat)(f)).size;
    opts.log(`Publishing artifact "${opts.name}": ${files.length} file${files.length === 1 ? '' : 's'}, ${(0,_transfer_progress_js__WEBPACK_IMPORTED_MODULE_5__/* .formatBytes */ .z3)(total)}`);
    const { DefaultArtifactClient } = await Promise.all(/* import() */[__webpack_require__.e(351), __webpack_require__.e(118), __webpack_require__.e(645)]).then(__webpack_require__.bind(__webpack_require__, 9645));
    let result;
    try {
        result = await (0,_github_library_env_js__WEBPACK_IMPORTED_MODULE_3__/* .withLibraryEnv */ .t)(env, () => new DefaultArtifactClient().uploadArtifact(opts.name, files, root, {
            compressionLevel: 0, // dumps are compressed already: deflating again costs time, saves nothing
            ...(days !== undefined ? { retentionDays: days } : {}),
        }));
    }
    catch (err) {
        throw publishError(opts.name, err, env, opts.secrets ?? _secrets_js__WEBPACK_IMPORTED_MODULE_2__/* .secrets */ .O3);
    }
    if (result.id === undefined)
        throw new Error(`Publishing artifact "${opts.name}" failed: the artifact service returned no artifact id.`);
    const url = artifactUrl(result.id, env);
    opts.log(`Published artifact "${opts.name}" (id ${result.id}, ${(0,_transfer_progress_js__WEBPACK_IMPORTED_MODULE_5__/* .formatBytes */ .z3)(result.size ?? 0)}): ${url}`);
    return { id: result.id, url, size: result.size ?? 0, ...(result.digest ? { digest: result.digest } : {}) };
}
function artifactUrl(id, env) {
    return `${(0,_github_ghes_js__WEBPACK_IMPORTED_MODULE_4__/* .runUrl */ .V)(env, env.GITHUB_REPOSITORY ?? '', env.GITHUB_RUN_ID ?? '')}/artifacts/${id}`;
}
/** Files as the library wants them: directories replaced by the files below them. */
async function expandFiles(entries, root) {
    const out = [];
    for (const entry of entries) {
        const rel = node_path__WEBPACK_IMPORTED_MODULE_1___default().relative(root, entry);
        // The library only checks a string prefix, which lets /out-x pass for root /out.
        if (rel === '..' || rel.startsWith(`..${(node_path__WEBPACK_IMPORTED_MODULE_1___default().sep)}`) || node_path__WEBPACK_IMPORTED_MODULE_1___default().isAbsolute(rel)) {
            throw new Error(`Cannot publish ${entry}: it is not inside ${root}.`);
        }
        const s = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.stat)(entry);
        if (!s.isDirectory()) {
            out.push(entry);
            continue;
        }
        const below = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.readdir)(entry, { recursive: true, withFileTypes: true });
        const found = below.filter((d) => !d.isDirectory()).map((d) => node_path__WEBPACK_IMPORTED_MODULE_1___default().join(d.parentPath, d.name));
        if (found.length)
            out.push(...found.sort());
        else if (rel !== '')
            out.push(entry); // an empty directory stays, as itself
    }
    return [...new Set(out)];
}
function publishError(name, err, env, secrets) {
    // Should the library judge the host differently from githubHost(), its verdict wins.
    if (err?.name === 'GHESNotSupportedError')
        return ghesUnavailable((0,_github_ghes_js__WEBPACK_IMPORTED_MODULE_4__/* .githubHost */ .S)(env).serverUrl);
    const e = secrets.redactError(err);
    // Signed blob URLs carry their key in `sig`: never let one into a message.
    const scrub = (s) => s.replace(/([?&]sig=)[^&\s"']+/gi, '$1***');
    e.message = scrub(e.message);
    if (e.stack)
        e.stack = scrub(e.stack);
    let msg = e.message;
    if (/\(409\)|already exists/i.test(msg)) {
        msg += ' Artifact names must be unique within a workflow run (matrix jobs included): give each job its own `artifact-name`.';
    }
    return new Error(`Publishing artifact "${name}" failed: ${msg}`, { cause: e });
}


/***/ })

};
