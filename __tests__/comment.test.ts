// The pull-request comment: rendered from a run report (hostile remote text, secrets), then
// created and updated through the real @actions/github client against the GitHub fake.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startGitHubFake, type GitHubFake } from '../emulator/github.ts';
import { newReport, type RunReport } from '../src/publish/report.ts';

type Mod = typeof import('../src/publish/comment.ts');

const REPO = 'acme/erp';
const KEY = 'k3yS3cr3tV4lu3';
const KEY_URL = `https://upgrade.odoo.com/database/eu1/10534/${KEY}/upgraded/archive`;
const RUN_URL = 'http://github.localhost/acme/erp/actions/runs/7';
const ARTIFACT_URL = 'http://github.localhost/acme/erp/actions/runs/7/artifacts/1001';

let fake: GitHubFake;
let dir: string;
let mod: Mod;
const savedEnv = new Map<string, string | undefined>();

before(async () => {
  fake = await startGitHubFake({ repository: REPO, runId: 7 });
  dir = await mkdtemp(path.join(os.tmpdir(), 'comment-test-'));
  // @actions/github reads GITHUB_API_URL when first imported: the env comes first.
  for (const [k, v] of Object.entries(fake.env)) {
    savedEnv.set(k, process.env[k]);
    process.env[k] = v;
  }
  mod = await import('../src/publish/comment.ts');
});

after(async () => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await fake?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function report(over: Partial<RunReport> = {}): RunReport {
  const r = newReport();
  Object.assign(r, {
    outcome: 'success',
    requestId: '10534',
    api: 'v1',
    target: '18.0',
    aim: 'test',
    filename: 'prod.dump',
    dump: { format: 'custom', size: 3 * 1024 ** 3, detail: 'pg_dump custom format', source: 'artifact "db" of run 6 (acme/erp)' },
    upload: { method: 'sftp', bytes: 3 * 1024 ** 3, seconds: 125, resumes: 0 },
    waitSeconds: 3725,
    polls: 41,
    final: { state: 'done', phase: 'success', raw: { upgraded_dump_url: KEY_URL } },
    artifact: { name: 'odoo-upgraded-prod-18.0', id: 1001, url: ARTIFACT_URL, size: 2 * 1024 ** 3 },
    startedAt: new Date('2026-03-01T10:00:00Z'),
    finishedAt: new Date('2026-03-01T11:05:00Z'),
    ...over,
  });
  r.downloads.push({ role: 'dump', path: '/tmp/out/upgraded_prod.dump', bytes: 2 * 1024 ** 3 });
  return r;
}

const hostileNotes =
  '<h2>Notes</h2><ul>' +
  '<li>Module <b>sale</b> upgraded</li>' +
  '<li><img src=x onerror=alert(2)> @everyone look [here](https://evil.example/x) <script>alert(1)</script></li>' +
  `<li>Download: ${KEY_URL}</li>` +
  '<li>| table | breaker |</li></ul>';

test('render: status, facts, links only to the run and the artifact, hostile notes escaped, no secret', () => {
  const r = report({ notesHtml: hostileNotes, error: undefined });
  const md = mod.renderComment(r, { runUrl: RUN_URL, database: 'prod' });
  const lines = md.split('\n');
  assert.equal(lines[0], '<!-- odoo-upgrade-action:prod -->');
  assert.equal(lines[1], '### ✅ Odoo upgrade succeeded — state `done`');
  assert.match(md, /Database `prod` · target `18\.0` · aim `test` · request `10534`/);
  assert.match(md, /\| Upload \| 3\.0 GiB in 2m05s \(sftp\) \|/);
  assert.match(md, /\| Wait \| 1h02m \(41 status checks\) \|/);
  assert.match(md, /\| Upgraded dump \| 2\.0 GiB \|/);
  assert.match(md, /- Module sale upgraded/);

  const links = [...md.matchAll(/\]\(([^)]*)\)/g)].map((m) => m[1]);
  assert.deepEqual(links.sort(), [ARTIFACT_URL, RUN_URL].sort());
  assert.doesNotMatch(md, /<script|<img|onerror=|evil\.example/);
  assert.doesNotMatch(md, /@everyone/, 'mentions are broken up');
  assert.ok(!md.includes(KEY), 'the key-bearing URL is not in the comment');
  assert.match(md, /Download: \\\(link removed\\\)/);
  // No line outside the table may start a table row from remote text.
  assert.ok(lines.filter((l) => l.startsWith('- ')).every((l) => !/(^|[^\\])\|/.test(l)));
});

