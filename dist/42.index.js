export const id = 42;
export const ids = [42];
export const modules = {

/***/ 90042:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  RpcPlatform: () => (/* binding */ RpcPlatform)
});

// UNUSED EXPORTS: dataServer, mapRpcStatus, nodeBaseUrl, parseProcess, parseRpcAnswer, parseRpcCreate, parseTransferStart, parseWipe, rpcErrorText

// EXTERNAL MODULE: ./src/net/url-policy.ts
var url_policy = __webpack_require__(1785);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(76760);
var external_node_path_default = /*#__PURE__*/__webpack_require__.n(external_node_path_);
// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(51455);
// EXTERNAL MODULE: ./node_modules/undici/index.js
var undici = __webpack_require__(46752);
// EXTERNAL MODULE: ./src/net/http.ts
var http = __webpack_require__(59663);
// EXTERNAL MODULE: ./src/net/retry.ts
var retry = __webpack_require__(37893);
// EXTERNAL MODULE: ./src/transfer/http.ts
var transfer_http = __webpack_require__(4019);
// EXTERNAL MODULE: external "node:child_process"
var external_node_child_process_ = __webpack_require__(31421);
// EXTERNAL MODULE: ./src/net/dispatch.ts
var dispatch = __webpack_require__(57497);
;// CONCATENATED MODULE: ./src/transfer/rsync.ts
// Transfers to and from the platform's data servers with the system rsync over the system
// OpenSSH client, as Odoo's own upgrade script does. A cut transfer is run again and resumes
// (--partial keeps what arrived); host keys are pinned to the lines the platform gave; every
// byte of rsync's or ssh's stderr is redacted before it can reach a log or an error.





class RsyncError extends Error {
    name = 'RsyncError';
    kind;
    exitCode;
    constructor(message, kind, exitCode) {
        super(message);
        this.kind = kind;
        this.exitCode = exitCode;
    }
}
const INSTALL_HINT = 'GitHub-hosted Ubuntu runners have them; elsewhere install them (`sudo apt-get install rsync openssh-client`).';
const FIREWALL_HINT = "The platform's data servers listen on ports 32768-60999: the runner must be allowed to open outbound TCP connections to those ports " +
    '(a firewall or proxy that only lets HTTPS out blocks the transfer; GitHub-hosted runners are not affected).';
