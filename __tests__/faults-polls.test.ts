// Status polls that get no answer: the connection reset without an answer, or a call left
// hanging past the client's per-call timeout (ODOO_UPGRADE_CALL_TIMEOUT_MS), on v1 and on rpc.
// A few are retried with backoff and the run ends `done` with the emulator's bytes; a platform
// that never answers exhausts the budget with an error that names the request and how to
// resume. `create` is never sent twice. The pipeline runs in-process (the real clients over
// real sockets, a fake clock for the polls); a create answered with broken JSON is the bundle's
// smoke run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator, type Scenario } from '../emulator/server.ts';
import { startRpcEmulator, type RpcEmulator, type RpcScenario } from '../emulator/rpc.ts';
import { runAction, findLeaks } from './support/action.ts';
import { runPipeline, FakeClock, trustCA, withProcessEnv } from './support/pipeline.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';

let v1: Emulator;
let rpc: RpcEmulator;
let dir: string;
let dumpPath: string;
const CONTRACT = 'M777777-polls-secret';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  // No PostgreSQL: these runs are about polls, so the upgraded dumps are marked copies (cheap).
  v1 = await startEmulator({ tls: true, postgres: false, timing: { pendingMs: 200, processingMs: 400, testingMs: 300 } });
  rpc = await startRpcEmulator({ tls: true, postgres: false, timing: { pendingMs: 200, progressMs: 800 } });
  await trustCA(v1.caFile!);
  await trustCA(rpc.caFile!);
  dir = await mkdtemp(path.join(tmpdir(), 'faults-polls-'));
  dumpPath = path.join(dir, 'db.sql');
  await writeSampleSqlDump(dumpPath, 20_000);
});

