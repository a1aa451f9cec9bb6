// reuse-days: a test upgrade's artifact stands in for a new platform run of the same dump and
// target. Against the emulator and the GitHub fake over real sockets: a hit makes no platform
// call and fetches the upgraded dump by range; every kind of miss says why in one line and
// upgrades normally; bad values are refused before any request. One hit runs through the
// bundle (dist/) as a runner runs it; every other run is the pipeline in-process
// (support/pipeline.ts) with the real clients and GitHub's real services bound to the fake.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { startGitHubFake, type FakeArtifact, type GitHubFake } from '../emulator/github.ts';
import { runAction, findLeaks } from './support/action.ts';
import { runWithGitHub, trustCA, type GitHubRun } from './support/pipeline.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';
import { RESULT_FILE, type ResultRecord } from '../src/github/recent-test.ts';
import { dumpSha256 } from '../src/github/digest.ts';
import { readConfig } from '../src/inputs.ts';
import { reusedMarkdown, ageText } from '../src/github/reuse-text.ts';
import { newReport } from '../src/publish/report.ts';
import { renderSummary } from '../src/publish/summary.ts';
import { renderComment } from '../src/publish/comment.ts';

const DAY = 86_400_000;
const CONTRACT = 'M777777-reuse-secret';
const REPO = 'octo-org/odoo-project';
const RUN = 7_000_001; // the fake's own run: what the first (publishing) run is
const PR_RUN = 7_000_555;

let emu: Emulator;
let dir: string;
let dumpPath: string;

before(async () => {
  // What is checked here is GitHub's side: the emulator's results are marked copies of the upload
  // (no PostgreSQL started, nothing restored); the examples and e2e tests check real upgraded SQL.
  emu = await startEmulator({ tls: true, postgres: false, timing: { pendingMs: 100, processingMs: 200, testingMs: 100 } });
  await trustCA(emu.caFile!);
  dir = await mkdtemp(path.join(tmpdir(), 'reuse-'));
  dumpPath = path.join(dir, 'db.sql');
  await writeSampleSqlDump(dumpPath, 2_000);
});

after(async () => {
  await emu?.close();
  await rm(dir, { recursive: true, force: true });
});

const env = (gh: GitHubFake, extra: Record<string, string> = {}) => ({ ...gh.env, NODE_EXTRA_CA_CERTS: emu.caFile!, ...extra });
const prEnv = (gh: GitHubFake) => env(gh, { GITHUB_RUN_ID: String(PR_RUN), GITHUB_EVENT_NAME: 'pull_request', GITHUB_WORKFLOW: 'Upgrade rehearsal' });

function inputs(gh: GitHubFake, extra: Record<string, string> = {}): Record<string, string> {
  return { contract: CONTRACT, email: 'ci@example.com', target: '18.0', aim: 'test', dump: dumpPath, 'platform-url': emu.url, 'poll-interval': '1', 'github-token': gh.token, ...extra };
}

type Run = Pick<GitHubRun, 'code' | 'stdout' | 'stderr' | 'outputs' | 'summary' | 'cleanup'>;
const runIn = runWithGitHub;

async function withFake(fn: (gh: GitHubFake) => Promise<void>): Promise<void> {
  const gh = await startGitHubFake({ repository: REPO, runId: RUN });
  try {
    await fn(gh);
  } finally {
    await gh.close();
  }
}

/** The artifact of the first real upgrade of this file: later tests start from a stored copy of it. */
let published: { name: string; files: Record<string, Buffer>; record: ResultRecord } | undefined;

/**
 * The first, publishing test upgrade: its artifact is what later runs reuse. The first call
 * in the file upgrades through the platform and publishes; later calls without inputs of
 * their own store that same artifact in their fake, as the fake's own run (the publishing
 * run) stored it, instead of upgrading the same dump again.
 */
