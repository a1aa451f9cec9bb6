export const id = 166;
export const ids = [166,54,683];
export const modules = {

/***/ 51166:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   fetchOriginalFilestore: () => (/* binding */ fetchOriginalFilestore)
/* harmony export */ });
/* unused harmony export OriginalFilestoreError */
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _source_path_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(59054);
/* harmony import */ var _source_url_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(61064);
/* harmony import */ var _source_artifact_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(15529);
// The `original-filestore` input: the production filestore the upgraded files are laid over.
// A path on the runner (a folder, or a zip/tar of it), else (like the dump) an https URL or
// a workflow artifact of this run holding a zip/tar of it. Fetching reuses the dump sources;
// their messages name `original-filestore` instead of the dump inputs.




const INPUT = 'original-filestore';
class OriginalFilestoreError extends Error {
    name = 'OriginalFilestoreError';
}
/** Where the value points: a URL, a path that exists, or else an artifact name. */
async function fetchOriginalFilestore(value, ctx) {
    const v = value.trim();
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
        const got = await renamed((0,_source_url_js__WEBPACK_IMPORTED_MODULE_2__.fromUrl)({ url: v, headers: '', workDir: ctx.workDir, log: ctx.log, signal: ctx.signal, dispatcher: ctx.dispatcher, secrets: ctx.secrets }));
        return { path: got.path, cleanup: got.cleanup };
    }
    const abs = (0,_source_path_js__WEBPACK_IMPORTED_MODULE_1__.resolvePath)(v, { ...(ctx.env ?? process.env), GITHUB_WORKSPACE: ctx.workspace });
    if (await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.stat)(abs).catch(() => undefined)) {
        ctx.log(`The original filestore comes from ${abs}.`);
        return { path: abs, cleanup: async () => { } };
    }
    // Artifact names hold no slash; a value with one was meant as a path.
    if (/[/\\]/.test(v) || v.startsWith('.') || v.startsWith('~')) {
        throw new OriginalFilestoreError(`${INPUT}: nothing at ${abs}. Give the path of the original filestore folder (or a zip/tar of it), an artifact name, or an https URL.`);
    }
    ctx.log(`No file or folder "${v}" in the workspace: reading original-filestore as the name of an artifact of this run.`);
    const got = await renamed((0,_source_artifact_js__WEBPACK_IMPORTED_MODULE_3__.fromArtifact)({ name: v, token: ctx.githubToken, workDir: ctx.workDir, log: ctx.log, signal: ctx.signal, secrets: ctx.secrets }, ctx.env));
    return { path: got.path, cleanup: got.cleanup };
}
/** The dump sources speak of `dump-url` / `dump-artifact` and of "the dump": say which input this is. */
async function renamed(p) {
    try {
        return await p;
    }
    catch (err) {
        const e = err;
        if (e?.name === 'AbortError' || typeof e?.message !== 'string')
            throw err;
        const message = e.message
            .replace(/^`?dump-(url|artifact)`?:/, `${INPUT}:`)
            .replace(/candidate dumps/g, 'files')
            .replace(/It must hold one dump:[^.]*\./, 'It must hold one zip or tar of the filestore.');
        throw new OriginalFilestoreError(message, { cause: err });
    }
}


/***/ }),

/***/ 59054:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   fromPath: () => (/* binding */ fromPath),
/* harmony export */   resolvePath: () => (/* binding */ resolvePath)
/* harmony export */ });
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(48161);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_3___default = /*#__PURE__*/__webpack_require__.n(node_os__WEBPACK_IMPORTED_MODULE_3__);
/* harmony import */ var _formats_inspect_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(9827);
// The `dump` input: a path on the runner. Relative paths are taken from the workspace,
// where earlier steps of the job wrote, not from wherever the action happens to run.





