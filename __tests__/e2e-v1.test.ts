// The v1 protocol end to end against the emulator over real sockets: the bundled action once,
// run as a runner runs it over HTTPS with the fake of GitHub's artifact service (outputs,
// summary, artifact bytes, the emulator's record); every other case runs the pipeline
// in-process (support/pipeline.ts) with the real protocol clients and a fake clock.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, stat, mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { EmulatorPostgres } from '../emulator/postgres.ts';
import { startGitHubFake, type GitHubFake } from '../emulator/github.ts';
import { runAction, findLeaks } from './support/action.ts';
import { runPipeline, FakeClock, type PipelineOptions } from './support/pipeline.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';

let pg: EmulatorPostgres; // one scratch server makes the real upgraded dumps of both emulators
let emu: Emulator; // HTTPS, for the bundle
let plain: Emulator; // http on loopback, for the in-process runs (this process trusts no extra CA)
let gh: GitHubFake;
let dir: string;
let dumpPath: string;
let dumpSha: string;
const CONTRACT = 'M123456-abcdef-secret';
// Long enough for a run to see the request before it ends (done also waits for the build).
const TIMING = { pendingMs: 150, processingMs: 400, testingMs: 300 };

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  pg = new EmulatorPostgres();
  void pg.get(); // started while the rest is set up
  emu = await startEmulator({ tls: true, timing: TIMING, postgres: pg });
  plain = await startEmulator({ timing: TIMING, postgres: pg });
  gh = await startGitHubFake();
  dir = await mkdtemp(path.join(tmpdir(), 'e2e-v1-'));
  dumpPath = path.join(dir, 'prod db.sql');
  await writeSampleSqlDump(dumpPath, 4_000); // ~190 KB: above the cut points below, small to restore and dump
  dumpSha = sha(await readFile(dumpPath));
});

after(async () => {
  await emu?.close();
  await plain?.close();
  await pg?.close();
  await gh?.close();
  await rm(dir, { recursive: true, force: true });
});

function inputs(extra: Record<string, string> = {}, server: Emulator = plain): Record<string, string> {
  return {
    contract: CONTRACT,
    email: 'ci@example.com',
    target: '18.0',
    dump: dumpPath,
    'platform-url': server.url,
    'poll-interval': '1',
    ...extra,
  };
}

function env(): Record<string, string> {
  return { ...gh.env, NODE_EXTRA_CA_CERTS: emu.caFile! };
}

/** In-process; the fake clock lets a tenth of each wait really pass, so the emulator's states move on. */
function runIn(extra: Record<string, string>, opts: Partial<PipelineOptions> = {}) {
  return runPipeline({ inputs: inputs(extra), clock: new FakeClock(0.1), ...opts });
}

function creates(server: Emulator = plain): number {
  return server.records.filter((r) => r.method === 'create').length;
}

function secretsOf(server: Emulator): string[] {
  const values = [CONTRACT];
  for (const req of server.requests.values()) {
    values.push(req.key, `${server.url}/database/eu1/${req.id}/${req.key}/upgraded/archive`);
  }
  return values;
}

async function assertNoLeak(run: { stdout: string; summary: string; outputs: Record<string, string>; stderr?: string; outputsRaw?: string }, server: Emulator, extra: Record<string, string | Buffer> = {}) {
  const outputs = run.outputsRaw !== undefined
    ? run.outputsRaw.replace(/^request-key<<(.+)\n[\s\S]*?\n\1$/m, '')
    : Object.entries(run.outputs).filter(([k]) => k !== 'request-key').map(([k, v]) => `${k}=${v}`).join('\n');
  const leaks = findLeaks({ stdout: run.stdout, stderr: run.stderr ?? '', summary: run.summary, outputs, ...extra }, secretsOf(server));
  assert.deepEqual(leaks, []);
}

