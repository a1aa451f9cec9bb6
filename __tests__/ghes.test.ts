// GitHub Enterprise Server: the GitHub fake answers as GHES does (REST only under /api/v3, no
// artifact results service, a server that is not github.com). The first case runs through the
// bundle (dist/), the others as the pipeline in-process with GitHub's real services bound to
// the fake (support/pipeline.ts). A successful
// upgrade does not fail for want of the artifact service: it says so once, keeps its files and
// sets the outputs an actions/upload-artifact@v3 step needs; every REST call goes to /api/v3.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runAction } from './support/action.ts';
import { runWithGitHub } from './support/pipeline.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { startGitHubFake, type GitHubFake } from '../emulator/github.ts';

const REPO = 'acme/erp';
let emu: Emulator;
let gh: GitHubFake;
let dir: string;
let dump: string;

before(async () => {
  // What is checked here is GitHub's side: the emulator's results are marked copies of the upload
  // (no PostgreSQL started, nothing restored); the examples and e2e tests check real upgraded SQL.
  [emu, gh] = await Promise.all([startEmulator({ tls: true, postgres: false, timing: { pendingMs: 50, processingMs: 100, testingMs: 50 } }), startGitHubFake({ repository: REPO, ghes: true })]);
  dir = await mkdtemp(path.join(tmpdir(), 'ghes-'));
  dump = path.join(dir, 'prod.sql');
  await writeSampleSqlDump(dump, 300);
});

