// Faults per phase against the emulator: lost create answers, refused connections, resets,
// 5xx/429, slow and malformed answers, hostile URLs. The bytes are checked against the
// emulator's own record and `create` is never sent twice. The pipeline runs in-process (the
// real clients over real sockets, a fake clock for the polls); the lost create answer is the
// bundle's smoke run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator, type Scenario } from '../emulator/server.ts';
import { runAction, findLeaks } from './support/action.ts';
import { runPipeline, FakeClock, trustCA, type PipelineRun } from './support/pipeline.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';

let emu: Emulator;
let dir: string;
let dumpPath: string;
let dumpSha: string;
const CONTRACT = 'M777777-faults-secret';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  // No PostgreSQL: these runs are about faults, so the emulator's upgraded dump is a marked copy (cheap).
  emu = await startEmulator({ tls: true, postgres: false, timing: { pendingMs: 200, processingMs: 400, testingMs: 300 } });
  await trustCA(emu.caFile!);
  dir = await mkdtemp(path.join(tmpdir(), 'faults-'));
  dumpPath = path.join(dir, 'db.sql');
  await writeSampleSqlDump(dumpPath, 20_000);
  dumpSha = sha(await readFile(dumpPath));
});

after(async () => {
  await emu?.close();
  await rm(dir, { recursive: true, force: true });
});

function inputs(extra: Record<string, string> = {}): Record<string, string> {
  return { contract: CONTRACT, email: 'ci@example.com', target: '18.0', dump: dumpPath, 'platform-url': emu.url, 'poll-interval': '1', 'artifact-name': '', ...extra };
}
const env = () => ({ NODE_EXTRA_CA_CERTS: emu.caFile! });
const creates = () => emu.records.filter((r) => r.method === 'create').length;
const errorLines = (run: { stdout: string }) => run.stdout.split('\n').filter((l) => l.startsWith('::error')).join('\n');

/** In-process; the fake clock's polls take 50 real ms, so the emulator's request moves on between them. */
function runIn(extra: Record<string, string> = {}): Promise<PipelineRun> {
  return runPipeline({ inputs: inputs(extra), clock: new FakeClock(0.05) });
}

async function withScenario(s: Scenario, extra: Record<string, string> = {}): Promise<PipelineRun> {
  emu.setScenario(s);
  try {
    return await runIn(extra);
  } finally {
    emu.setScenario({});
  }
}

function assertClean(run: { stdout: string; stderr?: string; summary: string; outputs: Record<string, string> }) {
  for (const text of [run.stdout, run.stderr ?? '']) assert.doesNotMatch(text, /(\n|%0A)\s+at .+:\d+:\d+/, `a crash with a stack trace: ${text}`);
  const keys = [...emu.requests.values()].map((r) => r.key);
  const outputsWithoutKey = JSON.stringify({ ...run.outputs, 'request-key': undefined });
  assert.deepEqual(findLeaks({ stdout: run.stdout, stderr: run.stderr ?? '', summary: run.summary, outputs: outputsWithoutKey }, [CONTRACT, ...keys]), []);
}

test('bundle smoke: a create answer lost after the platform made the request: stopped, one create, says how to find it', async () => {
  const before = creates();
  emu.setScenario({ cutCreateAnswer: true });
  const run = await runAction({ inputs: inputs(), env: env(), timeoutMs: 60_000 }).finally(() => emu.setScenario({}));
  try {
    assert.equal(run.code, 1, run.stdout);
    assert.equal(creates() - before, 1, 'exactly one create reached the platform');
    assert.equal(emu.records.filter((r) => r.method === 'upload').length, 0);
    const errors = errorLines(run);
    assert.match(errors, /may have created the request/);
    assert.match(errors, /`request-id` and `request-key`/);
    assert.match(errors, /not sent again/);
    assertClean(run);
  } finally {
    await run.cleanup();
  }
});

test('connection refused before create is retried, then fails clearly; nothing else tried', async () => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const run = await runIn({ 'platform-url': `https://127.0.0.1:${port}`, api: 'v1' });
  try {
    assert.equal(run.code, 1);
    const retries = run.stdout.match(/create: ECONNREFUSED; nothing was created, trying again/g) ?? [];
    assert.equal(retries.length, 4, run.stdout);
    assert.match(errorLines(run), /ECONNREFUSED/);
    assert.doesNotMatch(errorLines(run), /may have created/);
  } finally {
    await run.cleanup();
  }
});