async function firstUpgrade(gh: GitHubFake, extra: Record<string, string> = {}): Promise<{ run: Run; artifact: FakeArtifact; record: ResultRecord }> {
  if (published && !Object.keys(extra).length) {
    const artifact = await gh.addArtifact({ runId: RUN, repository: REPO, name: published.name, files: published.files });
    const none: Run = { code: 0, stdout: '', stderr: '', outputs: { 'artifact-id': String(artifact.id) }, summary: '', cleanup: async () => undefined };
    return { run: none, artifact, record: published.record };
  }
  const run = await runIn({ inputs: inputs(gh, extra), env: env(gh, { GITHUB_EVENT_NAME: 'schedule' }) });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const artifact = gh.artifacts.find((a) => String(a.id) === run.outputs['artifact-id'])!;
  const record = JSON.parse((await artifact.entries()).get(RESULT_FILE)!.toString('utf8')) as ResultRecord;
  // `reuse-days` changes nothing in what is published.
  if (Object.keys(extra).every((k) => k === 'reuse-days')) published ??= { name: artifact.name, files: Object.fromEntries(await artifact.entries()), record };
  return { run, artifact, record };
}

/** A copy of an artifact with its record changed, as another run might have stored it. */
async function seedCopy(
  gh: GitHubFake,
  from: FakeArtifact,
  change: (r: ResultRecord) => ResultRecord,
  over: { createdAt?: string; fromFork?: boolean; drop?: string; storedBy?: number; extra?: Record<string, Buffer> } = {},
) {
  const files: Record<string, Buffer> = {};
  for (const [name, bytes] of await from.entries()) if (name !== over.drop) files[name] = bytes;
  const rec = change(JSON.parse(files[RESULT_FILE]!.toString('utf8')) as ResultRecord);
  files[RESULT_FILE] = Buffer.from(JSON.stringify(rec));
  Object.assign(files, over.extra);
  return gh.addArtifact({ runId: over.storedBy ?? rec.runId ?? RUN, repository: REPO, name: `copy-${gh.artifacts.length}`, files, createdAt: over.createdAt, fromFork: over.fromFork });
}

const platformCalls = () => emu.records.length;
const creates = () => emu.records.filter((r) => r.method === 'create').length;

test('first run upgrades and records the dump and upgraded dump digests; a second run reuses it with zero platform calls', async () => {
  await withFake(async (gh) => {
    const first = await firstUpgrade(gh, { 'reuse-days': '7' });
    try {
      assert.match(first.run.stdout, /`reuse-days: 7`: nothing to reuse, upgrading through the platform: none found \(no artifacts in octo-org\/odoo-project\)\./);
      assert.equal(first.run.outputs.reused, 'false');
      assert.equal(first.record.dump.sha256, createHash('sha256').update(await readFile(dumpPath)).digest('hex'));
      assert.equal(first.record.dump.sha256, await dumpSha256(dumpPath), 'one digest for the lookup and the record');
      const dumpFile = first.record.files?.find((f) => f.role === 'dump');
      assert.ok(dumpFile, JSON.stringify(first.record.files));
      assert.equal(first.record.upgradedSha256, dumpFile.sha256);
      assert.equal(first.record.upgradedSha256, emu.requests.get(first.record.requestId)!.upgradedArchiveSha256);
      assert.ok(first.record.files?.some((f) => f.role === 'notes'));
    } finally {
      await first.run.cleanup();
    }

    // A pull request from a fork gets a read-only token: enough to list and download.
    gh.addToken('ghs_fork_pr_read_only', { actions: 'read', issues: 'none' });
    const calls = platformCalls();
    const artifactsBefore = gh.artifacts.length;
    const ghBefore = gh.requests.length;
    const out = path.join(dir, 'second-out');
    // Through the bundle, as a runner runs it: the reuse hit's smoke run.
    const second = await runAction({ inputs: inputs(gh, { 'reuse-days': '7', 'github-token': 'ghs_fork_pr_read_only', 'output-dir': out }), env: prEnv(gh) });
    try {
      assert.equal(second.code, 0, second.stdout + second.stderr);
      assert.equal(platformCalls(), calls, `platform calls on a hit: ${emu.records.slice(calls).map((r) => r.method)}`);
      assert.equal(gh.artifacts.length, artifactsBefore, 'a hit publishes no new copy');
      assert.equal(second.outputs.reused, 'true');
      assert.equal(second.outputs['reused-run-id'], String(RUN));
      assert.equal(second.outputs['request-id'], first.record.requestId);
      assert.equal(second.outputs.state, 'done');
      assert.equal(second.outputs['artifact-id'], String(first.artifact.id));
      assert.match(second.outputs['artifact-url']!, new RegExp(`/${REPO}/actions/runs/${RUN}/artifacts/${first.artifact.id}$`));
      assert.equal(second.outputs['request-key'], undefined);
      const upgraded = second.outputs['upgraded-dump']!;
      assert.ok(upgraded.startsWith(out), upgraded);
      assert.equal(createHash('sha256').update(await readFile(upgraded)).digest('hex'), first.record.upgradedSha256);
      assert.match(await readFile(second.outputs.notes!, 'utf8'), /<|\w/);
      assert.match(second.stdout, new RegExp(`reused the upgrade of run ${RUN} of "Upgrade database": request ${first.record.requestId}, state done, finished \\S+ \\(\\d+s ago\\)`));
      assert.match(second.stdout, /No request was sent to the platform\./);
      assert.match(second.summary, /Reused result[^\n]*no request was sent to the platform[^\n]*\[run 7000001\]\([^)]*\/actions\/runs\/7000001\)[^\n]*request `\d+`, finished [^\n]* ago\), from artifact/);
      assert.match(second.summary, /Upgrade succeeded — state `done`/);
      assert.match(second.summary, /Dump sha256/);
      assert.doesNotMatch(second.summary, /Uploaded sha256/);
      // Only ranges, and the token went to the API only.
      const blobs = gh.requests.slice(ghBefore).filter((r) => r.path.startsWith('/blob/'));
      assert.ok(blobs.length >= 2, JSON.stringify(blobs));
      assert.ok(blobs.every((r) => r.range && r.authorization === undefined), JSON.stringify(blobs));
      assert.deepEqual(findLeaks({ stdout: second.stdout, summary: second.summary }, [CONTRACT, 'ghs_fork_pr_read_only', gh.token]), []);
    } finally {
      await second.cleanup();
    }
  });
});