after(async () => {
  await emu?.close();
  await gh?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function step(inputs: Record<string, string>, env: Record<string, string> = {}, how: 'bundle' | 'in-process' = 'in-process') {
  return (how === 'bundle' ? runAction : runWithGitHub)({
    inputs: { contract: 'M-ghes-0001', email: 'ci@example.com', target: '18.0', 'platform-url': emu.url, 'poll-interval': '1', 'github-token': gh.token, ...inputs },
    env: { ...gh.env, NODE_EXTRA_CA_CERTS: emu.caFile!, ...env },
  });
}

test('GHES: the upgrade succeeds without the artifact service, keeps every file, sets artifact-name and publish-dir, comments through /api/v3', async () => {
  const event = path.join(dir, 'event.json');
  await writeFile(event, JSON.stringify({ number: 12, pull_request: { number: 12, head: { repo: { full_name: REPO } }, base: { repo: { full_name: REPO } } } }));
  const r = await step({ dump, 'pr-comment': 'true' }, { GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: event }, 'bundle');
  try {
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.outputs.state, 'done');
    assert.equal(r.outputs['artifact-id'], undefined, 'nothing was published');
    assert.equal(r.outputs['artifact-url'], undefined);
    assert.equal(r.outputs['artifact-name'], 'odoo-upgraded-prod-18.0');
    const out = r.outputs['publish-dir'];
    assert.equal(out, path.join(r.runnerTemp, 'odoo-upgrade'));
    // Every file the artifact would have held is there, the result record included.
    const files = (await readdir(out)).sort();
    assert.ok(files.includes('odoo-upgrade-result.json'), files.join());
    assert.ok(files.includes(path.basename(r.outputs['upgraded-dump'])), files.join());
    assert.ok(files.includes(path.basename(r.outputs.notes)), files.join());
    assert.ok(!files.some((f) => f.endsWith('.part')), files.join());
    const record = JSON.parse(await readFile(path.join(out, 'odoo-upgrade-result.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(record.requestId, r.outputs['request-id']);
    assert.equal(record.phase, 'success');
    // Said once, as a notice naming the way out; no warning, no error.
    const notices = r.stdout.split('\n').filter((l) => l.startsWith('::notice'));
    assert.equal(notices.length, 1, r.stdout);
    assert.match(notices[0]!, /GitHub Enterprise Server/);
    assert.match(notices[0]!, /actions\/upload-artifact@v3/);
    assert.match(notices[0]!, /`artifact-name`.*`publish-dir`/);
    assert.ok(!r.stdout.split('\n').some((l) => /^::(error|warning)/.test(l)), r.stdout);
    assert.match(r.summary, /Enterprise Server/);
    // Nothing tried the results service; the comment went through the enterprise API path.
    assert.equal(gh.requests.filter((q) => q.path.startsWith('/twirp/')).length, 0);
    const rest = gh.requests.filter((q) => !q.path.startsWith('/blob/'));
    assert.ok(rest.length >= 2, JSON.stringify(rest));
    for (const q of rest) assert.match(q.path, /^\/api\/v3\/repos\/acme\/erp\/issues\//);
    assert.equal(gh.comments.length, 1);
    assert.equal(gh.comments[0]!.issue, 12);
    // The comment's run link is on the enterprise server.
    assert.ok(gh.comments[0]!.body.includes(`${gh.url}/${REPO}/actions/runs/`), gh.comments[0]!.body);
  } finally {
    await r.cleanup();
  }
});

test('GHES: require-recent-test reads the record that upload-artifact@v3 stored, through /api/v3', async () => {
  const t = await step({ dump });
  let recordBytes: Buffer;
  try {
    assert.equal(t.code, 0, t.stdout + t.stderr);
    recordBytes = await readFile(path.join(t.outputs['publish-dir'], 'odoo-upgrade-result.json'));
  } finally {
    await t.cleanup();
  }
  // What the README's upload-artifact@v3 step stores: the folder's files at the artifact's root.
  await gh.addArtifact({ runId: Number(gh.env.GITHUB_RUN_ID), repository: REPO, name: t.outputs['artifact-name']!, files: { 'odoo-upgrade-result.json': recordBytes, 'upgraded_prod.sql': Buffer.from('x') } });
  const before = gh.requests.length;
  const p = await step({ dump, aim: 'production', 'require-recent-test': '1' }, { GITHUB_EVENT_NAME: 'workflow_dispatch' });
  try {
    assert.equal(p.code, 0, p.stdout + p.stderr);
    assert.match(p.stdout, /require-recent-test`?: test upgrade to 18\.0 \(request \d+\) finished/);
    const rest = gh.requests.slice(before).filter((q) => !q.path.startsWith('/blob/'));
    assert.ok(rest.some((q) => q.path.startsWith('/api/v3/repos/acme/erp/actions/artifacts?')), JSON.stringify(rest));
    for (const q of rest) assert.match(q.path, /^\/api\/v3\//);
  } finally {
    await p.cleanup();
  }
});

test('GHES: dump-artifact of another run comes through /api/v3 and its zip, the token never sent to the storage', async () => {
  const sql = await readFile(dump);
  await gh.addArtifact({ runId: 5555, repository: REPO, name: 'nightly-dump', files: { 'nightly.sql': sql } });
  await gh.addArtifact({ runId: 5555, repository: REPO, name: 'other', files: { 'x.txt': Buffer.from('x') } });
  const before = gh.requests.length;
  const r = await step({ 'dump-artifact': 'nightly-dump', 'dump-artifact-run-id': '5555', 'artifact-name': '' });
  try {
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.outputs.state, 'done');
    assert.equal(emu.requests.get(r.outputs['request-id']!)?.filename, 'nightly.sql');
    const seen = gh.requests.slice(before);
    assert.ok(seen.some((q) => q.path.startsWith('/api/v3/repos/acme/erp/actions/runs/5555/artifacts?')), JSON.stringify(seen));
    assert.ok(seen.some((q) => /^\/api\/v3\/repos\/acme\/erp\/actions\/artifacts\/\d+\/zip$/.test(q.path)), JSON.stringify(seen));
    const blobs = seen.filter((q) => q.path.startsWith('/blob/'));
    assert.equal(blobs.length, 1);
    assert.equal(blobs[0]!.authorization, undefined, 'no token to the storage address');
    for (const q of seen.filter((x) => !x.path.startsWith('/blob/'))) assert.equal(q.authorization, `Bearer ${gh.token}`);
  } finally {
    await r.cleanup();
  }
});

test('GHES: an artifact of this run, a missing name, an unsafe zip: clear errors before anything reaches the platform', async () => {
  await gh.addArtifact({ runId: 5556, repository: REPO, name: 'evil', files: { '../escaped.sql': Buffer.from('SELECT 1;\n') } });
  for (const name of ['nightly-dump', 'other']) await gh.addArtifact({ runId: 5557, repository: REPO, name, files: { 'x.sql': Buffer.from('SELECT 1;\n') } });
  const created = emu.requests.size;
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ 'dump-artifact': 'nightly-dump' }, /GitHub Enterprise Server .* actions\/download-artifact@v3 .* `dump`/],
    [{ 'dump-artifact': 'nightly', 'dump-artifact-run-id': '5557' }, /no artifact named "nightly" in run 5557 \(acme\/erp\)\. That run has 2 artifacts: "nightly-dump", "other"/],
    [{ 'dump-artifact': 'evil', 'dump-artifact-run-id': '5556' }, /unsafe name: "\.\.\/escaped\.sql"/],
    [{ 'dump-artifact': 'x', 'dump-artifact-run-id': '9999', 'dump-artifact-repository': 'acme/nope' }, /no artifact named "x" in run 9999 \(acme\/nope\)\. That run has no artifacts/],
  ];
  for (const [inputs, want] of cases) {
    const r = await step(inputs);
    try {
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, want);
      assert.ok(!r.stdout.split('\n').some((l) => l.includes(gh.token) && !l.startsWith('::add-mask::')), 'the token stays out of the log');
      const escaped = await readdir(path.join(r.runnerTemp)).then((f) => f.filter((x) => x.includes('escaped')));
      assert.deepEqual(escaped, []);
    } finally {
      await r.cleanup();
    }
  }
  assert.equal(emu.requests.size, created, 'no request created');
});
