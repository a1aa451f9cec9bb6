// require-recent-test: a test run leaves odoo-upgrade-result.json in its artifact; a production
// run finds it through the REST API (the GitHub fake) before it creates anything, or stops.
// One production run goes through the bundle (dist/); the other runs are the pipeline
// in-process with GitHub's real services bound to the fake (support/pipeline.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { startGitHubFake, type GitHubFake } from '../emulator/github.ts';
import { runAction, findLeaks } from './support/action.ts';
import { runWithGitHub, trustCA, type GitHubRun } from './support/pipeline.ts';
import { buildResultRecord } from '../src/publish/result-record.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';
import {
  RESULT_FILE,
  artifactProblem,
  parseArtifactList,
  parseResultRecord,
  recordProblem,
  type ListedArtifact,
  type ResultRecord,
} from '../src/github/recent-test.ts';
import { newReport } from '../src/publish/report.ts';
import { renderSummary } from '../src/publish/summary.ts';

const DAY = 86_400_000;
const CONTRACT = 'M777777-recent-secret';
const REPO = 'octo-org/odoo-project';

// ---------------------------------------------------------------- pure parts

function record(over: Partial<ResultRecord> = {}): ResultRecord {
  return {
    schema: 1, tool: 'odoo-upgrade-action', requestId: '10534', api: 'v1', aim: 'test', target: '18.0', state: 'done', phase: 'success',
    dump: { filename: 'db.sql' }, finishedAt: new Date().toISOString(), repository: REPO, runId: 42, runAttempt: 1, ...over,
  };
}

function listed(over: Partial<ListedArtifact> = {}): ListedArtifact {
  return { id: 1, name: 'a', size: 100, expired: false, createdAt: Date.now(), downloadUrl: 'http://127.0.0.1:1/x/zip', runId: 42, fromFork: false, ...over };
}

test('the result record holds ids, states, hashes and times, never a secret', () => {
  const r = newReport();
  Object.assign(r, {
    requestId: '10534', api: 'v1', target: '18.0', aim: 'test', filename: 'db.sql',
    upload: { method: 'https', bytes: 10, sha256: 'ab'.repeat(32), seconds: 1, resumes: 0 },
    final: { state: 'done', phase: 'success', databaseVersion: '16.0', raw: { key: 'SECRETKEY', archive_url: 'https://x/SECRETKEY' } },
  });
  r.downloads.push({ role: 'dump', path: '/out/upgraded.zip', bytes: 5, sha256: 'cd'.repeat(32) });
  const env = { GITHUB_REPOSITORY: REPO, GITHUB_RUN_ID: '42', GITHUB_RUN_ATTEMPT: '2', GITHUB_WORKFLOW: 'wf', GITHUB_REF: 'refs/heads/main', GITHUB_SHA: 'f'.repeat(40), GITHUB_TOKEN: 'ghs_SECRET' };
  const rec = buildResultRecord(r, env, new Date('2026-01-02T03:04:05Z'));
  assert.deepEqual(rec, {
    schema: 1, tool: 'odoo-upgrade-action', requestId: '10534', api: 'v1', aim: 'test', target: '18.0', state: 'done', phase: 'success',
    databaseVersion: '16.0', dump: { filename: 'db.sql', sha256: 'ab'.repeat(32) }, upgradedSha256: 'cd'.repeat(32), upgradedBytes: 5,
    startedAt: r.startedAt.toISOString(), finishedAt: '2026-01-02T03:04:05.000Z', repository: REPO, runId: 42, runAttempt: 2, workflow: 'wf', ref: 'refs/heads/main', sha: 'f'.repeat(40),
  });
  assert.doesNotMatch(JSON.stringify(rec), /SECRET/);
  assert.deepEqual(parseResultRecord(JSON.stringify(rec)), rec);
});

test('records that are not records are refused with a reason', () => {
  assert.equal(parseResultRecord('{'), 'not JSON');
  assert.equal(parseResultRecord('[]'), 'not a JSON object');
  assert.match(String(parseResultRecord(JSON.stringify({ ...record(), schema: 2 }))), /schema 2/);
  assert.equal(parseResultRecord(JSON.stringify({ ...record(), target: 18 })), 'no target');
  assert.equal(parseResultRecord(JSON.stringify({ ...record(), runId: '42' })), 'runId is not a number');
});