test('5xx and 429 + Retry-After on every v1 call, resets during upload and download, slow answers: bytes intact, one create', async () => {
  const before = creates();
  const made = emu.requests.size;
  const run = await withScenario({
    slowMs: 150,
    cutUploadAfterBytes: 50_000,
    cutDownloadAfterBytes: 30_000,
    httpErrors: [
      { method: 'create', status: 429, retryAfter: 1, count: 1 },
      { method: 'create', status: 503, count: 1 },
      { method: 'upload', status: 502, count: 1 },
      { method: 'process', status: 500, count: 1 },
      { method: 'process', status: 429, retryAfter: 1, count: 1 },
      { method: 'status', status: 503, retryAfter: 1, count: 2 },
      { method: 'status', status: 504, count: 1 },
      { method: 'download', status: 503, count: 1 },
      { method: 'notes', status: 500, count: 1 },
    ],
  });
  try {
    assert.equal(run.code, 0, run.stdout);
    // The two refused creates (429, 503) did nothing; exactly one was answered and made a request.
    assert.equal(creates() - before, 3);
    assert.equal(emu.requests.size - made, 1, 'one request made');
    const req = emu.requests.get(run.outputs['request-id'])!;
    assert.equal(req.uploadedSha256, dumpSha, 'uploaded bytes intact');
    assert.equal(sha(await readFile(run.outputs['upgraded-dump'])), req.upgradedArchiveSha256, 'downloaded bytes intact');
    for (const m of ['create', 'upload', 'process', 'status', 'download', 'notes']) {
      assert.ok(emu.records.some((r) => r.method === m && r.httpStatus >= 429), `${m} saw an injected error`);
    }
    assert.match(run.stdout, /upload interrupted/);
    assert.match(run.stdout, /resuming/);
    assertClean(run);
  } finally {
    await run.cleanup();
  }
});

for (const [what, scenario, expected] of [
  ['an HTML page with 200 on status', { httpErrors: [{ method: 'status', status: 200, count: 1000, body: '<html><body>Maintenance</body></html>' }] }, /status: no answer from the platform about request \d+ after 6 attempts \(the platform answered something that is not a JSON object \(Maintenance\)\)/],
  ['malformed JSON on process', { httpErrors: [{ method: 'process', status: 200, count: 1000, body: '{"request": {"state": ' }] }, /process: the platform answered something that is not a JSON object/],
  ['an oversized JSON answer on status', { httpErrors: [{ method: 'status', status: 200, count: 1000, body: JSON.stringify({ request: { state: 'done', filler: 'x'.repeat(5 * 1024 * 1024) } }) }] }, /answer larger than 4096 KiB/],
  ['HTTP 500 with HTML on upload, every time', { httpErrors: [{ method: 'upload', status: 500, count: 1000 }] }, /upload: HTTP 500/],
] as const) {
  test(`${what}: a clear error, not a crash; one create; resume hint`, async () => {
    const before = creates();
    const run = await withScenario(scenario as unknown as Scenario);
    try {
      assert.equal(run.code, 1, run.stdout);
      assert.match(errorLines(run), expected, run.stdout);
      assert.equal(creates() - before, 1);
      assert.match(run.summary, /request-id: "\d+"/);
      assertClean(run);
    } finally {
      await run.cleanup();
    }
  });
}

test('hostile download and notes URLs (another port, plain http, another host) are refused without a request there', async () => {
  const hits: string[] = [];
  const other = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    res.end('stolen');
  });
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  const port = (other.address() as net.AddressInfo).port;
  try {
    for (const urls of [
      { upgraded_dump_url: `http://127.0.0.1:${port}/database/eu1/1/KEY/upgraded/archive` },
      { upgraded_dump_url: `https://127.0.0.1:${port}/x` },
      { upgraded_dump_url: `https://upgrade.odoo.com.evil.invalid/x` },
      { notes_url: `http://127.0.0.1:${port}/notes` },
    ]) {
      const before = creates();
      const run = await withScenario({ statusUrls: urls });
      try {
        assert.equal(run.code, 1, run.stdout);
        assert.match(errorLines(run), /refusing to send the request key there/);
        assert.equal(creates() - before, 1);
        assertClean(run);
      } finally {
        await run.cleanup();
      }
    }
    assert.deepEqual(hits, [], 'no request reached the other server');
  } finally {
    await new Promise<void>((r) => other.close(() => r()));
  }
});