// rsync exit codes that mean the connection or the stream broke: worth running again.
const NETWORK_EXITS = new Set([10, 11, 12, 23, 30, 35, 255]);
/** Finds an executable on PATH, or undefined. */
async function findExecutable(name, pathEnv = process.env.PATH ?? '') {
    for (const dir of pathEnv.split((external_node_path_default()).delimiter)) {
        if (!dir)
            continue;
        const candidate = external_node_path_default().join(dir, name);
        try {
            await (0,promises_.access)(candidate, promises_.constants.X_OK);
            return candidate;
        }
        catch {
            // next directory
        }
    }
    return undefined;
}
/** Why this rsync cannot do the job (--info=progress2, --append-verify need 3.1+), from `rsync --version`. */
function rsyncVersionProblem(versionText) {
    const m = /\brsync\s+version\s+v?(\d+)\.(\d+)/i.exec(versionText);
    if (!m)
        return undefined; // unknown wording: let it try
    const [major, minor] = [Number(m[1]), Number(m[2])];
    if (major > 3 || (major === 3 && minor >= 1))
        return undefined;
    return `rsync ${m[1]}.${m[2]} is too old (3.1 or later is needed)`;
}
const checked = new Map();
function checkVersion(rsync) {
    let p = checked.get(rsync);
    if (!p) {
        p = new Promise((resolve) => {
            (0,external_node_child_process_.execFile)(rsync, ['--version'], { timeout: 10_000, env: { ...process.env, LC_ALL: 'C' } }, (_err, stdout) => resolve(String(stdout ?? '')));
        }).then((text) => {
            const problem = rsyncVersionProblem(text);
            if (problem)
                throw new RsyncError(`The rpc protocol moves dumps with rsync, and ${problem}. ${INSTALL_HINT}`, 'missing-tool', null);
        });
        checked.set(rsync, p);
    }
    return p;
}
/** Throws a clear error unless rsync (3.1+) and ssh are both installed. Returns rsync's path. */
async function assertRsyncTools(pathEnv) {
    const rsync = await findExecutable('rsync', pathEnv);
    const ssh = await findExecutable('ssh', pathEnv);
    const missing = [rsync ? '' : 'rsync', ssh ? '' : 'ssh (openssh-client)'].filter(Boolean);
    if (missing.length || !rsync) {
        throw new RsyncError(`The rpc protocol moves dumps with rsync over SSH, and ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not installed on this runner. ${INSTALL_HINT}`, 'missing-tool', null);
    }
    await checkVersion(rsync);
    return rsync;
}
/** rsync's -e splits on spaces and honours quotes: quote what is not plainly safe. */
function shellWord(value) {
    if (/^[A-Za-z0-9_./:=@+-]+$/.test(value))
        return value;
    if (value.includes("'"))
        throw new Error(`cannot pass a path holding a quote to ssh: ${value}`);
    return `'${value}'`;
}
/** The remote shell command given to rsync's -e. */
function sshCommand(t) {
    // ssh reads UserKnownHostsFile as a list split on spaces: a path with one would pin nothing.
    if (/\s/.test(t.knownHostsFile))
        throw new Error(`the known_hosts file path must not contain spaces: ${t.knownHostsFile}`);
    const options = [
        'StrictHostKeyChecking=yes',
        `UserKnownHostsFile=${t.knownHostsFile}`,
        'GlobalKnownHostsFile=/dev/null', // only the platform's lines count
        'UpdateHostKeys=no',
        'IdentitiesOnly=yes',
        'BatchMode=yes',
        'ServerAliveInterval=30',
        'ConnectTimeout=30',
    ];
    return ['ssh', '-p', String(t.port), '-i', shellWord(t.privateKeyFile), ...options.flatMap((o) => ['-o', shellWord(o)])].join(' ');
}
function remoteSpec(t, remotePath) {
    return `${t.user}@${t.host}:${remotePath}`;
}
/** The full argument list (no shell ever sees it). */
function rsyncArgs(job) {
    const common = ['--partial', '--info=progress2', '--no-human-readable', '-e', sshCommand(job.target), ...job.options];
    if (job.direction === 'upload')
        return [...common, '--', ...job.sources, remoteSpec(job.target, job.dest)];
    return [...common, '--', ...job.sources.map((s) => remoteSpec(job.target, s)), job.dest];
}
/** Bytes so far from one --info=progress2 update ("  1,234,567  42%  1.2MB/s  0:00:10 ..."). */
function parseProgress(line) {
    const m = /^\s*([\d,.']+)\s+\d+%/.exec(line);
    if (!m)
        return undefined;
    const digits = m[1].replace(/\D/g, '');
    return digits ? Number(digits) : undefined;
}
/** What went wrong, from rsync's exit code and what rsync and ssh wrote on stderr. */
function classifyFailure(exitCode, stderr) {
    if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key for .* has changed|No \S+ host key is known/i.test(stderr)) {
        return 'host-key';
    }
    if (/Permission denied \(publickey|Too many authentication failures/i.test(stderr))
        return 'auth';
    if (/Failed to exec ssh|ssh: (command )?not found/i.test(stderr))
        return 'missing-tool';
    if (/connect to host .* port \d+: (Connection refused|Connection timed out|No route to host|Network is unreachable|Operation timed out)/i.test(stderr)) {
        return 'refused';
    }
    if (exitCode !== null && NETWORK_EXITS.has(exitCode))
        return 'network';
    return 'other';
}
function tail(text, lines = 6) {
    return text
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter(Boolean)
        .slice(-lines)
        .join(' | ');
}
function describeFailure(job, kind, exitCode, stderr) {
    const said = tail(stderr);
    const where = `${job.target.host} port ${job.target.port}`;
    const detail = `rsync exited with code ${exitCode ?? 'none'}${said ? `: ${said}` : ''}`;
    switch (kind) {
        case 'host-key':
            return `The ${job.what} was refused: the SSH host key of the data server ${where} does not match the known_hosts lines the platform gave (Host key verification failed). Nothing was sent; this can mean the connection is intercepted. (${detail})`;
        case 'auth':
            return `The ${job.what} failed: the data server ${where} refused the SSH key. A request only accepts the key pair sent when it was created: to resume it, give the same \`ssh-private-key\` as the run that created it. (${detail})`;
        case 'missing-tool':
            return `The ${job.what} failed: rsync could not start ssh. ${INSTALL_HINT} (${detail})`;
        case 'refused':
            return `The ${job.what} could not connect to the data server ${where}. ${FIREWALL_HINT} (${detail})`;
        case 'network':
            return `The ${job.what} was interrupted (${detail}). Running the action again resumes it.`;
        default:
            return `The ${job.what} failed (${detail}).`;
    }
}
const MAX_STDERR = 16 * 1024;
/** One rsync run; resolves on exit 0, rejects with an RsyncError otherwise. */
function runOnce(rsync, job, onBytes) {
    return new Promise((resolve, reject) => {
        // Its own process group, so a stop reaches ssh too; C locale keeps messages parseable.
        const child = (0,external_node_child_process_.spawn)(rsync, rsyncArgs(job), {
            stdio: ['ignore', 'pipe', 'pipe'],
            detached: true,
            env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
        });
        let stderr = '';
        let pending = '';
        let settled = false;
        const stop = () => {
            if (child.pid && child.exitCode === null) {
                try {
                    process.kill(-child.pid, 'SIGTERM');
                }
                catch {
                    // already gone
                }
            }
        };
        job.signal?.addEventListener('abort', stop, { once: true });
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (chunk) => {
            const parts = (pending + chunk).split(/[\r\n]/);
            pending = parts.pop() ?? '';
            for (const p of parts) {
                const n = parseProgress(p);
                if (n !== undefined)
                    onBytes(n);
            }
        });
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (chunk) => {
            stderr = (stderr + chunk).slice(-MAX_STDERR);
        });
        const finish = (err) => {
            if (settled)
                return;
            settled = true;
            job.signal?.removeEventListener('abort', stop);
            if (err)
                reject(err);
            else
                resolve();
        };
        child.once('error', (err) => {
            const kind = err.code === 'ENOENT' ? 'missing-tool' : 'other';
            const msg = kind === 'missing-tool' ? `The ${job.what} needs rsync, which is not installed. ${INSTALL_HINT}` : `The ${job.what} could not start rsync: ${err.message}`;
            finish(new RsyncError(job.redact(msg), kind, null));
        });
        child.once('close', (code, sig) => {
            if (pending) {
                const n = parseProgress(pending);
                if (n !== undefined)
                    onBytes(n);
            }
            if (code === 0)
                return finish();
            if (job.signal?.aborted)
                return finish(job.signal.reason instanceof Error ? job.signal.reason : new Error(`${job.what} stopped`));
            const text = job.redact(stderr);
            const kind = sig ? 'other' : classifyFailure(code, text);
            finish(new RsyncError(job.redact(describeFailure(job, kind, code, sig ? `${text}\n(killed by ${sig})` : text)), kind, code));
        });
    });
}
/** Runs the transfer, again after a cut (rsync picks up where it stopped). */
async function rsyncTransfer(job) {
    (0,dispatch/* noteSshIgnoresProxy */.eO)(job.log);
    const rsync = await assertRsyncTools(job.pathEnv);
    const started = Date.now();
    let bytes = 0;
    let attempts = 0;
    await (0,retry/* withRetry */.bD)(async (attempt) => {
        attempts = attempt;
        bytes = 0;
        await runOnce(rsync, job, (n) => {
            bytes = n;
            job.progress?.update(n);
        });
    }, {
        attempts: job.attempts ?? 6,
        baseMs: job.retryBaseMs ?? 3000,
        signal: job.signal,
        // A port that stays unreachable is a firewall, not a glitch: give up sooner.
        retryable: (err, attempt) => err instanceof RsyncError && (err.kind === 'network' || (err.kind === 'refused' && attempt < 3)),
        onRetry: (err, attempt, delay) => {
            const e = err;
            const why = e.kind === 'refused' ? 'could not connect to the data server' : `was interrupted (rsync exit code ${e.exitCode})`;
            job.log(`The ${job.what} ${why}; running rsync again in ${Math.round(delay / 1000)} s to resume (attempt ${attempt + 1}).`);
        },
    });
    return { bytes, attempts, seconds: (Date.now() - started) / 1000 };
}