test('a hit fetches the dump and notes by range, not the record twice nor other files', async () => {
  await withFake(async (gh) => {
    const first = await firstUpgrade(gh);
    await first.run.cleanup();
    // Pad the artifact with a large file the reuse does not need (the platform's log, say).
    const big = await seedCopy(gh, first.artifact, (r) => r, { extra: { 'upgrade.log': randomBytes(2 * 1024 * 1024) } });
    const before = gh.requests.length;
    const second = await runIn({ inputs: inputs(gh, { 'reuse-days': '3', 'wait': 'false' }), env: prEnv(gh) });
    try {
      assert.equal(second.code, 0, second.stdout + second.stderr);
      assert.equal(second.outputs.reused, 'true');
      // Newest first: the copy, stored last, is the one reused.
      assert.equal(second.outputs['artifact-id'], String(big.id));
      const fetched = gh.requests.slice(before).filter((r) => r.path.startsWith('/blob/')).map((r) => {
        const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '');
        assert.ok(m, r.range);
        return Number(m[2]) - Number(m[1]) + 1;
      });
      assert.ok(fetched.reduce((a, b) => a + b) < big.size - 1024 * 1024, `${fetched} for ${big.size}`);
      assert.ok(!(await readdir(path.dirname(second.outputs['upgraded-dump']!))).includes('upgrade.log'));
      assert.match(second.stdout, /fetched dump \S+, notes \S+ \(/);
    } finally {
      await second.cleanup();
    }
  });
});

/** A run that must miss: one line saying why, then a normal upgrade (a create reaches the platform). */
async function misses(gh: GitHubFake, why: RegExp, extra: Record<string, string> = {}): Promise<void> {
  const c = creates();
  const run = await runIn({ inputs: inputs(gh, { 'reuse-days': '7', wait: 'false', 'artifact-name': '', ...extra }), env: prEnv(gh) });
  try {
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const lines = run.stdout.split('\n').filter((l) => l.includes('nothing to reuse'));
    assert.equal(lines.length, 1, run.stdout);
    assert.match(lines[0]!, why);
    assert.equal(run.outputs.reused, 'false');
    assert.equal(run.outputs['reused-run-id'], undefined);
    assert.equal(creates() - c, 1, 'a miss upgrades normally');
  } finally {
    await run.cleanup();
  }
}