test('which listed artifacts are worth opening', () => {
  const now = Date.now();
  assert.equal(artifactProblem(listed(), 7, now), undefined);
  assert.equal(artifactProblem(listed({ expired: true }), 7, now), 'expired');
  assert.equal(artifactProblem(listed({ fromFork: true }), 7, now), 'stored by a run of a fork');
  assert.equal(artifactProblem(listed({ createdAt: now - 8 * DAY }), 7, now), 'older than 7 days');
  assert.equal(artifactProblem(listed({ createdAt: Number.NaN }), 7, now), 'older than 7 days');
  const { artifacts, total } = parseArtifactList({
    total_count: 2,
    artifacts: [
      { id: 5, name: 'x', size_in_bytes: 9, expired: false, created_at: '2026-01-01T00:00:00Z', archive_download_url: 'u', workflow_run: { id: 7, repository_id: 1, head_repository_id: 1 } },
      { id: 6, name: 'y', size_in_bytes: 9, expired: true, created_at: '2026-01-01T00:00:00Z', archive_download_url: 'u', workflow_run: { id: 8, repository_id: 1, head_repository_id: 99 } },
    ],
  });
  assert.equal(total, 2);
  assert.deepEqual([artifacts[0]?.fromFork, artifacts[1]?.fromFork, artifacts[1]?.expired, artifacts[0]?.runId], [false, true, true, 7]);
});

test('what a record must say to prove a recent test of the target', () => {
  const now = Date.now();
  const want = { target: '18.0', repository: REPO, days: 7, now };
  assert.equal(recordProblem(record(), listed(), want), undefined);
  assert.equal(recordProblem(record({ target: ' 18.0 ' }), listed(), want), undefined);
  assert.equal(recordProblem(record({ aim: 'production' }), listed(), want), 'aim production, not test');
  assert.equal(recordProblem(record({ phase: 'failure', state: 'failed' }), listed(), want), 'ended in state failed');
  assert.equal(recordProblem(record({ target: '17.0' }), listed(), want), 'target 17.0, not 18.0');
  assert.equal(recordProblem(record({ repository: 'evil/fork' }), listed(), want), 'made in evil/fork');
  assert.equal(recordProblem(record({ runId: 43 }), listed(), want), 'names run 43 but was stored by run 42');
  assert.equal(recordProblem(record({ finishedAt: new Date(now - 8 * DAY).toISOString() }), listed(), want), 'older than 7 days');
  assert.equal(recordProblem(record({ finishedAt: new Date(now + DAY).toISOString() }), listed(), want), 'finished in the future');
  assert.equal(recordProblem(record({ finishedAt: 'yesterday' }), listed(), want), 'no valid finishedAt');
});

test('the production banner names the test run that proved it', () => {
  const r = newReport();
  Object.assign(r, {
    outcome: 'success', aim: 'production',
    recentTest: { days: 7, target: '18.0', requestId: '10534', finishedAt: '2026-01-02T03:04:05.000Z', runId: 42, runAttempt: 2, workflow: 'Upgrade', runUrl: 'https://github.com/o/r/actions/runs/42', artifact: { id: 9, name: 'odoo-upgraded-db-18.0' } },
  });
  const md = renderSummary(r);
  assert.match(md, /> \*\*Production upgrade\.\*\*[^\n]*\n>\n> Recent test \(`require-recent-test: 7`\): test upgrade to 18\.0, request `10534`, finished 2026-01-02T03:04:05\.000Z in \[run 42\]\(https:\/\/github\.com\/o\/r\/actions\/runs\/42\) \(attempt 2\)/);
});

// ---------------------------------------------------------------- whole runs

let emu: Emulator;
let dir: string;
let dumpPath: string;

before(async () => {
  // What is checked here is GitHub's side: the emulator's results are marked copies of the upload
  // (no PostgreSQL started, nothing restored); the examples and e2e tests check real upgraded SQL.
  emu = await startEmulator({ tls: true, postgres: false, timing: { pendingMs: 100, processingMs: 200, testingMs: 100 } });
  await trustCA(emu.caFile!);
  dir = await mkdtemp(path.join(tmpdir(), 'recent-test-'));
  dumpPath = path.join(dir, 'db.sql');
  await writeSampleSqlDump(dumpPath, 2_000);
});

after(async () => {
  await emu?.close();
  await rm(dir, { recursive: true, force: true });
});

function inputs(gh: GitHubFake, extra: Record<string, string> = {}): Record<string, string> {
  return {
    contract: CONTRACT, email: 'ci@example.com', target: '18.0', dump: dumpPath, 'platform-url': emu.url, 'poll-interval': '1',
    'github-token': gh.token, ...extra,
  };
}

function production(gh: GitHubFake, extra: Record<string, string> = {}): Record<string, string> {
  return inputs(gh, { aim: 'production', 'require-recent-test': '7', 'artifact-name': '', ...extra });
}

const env = (gh: GitHubFake) => ({ ...gh.env, NODE_EXTRA_CA_CERTS: emu.caFile! });