// EXTERNAL MODULE: ./src/transfer/ssh-keys.ts
var ssh_keys = __webpack_require__(83590);
// EXTERNAL MODULE: ./src/secrets.ts
var secrets = __webpack_require__(27194);
// EXTERNAL MODULE: ./src/platform/types.ts
var types = __webpack_require__(99674);
// EXTERNAL MODULE: ./node_modules/@actions/core/lib/core.js + 12 modules
var core = __webpack_require__(3894);
// EXTERNAL MODULE: ./src/platform/common.ts
var common = __webpack_require__(39026);
;// CONCATENATED MODULE: ./src/platform/rpc.ts
// The protocol of Odoo's own upgrade script (`python <(curl -s https://upgrade.odoo.com/upgrade)`):
// JSON-RPC calls to the entry server, then to the node that holds the request, and rsync over
// SSH to that node's data server, authenticated by the key pair whose public half went with
// `create` and pinned to the host keys `transfer/start` returns.













const DATA_USER = 'odoo';
const DATA_DIR = '/data';
const MAX_LOG_BYTES = 1024 * 1024;
const RPC_SUCCESS = ['done'];
const RPC_FAILURE = ['failed', 'cancelled'];
/** A status result: `status` must be a state name; `reason` is the platform's text, redacted. */
function mapRpcStatus(result) {
    if (typeof result.status !== 'string' || !result.status.trim()) {
        throw new http/* BadAnswerError */.ac(`status: the platform answered without a status (the status is ${(0,common/* kindOf */.I)(result.status)})`);
    }
    const state = result.status.trim().toLowerCase().slice(0, 100);
    return { state, phase: (0,common/* phaseOf */.hU)(state, RPC_SUCCESS, RPC_FAILURE), message: (0,common/* optionalText */.mR)(result.reason), raw: result };
}
/**
 * Any JSON-RPC answer once it is a JSON object: an error (either form) is the platform's
 * refusal, an HTTP error without one is an HttpStatusError (404/405/410: the endpoint is
 * missing), and `result` is what the call returns (an empty object when it is not an object).
 */
function parseRpcAnswer(what, httpStatus, body, host) {
    const error = rpcErrorText(body);
    if (error !== undefined)
        throw new types/* PlatformError */.W(`The platform refused ${what}: ${error}`, [], httpStatus >= 500);
    if (httpStatus >= 400) {
        if ([404, 405, 410].includes(httpStatus))
            throw new types/* EndpointMissingError */.a(`${what}: the rpc endpoint does not exist on ${host} (HTTP ${httpStatus})`);
        throw new http/* HttpStatusError */.F9(what, httpStatus, undefined, '');
    }
    if (!('result' in body))
        throw new http/* BadAnswerError */.ac(`${what}: the platform answered JSON without a result`);
    return (0,common/* objectOf */.Xy)(body.result) ?? {};
}
/** The create result: id, token and node, or a BadAnswerError (the request may exist all the same). */
function parseRpcCreate(result) {
    const token = typeof result.token === 'string' ? result.token.trim() : '';
    const id = (0,common/* requestIdOf */.Gb)(result.request_id);
    const hostUri = typeof result.assigned_host_uri === 'string' ? result.assigned_host_uri.trim() : '';
    if (id === undefined || !token || /\s/.test(token) || !hostUri) {
        throw new http/* BadAnswerError */.ac(`create: the platform answered without a usable request_id, token and assigned_host_uri (request_id is ${(0,common/* kindOf */.I)(result.request_id)}, ` +
            `token is ${token ? 'malformed' : (0,common/* kindOf */.I)(result.token)}, assigned_host_uri is ${(0,common/* kindOf */.I)(result.assigned_host_uri)})`);
    }
    return { id, token, hostUri, info: (0,common/* optionalText */.mR)(result.info) };
}
/** transfer/start: the data server's SSH port, its known_hosts lines and (download) the dump's name. */
function parseTransferStart(result, type) {
    const p = result.ssh_port;
    const port = typeof p === 'number' || (typeof p === 'string' && /^\s*\d{1,5}\s*$/.test(p)) ? Number(p) : NaN;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new http/* BadAnswerError */.ac(`transfer/start: the platform gave no usable ssh_port (${typeof p === 'string' || typeof p === 'number' ? `"${(0,common/* platformText */.VQ)(p, 40)}"` : `it is ${(0,common/* kindOf */.I)(p)}`})`);
    }
    const kh = result.known_hosts;
    if (Array.isArray(kh) && kh.some((l) => typeof l !== 'string'))
        throw new http/* BadAnswerError */.ac('transfer/start: the platform gave known_hosts lines that are not text');
    if (kh !== undefined && kh !== null && typeof kh !== 'string' && !Array.isArray(kh)) {
        throw new http/* BadAnswerError */.ac(`transfer/start: the platform's known_hosts is ${(0,common/* kindOf */.I)(kh)}, not text`);
    }
    const knownHosts = knownHostsText(kh);
    if (!knownHosts)
        throw new types/* PlatformError */.W("transfer/start: the platform gave no known_hosts lines for its data server; refusing to connect without checking the server's identity.");
    if (type === 'upload')
        return { port, knownHosts };
    const dumpName = safeName(result.dump_name);
    if (!dumpName) {
        const d = result.dump_name;
        throw new http/* BadAnswerError */.ac(`transfer/start: the platform gave no usable dump_name (${typeof d === 'string' ? `"${(0,common/* platformText */.VQ)(d, 60)}"` : `it is ${(0,common/* kindOf */.I)(d)}`})`);
    }
    return { port, knownHosts, dumpName };
}
/** process: the only thing read is whether the upgraded dump needs a newer PostgreSQL. */
function parseProcess(result) {
    if (result.is_pg_version_compatible !== false)
        return { warnings: [] };
    return {
        warnings: ['The upgraded database needs a newer PostgreSQL than the one that made the dump: restore the upgraded dump on a newer PostgreSQL server.'],
    };
}
/** wipe: the request ids wiped and not wiped (absent lists are empty; anything else is a bad answer). */
function parseWipe(result) {
    const ids = (name) => {
        const v = result[name];
        if (v === undefined || v === null)
            return [];
        if (!Array.isArray(v))
            throw new http/* BadAnswerError */.ac(`wipe: the platform's \`${name}\` is ${(0,common/* kindOf */.I)(v)}, not a list of request ids`);
        return v.slice(0, 10_000).map((x) => {
            const id = (0,common/* requestIdOf */.Gb)(x);
            if (id === undefined)
                throw new http/* BadAnswerError */.ac(`wipe: the platform's \`${name}\` holds ${(0,common/* kindOf */.I)(x)} where a request id belongs`);
            return id;
        });
    };
    return { wiped: ids('wiped'), failed: ids('failed') };
}
function registrable(host) {
    return host.split('.').slice(-2).join('.');
}
/**
 * The base URL of the node named by a host uri from the platform ("host" or "host:port").
 * The token goes there, so only https on the platform's own site; loopback http only when
 * the platform itself is a loopback http emulator.
 */