test('misses, each with its reason: none found, different target, different dump, older than N days, artifact expired, record not trusted', async () => {
  await withFake(async (gh) => {
    await misses(gh, /none found \(no artifacts in octo-org\/odoo-project\)/);
    const first = await firstUpgrade(gh);
    await first.run.cleanup();
    // Another target.
    await misses(gh, /1 different target \(18\.0, not 17\.0\)/, { target: '17.0' });
    // Another dump.
    const other = path.join(dir, 'other.sql');
    await writeSampleSqlDump(other, 2_001);
    await misses(gh, /different dump/, { dump: other });
    // Older than reuse-days: the record, and the artifact.
    first.artifact.expired = true;
    await misses(gh, /1 artifact expired/);
  });
  await withFake(async (gh) => {
    const first = await firstUpgrade(gh);
    await first.run.cleanup();
    gh.artifacts.splice(gh.artifacts.indexOf(first.artifact), 1);
    await seedCopy(gh, first.artifact, (r) => ({ ...r, finishedAt: new Date(Date.now() - 9 * DAY).toISOString() }));
    await seedCopy(gh, first.artifact, (r) => r, { createdAt: new Date(Date.now() - 8 * DAY).toISOString() });
    await misses(gh, /none found among 2 artifacts \(1 opened: 2 older than 7 days\)/);
  });
  await withFake(async (gh) => {
    const first = await firstUpgrade(gh);
    await first.run.cleanup();
    gh.artifacts.splice(gh.artifacts.indexOf(first.artifact), 1);
    await seedCopy(gh, first.artifact, (r) => r, { fromFork: true });
    await seedCopy(gh, first.artifact, (r) => ({ ...r, runId: 4242 }), { storedBy: RUN });
    await seedCopy(gh, first.artifact, (r) => ({ ...r, repository: 'someone/else' }));
    await misses(gh, /none found among 3 artifacts \(2 opened: /);
    const line = await missLine(gh);
    assert.match(line, /1 not trusted \(stored by a run of a fork\)/);
    assert.match(line, /1 record not trusted \(names run 4242 but was stored by run 7000001\)/);
    assert.match(line, /1 record not trusted \(made in someone\/else\)/);
  });
});

async function missLine(gh: GitHubFake): Promise<string> {
  const run = await runIn({ inputs: inputs(gh, { 'reuse-days': '7', wait: 'false', 'artifact-name': '' }), env: prEnv(gh) });
  try {
    return run.stdout.split('\n').find((l) => l.includes('nothing to reuse')) ?? '';
  } finally {
    await run.cleanup();
  }
}

test('misses: a failed or production upgrade, a tampered dump, an artifact without the dump, a token without actions: read', async () => {
  await withFake(async (gh) => {
    const first = await firstUpgrade(gh);
    await first.run.cleanup();
    gh.artifacts.splice(gh.artifacts.indexOf(first.artifact), 1);
    const dumpName = first.record.files!.find((f) => f.role === 'dump')!.name;
    await seedCopy(gh, first.artifact, (r) => ({ ...r, phase: 'failure', state: 'failed' }));
    await seedCopy(gh, first.artifact, (r) => ({ ...r, aim: 'production' }));
    await seedCopy(gh, first.artifact, (r) => ({ ...r, upgradedSha256: 'ab'.repeat(32), files: r.files!.map((f) => (f.role === 'dump' ? { ...f, sha256: 'ab'.repeat(32) } : f)) }));
    await seedCopy(gh, first.artifact, (r) => r, { drop: dumpName });
    const line = await missLine(gh);
    assert.match(line, /none found among 4 artifacts \(4 opened: /);
    assert.match(line, /1 ended in state failed/);
    assert.match(line, /1 aim production, not test/);
    assert.match(line, /1 upgraded dump does not match the record's SHA-256/);
    assert.match(line, new RegExp(`1 artifact no longer holds the upgraded dump ${dumpName.replace(/\./g, '\\.')}`));
    gh.addToken('ghs_no_actions', { actions: 'none' });
    await misses(gh, /could not be read \(the token may not read Actions artifacts \(403\): give the job `permissions: actions: read`\)/, { 'github-token': 'ghs_no_actions' });
    await misses(gh, /input `github-token` is empty/, { 'github-token': '' });
  });
});

test('a hit on a pull request writes the PR comment, saying the result was reused and from where', async () => {
  await withFake(async (gh) => {
    const first = await firstUpgrade(gh);
    await first.run.cleanup();
    const event = path.join(dir, 'pr-event.json');
    await writeFile(event, JSON.stringify({ number: 12, pull_request: { number: 12, head: { repo: { full_name: REPO } }, base: { repo: { full_name: REPO } } } }));
    const calls = platformCalls();
    const run = await runIn({ inputs: inputs(gh, { 'reuse-days': '7', 'pr-comment': 'true' }), env: { ...prEnv(gh), GITHUB_EVENT_PATH: event } });
    try {
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(platformCalls(), calls);
      const comment = gh.comments.find((c) => c.issue === 12);
      assert.ok(comment, 'a comment on PR #12');
      assert.match(comment.body, new RegExp(`Reused result[^\\n]*run ${RUN}[^\\n]*request \`${first.record.requestId}\`, finished [^\\n]* ago\\)`));
      assert.match(comment.body, /state `done`/);
      assert.deepEqual(findLeaks({ comment: comment.body }, [CONTRACT, gh.token]), []);
    } finally {
      await run.cleanup();
    }
  });
});

test('a pull request from a fork gets no secrets: a hit needs no contract; a miss stops with words before any request', async () => {
  await withFake(async (gh) => {
    const first = await firstUpgrade(gh);
    await first.run.cleanup();
    gh.addToken('ghs_fork_read', { actions: 'read', issues: 'none' });
    const calls = platformCalls();
    const hit = await runIn({ inputs: inputs(gh, { contract: '', 'reuse-days': '7', 'github-token': 'ghs_fork_read' }), env: prEnv(gh) });
    try {
      assert.equal(hit.code, 0, hit.stdout + hit.stderr);
      assert.equal(hit.outputs.reused, 'true');
      assert.equal(platformCalls(), calls);
    } finally {
      await hit.cleanup();
    }
    const miss = await runIn({ inputs: inputs(gh, { contract: '', 'reuse-days': '7', 'github-token': 'ghs_fork_read', target: '17.0' }), env: prEnv(gh) });
    try {
      assert.equal(miss.code, 1);
      assert.match(miss.stdout, /::error::`reuse-days: 7`: nothing to reuse \(none found among 1 artifact \(1 opened: 1 different target \(18\.0, not 17\.0\)\)\), and input `contract` is empty[^\n]*Nothing was sent to the platform\./);
      assert.equal(miss.outputs.reused, 'false');
      assert.equal(platformCalls(), calls);
    } finally {
      await miss.cleanup();
    }
    // Without reuse-days, the contract is required as ever.
    const plain = await runIn({ inputs: inputs(gh, { contract: '' }), env: prEnv(gh) });
    try {
      assert.equal(plain.code, 1);
      assert.match(plain.stdout, /::error::Input `contract` is required/);
    } finally {
      await plain.cleanup();
    }
  });
});

test('refused before any request: reuse-days out of range, not a whole number, with aim production, with request-id', async () => {
  await withFake(async (gh) => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ 'reuse-days': '91' }, /Input `reuse-days` must be a whole number from 0 to 90, got "91"\./],
      [{ 'reuse-days': '-1' }, /Input `reuse-days` must be a whole number from 0 to 90, got "-1"\./],
      [{ 'reuse-days': '1.5' }, /Input `reuse-days` must be a whole number from 0 to 90, got "1\.5"\./],
      [{ 'reuse-days': 'week' }, /Input `reuse-days` must be a whole number from 0 to 90, got "week"\./],
      [{ 'reuse-days': '7', aim: 'production' }, /Input `reuse-days` \(7\) only applies to `aim: test`: a production upgrade is always a fresh request\./],
    ];
    for (const [extra, msg] of cases) {
      const calls = platformCalls();
      const ghCalls = gh.requests.length;
      const run = await runIn({ inputs: inputs(gh, extra), env: env(gh, { GITHUB_EVENT_NAME: 'workflow_dispatch' }) });
      try {
        assert.equal(run.code, 1, JSON.stringify(extra));
        assert.match(run.stdout.split('\n').filter((l) => l.startsWith('::error')).join('\n'), msg);
        assert.equal(platformCalls(), calls);
        assert.equal(gh.requests.length, ghCalls);
      } finally {
        await run.cleanup();
      }
    }
  });
  const get = (v: Record<string, string>) => (name: string) => v[name];
  assert.throws(() => readConfig(get({ contract: 'c', email: 'e@example.com', target: '18.0', 'request-id': '1', 'request-key': 'k', 'reuse-days': '3' })), /`reuse-days` looks for an earlier upgrade of the same dump: it does not apply when resuming/);
  assert.equal(readConfig(get({ contract: 'c', email: 'e@example.com', target: '18.0', dump: 'x.sql' })).reuseDays, 0);
  assert.equal(readConfig(get({ contract: 'c', email: 'e@example.com', target: '18.0', dump: 'x.sql', 'reuse-days': '90' })).reuseDays, 90);
  assert.equal(readConfig(get({ contract: 'c', email: 'e@example.com', target: '18.0', dump: 'x.sql', aim: 'production', 'reuse-days': '0' })).reuseDays, 0);
});