async function fromPath(p, env = process.env) {
    const given = p.trim();
    if (!given)
        throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_4__/* .DumpError */ .tR('dump: the path is empty. Give the path of the dump file (or, for api: rpc, of a pg_dump directory dump).');
    const abs = resolvePath(given, env);
    const shown = abs === given ? abs : `${abs} (from "${given}"${env.GITHUB_WORKSPACE && !(0,node_path__WEBPACK_IMPORTED_MODULE_2__.isAbsolute)(given) ? ' relative to GITHUB_WORKSPACE' : ''})`;
    let isDir;
    try {
        isDir = (await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.stat)(abs)).isDirectory();
    }
    catch (err) {
        const code = err.code;
        if (code === 'ENOENT' || code === 'ENOTDIR') {
            throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_4__/* .DumpError */ .tR(`dump: nothing at ${shown}. Check the path; a dump made in another job reaches this one as an artifact (use dump-artifact), ` +
                'and a checkout step that runs after the dump is written can delete it.');
        }
        if (code === 'ELOOP')
            throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_4__/* .DumpError */ .tR(`dump: ${shown} is a loop of symbolic links, not a file. Point \`dump\` at the dump itself.`);
        throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_4__/* .DumpError */ .tR(`dump: ${shown} cannot be read (${code ?? err.message}). Check its permissions.`);
    }
    try {
        // A folder must also be searchable to read the files inside it.
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.access)(abs, isDir ? node_fs__WEBPACK_IMPORTED_MODULE_1__.constants.R_OK | node_fs__WEBPACK_IMPORTED_MODULE_1__.constants.X_OK : node_fs__WEBPACK_IMPORTED_MODULE_1__.constants.R_OK);
    }
    catch {
        throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_4__/* .DumpError */ .tR(`dump: ${shown} is not readable by this user (permission denied). Fix its permissions (e.g. \`chmod a+r\`) in the step that makes it.`);
    }
    return { path: abs, kind: 'path', description: `dump ${abs}`, cleanup: async () => { } };
}
function resolvePath(p, env = process.env) {
    if (p === '~' || p.startsWith('~/'))
        return (0,node_path__WEBPACK_IMPORTED_MODULE_2__.resolve)((0,node_os__WEBPACK_IMPORTED_MODULE_3__.homedir)(), p.slice(2));
    return (0,node_path__WEBPACK_IMPORTED_MODULE_2__.isAbsolute)(p) ? (0,node_path__WEBPACK_IMPORTED_MODULE_2__.resolve)(p) : (0,node_path__WEBPACK_IMPORTED_MODULE_2__.resolve)(env.GITHUB_WORKSPACE || process.cwd(), p);
}


/***/ }),

/***/ 61064:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   fromUrl: () => (/* binding */ fromUrl)
/* harmony export */ });
/* unused harmony exports safeUrl, parseHeaders, parseContentRange, fileNameFor, sanitiseFileName */
/* harmony import */ var _net_url_policy_js__WEBPACK_IMPORTED_MODULE_10__ = __webpack_require__(1785);
/* harmony import */ var undici__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(46752);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_3___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_3__);
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(57075);
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_4___default = /*#__PURE__*/__webpack_require__.n(node_stream__WEBPACK_IMPORTED_MODULE_4__);
/* harmony import */ var node_stream_promises__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(46466);
/* harmony import */ var node_stream_promises__WEBPACK_IMPORTED_MODULE_5___default = /*#__PURE__*/__webpack_require__.n(node_stream_promises__WEBPACK_IMPORTED_MODULE_5__);
/* harmony import */ var _secrets_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(27194);
/* harmony import */ var _net_retry_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(37893);
/* harmony import */ var _transfer_progress_js__WEBPACK_IMPORTED_MODULE_11__ = __webpack_require__(50484);
/* harmony import */ var _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__ = __webpack_require__(9827);
/* harmony import */ var _net_http_js__WEBPACK_IMPORTED_MODULE_9__ = __webpack_require__(59663);
// The `dump-url` input: streams a dump from an HTTPS server to disk, resuming with Range
// after a cut. The URL's query string and every header value are secrets (pre-signed
// links, bearer tokens): they are registered before the first request, and only the
// origin and path ever reach a log line.












