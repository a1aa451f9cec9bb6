export const id = 543;
export const ids = [543];
export const modules = {

/***/ 47543:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   fromDatabase: () => (/* binding */ fromDatabase)
/* harmony export */ });
/* unused harmony exports pgDumpCommand, explainFailure, findPgDump */
/* harmony import */ var node_child_process__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(31421);
/* harmony import */ var node_child_process__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_child_process__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(48161);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_os__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_3___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_3__);
/* harmony import */ var _secrets_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(27194);
/* harmony import */ var _formats_inspect_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(9827);
/* harmony import */ var _transfer_progress_js__WEBPACK_IMPORTED_MODULE_8__ = __webpack_require__(50484);
/* harmony import */ var _connection_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(58824);
/* harmony import */ var _tools_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(18880);
// The `dump-database` input: runs the system pg_dump against a connection string. The
// password is taken out of the string and handed over in PGPASSWORD, so it is in no
// command line (visible in `ps`) and in no libpq message quoting the string; everything
// pg_dump prints is redacted before it is logged.









const INPUT = 'dump-database';
async function fromDatabase(opts) {
    const reg = opts.secrets ?? _secrets_js__WEBPACK_IMPORTED_MODULE_4__/* .secrets */ .O3;
    const raw = opts.connection.trim();
    const parts = (0,_connection_js__WEBPACK_IMPORTED_MODULE_7__/* .splitConnection */ .nY)(raw);
    // The whole string, unless it is a bare database name: masking "odoo" would blank out
    // every mention of upgrade.odoo.com. Query values such as sslmode stay readable.
    if (raw !== parts.dbname)
        reg.add(raw);
    reg.add(parts.password);
    reg.add(/sslpassword=([^&\s]+)/.exec(raw)?.[1]);
    const log = (line) => opts.log(reg.redact(line));
    const pgDump = await findPgDump(opts.pgDump);
    const target = (0,_connection_js__WEBPACK_IMPORTED_MODULE_7__/* .describeTarget */ .ff)(parts);
    const dir = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.mkdtemp)((0,node_path__WEBPACK_IMPORTED_MODULE_3__.join)(opts.workDir, 'dump-database-'));
    const out = (0,node_path__WEBPACK_IMPORTED_MODULE_3__.join)(dir, `${safeName(parts.dbname ?? parts.user ?? 'database')}.dump`);
    const jobs = Math.max(1, Math.floor(opts.jobs ?? Math.min(4, (0,node_os__WEBPACK_IMPORTED_MODULE_2__.availableParallelism)())));
    const cmd = pgDumpCommand(parts, opts.format, jobs, out);
    log(`Running pg_dump ${pgDump.version} (${opts.format === 'custom' ? 'custom format' : `directory format, ${jobs} jobs`}) on ${target}`);
    try {
        await runPgDump(pgDump.path, cmd, out, { ...opts, log }, reg);
    }
    catch (err) {
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rm)(dir, { recursive: true, force: true });
        // An abort carries no secret, and its DOMException cause cannot be rewritten.
        throw err?.name === 'AbortError' ? err : reg.redactError(err);
    }
    return { path: out, kind: 'database', description: `pg_dump of ${target}`, cleanup: () => (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rm)(dir, { recursive: true, force: true }) };
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
    const poll = setInterval(() => (0,_formats_inspect_js__WEBPACK_IMPORTED_MODULE_5__/* .pathSize */ .v4)(out).then(bar.update, () => { }), Math.min(5000, opts.progressIntervalMs ?? 5000));
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
        bar.update(await (0,_formats_inspect_js__WEBPACK_IMPORTED_MODULE_5__/* .pathSize */ .v4)(out));
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
        return new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_5__/* .DumpError */ .tR(`${INPUT}: pg_dump ${mine ?? '(this version)'} is older than the server (PostgreSQL ${server ?? 'newer'}) and refuses to dump it. ` +
            `Install the client tools of version ${major ?? 'the server\'s major'} or newer in an earlier step (${(0,_tools_js__WEBPACK_IMPORTED_MODULE_6__/* .installHint */ .J8)(major ? Number(major) : undefined)}); ` +
            'this action uses the newest pg_dump it finds on PATH or in /usr/lib/postgresql/*/bin.');
    }
    if (/password authentication failed|no password supplied|authentication failed/i.test(text)) {
        return new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_5__/* .DumpError */ .tR(`${INPUT}: the server refused the login (${tail}). Check the user and password in the connection string.`);
    }
    if (/could not connect|Connection refused|could not translate host name|timeout expired/i.test(text)) {
        return new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_5__/* .DumpError */ .tR(`${INPUT}: pg_dump could not reach the server (${tail}). Check the host and port, and that the runner can reach the database.`);
    }
    return new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_5__/* .DumpError */ .tR(`${INPUT}: pg_dump failed (exit ${code ?? 'signal'}): ${tail || 'no message'}.`);
}
function safeName(name) {
    return name.replace(/[^\w.-]+/g, '_').replace(/^\.+/, '') || 'database';
}
/** The newest pg_dump on PATH or in the usual per-version folders: newer dumps older servers too. */
async function findPgDump(explicit, paths) {
    const found = await (0,_tools_js__WEBPACK_IMPORTED_MODULE_6__/* .newest */ .BP)(paths ?? (explicit ? [explicit] : await (0,_tools_js__WEBPACK_IMPORTED_MODULE_6__/* .candidates */ .Xi)('pg_dump')));
    if (found)
        return found;
    throw new _formats_inspect_js__WEBPACK_IMPORTED_MODULE_5__/* .DumpError */ .tR(`${INPUT}: pg_dump was not found (${explicit ? `nothing runnable at ${explicit}` : 'looked on PATH and in /usr/lib/postgresql/*/bin'}). ` +
        `Install the PostgreSQL client tools in an earlier step, of the server's major version or newer (${(0,_tools_js__WEBPACK_IMPORTED_MODULE_6__/* .installHint */ .J8)()}; ` +
        'a given major, e.g. `postgresql-client-17`, comes from the PostgreSQL apt repository https://apt.postgresql.org).');
}


/***/ })

};