function nodeBaseUrl(hostUri, serverUrl) {
    const server = new URL(serverUrl);
    const raw = hostUri.trim();
    const serverLoopbackHttp = server.protocol === 'http:' && (0,url_policy/* isLoopbackHost */.c)(server.hostname);
    let u;
    try {
        u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`);
    }
    catch {
        u = undefined;
    }
    const bare = u && !u.username && !u.password && u.pathname === '/' && !u.search && !u.hash;
    const host = u?.hostname ?? '';
    const sameSite = host === server.hostname || ((0,url_policy/* isLoopbackHost */.c)(server.hostname) ? (0,url_policy/* isLoopbackHost */.c)(host) : host.endsWith(`.${registrable(server.hostname)}`));
    const schemeOk = u?.protocol === 'https:' || (u?.protocol === 'http:' && serverLoopbackHttp);
    if (!u || !bare || !sameSite || !schemeOk || !raw) {
        throw new types/* PlatformError */.W(`The platform assigned the request to "${(0,common/* platformText */.VQ)(raw, 200)}", which is not a host on the platform's own site (${server.hostname}); refusing to send the request token there.`);
    }
    const scheme = serverLoopbackHttp && (0,url_policy/* isLoopbackHost */.c)(host) ? 'http:' : 'https:';
    return new URL(`${scheme}//${u.host}`);
}
/** The platform's error text (redacted), from `result.error` or a JSON-RPC `error`. */
function rpcErrorText(body) {
    const result = (0,common/* objectOf */.Xy)(body.result);
    if (result && 'error' in result) {
        const e = result.error;
        if (e !== null && e !== undefined && e !== false && e !== '')
            return (0,common/* platformText */.VQ)(e) || 'the platform answered with an error and no message';
    }
    if ('error' in body && body.error !== null && body.error !== undefined) {
        const e = (0,common/* objectOf */.Xy)(body.error);
        const text = e ? ((0,common/* objectOf */.Xy)(e.data)?.message ?? e.message) : body.error;
        return (0,common/* optionalText */.mR)(text) ?? 'the platform answered with an error and no message';
    }
    return undefined;
}
function knownHostsText(v) {
    const lines = (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v.split(/\r?\n/) : [])
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'));
    return lines.length ? `${lines.join('\n')}\n` : '';
}
/** A name the platform gives for a file under /data: one plain path component. */
function safeName(v) {
    const s = typeof v === 'string' ? v.trim().replace(/\/+$/, '') : '';
    return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}$/.test(s) && !s.includes('..') ? s : undefined;
}
/** The data server of a node for ssh/rsync: the node's host (no brackets) and the port transfer/start gave. */
function dataServer(node, port) {
    return { host: node.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}
async function treeSize(p) {
    const st = await (0,promises_.stat)(p);
    if (!st.isDirectory())
        return st.size;
    let total = 0;
    for (const e of await (0,promises_.readdir)(p, { withFileTypes: true })) {
        if (e.isDirectory() || e.isFile())
            total += await treeSize(external_node_path_default().join(p, e.name));
    }
    return total;
}
class RpcPlatform {
    api = 'rpc';
    opts;
    serverBase;
    node; // where calls go once the platform named the request's node
    created;
    pair;
    keyDir;
    keyFiles;
    /**
     * Where the caller's next log offset (bytes of redacted text it was given) falls in the raw log:
     * redaction changes lengths, so the offsets the caller adds up are not the platform's.
     */
    logMark;
    constructor(opts) {
        this.opts = opts;
        this.serverBase = new URL(opts.serverUrl.replace(/\/+$/, ''));
    }
    checkServer() {
        const u = this.serverBase;
        if (u.protocol !== 'https:' && !(u.protocol === 'http:' && (0,url_policy/* isLoopbackHost */.c)(u.hostname))) {
            throw new types/* PlatformError */.W(`The rpc protocol only talks to an https:// platform URL (got ${u.protocol}//${u.host}).`);
        }
    }
    url(base, endpoint) {
        return `${base.origin}${base.pathname.replace(/\/+$/, '')}/${endpoint}`;
    }
    /** One JSON-RPC call; the platform's refusals become PlatformError, a missing endpoint EndpointMissingError. */
    async call(base, endpoint, params, ctx) {
        const what = endpoint.replace(/^upgrade\/request\//, '');
        const timeoutMs = this.opts.callTimeoutMs ?? common/* CALL_TIMEOUT_MS */.MU;
        const { signal, timedOut } = (0,common/* callSignal */.v$)(ctx.signal, timeoutMs);
        let res;
        try {
            res = await (0,http/* callJson */.X_)({
                url: this.url(base, endpoint),
                what,
                json: { jsonrpc: '2.0', method: 'not_used', params, id: 'not_used' },
                signal,
                acceptAnyStatusWithJson: true,
            });
        }
        catch (err) {
            if (err instanceof http/* HttpStatusError */.F9 && [404, 405, 410].includes(err.status)) {
                throw new types/* EndpointMissingError */.a(`${what}: the rpc endpoint does not exist on ${base.host} (HTTP ${err.status})`);
            }
            if (timedOut())
                throw (0,common/* callTimeoutError */.MW)(what, timeoutMs, err);
            throw err;
        }
        return parseRpcAnswer(what, res.status, res.body, base.host);
    }
    /**
     * Retries calls that are safe to repeat: network faults, timeouts, 429/5xx, and answers that
     * could not be read (`parse` runs inside, so a hostile shape is retried like a 5xx).
     */
    callIdempotent(base, endpoint, params, ctx, attempts = 6, parse = (r) => r) {
        const what = endpoint.replace(/^upgrade\/request\//, '');
        return (0,retry/* withRetry */.bD)(async () => parse(await this.call(typeof base === 'function' ? base() : base, endpoint, params, ctx)), {
            attempts,
            baseMs: this.opts.retryBaseMs ?? 2000,
            signal: ctx.signal,
            retryable: common/* retryableCall */.dw,
            onRetry: (err, attempt, delay) => ctx.log(`${what}: ${(0,common/* retryDetail */.WK)(what, err)}; trying again in ${Math.round(delay / 1000)} s (attempt ${attempt + 1})`),
        });
    }
    ephemeralSshKey() {
        return this.pair?.ephemeral ? this.pair.privateKey : undefined;
    }
    keyPair() {
        this.pair ??= (0,ssh_keys/* loadOrCreateKeyPair */.BL)(this.opts.sshPrivateKey, this.opts.secrets);
        return this.pair;
    }
    nodeFor(ref) {
        if (this.node)
            return this.node;
        if (ref.hostUri)
            this.node = nodeBaseUrl(ref.hostUri, this.serverBase.href);
        return this.node ?? this.serverBase;
    }
    async create(p, ctx) {
        this.checkServer();
        // A request whose dump cannot be sent would be wasted: check the tools and the key first.
        await assertRsyncTools();
        const pair = this.keyPair();
        const contract = p.contract || this.opts.contract;
        this.opts.secrets.add(contract);
        const params = {
            contract,
            target: p.target,
            aim: p.aim,
            actuator: 'cli',
            env_vars: p.envVars ?? this.opts.envVars,
            ssh_key: pair.publicKey,
            api_version: '0.2',
        };
        // Retried only when the platform provably received nothing: never two requests for one run.
        const result = await (0,retry/* withRetry */.bD)(() => this.call(this.serverBase, 'upgrade/request/create', params, ctx), {
            attempts: 5,
            baseMs: this.opts.retryBaseMs ?? 2000,
            signal: ctx.signal,
            retryable: (err) => {
                if (err instanceof http/* HttpStatusError */.F9)
                    return err.status === 429 || err.status === 503 ? (err.retryAfterMs ?? true) : false;
                if (err instanceof types/* PlatformError */.W || err instanceof types/* EndpointMissingError */.a)
                    return false;
                return (0,retry/* neverReachedServer */.aD)(err);
            },
            onRetry: (err, attempt, delay) => ctx.log(`create: ${(0,common/* retryDetail */.WK)('create', err)}; nothing was created, trying again in ${Math.round(delay / 1000)} s (attempt ${attempt + 1})`),
        });
        // Registered before anything is checked: whatever goes wrong next, the token is masked.
        if (typeof result.token === 'string')
            this.opts.secrets.add(result.token.trim());
        const { id, token, hostUri, info } = parseRpcCreate(result);
        this.node = nodeBaseUrl(hostUri, this.serverBase.href);
        this.created = p;
        const warnings = [];
        if (info) {
            warnings.push(info);
            ctx.log(`The platform says: ${info}`);
        }
        if (pair.ephemeral) {
            ctx.log('The SSH key pair for this request was made for this run only: a later run can follow the request but not transfer its data unless `ssh-private-key` is set.');
        }
        return { id: String(id), key: token, hostUri, warnings };
    }
    async status(ref, ctx) {
        this.checkServer();
        const attempts = 6;
        const { st, hostUri } = await this.callIdempotent(() => this.nodeFor(ref), 'upgrade/request/status', { token: ref.key }, ctx, attempts, (result) => ({
            st: mapRpcStatus(result),
            hostUri: typeof result.host_uri === 'string' ? result.host_uri.trim() : '',
        })).catch((err) => {
            throw ctx.signal?.aborted || !(0,common/* retryableCall */.dw)(err) ? err : (0,common/* statusLost */.T7)(ref.id, attempts, (0,common/* retryDetail */.WK)('status', err));
        });
        if (hostUri && hostUri !== ref.hostUri) {
            this.node = nodeBaseUrl(hostUri, this.serverBase.href);
            ref.hostUri = hostUri;
        }
        if (this.created) {
            st.target = this.created.target;
            st.aim = this.created.aim;
            st.filename = this.created.filename;
        }
        return st;
    }
    async process(ref, ctx) {
        try {
            return await this.callIdempotent(this.nodeFor(ref), 'upgrade/request/process', { token: ref.key }, ctx, 6, parseProcess);
        }
        catch (err) {
            // A retried process whose first try got through is refused for its state: not an error.
            if (err instanceof types/* PlatformError */.W) {
                const st = await this.status(ref, ctx).catch(() => undefined);
                if (st && st.state !== 'new' && st.state !== 'pending')
                    return { warnings: [] };
            }
            throw err;
        }
    }
    /** transfer/start: the data server's port and host keys, written where ssh reads them. */
    async startTransfer(ref, type, ctx) {
        const pair = this.keyPair();
        if (pair.ephemeral && !this.created) {
            throw new types/* PlatformError */.W(`Request ${ref.id} only lets in the SSH key sent when it was created, and this run has no \`ssh-private-key\` (its key pair was made just now). ` +
                'Give the same `ssh-private-key` as the run that created the request.');
        }
        await assertRsyncTools();
        const node = this.nodeFor(ref);
        const result = await this.callIdempotent(node, 'upgrade/request/transfer/start', { token: ref.key, transfer_type: type }, ctx, 6, (r) => parseTransferStart(r, type));
        const { port, knownHosts } = result;
        if (!this.keyDir)
            this.keyDir = await (0,ssh_keys/* makeKeyDir */.tU)();
        this.keyFiles ??= await (0,ssh_keys/* writeKeyFiles */.ar)(pair, this.keyDir.dir);
        const knownHostsFile = external_node_path_default().join(this.keyDir.dir, 'known_hosts');
        await (0,promises_.writeFile)(knownHostsFile, knownHosts, { mode: 0o600 });
        const target = { ...dataServer(node, port), user: DATA_USER, privateKeyFile: this.keyFiles.privateKeyPath, knownHostsFile };
        return { target, node, result };
    }
    /** One transfer session: transfer/start, rsync (resumed by rsync itself), transfer/stop. */
    async rsyncSession(ref, type, ctx, progressLabel, total, job) {
        const { target, node, result } = await this.startTransfer(ref, type, ctx);
        const progress = ctx.progress(progressLabel, total);
        let r;
        try {
            r = await rsyncTransfer({
                ...job(result.dumpName),
                target,
                direction: type,
                progress,
                log: ctx.log,
                redact: (t) => this.opts.secrets.redact(t),
                signal: ctx.signal,
                retryBaseMs: this.opts.retryBaseMs,
            });
        }
        finally {
            progress.finish();
        }
        await this.callIdempotent(node, 'upgrade/request/transfer/stop', { token: ref.key }, ctx);
        return { seconds: r.seconds, attempts: r.attempts, dumpName: result.dumpName };
    }
    async upload(ref, dump, ctx) {
        const directory = dump.format === 'directory' || dump.uploadExt === '.dump/';
        const r = await this.rsyncSession(ref, 'upload', ctx, 'Upload', dump.size, () => ({
            what: 'upload of the dump',
            // A directory dump's content goes into /data/origin.dump/; a file becomes /data/origin<ext>.
            sources: [directory ? `${dump.path.replace(/\/+$/, '')}/` : dump.path],
            dest: directory ? `${DATA_DIR}/origin.dump/` : `${DATA_DIR}/origin${dump.uploadExt}`,
            // The platform's services read what its SSH user writes: group and others may read.
            options: ['--recursive', '--times', '--append-verify', '--chmod=u+rwX,g+rwX,o+rX', ...(directory ? ['--delete'] : [])],
        }));
        return { method: 'rsync', bytes: dump.size, seconds: r.seconds, resumes: r.attempts - 1 };
    }
    async download(ref, status, outputDir, ctx) {
        if (!this.opts.download)
            return [];
        if (status.raw.archived === true) {
            throw new types/* PlatformError */.W(`Request ${ref.id} is archived: the platform no longer holds its upgraded database.`);
        }
        await (0,promises_.mkdir)(outputDir, { recursive: true });
        const { dumpName } = await this.rsyncSession(ref, 'download', ctx, 'Download', undefined, (name) => ({
            what: 'download of the upgraded database',
            sources: [`${DATA_DIR}/${name}`, `${DATA_DIR}/filestore`, `${DATA_DIR}/upgrade-report.html`, `${DATA_DIR}/upgrade.log`],
            dest: `${external_node_path_default().resolve(outputDir)}/`,
            // No symlinks, devices or owners from the server; the two folders mirror the server's.
            options: ['--recursive', '--times', '--ignore-missing-args', '--delete'],
        }));
        if (!dumpName)
            throw new http/* BadAnswerError */.ac('transfer/start: the platform gave no dump_name');
        const dumpDir = external_node_path_default().join(outputDir, dumpName);
        const toc = await (0,promises_.stat)(external_node_path_default().join(dumpDir, 'toc.dat')).catch(() => undefined);
        if (!toc?.isFile())
            throw new types/* PlatformError */.W(`The platform's upgraded dump ${dumpName} arrived without its toc.dat: it is not a usable directory dump.`);
        const files = [{ role: 'dump', path: dumpDir, bytes: await treeSize(dumpDir) }];
        const filestore = external_node_path_default().join(outputDir, 'filestore');
        if ((await (0,promises_.stat)(filestore).catch(() => undefined))?.isDirectory())
            files.push({ role: 'filestore', path: filestore, bytes: await treeSize(filestore) });
        for (const [role, name] of [['report', 'upgrade-report.html'], ['log', 'upgrade.log']]) {
            const p = external_node_path_default().join(outputDir, name);
            const st = await (0,promises_.stat)(p).catch(() => undefined);
            if (st?.isFile())
                files.push({ role, path: p, bytes: st.size, sha256: await (0,transfer_http/* sha256File */.Q3)(p) });
        }
        return files;
    }
    /**
     * The upgrade log from byte `offset` (Range: bytes=N-), whole lines only, redacted as every other
     * platform text is (the log is the platform's own words: a key or token in it must not be printed).
     * `offset` counts the bytes of text this method returned, so a caller that adds up what it was
     * given reads on from where the last call stopped, redacted or not.
     */
    async logs(ref, offset, ctx) {
        const shownOffset = Math.max(0, Math.floor(offset));
        const mark = this.logMark;
        const rawOffset = mark && mark.id === ref.id && mark.shown === shownOffset ? mark.raw : shownOffset;
        const raw = await this.rawLogs(ref, rawOffset, ctx);
        const text = (0,secrets/* redactAnswer */.s2)(raw.toString('utf8'));
        this.logMark = { id: ref.id, shown: shownOffset + Buffer.byteLength(text), raw: rawOffset + raw.length };
        return text;
    }
    async rawLogs(ref, offset, ctx) {
        const url = `${this.url(this.nodeFor(ref), 'upgrade/request/logs')}?${new URLSearchParams({ token: ref.key })}`;
        const timeoutMs = this.opts.callTimeoutMs ?? common/* CALL_TIMEOUT_MS */.MU;
        const { signal, timedOut } = (0,common/* callSignal */.v$)(ctx.signal, timeoutMs);
        let res;
        try {
            res = await (0,undici/* request */.Em)(url, {
                method: 'GET',
                headers: { range: `bytes=${Math.max(0, Math.floor(offset))}-`, 'user-agent': 'odoo-upgrade-action', 'accept-encoding': 'identity' },
                signal,
                dispatcher: (0,http/* dispatcher */.oh)(),
            });
        }
        catch (err) {
            if (timedOut())
                throw (0,common/* callTimeoutError */.MW)('logs', timeoutMs, err);
            throw err;
        }
        if (res.statusCode === 416) {
            await res.body.dump();
            return Buffer.alloc(0);
        }
        if (res.statusCode !== 200 && res.statusCode !== 206) {
            const text = await res.body.text().catch(() => '');
            throw new http/* HttpStatusError */.F9('logs', res.statusCode, (0,http/* parseRetryAfter */.mu)(res.headers['retry-after']), (0,http/* snippet */.UA)(text));
        }
        // A server that ignores Range sends everything: skip what was already shown.
        let skip = res.statusCode === 200 ? offset : 0;
        const chunks = [];
        let size = 0;
        let truncated = false;
        for await (const chunk of res.body) {
            let b = Buffer.from(chunk);
            if (skip > 0) {
                const n = Math.min(skip, b.length);
                b = b.subarray(n);
                skip -= n;
            }
            chunks.push(b);
            size += b.length;
            if (size >= MAX_LOG_BYTES) {
                truncated = true;
                res.body.destroy();
                break;
            }
        }
        let buf = Buffer.concat(chunks);
        if (truncated) {
            // The next call starts where this one stopped: cut at a line end so nothing is split.
            const nl = buf.lastIndexOf(0x0a, MAX_LOG_BYTES - 1);
            buf = buf.subarray(0, nl >= 0 ? nl + 1 : MAX_LOG_BYTES);
        }
        return buf;
    }
    /**
     * Contract-wide, as Odoo's script says ("All associated requests of the contract will be wiped
     * out"): sent to the main server (not the node) with the contract and this request's token.
     * Every id reported is logged; ids other than this run's request are a warning.
     */
    async wipe(ref, ctx) {
        this.checkServer();
        const contract = this.created?.contract || this.opts.contract;
        const { wiped, failed } = await this.callIdempotent(this.serverBase, 'upgrade/request/wipe', { contract, token: ref.key }, ctx, 6, parseWipe);
        const warn = ctx.warn ?? ((line) => core/* warning */.$e(this.opts.secrets.redact(line)));
        const others = wiped.filter((id) => id !== ref.id);
        if (others.length) {
            warn(`wipe is contract-wide: besides this run's request ${ref.id}, the platform wiped request${others.length > 1 ? 's' : ''} ${others.join(', ')} of the same contract. ` +
                'Their results are gone from the platform, and Odoo support can no longer look at them.');
        }
        if (failed.length) {
            warn(`The platform could not wipe request${failed.length > 1 ? 's' : ''} ${failed.join(', ')}: ${failed.length > 1 ? 'their' : 'its'} data stays on the platform (kept up to 3 months).`);
        }
        const parts = [];
        if (wiped.length)
            parts.push(`wiped the data of request${wiped.length > 1 ? 's' : ''} ${wiped.join(', ')}`);
        if (failed.length)
            parts.push(`could not wipe request${failed.length > 1 ? 's' : ''} ${failed.join(', ')}`);
        return parts.length ? `The platform ${parts.join(' and ')}.` : `The platform wiped nothing for request ${ref.id}.`;
    }
    async close() {
        const files = this.keyFiles;
        const dir = this.keyDir;
        this.keyFiles = undefined;
        this.keyDir = undefined;
        await files?.cleanup().catch(() => undefined);
        await dir?.cleanup().catch(() => undefined);
    }
}


/***/ }),

/***/ 83590:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   BL: () => (/* binding */ loadOrCreateKeyPair),
/* harmony export */   _7: () => (/* binding */ sha256Fingerprint),
/* harmony export */   ar: () => (/* binding */ writeKeyFiles),
/* harmony export */   tU: () => (/* binding */ makeKeyDir)
/* harmony export */ });
/* unused harmony exports SshKeyError, newEd25519PrivateKey */
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(77598);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(48161);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_os__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_3___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_3__);
/* harmony import */ var ssh2__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(85472);
/* harmony import */ var ssh2__WEBPACK_IMPORTED_MODULE_4___default = /*#__PURE__*/__webpack_require__.n(ssh2__WEBPACK_IMPORTED_MODULE_4__);
/* harmony import */ var _secrets_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(27194);
// SSH key pairs for SFTP/rsync transfers: the user's key (input `ssh-private-key`) or an
// ephemeral ed25519 pair made in-process (node:crypto, serialized here). Keys leave this module in OpenSSH or classic PEM
// form, which both ssh2 and the OpenSSH client read.






