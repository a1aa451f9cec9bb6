export const id = 156;
export const ids = [156];
export const modules = {

/***/ 1156:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   fromDatabase: () => (/* binding */ fromDatabase)
/* harmony export */ });
/* unused harmony exports pgDumpCommand, explainFailure, findPgDump, splitConnection */
/* harmony import */ var node_child_process__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(31421);
/* harmony import */ var node_child_process__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_child_process__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_util__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(57975);
/* harmony import */ var node_util__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_util__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_3___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_3__);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(48161);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_4___default = /*#__PURE__*/__webpack_require__.n(node_os__WEBPACK_IMPORTED_MODULE_4__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_5___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_5__);
/* harmony import */ var _secrets_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(27194);
/* harmony import */ var _dump_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(87337);
/* harmony import */ var _transfer_progress_js__WEBPACK_IMPORTED_MODULE_8__ = __webpack_require__(50484);
// The `dump-database` input: runs the system pg_dump against a connection string. The
// password is taken out of the string and handed over in PGPASSWORD, so it is in no
// command line (visible in `ps`) and in no libpq message quoting the string; everything
// pg_dump prints is redacted before it is logged.









const INPUT = 'dump-database';
async function fromDatabase(opts) {
    const reg = opts.secrets ?? _secrets_js__WEBPACK_IMPORTED_MODULE_6__/* .secrets */ .O;
    const raw = opts.connection.trim();
    reg.add(raw);
    if (isUri(raw))
        reg.addUrl(raw);
    const parts = splitConnection(raw);
    reg.add(parts.password);
    const log = (line) => opts.log(reg.redact(line));
    const pgDump = await findPgDump(opts.pgDump);
    const target = describeTarget(parts);
    const dir = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_2__.mkdtemp)((0,node_path__WEBPACK_IMPORTED_MODULE_5__.join)(opts.workDir, 'dump-database-'));
    const out = (0,node_path__WEBPACK_IMPORTED_MODULE_5__.join)(dir, `${safeName(parts.dbname ?? parts.user ?? 'database')}.dump`);
    const jobs = Math.max(1, Math.floor(opts.jobs ?? Math.min(4, (0,node_os__WEBPACK_IMPORTED_MODULE_4__.availableParallelism)())));
    const cmd = pgDumpCommand(parts, opts.format, jobs, out);
    log(`Running pg_dump ${pgDump.version} (${opts.format === 'custom' ? 'custom format' : `directory format, ${jobs} jobs`}) on ${target}`);
    try {
        await runPgDump(pgDump.path, cmd, out, { ...opts, log }, reg);
    }
    catch (err) {
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_2__.rm)(dir, { recursive: true, force: true });
        // An abort carries no secret, and its DOMException cause cannot be rewritten.
        throw err?.name === 'AbortError' ? err : reg.redactError(err);
    }
    return { path: out, kind: 'database', description: `pg_dump of ${target}`, cleanup: () => (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_2__.rm)(dir, { recursive: true, force: true }) };
}
/** The arguments and environment pg_dump runs with: the password only in the environment. */
function pgDumpCommand(parts, format, jobs, out) {
    const args = format === 'custom' ? ['--format=custom'] : ['--format=directory', `--jobs=${jobs}`];
    args.push('--no-password', `--file=${out}`, `--dbname=${parts.conn}`);
    const env = { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '30' };
    if (parts.password !== undefined)
        env.PGPASSWORD = parts.password;
    return { args, env };
}
async function runPgDump(bin, cmd, out, opts, reg) {
    const child = (0,node_child_process__WEBPACK_IMPORTED_MODULE_0__.spawn)(bin, cmd.args, { env: cmd.env, stdio: ['ignore', 'ignore', 'pipe'], signal: opts.signal, killSignal: 'SIGTERM' });
    const stderr = [];
    let partial = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
        const lines = (partial + d).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines)
            keep(l);
    });
    const keep = (line) => {
        if (!line.trim())
            return;
        const safe = reg.redact(line);
        stderr.push(safe);
        if (stderr.length > 40)
            stderr.shift();
        opts.log(safe);
    };
    const bar = (0,_transfer_progress_js__WEBPACK_IMPORTED_MODULE_8__/* .progress */ .qB)({ label: 'pg_dump written', log: opts.log, intervalMs: opts.progressIntervalMs ?? 30_000 });
    const poll = setInterval(() => (0,_dump_js__WEBPACK_IMPORTED_MODULE_7__/* .pathSize */ .v4)(out).then(bar.update, () => { }), Math.min(5000, opts.progressIntervalMs ?? 5000));
    poll.unref();
    let code;
    try {
        code = await new Promise((resolve, reject) => {
            child.once('error', reject);
            child.once('close', (c) => resolve(c));
        });
    }
    finally {
        clearInterval(poll);
        if (partial)
            keep(partial);
    }
    if (code === 0) {
        bar.update(await (0,_dump_js__WEBPACK_IMPORTED_MODULE_7__/* .pathSize */ .v4)(out));
        bar.finish();
        return;
    }
    throw explainFailure(code, stderr);
}
function explainFailure(code, stderr) {
    const text = stderr.join('\n');
    const tail = stderr.slice(-6).join(' | ');
    if (/server version mismatch/i.test(text)) {
        const server = /server version:\s*([\d.]+\w*)/i.exec(text)?.[1];
        const mine = /pg_dump version:\s*([\d.]+\w*)/i.exec(text)?.[1];
        const major = server?.split('.')[0];
        return new _dump_js__WEBPACK_IMPORTED_MODULE_7__/* .DumpError */ .tR(`${INPUT}: pg_dump ${mine ?? '(this version)'} is older than the server (PostgreSQL ${server ?? 'newer'}) and refuses to dump it. ` +
            `Install the client tools of that major version in an earlier step${major ? ` (Ubuntu/Debian: \`sudo apt-get install -y postgresql-client-${major}\`, ` +
                'from the PostgreSQL apt repository https://apt.postgresql.org when the release lacks it)' : ''}; ` +
            'this action uses the newest pg_dump it finds on PATH or in /usr/lib/postgresql/*/bin.');
    }
    if (/password authentication failed|no password supplied|authentication failed/i.test(text)) {
        return new _dump_js__WEBPACK_IMPORTED_MODULE_7__/* .DumpError */ .tR(`${INPUT}: the server refused the login (${tail}). Check the user and password in the connection string.`);
    }
    if (/could not connect|Connection refused|could not translate host name|timeout expired/i.test(text)) {
        return new _dump_js__WEBPACK_IMPORTED_MODULE_7__/* .DumpError */ .tR(`${INPUT}: pg_dump could not reach the server (${tail}). Check the host and port, and that the runner can reach the database.`);
    }
    return new _dump_js__WEBPACK_IMPORTED_MODULE_7__/* .DumpError */ .tR(`${INPUT}: pg_dump failed (exit ${code ?? 'signal'}): ${tail || 'no message'}.`);
}
/** The newest pg_dump on PATH or in the usual per-version folders: newer dumps older servers too. */
async function findPgDump(explicit, candidates) {
    candidates ??= explicit ? [explicit] : await defaultCandidates();
    let best;
    for (const path of [...new Set(candidates)]) {
        const version = await pgDumpVersion(path);
        if (!version)
            continue;
        const [maj, min] = version.split('.').map(Number);
        const rank = maj * 1000 + (min || 0);
        if (!best || rank > best.rank)
            best = { path, version, rank };
    }
    if (best)
        return { path: best.path, version: best.version };
    throw new _dump_js__WEBPACK_IMPORTED_MODULE_7__/* .DumpError */ .tR(`${INPUT}: pg_dump was not found (${explicit ? `nothing runnable at ${explicit}` : 'looked on PATH and in /usr/lib/postgresql/*/bin'}). ` +
        "Install the PostgreSQL client tools in an earlier step, of the server's major version or newer: Ubuntu/Debian `sudo apt-get install -y postgresql-client` " +
        '(a given major, e.g. `postgresql-client-17`, comes from the PostgreSQL apt repository https://apt.postgresql.org), macOS `brew install libpq`.');
}
async function defaultCandidates() {
    return [
        ...(process.env.PATH ?? '').split(node_path__WEBPACK_IMPORTED_MODULE_5__.delimiter).filter(Boolean).map((d) => (0,node_path__WEBPACK_IMPORTED_MODULE_5__.join)(d, 'pg_dump')),
        ...(await versionDirs('/usr/lib/postgresql', (v) => `/usr/lib/postgresql/${v}/bin/pg_dump`)), // Debian, Ubuntu
        ...(await versionDirs('/usr', (v) => (v.startsWith('pgsql-') ? `/usr/${v}/bin/pg_dump` : undefined))), // RHEL
        '/opt/homebrew/opt/libpq/bin/pg_dump',
        '/usr/local/opt/libpq/bin/pg_dump',
    ];
}
async function versionDirs(root, pick) {
    const names = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_2__.readdir)(root).catch(() => []);
    return names.map(pick).filter((p) => !!p);
}
async function pgDumpVersion(path) {
    try {
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_2__.access)(path, node_fs__WEBPACK_IMPORTED_MODULE_3__.constants.X_OK);
        const { stdout } = await (0,node_util__WEBPACK_IMPORTED_MODULE_1__.promisify)(node_child_process__WEBPACK_IMPORTED_MODULE_0__.execFile)(path, ['--version'], { timeout: 10_000 });
        return /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(stdout)?.[1];
    }
    catch {
        return undefined;
    }
}
// ---------------------------------------------------------------------------------------
// Connection strings, in libpq's two spellings
function isUri(s) {
    return /^postgres(ql)?:\/\//i.test(s);
}
function splitConnection(raw) {
    const s = raw.trim();
    if (isUri(s))
        return splitUri(s);
    if (s.includes('='))
        return splitKeywords(s);
    return { conn: s, dbname: s || undefined }; // a bare database name
}
function splitUri(s) {
    const scheme = /^postgres(ql)?:\/\//i.exec(s)[0];
    let rest = s.slice(scheme.length);
    const parts = { conn: '' };
    // As libpq: credentials end at the first '@' met before any '/'.
    const stop = rest.search(/[@/]/);
    let userinfo = '';
    if (stop >= 0 && rest[stop] === '@') {
        userinfo = rest.slice(0, stop);
        rest = rest.slice(stop + 1);
    }
    const colon = userinfo.indexOf(':');
    const userRaw = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    if (colon >= 0)
        parts.password = safeDecode(userinfo.slice(colon + 1));
    if (userRaw)
        parts.user = safeDecode(userRaw);
    const q = rest.indexOf('?');
    const before = q >= 0 ? rest.slice(0, q) : rest;
    const query = q >= 0 ? rest.slice(q + 1) : '';
    const slash = before.indexOf('/');
    const hostspec = slash >= 0 ? before.slice(0, slash) : before;
    const db = slash >= 0 ? before.slice(slash + 1) : '';
    if (db)
        parts.dbname = safeDecode(db);
    const hostMatch = /^(\[[^\]]*\]|[^:,]*)(?::(\d+))?/.exec(hostspec);
    if (hostMatch?.[1])
        parts.host = safeDecode(hostMatch[1]);
    if (hostMatch?.[2])
        parts.port = hostMatch[2];
    const kept = [];
    for (const pair of query.split('&').filter(Boolean)) {
        const eq = pair.indexOf('=');
        const key = safeDecode(eq >= 0 ? pair.slice(0, eq) : pair);
        const value = safeDecode(eq >= 0 ? pair.slice(eq + 1) : '');
        if (key === 'password')
            parts.password = value;
        else {
            if (key === 'dbname')
                parts.dbname = value;
            if (key === 'user')
                parts.user = value;
            if (key === 'host')
                parts.host = value;
            if (key === 'port')
                parts.port = value;
            kept.push(pair);
        }
    }
    parts.conn = scheme + (userRaw ? `${userRaw}@` : '') + before + (kept.length ? `?${kept.join('&')}` : '');
    return parts;
}
function splitKeywords(s) {
    const parts = { conn: '' };
    const kept = [];
    const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^\s']*))/y;
    for (let pos = 0; s.slice(pos).trim() !== ''; pos = re.lastIndex) {
        re.lastIndex = pos;
        const m = re.exec(s);
        // Unparseable: hand libpq the original (registered as a secret already) so its own error explains.
        if (!m)
            return { conn: s, password: parts.password };
        const key = m[1];
        const value = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
        if (key === 'password') {
            parts.password = value;
            continue;
        }
        if (key === 'dbname')
            parts.dbname = value;
        if (key === 'user')
            parts.user = value;
        if (key === 'host' || key === 'hostaddr')
            parts.host ??= value;
        if (key === 'port')
            parts.port = value;
        kept.push(`${key}='${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);
    }
    parts.conn = kept.join(' ');
    return parts;
}
function safeDecode(v) {
    try {
        return decodeURIComponent(v);
    }
    catch {
        return v;
    }
}
function describeTarget(p) {
    const where = p.host ? `${p.host}${p.port ? `:${p.port}` : ''}` : 'the local server';
    return `database "${p.dbname ?? p.user ?? '(default)'}" on ${where}${p.user ? ` as ${p.user}` : ''}`;
}
function safeName(name) {
    return name.replace(/[^\w.-]+/g, '_').replace(/^\.+/, '') || 'database';
}


/***/ })

};