const INPUT = 'dump-url';
const MAX_REDIRECTS = 10;
const MAX_ROUNDS = 50; // retry rounds that each moved the download forward
// Headers the download manages itself: a user value would break resuming or framing.
const RESERVED = new Set(['host', 'range', 'if-range', 'content-length', 'transfer-encoding', 'connection', 'te', 'upgrade', 'expect']);
async function fromUrl(opts) {
    const reg = opts.secrets ?? _secrets_js__WEBPACK_IMPORTED_MODULE_6__/* .secrets */ .O3;
    const url = parseUrl(opts.url, reg);
    const userHeaders = parseHeaders(opts.headers, reg);
    if (url.username || url.password) {
        // undici refuses credentials in a URL; send them the way a browser would.
        const basic = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
        reg.add(basic);
        reg.add(`Basic ${basic}`);
        if (!Object.keys(userHeaders).some((h) => h.toLowerCase() === 'authorization'))
            userHeaders.authorization = `Basic ${basic}`;
        url.username = '';
        url.password = '';
    }
    url.hash = '';
    const log = (line) => opts.log(reg.redact(line));
    const dir = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_2__.mkdtemp)((0,node_path__WEBPACK_IMPORTED_MODULE_3__.join)(opts.workDir, 'dump-url-'));
    try {
        const file = await download(url, userHeaders, dir, { ...opts, log }, reg);
        return { path: file, kind: 'url', description: `dump-url ${safeUrl(url)}`, cleanup: () => (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_2__.rm)(dir, { recursive: true, force: true }) };
    }
    catch (err) {
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_2__.rm)(dir, { recursive: true, force: true });
        // An abort carries no secret, and its DOMException cause cannot be rewritten.
        throw err?.name === 'AbortError' ? err : reg.redactError(err);
    }
}
/** Origin and path: what may be shown of a URL (no query, no credentials, no fragment). */
function safeUrl(u) {
    return `${u.protocol}//${u.host}${u.pathname}`;
}
function parseUrl(raw, reg) {
    const value = raw.trim();
    let url;
    try {
        url = new URL(value);
    }
    catch {
        reg.add(value); // cannot tell its parts apart: all of it stays out of messages
        throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR(`${INPUT}: the value is not an absolute URL. Give the full https:// address of the dump.`);
    }
    registerUrlSecrets(url, reg);
    checkScheme(url, `${INPUT}: ${safeUrl(url)}`);
    return url;
}
/** The query (pre-signed links) and any password are secret; origin and path are what logs show. */
function registerUrlSecrets(url, reg) {
    if (url.search.length > 1)
        reg.add(url.search.slice(1)); // whole, for a bare "?signature"
    for (const [, v] of url.searchParams)
        reg.add(v);
    if (url.password)
        reg.add(decodeURIComponent(url.password));
}
function checkScheme(url, what) {
    if (url.protocol === 'https:')
        return;
    if (url.protocol === 'http:' && (0,_net_url_policy_js__WEBPACK_IMPORTED_MODULE_10__/* .isLoopbackHost */ .c)(url.hostname))
        return;
    throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR(`${what} is ${url.protocol === 'http:' ? 'plain http' : `a ${url.protocol} URL`}: only https:// is accepted ` +
        '(http:// only on a loopback address: 127.0.0.0/8, localhost or [::1]), so the dump and its credentials never travel in clear. Use the https:// address.');
}
/** "Name: value" lines; blank lines are skipped. A bad line is named by number, never shown. */
function parseHeaders(raw, reg) {
    const out = {};
    const lines = (raw ?? '').split(/\r?\n/);
    // Values first: even a rejected block must not leak through a later message.
    for (const line of lines) {
        const i = line.indexOf(':');
        if (i > 0)
            reg.add(line.slice(i + 1).trim());
    }
    lines.forEach((line, n) => {
        if (!line.trim())
            return;
        // The value is trimmed by hand: `[ \t]*(.*?)[ \t]*$` backtracked quadratically on long blank runs.
        const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):(.*)$/s.exec(line);
        if (m)
            m[2] = trimBlanks(m[2]);
        if (!m)
            throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR(`dump-url-headers: line ${n + 1} is not "Name: value" (a header name, a colon, the value). Fix that line.`);
        const name = m[1];
        if (RESERVED.has(name.toLowerCase()))
            throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR(`dump-url-headers: line ${n + 1} sets ${name}, which the download manages itself. Remove that line.`);
        if (/[\r\n\0]/.test(m[2]))
            throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR(`dump-url-headers: line ${n + 1} has a control character in its value.`);
        // HTTP carries header values as Latin-1 text: anything else would be garbled on the wire.
        if (/[^\t\x20-\x7e\x80-\xff]/.test(m[2]))
            throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR(`dump-url-headers: line ${n + 1} has a character a header value cannot carry (control characters and characters beyond Latin-1 are not allowed).`);
        out[name] = m[2];
    });
    return out;
}
function trimBlanks(v) {
    let a = 0;
    let b = v.length;
    while (a < b && (v[a] === ' ' || v[a] === '\t'))
        a++;
    while (b > a && (v[b - 1] === ' ' || v[b - 1] === '\t'))
        b--;
    return v.slice(a, b);
}
class Retryable extends Error {
    delayMs;
    constructor(message, delayMs) {
        super(message);
        this.delayMs = delayMs;
    }
}
async function download(url, userHeaders, dir, opts, reg) {
    const state = { received: 0 };
    const shown = safeUrl(url);
    opts.log(`Downloading the dump from ${shown}`);
    // Made at the first byte, once the response has told the total size.
    let bar;
    const onBytes = (n) => {
        bar ??= (0,_transfer_progress_js__WEBPACK_IMPORTED_MODULE_11__/* .progress */ .qB)({ label: 'dump-url download', total: state.total, start: n, log: opts.log, intervalMs: opts.progressIntervalMs });
        bar.update(n);
    };
    try {
        for (let round = 1;; round++) {
            const before = state.received;
            try {
                await (0,_net_retry_js__WEBPACK_IMPORTED_MODULE_7__/* .withRetry */ .bD)(() => attempt(url, userHeaders, dir, state, opts, reg, onBytes), {
                    attempts: opts.retry?.attempts ?? 6,
                    baseMs: opts.retry?.baseMs ?? 1000,
                    maxMs: opts.retry?.maxMs ?? 30_000,
                    signal: opts.signal,
                    retryable: (err) => {
                        if (err instanceof _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR || opts.signal?.aborted)
                            return false;
                        if (err instanceof Retryable)
                            return err.delayMs ?? true;
                        return (0,_net_retry_js__WEBPACK_IMPORTED_MODULE_7__/* .isTransientNetworkError */ .l)(err) || err.code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH';
                    },
                    onRetry: (err, n, delay) => opts.log(`Download interrupted at ${state.received} bytes (${reg.redact(err.message)}); try ${n + 1} in ${Math.round(delay / 1000)} s, resuming`),
                });
                break;
            }
            catch (err) {
                // Out of tries, but each round that moved forward earns a fresh budget.
                if (err instanceof _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR || opts.signal?.aborted || state.received <= before || round >= MAX_ROUNDS)
                    throw wrapFinal(err, shown);
            }
        }
    }
    finally {
        bar?.finish();
    }
    const size = (await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_2__.stat)(state.file)).size;
    if (state.total !== undefined && size !== state.total) {
        throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR(`${INPUT}: ${shown} announced ${state.total} bytes but ${size} arrived. Try again; if it persists, the server serves an inconsistent file.`);
    }
    opts.log(`Downloaded ${size} bytes from ${shown} to ${state.file}`);
    return state.file;
}
function wrapFinal(err, shown) {
    if (err instanceof _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR)
        return err;
    const e = err;
    if (e?.name === 'AbortError')
        return e;
    return new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR(`${INPUT}: downloading ${shown} failed after several tries (${e?.message ?? String(err)}). Check that the server is reachable from the runner and try again.`);
}
async function attempt(url, userHeaders, dir, state, opts, reg, onBytes) {
    const resumeFrom = state.file ? state.received : 0;
    const headers = {};
    if (resumeFrom > 0) {
        headers.range = `bytes=${resumeFrom}-`;
        if (state.validator)
            headers['if-range'] = state.validator;
    }
    const res = await follow(url, userHeaders, headers, opts, reg);
    const status = res.statusCode;
    const h = res.headers;
    if (status === 416 && resumeFrom > 0) {
        await res.body.dump();
        const total = totalOf(header(h, 'content-range'));
        if (total === resumeFrom)
            return; // the cut came after the last byte
        await restart(state, opts, 'the server refused the resume range');
        throw new Retryable('range not satisfiable');
    }
    if (status !== 200 && status !== 206) {
        await res.body.dump().catch(() => { });
        throw statusError(status, h, safeUrl(url));
    }
    const validator = strongValidator(h);
    let append = false;
    if (status === 206) {
        const range = parseContentRange(header(h, 'content-range'));
        const consistent = resumeFrom > 0 &&
            range !== undefined &&
            range.start === resumeFrom &&
            (state.total === undefined || range.total === undefined || range.total === state.total) &&
            (!state.validator || !validator || validator === state.validator);
        if (!consistent) {
            await res.body.dump().catch(() => { });
            await restart(state, opts, 'the resumed part does not match what was downloaded (the file changed on the server?)');
            throw new Retryable('inconsistent partial content');
        }
        if (range.total !== undefined)
            state.total = range.total;
        append = true;
    }
    else {
        if (resumeFrom > 0)
            opts.log('The server did not resume (it ignored Range or the file changed): downloading again from the start');
        const len = Number(header(h, 'content-length'));
        state.total = header(h, 'content-length') !== undefined && Number.isSafeInteger(len) ? len : undefined;
        state.received = 0;
    }
    if (validator)
        state.validator = validator;
    if (!state.file)
        state.file = (0,node_path__WEBPACK_IMPORTED_MODULE_3__.join)(dir, fileNameFor(header(h, 'content-disposition'), url));
    let n = append ? resumeFrom : 0;
    const counter = new node_stream__WEBPACK_IMPORTED_MODULE_4__.Transform({
        transform(chunk, _enc, cb) {
            n += chunk.length;
            onBytes(n);
            cb(null, chunk);
        },
    });
    try {
        await (0,node_stream_promises__WEBPACK_IMPORTED_MODULE_5__.pipeline)(res.body, counter, (0,node_fs__WEBPACK_IMPORTED_MODULE_1__.createWriteStream)(state.file, { flags: append ? 'a' : 'w' }), { signal: opts.signal });
    }
    finally {
        // What reached the disk is the truth to resume from, whatever the stream said.
        state.received = (await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_2__.stat)(state.file).catch(() => ({ size: 0 }))).size;
    }
    if (state.total !== undefined && state.received < state.total) {
        throw new Retryable(`the connection ended after ${state.received} of ${state.total} bytes`);
    }
}
async function restart(state, opts, why) {
    opts.log(`${why}: downloading again from the start`);
    if (state.file)
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_2__.truncate)(state.file, 0).catch(() => { });
    state.received = 0;
    state.total = undefined;
    state.validator = undefined;
}
/** GET with redirects followed by hand: each hop is checked, and user headers stay with their origin. */
async function follow(start, userHeaders, extra, opts, reg) {
    let url = start;
    let sendUser = true;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
        const res = await (0,undici__WEBPACK_IMPORTED_MODULE_0__/* .request */ .Em)(url, {
            method: 'GET',
            headers: { ...(sendUser ? userHeaders : {}), ...extra, 'accept-encoding': 'identity' },
            dispatcher: opts.dispatcher ?? (0,_net_http_js__WEBPACK_IMPORTED_MODULE_9__/* .dispatcher */ .oh)(), // the shared one honours HTTPS_PROXY / NO_PROXY
            signal: opts.signal,
        });
        const location = header(res.headers, 'location');
        if (![301, 302, 303, 307, 308].includes(res.statusCode) || !location)
            return res;
        await res.body.dump().catch(() => { });
        let next;
        try {
            next = new URL(location, url);
        }
        catch {
            throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR(`${INPUT}: ${safeUrl(url)} redirected to an invalid address. Check the link.`);
        }
        registerUrlSecrets(next, reg);
        checkScheme(next, `${INPUT}: ${safeUrl(url)} redirected to ${safeUrl(next)}, which`);
        if (next.origin !== url.origin && sendUser && Object.keys(userHeaders).length) {
            // Credentials meant for one server are not handed to another (object-store redirects
            // also reject a second authorization scheme next to their own signature).
            opts.log(`Redirected to ${next.origin}: dump-url-headers are not sent there`);
            sendUser = false;
        }
        url = next;
    }
    throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR(`${INPUT}: ${safeUrl(start)} redirects more than ${MAX_REDIRECTS} times. Give the final address of the dump.`);
}
function statusError(status, h, shown) {
    if (status === 408 || status === 425 || status === 429 || status >= 500) {
        return new Retryable(`HTTP ${status}`, retryAfterMs(header(h, 'retry-after')));
    }
    if (status === 401 || status === 403) {
        return new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR(`${INPUT}: ${shown} answered HTTP ${status} (${status === 401 ? 'authentication required' : 'forbidden'}). ` +
            'Give the credentials the server expects in dump-url-headers (e.g. "Authorization: Bearer ..."), or a fresh link if it was pre-signed and has expired.');
    }
    if (status === 404 || status === 410)
        return new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR(`${INPUT}: ${shown} answered HTTP ${status} (not found). Check the address, or whether the file was removed.`);
    return new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_8__/* .DumpError */ .tR(`${INPUT}: ${shown} answered HTTP ${status}. Check the address and the headers.`);
}
function retryAfterMs(v) {
    if (!v)
        return undefined;
    const s = Number(v);
    if (Number.isFinite(s))
        return Math.min(Math.max(s, 0), 300) * 1000;
    const t = Date.parse(v);
    return Number.isFinite(t) ? Math.min(Math.max(t - Date.now(), 0), 300_000) : undefined;
}
function header(h, name) {
    const v = h[name];
    return Array.isArray(v) ? v[0] : v;
}
/** If-Range needs a strong validator: a weak ETag could splice two different files. */
function strongValidator(h) {
    const etag = header(h, 'etag');
    if (etag && !etag.startsWith('W/'))
        return etag;
    return header(h, 'last-modified');
}
function parseContentRange(v) {
    const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(v?.trim() ?? '');
    if (!m)
        return undefined;
    return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}