/** Runs a production step that must stop before the platform hears anything. */
async function refused(gh: GitHubFake, expected: RegExp, extra: Record<string, string> = {}): Promise<GitHubRun> {
  const count = emu.records.length;
  const run = await runWithGitHub({ inputs: production(gh, extra), env: env(gh) });
  try {
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const errors = run.stdout.split('\n').filter((l) => l.startsWith('::error')).join('\n');
    assert.match(errors, /`require-recent-test`/);
    assert.match(errors, expected);
    assert.equal(emu.records.length, count, `requests reached the platform: ${emu.records.slice(count).map((r) => r.method)}`);
    assert.equal(run.outputs['request-id'], undefined);
    assert.match(run.summary, /Production upgrade/);
    assert.deepEqual(findLeaks({ stdout: run.stdout, summary: run.summary }, [CONTRACT, gh.token]), []);
    return run;
  } finally {
    await run.cleanup();
  }
}

async function withFake(fn: (gh: GitHubFake) => Promise<void>, opts: { token?: string } = {}): Promise<void> {
  const gh = await startGitHubFake(opts);
  try {
    await fn(gh);
  } finally {
    await gh.close();
  }
}

const RUN = 7_000_001; // the fake's own run: records of it are what an upload there would hold
function seed(gh: GitHubFake, rec: ResultRecord, over: { createdAt?: string; fromFork?: boolean; runId?: number; extra?: Record<string, Buffer>; first?: boolean } = {}) {
  const json = { [RESULT_FILE]: Buffer.from(JSON.stringify(rec)) };
  const files = over.first ? { ...json, ...over.extra } : { ...over.extra, ...json };
  return gh.addArtifact({ runId: over.runId ?? rec.runId ?? RUN, repository: REPO, name: `seeded-${randomBytes(3).toString('hex')}`, files, createdAt: over.createdAt, fromFork: over.fromFork });
}

test('a test run publishes the record; a production run finds it, says so, and proceeds', async () => {
  await withFake(async (gh) => {
    const t = await runWithGitHub({ inputs: inputs(gh, { aim: 'test' }), env: env(gh) });
    let testRequest: string;
    try {
      assert.equal(t.code, 0, t.stdout + t.stderr);
      testRequest = t.outputs['request-id']!;
      const art = gh.artifacts.find((a) => String(a.id) === t.outputs['artifact-id'])!;
      const entries = await art.entries();
      assert.ok(entries.has(RESULT_FILE), `entries: ${[...entries.keys()]}`);
      assert.ok([...entries.keys()].some((n) => n.endsWith('.zip')), 'the upgraded dump is still there');
      const rec = JSON.parse(entries.get(RESULT_FILE)!.toString('utf8')) as ResultRecord;
      const req = emu.requests.get(testRequest)!;
      assert.equal(rec.requestId, testRequest);
      assert.deepEqual([rec.schema, rec.aim, rec.target, rec.state, rec.phase, rec.api], [1, 'test', '18.0', 'done', 'success', 'v1']);
      assert.equal(rec.dump.filename, 'db.sql');
      assert.equal(rec.dump.sha256, createHash('sha256').update(await readFile(dumpPath)).digest('hex'));
      assert.equal(rec.upgradedSha256, req.upgradedArchiveSha256);
      assert.deepEqual([rec.repository, rec.runId, rec.runAttempt, rec.workflow, rec.ref, rec.sha], [REPO, RUN, 1, 'Upgrade database', 'refs/heads/main', gh.env.GITHUB_SHA]);
      assert.ok(Math.abs(Date.parse(rec.finishedAt) - Date.now()) < 60_000);
      const secrets = [CONTRACT, req.key, gh.token, gh.runtimeToken, emu.url];
      assert.deepEqual(findLeaks({ record: entries.get(RESULT_FILE)! }, secrets), []);
    } finally {
      await t.cleanup();
    }

    const before = emu.records.filter((r) => r.method === 'create').length;
    // Through the bundle, as a runner runs it: the recent-test smoke run.
    const p = await runAction({ inputs: production(gh), env: env(gh) });
    try {
      assert.equal(p.code, 0, p.stdout + p.stderr);
      assert.equal(emu.records.filter((r) => r.method === 'create').length - before, 1);
      assert.equal(emu.requests.get(p.outputs['request-id']!)?.aim, 'production');
      assert.match(p.stdout, new RegExp(`require-recent-test\`: test upgrade to 18\\.0 \\(request ${testRequest}\\)`));
      assert.match(p.summary, new RegExp(`Recent test \\(\`require-recent-test: 7\`\\): test upgrade to 18\\.0, request \`${testRequest}\``));
      assert.match(p.summary, new RegExp(`\\[run ${RUN}\\]\\(http://github\\.localhost:\\d+/${REPO}/actions/runs/${RUN}\\)`));
      // The token went to the API, never to the blob store; ranges only.
      const blobGets = gh.requests.filter((r) => r.path.startsWith('/blob/') && r.method === 'GET');
      assert.ok(blobGets.length > 0);
      assert.ok(blobGets.every((r) => r.authorization === undefined && r.range), JSON.stringify(blobGets.map((r) => r.range)));
      assert.deepEqual(findLeaks({ stdout: p.stdout, summary: p.summary }, [CONTRACT, gh.token]), []);
    } finally {
      await p.cleanup();
    }
  });
});