const COMMENT = 'odoo-upgrade-action';
const INPUT = 'Input `ssh-private-key`';
class SshKeyError extends Error {
    constructor(message) {
        super(message);
        this.name = 'SshKeyError';
    }
}
/** OpenSSH's fingerprint of a public key blob (wire format). */
function sha256Fingerprint(blob) {
    return `SHA256:${(0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createHash)('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}
/**
 * A fresh ed25519 private key in OpenSSH's format. Not ssh2.utils.generateKeyPairSync: ssh2 1.17
 * strips leading zero bytes of the seed and the public key, so about 1 key in 128 comes out
 * malformed (neither ssh2 nor OpenSSH loads it).
 */
function newEd25519PrivateKey() {
    return ed25519ToOpenSsh((0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.generateKeyPairSync)('ed25519').privateKey);
}
/** Parses the user's private key, or makes an ephemeral pair when the input is empty. */
function loadOrCreateKeyPair(privateKeyInput, registry = _secrets_js__WEBPACK_IMPORTED_MODULE_5__/* .secrets */ .O3) {
    const raw = privateKeyInput?.trim() ?? '';
    if (!raw) {
        const made = newEd25519PrivateKey();
        registry.add(made);
        return { ...describeKey(made), ephemeral: true };
    }
    registry.add(raw);
    const text = normalizeKeyText(raw);
    if (text !== raw)
        registry.add(text);
    const openssh = toSsh2Readable(text);
    if (openssh !== text)
        registry.add(openssh);
    return { ...describeKey(openssh), ephemeral: false };
}
/** Writes the pair for the OpenSSH client: private key 0600 (ssh refuses looser modes). */
async function writeKeyFiles(pair, dir) {
    const privateKeyPath = node_path__WEBPACK_IMPORTED_MODULE_3___default().join(dir, 'id_odoo_upgrade');
    const publicKeyPath = `${privateKeyPath}.pub`;
    await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.writeFile)(privateKeyPath, withNewline(pair.privateKey), { mode: 0o600 });
    await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.chmod)(privateKeyPath, 0o600); // an existing file keeps its old mode through writeFile
    await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.writeFile)(publicKeyPath, withNewline(pair.publicKey), { mode: 0o644 });
    return {
        privateKeyPath,
        publicKeyPath,
        async cleanup() {
            await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rm)(privateKeyPath, { force: true });
            await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rm)(publicKeyPath, { force: true });
        },
    };
}
/** A private (0700) temporary directory for key and known_hosts files. */
async function makeKeyDir() {
    const dir = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.mkdtemp)(node_path__WEBPACK_IMPORTED_MODULE_3___default().join((0,node_os__WEBPACK_IMPORTED_MODULE_2__.tmpdir)(), 'odoo-upgrade-ssh-'));
    return { dir, cleanup: () => (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rm)(dir, { recursive: true, force: true }) };
}
function describeKey(privateText) {
    const parsed = parseWithSsh2(privateText);
    const blob = parsed.getPublicSSH();
    return {
        privateKey: privateText,
        publicKey: `${parsed.type} ${blob.toString('base64')} ${COMMENT}`,
        fingerprint: sha256Fingerprint(blob),
    };
}
// Secrets pasted through web forms arrive with CRLF, or on one line with literal "\n".
function normalizeKeyText(raw) {
    let text = raw.replace(/\r\n?/g, '\n');
    if (!text.includes('\n') && text.includes('\\n'))
        text = text.replace(/\\n/g, '\n');
    return text.trim();
}
function toSsh2Readable(text) {
    if (isPublicKeyText(text)) {
        throw new SshKeyError(`${INPUT} holds a public key; give the private key (the key file without .pub).`);
    }
    if (/^-----BEGIN ENCRYPTED PRIVATE KEY-----/m.test(text) || /^Proc-Type:\s*4,ENCRYPTED/m.test(text)) {
        throw encryptedError();
    }
    if (/^-----BEGIN PRIVATE KEY-----/m.test(text))
        return fromPkcs8(text);
    if (/^-----BEGIN DSA PRIVATE KEY-----/m.test(text)) {
        throw new SshKeyError(`${INPUT} is a DSA key, which OpenSSH no longer accepts; use an ed25519, ECDSA or RSA key.`);
    }
    if (!/^-----BEGIN (OPENSSH|RSA|EC) PRIVATE KEY-----/m.test(text)) {
        throw new SshKeyError(`${INPUT} is not a private key in OpenSSH or PEM format (text starting with -----BEGIN ... PRIVATE KEY-----).`);
    }
    return text;
}
function isPublicKeyText(text) {
    return (/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-\S+|sk-\S+)\s+AAAA/.test(text) ||
        /^---- BEGIN SSH2 PUBLIC KEY ----/.test(text) ||
        /^-----BEGIN (RSA |EC )?PUBLIC KEY-----/.test(text));
}
function encryptedError() {
    return new SshKeyError(`${INPUT} is encrypted with a passphrase, which unattended runs cannot type; remove it (ssh-keygen -p -N '' -f <keyfile>) or use a dedicated key.`);
}
function parseWithSsh2(text) {
    const parsed = ssh2__WEBPACK_IMPORTED_MODULE_4___default().utils.parseKey(text);
    if (parsed instanceof Error) {
        if (/passphrase|encrypted/i.test(parsed.message))
            throw encryptedError();
        throw new SshKeyError(`${INPUT} could not be read as a private key: ${parsed.message}.`);
    }
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || !key.isPrivateKey())
        throw new SshKeyError(`${INPUT} holds a public key; give the private key.`);
    if (key.type === 'ssh-dss')
        throw new SshKeyError(`${INPUT} is a DSA key, which OpenSSH no longer accepts.`);
    return key;
}
// PKCS#8 ("BEGIN PRIVATE KEY", what openssl and `ssh-keygen -m PKCS8` write) is not read
// by ssh2: turn it into the classic PEM forms, or the OpenSSH form for ed25519.
function fromPkcs8(text) {
    let key;
    try {
        key = (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createPrivateKey)({ key: text, format: 'pem' });
    }
    catch {
        throw new SshKeyError(`${INPUT} looks like a PKCS#8 private key but could not be decoded.`);
    }
    switch (key.asymmetricKeyType) {
        case 'rsa':
            return String(key.export({ type: 'pkcs1', format: 'pem' })).trim();
        case 'ec':
            return String(key.export({ type: 'sec1', format: 'pem' })).trim();
        case 'ed25519':
            return ed25519ToOpenSsh(key);
        default:
            throw new SshKeyError(`${INPUT} is a ${key.asymmetricKeyType ?? 'unknown'} key; SSH needs ed25519, ECDSA or RSA.`);
    }
}
function ed25519ToOpenSsh(key) {
    const jwk = key.export({ format: 'jwk' });
    const seed = Buffer.from(String(jwk.d), 'base64url');
    const pub = Buffer.from(String(jwk.x), 'base64url');
    const type = Buffer.from('ssh-ed25519');
    const pubBlob = Buffer.concat([sshString(type), sshString(pub)]);
    const check = (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.randomBytes)(4);
    let priv = Buffer.concat([check, check, sshString(type), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(Buffer.from(COMMENT))]);
    const pad = (8 - (priv.length % 8)) % 8;
    priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
    const none = sshString(Buffer.from('none'));
    const body = Buffer.concat([
        Buffer.from('openssh-key-v1\0'), none, none, sshString(Buffer.alloc(0)), uint32(1), sshString(pubBlob), sshString(priv),
    ]);
    const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
    return ['-----BEGIN OPENSSH PRIVATE KEY-----', ...lines, '-----END OPENSSH PRIVATE KEY-----'].join('\n');
}
function sshString(b) {
    return Buffer.concat([uint32(b.length), b]);
}
function uint32(n) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
}
function withNewline(s) {
    return s.endsWith('\n') ? s : `${s}\n`;
}


/***/ })

};