after(async () => {
  await v1?.close();
  await rpc?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr?: string;
  summary: string;
  outputs: Record<string, string>;
  cleanup(): Promise<void>;
}

const errorLines = (run: Ran) => run.stdout.split('\n').filter((l) => l.startsWith('::error')).join('\n');
const count = (text: string, re: RegExp) => (text.match(new RegExp(re, 'g')) ?? []).length;

function assertNoLeak(run: Ran, keys: string[]) {
  for (const text of [run.stdout, run.stderr ?? '']) assert.doesNotMatch(text, /(\n|%0A)\s+at .+:\d+:\d+/, `a crash with a stack trace: ${text}`);
  const outputsWithoutKey = JSON.stringify({ ...run.outputs, 'request-key': undefined });
  assert.deepEqual(findLeaks({ stdout: run.stdout, stderr: run.stderr ?? '', summary: run.summary, outputs: outputsWithoutKey }, [CONTRACT, ...keys]), []);
}

/** In-process; the fake clock's polls take 50 real ms, so the emulator's request moves on between them. */
function runIn(inputs: Record<string, string>, extraEnv: Record<string, string>): Promise<Ran> {
  return withProcessEnv(extraEnv, () => runPipeline({ inputs, clock: new FakeClock(0.05) }));
}

// ---------------------------------------------------------------- v1

async function runV1(s: Scenario, extraEnv: Record<string, string> = {}, bundle = false) {
  const creates = () => v1.records.filter((r) => r.method === 'create').length;
  const before = creates();
  const from = v1.records.length;
  v1.setScenario(s);
  try {
    const inputs = { contract: CONTRACT, email: 'ci@example.com', target: '18.0', dump: dumpPath, 'platform-url': v1.url, 'poll-interval': '1', 'artifact-name': '', api: 'v1' };
    const run: Ran = bundle ? await runAction({ inputs, env: { NODE_EXTRA_CA_CERTS: v1.caFile!, ...extraEnv }, timeoutMs: 60_000 }) : await runIn(inputs, extraEnv);
    return { run, creates: creates() - before, records: v1.records.slice(from) };
  } finally {
    v1.setScenario({});
  }
}

test('v1: the first 3 status polls reset without an answer: retried with backoff, done, bytes intact, one create', async () => {
  const { run, creates, records } = await runV1({ dropCalls: [{ method: 'status', count: 3, how: 'reset' }] });
  try {
    assert.equal(run.code, 0, run.stdout + (run.stderr ?? ''));
    assert.equal(creates, 1);
    assert.equal(run.outputs.state, 'done');
    assert.equal(count(run.stdout, /status: \S+; trying again in \d+ s \(attempt \d\)/), 3, run.stdout);
    const id = run.outputs['request-id'];
    const dropped = records.filter((r) => r.method === 'status' && r.aborted && r.httpStatus === 0);
    assert.equal(dropped.length, 3, 'the emulator cut three status calls');
    const req = v1.requests.get(id)!;
    assert.equal(sha(await readFile(run.outputs['upgraded-dump'])), req.upgradedArchiveSha256, 'downloaded bytes intact');
    assertNoLeak(run, [req.key]);
  } finally {
    await run.cleanup();
  }
});

test('v1: a status poll left hanging past the per-call timeout is abandoned and retried; done, bytes intact', async () => {
  const started = Date.now();
  const { run, creates } = await runV1({ dropCalls: [{ method: 'status', count: 1, how: 'hang' }] }, { ODOO_UPGRADE_CALL_TIMEOUT_MS: '1500' });
  try {
    assert.equal(run.code, 0, run.stdout + (run.stderr ?? ''));
    assert.equal(creates, 1);
    assert.match(run.stdout, /status: ETIMEDOUT; trying again/);
    assert.ok(Date.now() - started < 30_000, 'did not wait for the socket timeouts');
    const req = v1.requests.get(run.outputs['request-id'])!;
    assert.equal(sha(await readFile(run.outputs['upgraded-dump'])), req.upgradedArchiveSha256);
  } finally {
    await run.cleanup();
  }
});

test('v1: every status poll reset: the retry budget ends with an error naming the request and how to resume; one create', async () => {
  const { run, creates } = await runV1({ dropCalls: [{ method: 'status', count: 1000, how: 'reset' }] });
  try {
    assert.equal(run.code, 1, run.stdout);
    assert.equal(creates, 1, 'create not sent again');
    const id = run.outputs['request-id'];
    assert.ok(id);
    const errors = errorLines(run);
    assert.match(errors, new RegExp(`no answer from the platform about request ${id} after 6 attempts`));
    assert.match(errors, new RegExp(`request-id: "${id}"`));
    assert.match(errors, /request-key/);
    assert.equal(count(run.stdout, /status: \S+; trying again/), 5, 'five retries, six attempts');
    assert.match(run.summary, new RegExp(`request-id: "${id}"`));
    assertNoLeak(run, [v1.requests.get(id)!.key]);
  } finally {
    await run.cleanup();
  }
});

test('v1: status polls get garbled answers (an HTML page with 200, JSON cut short, an empty body, null in failures, an object for state), then good ones: done, each logged once, one create', async () => {
  const garbled = [
    '<html><body>Maintenance</body></html>',
    '{"failures": [], "request": {"state": "proc',
    '',
    JSON.stringify({ failures: [null] }),
    JSON.stringify({ failures: [], request: { state: { name: 'done' } } }),
  ];
  const { run, creates, records } = await runV1({ httpErrors: garbled.map((body) => ({ method: 'status', status: 200, count: 1, body })) });
  try {
    assert.equal(run.code, 0, run.stdout + (run.stderr ?? ''));
    assert.equal(creates, 1);
    assert.equal(run.outputs.state, 'done');
    const id = run.outputs['request-id'];
    assert.ok(records.filter((r) => r.method === 'status').length >= 6, 'five garbled answers, then good ones');
    const retries = run.stdout.split('\n').filter((l) => /^status: .*; trying again in \d+ s \(attempt \d\)$/.test(l));
    assert.equal(retries.length, 5, run.stdout);
    assert.match(retries[0]!, /not a JSON object \(Maintenance\)/);
    assert.match(retries[2]!, /empty body/);
    assert.match(retries[3]!, /failure #1 is null/);
    assert.match(retries[4]!, /without a request state/);
    assert.doesNotMatch(run.stdout, /TypeError/);
    const req = v1.requests.get(id)!;
    assert.equal(sha(await readFile(run.outputs['upgraded-dump'])), req.upgradedArchiveSha256, 'downloaded bytes intact');
    assertNoLeak(run, [req.key]);
  } finally {
    await run.cleanup();
  }
});

test('bundle smoke: v1: a create answered with JSON cut short: the uncertain-create message, never a second create', async () => {
  const { run, creates, records } = await runV1({ httpErrors: [{ method: 'create', status: 200, count: 1, body: '{"failures": [], "request": {"id": 12, "key": "Zx9' }] }, {}, true);
  try {
    assert.equal(run.code, 1, run.stdout);
    assert.equal(creates, 1, 'create not sent again');
    assert.deepEqual(records.map((r) => r.method), ['create'], 'nothing after the create');
    const errors = errorLines(run);
    assert.match(errors, /create: the platform answered something that is not a JSON object/);
    assert.match(errors, /may have created the request/);
    assert.doesNotMatch(errors, /Zx9/);
  } finally {
    await run.cleanup();
  }
});

// ---------------------------------------------------------------- rpc

async function runRpc(s: RpcScenario, extraEnv: Record<string, string> = {}) {
  const creates = () => rpc.records.filter((r) => r.endpoint === 'upgrade/request/create').length;
  const before = creates();
  const from = rpc.records.length;
  rpc.setScenario(s);
  try {
    const run = await runIn({ contract: CONTRACT, target: '18.0', dump: dumpPath, 'platform-url': rpc.url, 'poll-interval': '1', 'artifact-name': '', api: 'rpc' }, extraEnv);
    return { run, creates: creates() - before, records: rpc.records.slice(from) };
  } finally {
    rpc.setScenario({});
  }
}

const requestOf = (id: string) => [...rpc.requests.values()].find((r) => String(r.id) === id)!;

async function assertSameTree(local: string, remote: string) {
  const names = (await readdir(remote)).sort();
  assert.deepEqual((await readdir(local)).sort(), names);
  for (const n of names) assert.equal(sha(await readFile(path.join(local, n))), sha(await readFile(path.join(remote, n))), n);
}

test('rpc: the first 3 status polls reset without an answer: retried, done, the dump equals the data server\'s', async () => {
  const { run, creates, records } = await runRpc({ dropCalls: [{ endpoint: 'status', count: 3, how: 'reset' }] });
  try {
    assert.equal(run.code, 0, run.stdout + (run.stderr ?? ''));
    assert.equal(creates, 1);
    assert.equal(run.outputs.state, 'done');
    assert.equal(count(run.stdout, /status: \S+; trying again in \d+ s \(attempt \d\)/), 3, run.stdout);
    const r = requestOf(run.outputs['request-id']);
    assert.equal(records.filter((x) => x.error === 'connection reset (scenario)').length, 3);
    await assertSameTree(run.outputs['upgraded-dump'], path.join(r.dataDir!, r.dumpName));
    assertNoLeak(run, [r.token]);
  } finally {
    await run.cleanup();
  }
});

test('rpc: a status call left hanging past the per-call timeout is retried; done', async () => {
  const { run, creates } = await runRpc({ dropCalls: [{ endpoint: 'status', count: 1, how: 'hang' }] }, { ODOO_UPGRADE_CALL_TIMEOUT_MS: '1500' });
  try {
    assert.equal(run.code, 0, run.stdout + (run.stderr ?? ''));
    assert.equal(creates, 1);
    assert.match(run.stdout, /status: ETIMEDOUT; trying again/);
    const r = requestOf(run.outputs['request-id']);
    await assertSameTree(run.outputs['upgraded-dump'], path.join(r.dataDir!, r.dumpName));
  } finally {
    await run.cleanup();
  }
});

test('rpc: every status call reset: a clear error with the request id and how to resume; one create', async () => {
  const { run, creates } = await runRpc({ dropCalls: [{ endpoint: 'status', count: 1000, how: 'reset' }] });
  try {
    assert.equal(run.code, 1, run.stdout);
    assert.equal(creates, 1);
    const id = run.outputs['request-id'];
    assert.match(errorLines(run), new RegExp(`no answer from the platform about request ${id} after 6 attempts.*request-id: "${id}"`));
    assert.match(run.summary, new RegExp(`request-id: "${id}"`));
    assertNoLeak(run, [requestOf(id).token]);
  } finally {
    await run.cleanup();
  }
});