test('the directory digest covers names, sizes and bytes; a file digest is its SHA-256', async () => {
  const d = path.join(dir, 'dirdump');
  await mkdir(path.join(d, 'sub'), { recursive: true });
  await writeFile(path.join(d, 'toc.dat'), 'toc');
  await writeFile(path.join(d, 'sub', '3001.dat.gz'), 'data');
  const a = await dumpSha256(d);
  assert.match(a, /^[0-9a-f]{64}$/);
  await writeFile(path.join(d, 'sub', '3001.dat.gz'), 'dat4');
  const b = await dumpSha256(d);
  assert.notEqual(a, b);
  await rm(path.join(d, 'sub', '3001.dat.gz'));
  await writeFile(path.join(d, '3001.dat.gz'), 'dat4');
  assert.notEqual(await dumpSha256(d), b, 'a moved file changes the digest');
  assert.equal(await dumpSha256(dumpPath), createHash('sha256').update(await readFile(dumpPath)).digest('hex'));
});

test('the summary and the PR comment say plainly that the result was reused, from which run, request and date, how old', () => {
  const r = newReport();
  const reused = {
    days: 7, requestId: '10534', api: 'v1', state: 'done', finishedAt: '2026-01-02T03:04:05.000Z', ageMs: 2 * DAY + 3 * 3_600_000, runId: 42, runAttempt: 2,
    workflow: 'Rehearsal upgrade', runUrl: 'https://github.com/o/r/actions/runs/42', artifact: { id: 9, name: 'odoo-upgraded-db-18.0', url: 'https://github.com/o/r/actions/runs/42/artifacts/9', size: 10 }, fetchedBytes: 9,
  };
  Object.assign(r, { outcome: 'success', aim: 'test', target: '18.0', requestId: '10534', reused, final: { state: 'done', phase: 'success', raw: {} } });
  const line = reusedMarkdown(reused);
  assert.equal(
    line,
    '♻️ **Reused result** (`reuse-days: 7`): no request was sent to the platform. This is the upgrade of [run 42 (attempt 2)](https://github.com/o/r/actions/runs/42) of Rehearsal upgrade, request `10534`, finished 2026-01-02T03:04:05.000Z (2 days 3h ago), from artifact odoo-upgraded-db-18.0 (id 9).',
  );
  assert.ok(renderSummary(r).includes(`> ${line}`));
  assert.ok(renderComment(r, { runUrl: 'https://github.com/o/r/actions/runs/43', database: 'db' }).includes(line));
  assert.equal(ageText(90_000), '1m30s');
  assert.equal(ageText(DAY), '1 day');
});

