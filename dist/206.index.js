export const id = 206;
export const ids = [206];
export const modules = {

/***/ 71206:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   prCommentTarget: () => (/* binding */ prCommentTarget),
/* harmony export */   readEventPayload: () => (/* binding */ readEventPayload),
/* harmony export */   renderComment: () => (/* binding */ renderComment),
/* harmony export */   upsertPrComment: () => (/* binding */ upsertPrComment)
/* harmony export */ });
/* unused harmony export commentMarker */
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _html_text_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(19132);
/* harmony import */ var _summary_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(21463);
/* harmony import */ var _transfer_progress_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(50484);
/* harmony import */ var _secrets_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(27194);
/* harmony import */ var _net_retry_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(37893);
/* harmony import */ var _github_ghes_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(95616);
/* harmony import */ var _github_reuse_text_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(38427);
// The pull-request comment: one per pull request and database, found again by a hidden
// marker and updated in place on later runs. A PR comment can be public: everything in it
// is escaped, remote text loses its URLs, and the only links are the run and the artifact.








const STATUS = {
    success: '✅ Odoo upgrade succeeded',
    failure: '❌ Odoo upgrade failed',
    started: '⏳ Odoo upgrade started (not waited for)',
    timeout: '⌛ Stopped waiting: the Odoo upgrade is still running',
    cancelled: '🛑 Cancelled: the Odoo upgrade may still be running',
    error: '⚠️ The Odoo upgrade step failed',
};
const MAX_FREE_TEXT = 600; // per platform message or error: a comment is a glance, the summary has the rest
/** The hidden line that finds this database's comment again; the name is encoded so it cannot end the HTML comment. */
function commentMarker(database) {
    const id = [...(database || '_')].map((ch) => (/[A-Za-z0-9._]/.test(ch) || ch === '-' ? ch : encodeURIComponent(ch).replace(/!/g, '%21'))).join('');
    return `<!-- odoo-upgrade-action:${id.replace(/--/g, '-%2D')} -->`;
}
function renderComment(report, ctx) {
    const r = report;
    const outcome = r.outcome ?? 'error';
    const state = r.final?.state ? ` — state ${(0,_summary_js__WEBPACK_IMPORTED_MODULE_2__/* .code */ .aY)(r.final.state)}` : '';
    const out = [commentMarker(ctx.database), `### ${STATUS[outcome]}${state}`, ''];
    const facts = [`Database ${(0,_summary_js__WEBPACK_IMPORTED_MODULE_2__/* .code */ .aY)(ctx.database)}`];
    const target = r.target ?? r.final?.target;
    if (target)
        facts.push(`target ${(0,_summary_js__WEBPACK_IMPORTED_MODULE_2__/* .code */ .aY)(target)}`);
    const aim = r.aim ?? r.final?.aim;
    if (aim)
        facts.push(`aim ${(0,_summary_js__WEBPACK_IMPORTED_MODULE_2__/* .code */ .aY)(aim)}`);
    if (r.requestId)
        facts.push(`request ${(0,_summary_js__WEBPACK_IMPORTED_MODULE_2__/* .code */ .aY)(r.requestId)}${r.resumed ? ' (resumed)' : ''}`);
    out.push(facts.join(' · '), '');
    if (r.reused)
        out.push(`> ${(0,_github_reuse_text_js__WEBPACK_IMPORTED_MODULE_5__/* .reusedMarkdown */ .a)(r.reused)}`, '');
    if (aim === 'production')
        out.push('> [!WARNING]', '> **Production upgrade:** test the upgraded database before it replaces the production one.', '');
    if (r.final?.message)
        out.push('**Message from the platform:**', '', ...quote(freeText(r.final.message)), '');
    if (r.error && r.error !== r.final?.message)
        out.push('**Error:**', '', ...quote(freeText(r.error)), '');
    const rows = [];
    if (r.dump)
        rows.push(['Dump', `${(0,_transfer_progress_js__WEBPACK_IMPORTED_MODULE_6__/* .formatBytes */ .z3)(r.dump.size)}, ${(0,_html_text_js__WEBPACK_IMPORTED_MODULE_1__/* .escapeMarkdown */ .FV)(oneLine(freeText(r.dump.detail)))}`]);
    if (r.upload)
        rows.push(['Upload', `${(0,_transfer_progress_js__WEBPACK_IMPORTED_MODULE_6__/* .formatBytes */ .z3)(r.upload.bytes)} in ${(0,_transfer_progress_js__WEBPACK_IMPORTED_MODULE_6__/* .formatDuration */ .a3)(r.upload.seconds)} (${r.upload.method})`]);
    if (r.waitSeconds !== undefined)
        rows.push(['Wait', `${(0,_transfer_progress_js__WEBPACK_IMPORTED_MODULE_6__/* .formatDuration */ .a3)(r.waitSeconds)}${r.polls !== undefined ? ` (${r.polls} status checks)` : ''}`]);
    for (const f of r.downloads)
        if (f.role === 'dump' || f.role === 'sql')
            rows.push([`Upgraded ${f.role}`, (0,_transfer_progress_js__WEBPACK_IMPORTED_MODULE_6__/* .formatBytes */ .z3)(f.bytes)]);
    if (r.final?.databaseVersion)
        rows.push(['Detected source version', (0,_html_text_js__WEBPACK_IMPORTED_MODULE_1__/* .escapeMarkdown */ .FV)(oneLine(r.final.databaseVersion))]);
    if (r.artifact) {
        const name = (0,_html_text_js__WEBPACK_IMPORTED_MODULE_1__/* .escapeMarkdown */ .FV)(oneLine(r.artifact.name));
        const url = linkable(r.artifact.url);
        rows.push(['Artifact', `${url ? `[${name}](${url})` : name} (${(0,_transfer_progress_js__WEBPACK_IMPORTED_MODULE_6__/* .formatBytes */ .z3)(r.artifact.size)})`]);
    }
    if (rows.length)
        out.push('| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|')} |`), '');
    if (r.notesHtml) {
        const items = (0,_html_text_js__WEBPACK_IMPORTED_MODULE_1__/* .notesHeadlines */ .Xs)(r.notesHtml).map((l) => oneLine(freeText(l))).filter(Boolean);
        if (items.length)
            out.push('**Upgrade notes** (first items; all of them are in the job summary):', '', ...items.map((l) => `- ${(0,_html_text_js__WEBPACK_IMPORTED_MODULE_1__/* .escapeMarkdown */ .FV)(l)}`), '');
    }
    const run = linkable(ctx.runUrl);
    const when = (r.finishedAt ?? r.startedAt).toISOString().replace('T', ' ').slice(0, 16);
    out.push(`<sub>${run ? `[Workflow run](${run}) · ` : ''}odoo-upgrade-action · ${when} UTC</sub>`, '');
    // A last pass over everything, with whatever the run registered as secret.
    return (ctx.redact ?? ((s) => _secrets_js__WEBPACK_IMPORTED_MODULE_3__/* .secrets */ .O3.redact(s)))(out.join('\n'));
}
/** Remote or error text: bounded, and without any URL (a status URL carries the request key). */
function freeText(s) {
    const cut = s.length > MAX_FREE_TEXT ? `${s.slice(0, MAX_FREE_TEXT - 3)}...` : s;
    return cut.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S*/gi, '(link removed)').replace(/\bwww\.\S+/gi, '(link removed)');
}
function oneLine(s) {
    return s.replace(/\s+/g, ' ').trim();
}
function quote(text) {
    return (0,_html_text_js__WEBPACK_IMPORTED_MODULE_1__/* .escapeMarkdown */ .FV)(text).split('\n').map((l) => `> ${l}`);
}
/** Only plain http(s) URLs become links; anything odd is shown as no link at all. */
function linkable(url) {
    return url && /^https?:\/\/[^\s()<>[\]"'`]+$/.test(url) ? url : undefined;
}
// ---------------------------------------------------------------- where to comment
const PR_EVENTS = new Set(['pull_request', 'pull_request_target']);
/** The event's payload (GITHUB_EVENT_PATH), or undefined when there is none to read. */
async function readEventPayload(env = process.env) {
    if (!env.GITHUB_EVENT_PATH)
        return undefined;
    try {
        return JSON.parse(await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.readFile)(env.GITHUB_EVENT_PATH, 'utf8'));
    }
    catch {
        return undefined;
    }
}
/** Which pull request to comment on, or why not (said in the summary). */
function prCommentTarget(env, eventPayload, token = env['INPUT_GITHUB-TOKEN'] ?? '') {
    const event = env.GITHUB_EVENT_NAME ?? '';
    if (!PR_EVENTS.has(event))
        return { skip: `\`pr-comment\`: this run was started by ${event ? `a \`${event}\` event` : 'no known event'}, not a pull request; no comment written.` };
    const pr = eventPayload?.pull_request;
    const number = pr?.number ?? eventPayload?.number;
    if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 1) {
        return { skip: '`pr-comment`: the event payload (GITHUB_EVENT_PATH) names no pull request number; no comment written.' };
    }
    if (!token.trim())
        return { skip: '`pr-comment`: input `github-token` is empty; no comment written.' };
    if (event === 'pull_request') {
        const head = pr?.head?.repo?.full_name;
        const base = pr?.base?.repo?.full_name;
        if (!head || !base || head.toLowerCase() !== base.toLowerCase()) {
            return {
                skip: `\`pr-comment\`: pull request #${number} comes from a fork (${head ?? 'a deleted repository'}); ` +
                    'on `pull_request` events from forks the workflow token is read-only, so no comment was written.',
            };
        }
        if (env.GITHUB_ACTOR === 'dependabot[bot]') {
            return { skip: `\`pr-comment\`: pull request #${number} was opened by Dependabot, whose \`pull_request\` runs get a read-only token; no comment written.` };
        }
    }
    return { issueNumber: number };
}
// ---------------------------------------------------------------- create or update
async function upsertPrComment(opts) {
    const [owner, repo, ...rest] = opts.repository.split('/');
    if (!owner || !repo || rest.length)
        throw new Error(`Cannot write the pull request comment: "${opts.repository}" is not an owner/name repository.`);
    const marker = commentMarker(opts.database);
    const body = opts.body.trimStart().startsWith(marker) ? opts.body : `${marker}\n${opts.body}`;
    const env = opts.env ?? process.env;
    const { getOctokit } = await __webpack_require__.e(/* import() */ 351).then(__webpack_require__.bind(__webpack_require__, 61351));
    // The base URL is read now, not when the library was first imported.
    const octokit = getOctokit(opts.token, { baseUrl: (0,_github_ghes_js__WEBPACK_IMPORTED_MODULE_7__/* .githubHost */ .S)(env).apiUrl });
    const where = { owner, repo };
    const retryRead = { attempts: 3, baseMs: 1000, retryable: (e) => (0,_net_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .isTransientNetworkError */ .l)(e) || serverError(e) };
    try {
        const existing = await (0,_net_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .withRetry */ .bD)(async () => {
            for await (const page of octokit.paginate.iterator(octokit.rest.issues.listComments, { ...where, issue_number: opts.issueNumber, per_page: 100 })) {
                const hit = page.data.find((c) => (c.body ?? '').trimStart().startsWith(marker));
                if (hit)
                    return hit.id;
            }
            return undefined;
        }, retryRead);
        if (existing !== undefined) {
            try {
                await (0,_net_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .withRetry */ .bD)(() => octokit.rest.issues.updateComment({ ...where, comment_id: existing, body }), retryRead);
                opts.log(`Updated the comment on pull request #${opts.issueNumber} (comment ${existing}).`);
                return { id: existing, created: false };
            }
            catch (err) {
                if (statusOf(err) !== 404)
                    throw err; // deleted meanwhile: write a new one
            }
        }
        // A create is not idempotent: retried only when it cannot have reached GitHub.
        const { data } = await (0,_net_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .withRetry */ .bD)(() => octokit.rest.issues.createComment({ ...where, issue_number: opts.issueNumber, body }), {
            attempts: 3,
            baseMs: 1000,
            retryable: _net_retry_js__WEBPACK_IMPORTED_MODULE_4__/* .neverReachedServer */ .aD,
        });
        opts.log(`Commented on pull request #${opts.issueNumber} (comment ${data.id}).`);
        return { id: data.id, created: true };
    }
    catch (err) {
        throw commentError(err, opts.repository, opts.issueNumber, opts.secrets ?? _secrets_js__WEBPACK_IMPORTED_MODULE_3__/* .secrets */ .O3);
    }
}
function statusOf(err) {
    const s = err.status;
    return typeof s === 'number' ? s : undefined;
}
function serverError(err) {
    const s = statusOf(err);
    return s !== undefined && s >= 500;
}
function commentError(err, repository, issue, secrets) {
    const e = secrets.redactError(err);
    const status = statusOf(err);
    const head = `Cannot write the comment on pull request #${issue} of ${repository}`;
    let why;
    if (status === 403) {
        why =
            'the token in `github-token` lacks permission (403). Give the workflow (or job) `permissions: pull-requests: write` ' +
                '(or `issues: write`); pull requests from forks get a read-only token on `pull_request` events.';
    }
    else if (status === 401) {
        why = 'the token in `github-token` was refused (401: bad or expired credentials).';
    }
    else if (status === 404) {
        why = 'the pull request was not found, or the token in `github-token` cannot see this repository (404).';
    }
    else {
        why = (e.message.split('\n')[0] ?? '') || 'unknown error';
    }
    return new Error(`${head}: ${why}`, { cause: e });
}


/***/ })

};