test('refused: no artifact at all', async () => {
  await withFake(async (gh) => {
    await refused(gh, /is 7: no test upgrade of target 18\.0[\s\S]*0 listed, 0 opened[\s\S]*aim: test[\s\S]*raise/);
  });
});

test('refused: a record of another target, of a failed or production upgrade, from a fork, or an old one', async () => {
  await withFake(async (gh) => {
    await seed(gh, record({ target: '17.0', runId: RUN }));
    await seed(gh, record({ phase: 'failure', state: 'failed', runId: RUN }));
    await seed(gh, record({ aim: 'production', runId: RUN }));
    await seed(gh, record({ runId: RUN }), { fromFork: true });
    await seed(gh, record({ runId: RUN, finishedAt: new Date(Date.now() - 9 * DAY).toISOString() }));
    await seed(gh, record({ runId: RUN }), { createdAt: new Date(Date.now() - 8 * DAY).toISOString() });
    await seed(gh, record({ runId: 12345 }), { runId: RUN });
    await gh.addArtifact({ runId: RUN, repository: REPO, name: 'build-output', files: { 'app.js': Buffer.from('x') } });
    const run = await refused(gh, /8 listed, 6 opened/);
    void run;
    const log = gh.requests.filter((r) => r.path.startsWith('/repos/')).map((r) => r.path).join('\n');
    assert.match(log, /\/actions\/artifacts\?per_page=100&page=1/);
  });
  await withFake(async (gh) => {
    await seed(gh, record({ runId: RUN }));
    // This run's target is 17.0: the 18.0 test does not count.
    await refused(gh, /no test upgrade of target 17\.0[\s\S]*1 target 18\.0, not 17\.0/, { target: '17.0' });
  });
});

test('refused with words: a bad token (401), a token without actions: read (403)', async () => {
  await withFake(async (gh) => {
    await seed(gh, record({ runId: RUN }));
    await refused(gh, /401[\s\S]*cannot be skipped/, { 'github-token': 'ghs_not_a_valid_token' });
    gh.addToken('ghs_no_actions_read', { actions: 'none' });
    await refused(gh, /403[\s\S]*actions: read/, { 'github-token': 'ghs_no_actions_read' });
    await refused(gh, /`github-token` is empty/, { 'github-token': '' });
  });
});

test('refused: the repository is not visible to the token (404)', async () => {
  await withFake(async (gh) => {
    const count = emu.records.length;
    const run = await runWithGitHub({ inputs: production(gh), env: { ...env(gh), GITHUB_REPOSITORY: 'someone/else' } });
    try {
      assert.equal(run.code, 1);
      assert.match(run.stdout, /::error::.*someone\/else was not found.*404/);
      assert.equal(emu.records.length, count);
    } finally {
      await run.cleanup();
    }
  });
});

test('a large artifact is read by ranges: its tail and the record, not the dump', async () => {
  await withFake(async (gh) => {
    const big = randomBytes(3 * 1024 * 1024);
    await seed(gh, record({ runId: RUN, requestId: '99001' }), { extra: { 'upgraded.zip': big }, first: true });
    const run = await runWithGitHub({ inputs: production(gh, { wait: 'false' }), env: env(gh) });
    try {
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /test upgrade to 18\.0 \(request 99001\)/);
      const ranges = gh.requests.filter((r) => r.path.startsWith('/blob/')).map((r) => r.range ?? 'none');
      assert.equal(ranges.length, 2, ranges.join(' '));
      const sizes = ranges.map((r) => {
        const m = /^bytes=(\d+)-(\d+)$/.exec(r);
        assert.ok(m, r);
        return Number(m[2]) - Number(m[1]) + 1;
      });
      assert.ok(sizes.reduce((a, b) => a + b) < 300 * 1024, `read ${sizes}`);
    } finally {
      await run.cleanup();
    }
  });
});

test('aim test with require-recent-test only warns', async () => {
  await withFake(async (gh) => {
    const run = await runWithGitHub({ inputs: inputs(gh, { 'require-recent-test': '7', 'artifact-name': '', wait: 'false' }), env: env(gh) });
    try {
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /::warning::Input `require-recent-test` only applies to `aim: production`; ignored\./);
      assert.equal(gh.requests.filter((r) => r.path.includes('/actions/artifacts')).length, 0);
    } finally {
      await run.cleanup();
    }
  });
});