test('rpc: a directory dump and its filestore are reused, checked by the directory digest', async () => {
  const { startRpcEmulator } = await import('../emulator/rpc.ts');
  const rpc = await startRpcEmulator({ tls: true, timing: { pendingMs: 200, progressMs: 1200 } });
  try {
    await trustCA(rpc.caFile!);
    await withFake(async (gh) => {
      const base = { contract: CONTRACT, target: '18.0', dump: dumpPath, api: 'rpc', 'platform-url': rpc.url, 'poll-interval': '1', 'github-token': gh.token, 'reuse-days': '7' };
      const rpcEnv = (extra: Record<string, string> = {}) => ({ ...gh.env, NODE_EXTRA_CA_CERTS: rpc.caFile!, ...extra });
      const first = await runIn({ inputs: base, env: rpcEnv() });
      let record: ResultRecord;
      try {
        assert.equal(first.code, 0, first.stdout + first.stderr);
        const art = gh.artifacts.find((a) => String(a.id) === first.outputs['artifact-id'])!;
        record = JSON.parse((await art.entries()).get(RESULT_FILE)!.toString('utf8')) as ResultRecord;
        // rsync hashes nothing: the digest computed before the lookup is the record's.
        assert.equal(record.dump.sha256, await dumpSha256(dumpPath));
        assert.equal(record.upgradedSha256, await dumpSha256(first.outputs['upgraded-dump']!), 'the directory digest');
        assert.deepEqual(record.files!.map((f) => f.role).sort(), ['dump', 'filestore', 'log', 'report']);
      } finally {
        await first.cleanup();
      }
      const calls = rpc.records.length;
      const second = await runIn({ inputs: base, env: rpcEnv({ GITHUB_RUN_ID: String(PR_RUN), GITHUB_EVENT_NAME: 'pull_request' }) });
      try {
        assert.equal(second.code, 0, second.stdout + second.stderr);
        assert.equal(rpc.records.length, calls, 'no rpc call on a hit');
        assert.equal(second.outputs.reused, 'true');
        const upgraded = second.outputs['upgraded-dump']!;
        assert.ok((await stat(path.join(upgraded, 'toc.dat'))).isFile());
        assert.equal(await dumpSha256(upgraded), record.upgradedSha256);
        const out = await readdir(path.dirname(upgraded));
        assert.ok(out.includes('filestore') && out.includes('upgrade-report.html'), out.join(','));
        assert.ok(!out.includes('upgrade.log'), 'the log is not needed');
        assert.match(second.stdout, /fetched dump [^,]+, filestore filestore, report upgrade-report\.html|fetched [^\n]*dump[^\n]*filestore[^\n]*report/);
      } finally {
        await second.cleanup();
      }
    });
  } finally {
    await rpc.close();
  }
});