test('bundle smoke: create, upload, process, wait, download, publish', async () => {
  const before = creates(emu);
  const run = await runAction({ inputs: inputs({ 'artifact-retention-days': '3' }, emu), env: env() });
  try {
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(creates(emu) - before, 1, 'exactly one create');
    const req = emu.requests.get(run.outputs['request-id'])!;
    assert.ok(req, 'the request exists on the emulator');
    assert.equal(req.uploadedSha256, dumpSha, 'bytes intact');
    assert.equal(req.filename, 'prod db.sql');
    assert.equal(run.outputs.state, 'done');
    assert.equal(run.outputs['request-key'], req.key);
    const upgraded = await readFile(run.outputs['upgraded-dump']);
    assert.equal(sha(upgraded), req.upgradedArchiveSha256);
    assert.ok((await stat(run.outputs.notes)).size > 0);
    assert.ok(Number(run.outputs['elapsed-seconds']) >= 0);
    assert.match(run.summary, /Upgrade succeeded/);
    assert.match(run.summary, new RegExp(dumpSha));
    assert.match(run.summary, new RegExp(req.upgradedArchiveSha256!));
    assert.match(run.summary, /Timeline/);
    assert.doesNotMatch(run.summary, /<script|onerror/);
    const logged = [...run.stdout.matchAll(/Z state: (\w+)/g)].map((m) => m[1]);
    assert.equal(logged.at(-1), 'done');
    assert.equal(new Set(logged).size, logged.length, `each state logged once: ${logged}`);
    // The artifact holds what the emulator produced, byte for byte.
    const art = gh.artifacts.find((a) => String(a.id) === run.outputs['artifact-id'])!;
    assert.ok(art, 'artifact published');
    assert.equal(art.name, 'odoo-upgraded-prod db-18.0');
    assert.equal(art.retentionDays, 3);
    const entries = await art.entries();
    const zipEntry = [...entries.entries()].find(([name]) => name.endsWith('.zip'));
    assert.ok(zipEntry, `artifact entries: ${[...entries.keys()]}`);
    assert.equal(sha(zipEntry[1]), req.upgradedArchiveSha256);
    assert.match(run.outputs['artifact-url'], /\/artifacts\/\d+$/);
    await assertNoLeak(run, emu, Object.fromEntries([...entries.entries()].map(([k, v]) => [`artifact ${k}`, v])));
  } finally {
    await run.cleanup();
  }
});

test('download: sql brings the upgraded SQL stream', async () => {
  const run = await runIn({ download: 'sql', 'artifact-name': '' });
  try {
    assert.equal(run.code, 0, run.stdout);
    const req = plain.requests.get(run.outputs['request-id'])!;
    assert.equal(sha(await readFile(run.outputs['upgraded-dump'])), req.upgradedSqlSha256);
    assert.equal(run.outputs['artifact-id'], undefined, 'no artifact when artifact-name is empty');
  } finally {
    await run.cleanup();
  }
});

for (const outcome of ['failed', 'cancelled', 'invalid'] as const) {
  test(`a request that ends ${outcome} fails the step with the platform's message`, async () => {
    plain.setScenario({ outcome, customerMessage: `Your database could not be upgraded (${outcome}) <b>bold</b>` });
    const run = await runIn({});
    plain.setScenario({});
    try {
      assert.equal(run.code, 1);
      assert.equal(run.outputs.state, outcome);
      assert.match(run.stdout, new RegExp(`::error::.*${outcome}.*could not be upgraded`));
      assert.match(run.summary, /Upgrade failed/);
      assert.match(run.summary, /could not be upgraded/);
      assert.doesNotMatch(run.summary, /<b>/);
      assert.equal(run.outputs['upgraded-dump'], undefined);
      await assertNoLeak(run, plain);
    } finally {
      await run.cleanup();
    }
  });
}

test('create failures are shown with reason and message, and nothing else is sent', async () => {
  plain.setScenario({ createFailures: [{ reason: 'TARGET:INVALID', message: 'Invalid value "18.0"', value: '18.0', expected: ['17.0', '19.0'] }] });
  const count = plain.records.length;
  const run = await runIn({});
  plain.setScenario({});
  try {
    assert.equal(run.code, 1);
    assert.match(run.stdout, /TARGET:INVALID: Invalid value/);
    assert.match(run.stdout, /17\.0, 19\.0/);
    assert.deepEqual(plain.records.slice(count).map((r) => r.method), ['create']);
  } finally {
    await run.cleanup();
  }
});