test('render: failures carry the platform message and the error, redacted and escaped', () => {
  const r = report({
    outcome: 'failure',
    aim: 'production',
    final: { state: 'failed', phase: 'failure', raw: {}, message: `Your dump is <b>broken</b>, see ${KEY_URL}` },
    error: `The upgrade of request 10534 ended: token ${KEY}`,
    artifact: undefined,
  });
  const md = mod.renderComment(r, { runUrl: 'javascript:alert(1)', database: 'evil --> <img src=x>', redact: (s) => s.replaceAll(KEY, '***') });
  assert.match(md.split('\n')[0]!, /^<!-- odoo-upgrade-action:[^<>!]*? -->$/);
  assert.equal(md.indexOf('-->'), md.split('\n')[0]!.length - 3, 'the database name cannot close the marker early');
  assert.match(md, /### ❌ Odoo upgrade failed — state `failed`/);
  assert.match(md, /Production upgrade/);
  assert.match(md, /> Your dump is &lt;b&gt;broken&lt;\/b&gt;, see \\\(link removed\\\)/);
  assert.match(md, /token \*\*\*/);
  assert.ok(!md.includes(KEY));
  assert.doesNotMatch(md, /javascript:|\]\(/, 'a bad run URL is no link');
  assert.notEqual(mod.commentMarker('a--b'), mod.commentMarker('a-%2Db'));
  assert.doesNotMatch(mod.commentMarker('x--y'), /--y/);
});

test('upsert: created once, then updated in place; another database gets its own comment', async () => {
  const log: string[] = [];
  const base = { token: fake.token, repository: REPO, issueNumber: 21, log: (l: string) => log.push(l) };
  const first = await mod.upsertPrComment({ ...base, database: 'prod', body: mod.renderComment(report(), { runUrl: RUN_URL, database: 'prod' }) });
  assert.equal(first.created, true);
  const again = await mod.upsertPrComment({
    ...base,
    database: 'prod',
    body: mod.renderComment(report({ outcome: 'failure', final: { state: 'failed', phase: 'failure', raw: {} } }), { runUrl: RUN_URL, database: 'prod' }),
  });
  assert.deepEqual(again, { id: first.id, created: false });
  const onPr = fake.comments.filter((c) => c.issue === 21);
  assert.equal(onPr.length, 1);
  assert.match(onPr[0]!.body, /Odoo upgrade failed/);
  assert.ok(fake.requests.some((r) => r.method === 'PATCH' && r.path === `/repos/${REPO}/issues/comments/${first.id}`));

  const other = await mod.upsertPrComment({ ...base, database: 'staging', body: 'no marker in this body' });
  assert.equal(other.created, true);
  assert.notEqual(other.id, first.id);
  const staging = fake.comments.find((c) => c.id === other.id)!;
  assert.ok(staging.body.startsWith('<!-- odoo-upgrade-action:staging -->\n'), 'the marker is added when missing');
  assert.equal(fake.comments.filter((c) => c.issue === 21).length, 2);
  assert.match(log.join('\n'), /Updated the comment on pull request #21/);
});

test('upsert: finds its comment past the first pages of a long thread; a quoted marker is not it', async () => {
  const at = '2026-01-01T00:00:00Z';
  // Low ids sort first: 250 comments before ours, one of them quoting the marker mid-text.
  for (let i = 1; i <= 250; i++) {
    const body = i === 17 ? `> quoting\n<!-- odoo-upgrade-action:big -->` : `comment ${i}`;
    fake.comments.push({ id: i, issue: 42, body, user: 'someone', createdAt: at, updatedAt: at });
  }
  const base = { token: fake.token, repository: REPO, issueNumber: 42, database: 'big', log: () => {} };
  const made = await mod.upsertPrComment({ ...base, body: 'first run' });
  assert.equal(made.created, true);
  assert.equal(fake.comments.find((c) => c.id === 17)!.body.includes('quoting'), true, 'the quoting comment is untouched');

  const mark = fake.requests.length;
  const updated = await mod.upsertPrComment({ ...base, body: 'second run' });
  assert.deepEqual(updated, { id: made.id, created: false });
  const pages = fake.requests.slice(mark).filter((r) => r.method === 'GET' && r.path.startsWith(`/repos/${REPO}/issues/42/comments`));
  assert.equal(pages.length, 3, 'three pages of 100 read');
  assert.match(pages[2]!.path, /page=3/);
  assert.match(fake.comments.find((c) => c.id === made.id)!.body, /second run$/);
  assert.equal(fake.comments.filter((c) => c.issue === 42).length, 251);
});

test('upsert: a token without write permission gets a message naming it', async () => {
  fake.addToken('ghs_read_only_tok', { issues: 'read' });
  await assert.rejects(
    mod.upsertPrComment({ token: 'ghs_read_only_tok', repository: REPO, issueNumber: 99, database: 'prod', body: 'x', log: () => {} }),
    (err: Error) => {
      assert.match(err.message, /403/);
      assert.match(err.message, /permissions: pull-requests: write/);
      assert.match(err.message, /issues: write/);
      assert.ok(!err.message.includes('ghs_read_only_tok'));
      return true;
    },
  );
  assert.equal(fake.comments.filter((c) => c.issue === 99).length, 0);
});

test('prCommentTarget: pull requests only, forks and missing tokens skipped with a reason', async () => {
  const pr = (head: string | null, number = 21) => ({
    number,
    pull_request: { number, head: { repo: head === null ? null : { full_name: head } }, base: { repo: { full_name: REPO } } },
  });
  const env = (event: string, extra: Record<string, string> = {}) => ({ GITHUB_EVENT_NAME: event, 'INPUT_GITHUB-TOKEN': 'ghs_x', ...extra });

  assert.deepEqual(mod.prCommentTarget(env('pull_request'), pr(REPO)), { issueNumber: 21 });
  assert.deepEqual(mod.prCommentTarget(env('pull_request_target'), pr('fork-owner/erp', 8)), { issueNumber: 8 });

  const fork = mod.prCommentTarget(env('pull_request'), pr('fork-owner/erp'));
  assert.ok('skip' in fork && /fork \(fork-owner\/erp\)/.test(fork.skip) && /read-only/.test(fork.skip), JSON.stringify(fork));
  const deleted = mod.prCommentTarget(env('pull_request'), pr(null));
  assert.ok('skip' in deleted && /fork/.test(deleted.skip));
  const push = mod.prCommentTarget(env('push'), {});
  assert.ok('skip' in push && /`push` event/.test(push.skip));
  const noToken = mod.prCommentTarget(env('pull_request', { 'INPUT_GITHUB-TOKEN': '' }), pr(REPO));
  assert.ok('skip' in noToken && /`github-token` is empty/.test(noToken.skip));
  const noNumber = mod.prCommentTarget(env('pull_request'), {});
  assert.ok('skip' in noNumber && /no pull request number/.test(noNumber.skip));
  const bot = mod.prCommentTarget(env('pull_request', { GITHUB_ACTOR: 'dependabot[bot]' }), pr(REPO));
  assert.ok('skip' in bot && /Dependabot/.test(bot.skip));

  const eventFile = path.join(dir, 'event.json');
  await writeFile(eventFile, JSON.stringify(pr(REPO, 5)));
  const payload = await mod.readEventPayload({ GITHUB_EVENT_PATH: eventFile });
  assert.deepEqual(mod.prCommentTarget(env('pull_request'), payload), { issueNumber: 5 });
  assert.equal(await mod.readEventPayload({ GITHUB_EVENT_PATH: path.join(dir, 'missing.json') }), undefined);
});

test('GitHub Enterprise Server: the comment is written and updated through <server>/api/v3', async () => {
  const ghes = await startGitHubFake({ repository: REPO, runId: 8, ghes: true });
  try {
    const base = { token: ghes.token, repository: REPO, issueNumber: 5, database: 'prod', log: () => {}, env: ghes.env };
    const first = await mod.upsertPrComment({ ...base, body: 'first' });
    const again = await mod.upsertPrComment({ ...base, body: 'second' });
    assert.deepEqual(again, { id: first.id, created: false });
    assert.equal(ghes.comments.length, 1);
    assert.match(ghes.comments[0]!.body, /second/);
    assert.ok(ghes.requests.length >= 3);
    for (const r of ghes.requests) assert.match(r.path, /^\/api\/v3\/repos\/acme\/erp\/issues\//);
    // Without GITHUB_API_URL, the enterprise server's own /api/v3 is implied.
    const implied = { ...ghes.env };
    delete implied.GITHUB_API_URL;
    await mod.upsertPrComment({ ...base, env: implied, body: 'third' });
    assert.match(ghes.comments[0]!.body, /third/);
    assert.equal(fake.comments.filter((c) => c.body.includes('third')).length, 0, 'the github.com fake heard nothing');
  } finally {
    await ghes.close();
  }
});