test('which trusted records can stand for this run: protocol, download form, an older record without digests', async () => {
  const { reuseProblem } = await import('../src/github/reuse.ts');
  const now = Date.now();
  const sha = 'ab'.repeat(32);
  const rec: ResultRecord = {
    schema: 1, tool: 'odoo-upgrade-action', requestId: '1', api: 'v1', aim: 'test', target: '18.0', state: 'done', phase: 'success',
    dump: { sha256: sha }, upgradedSha256: 'cd'.repeat(32), files: [{ role: 'dump', name: 'u.zip', bytes: 1 }], finishedAt: new Date(now - 3_600_000).toISOString(), repository: REPO, runId: 5,
  };
  const a = { id: 1, name: 'x', size: 1, expired: false, createdAt: now, downloadUrl: 'http://127.0.0.1:1/zip', runId: 5, fromFork: false };
  const want = { days: 7, target: '18.0', dumpSha256: sha, download: 'archive' as const, api: 'auto' as const, repository: REPO, now };
  assert.equal(reuseProblem(rec, a, want), undefined);
  assert.equal(reuseProblem({ ...rec, state: 'delivered' }, a, want), undefined);
  assert.equal(reuseProblem(rec, a, { ...want, api: 'rpc' }), 'made with the v1 protocol, not rpc');
  assert.equal(reuseProblem(rec, a, { ...want, download: 'sql' }), 'different download (no sql in the artifact)');
  assert.equal(reuseProblem(rec, a, { ...want, download: 'none' }), undefined);
  assert.match(String(reuseProblem({ ...rec, files: undefined }, a, want)), /older version of the action/);
  assert.equal(reuseProblem({ ...rec, dump: {} }, a, want), 'no dump SHA-256 in the record');
  assert.equal(reuseProblem(rec, a, { ...want, target: '17.0' }), 'different target (18.0, not 17.0)');
  assert.equal(reuseProblem(rec, a, { ...want, days: 0 }), 'older than 0 days');
  assert.equal(reuseProblem({ ...rec, runId: 6 }, a, want), 'record not trusted (names run 6 but was stored by run 5)');
});