test('503 and 429 with Retry-After on status are waited out', async () => {
  plain.setScenario({ httpErrors: [{ method: 'status', status: 503, retryAfter: 1, count: 2 }, { method: 'process', status: 429, retryAfter: 1, count: 1 }] });
  const run = await runIn({ 'artifact-name': '' });
  plain.setScenario({});
  try {
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, /status: HTTP 503|status.*503/);
  } finally {
    await run.cleanup();
  }
});

test('a connection cut mid-upload is retried and the bytes arrive intact', async () => {
  plain.setScenario({ cutUploadAfterBytes: 100_000 });
  const before = creates();
  const run = await runIn({ 'artifact-name': '' });
  plain.setScenario({});
  try {
    assert.equal(run.code, 0, run.stdout);
    assert.equal(creates() - before, 1);
    const req = plain.requests.get(run.outputs['request-id'])!;
    assert.equal(req.uploadedSha256, dumpSha);
    assert.ok(req.uploads >= 2, `uploads: ${req.uploads}`);
    assert.match(run.stdout, /upload interrupted/);
  } finally {
    await run.cleanup();
  }
});

test('a connection cut mid-download is resumed with Range', async () => {
  plain.setScenario({ cutDownloadAfterBytes: 50_000 });
  const run = await runIn({ 'artifact-name': '' });
  plain.setScenario({});
  try {
    assert.equal(run.code, 0, run.stdout);
    const req = plain.requests.get(run.outputs['request-id'])!;
    assert.equal(sha(await readFile(run.outputs['upgraded-dump'])), req.upgradedArchiveSha256);
    assert.match(run.stdout, /resuming/);
    const files = await readdir(path.dirname(run.outputs['upgraded-dump']));
    assert.ok(!files.some((f) => f.endsWith('.part')), 'no partial file left');
  } finally {
    await run.cleanup();
  }
});

test('wait: false stops once processing started; request-id + request-key resume it without a second create', async () => {
  const before = creates();
  const first = await runIn({ wait: 'false', 'artifact-name': '' });
  try {
    assert.equal(first.code, 0, first.stdout);
    const id = first.outputs['request-id'];
    const key = first.outputs['request-key'];
    assert.ok(['pending', 'processing', 'testing'].includes(first.outputs.state), first.outputs.state);
    assert.match(first.summary, /request-id: "\d+"/);
    const second = await runPipeline({
      inputs: { 'request-id': id, 'request-key': key, 'platform-url': plain.url, 'poll-interval': '1', 'artifact-name': '' },
      clock: new FakeClock(0.1),
    });
    try {
      assert.equal(second.code, 0, second.stdout);
      assert.equal(second.outputs.state, 'done');
      assert.equal(creates() - before, 1, 'no second create');
      assert.equal(plain.requests.get(id)!.uploads, 1, 'no second upload');
      assert.ok((await stat(second.outputs['upgraded-dump'])).size > 0);
      await assertNoLeak(second, plain);
    } finally {
      await second.cleanup();
    }
    await assertNoLeak(first, plain);
  } finally {
    await first.cleanup();
  }
});

test('timeout-minutes: gives up, fails, and says how to resume (the minute passes on the fake clock)', async () => {
  // Never reaches done: its (marked-copy) results need no PostgreSQL.
  const slow = await startEmulator({ timing: { pendingMs: 100, processingMs: 600_000 }, postgres: false });
  try {
    const clock = new FakeClock();
    const run = await runPipeline({ inputs: { ...inputs({ 'artifact-name': '' }), 'platform-url': slow.url, 'timeout-minutes': '1' }, clock });
    try {
      assert.equal(run.code, 1);
      assert.ok(clock.sleeps.reduce((a, b) => a + b, 0) >= 60_000, `slept ${clock.sleeps} on the fake clock`);
      assert.match(run.stdout, /Stopped waiting after 1 min/);
      assert.match(run.summary, /still running/);
      assert.match(run.summary, /request-id:/);
    } finally {
      await run.cleanup();
    }
  } finally {
    await slow.close();
  }
});

test('bad input fails before any request reaches the platform', async () => {
  const count = plain.records.length;
  const run = await runIn({ aim: 'prod', target: 'eighteen' });
  try {
    assert.equal(run.code, 1);
    assert.match(run.stdout, /`aim`/);
    assert.match(run.stdout, /`target`/);
    assert.equal(plain.records.length, count);
  } finally {
    await run.cleanup();
  }
});