function totalOf(v) {
    const m = /^bytes\s+\*\/(\d+)$/i.exec(v?.trim() ?? '');
    return m ? Number(m[1]) : undefined;
}
/** A plain file name from Content-Disposition or the URL path: no separators, no dot files. */
function fileNameFor(disposition, url) {
    let name;
    if (disposition) {
        const star = /filename\*\s*=\s*(?:[\w-]+)?'[^']*'([^;]+)/i.exec(disposition);
        const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(disposition);
        try {
            name = star ? decodeURIComponent(star[1].trim()) : undefined;
        }
        catch {
            name = undefined;
        }
        name ??= plain ? (plain[1] ?? plain[2]).replace(/\\(.)/g, '$1') : undefined;
    }
    if (!name) {
        const last = url.pathname.split('/').filter(Boolean).pop() ?? '';
        try {
            name = decodeURIComponent(last);
        }
        catch {
            name = last;
        }
    }
    return sanitiseFileName(name);
}
function sanitiseFileName(raw) {
    const base = raw.split(/[\\/]/).pop() ?? '';
    const clean = base
        .replace(/[\u0000-\u001f\u007f<>:"|?*]/g, '_')
        .replace(/^[.\s]+/, '')
        .trim()
        .slice(0, 200);
    return clean || 'dump';
}


/***/ })

};
