// Cancellation as a runner does it: SIGINT / SIGTERM during upload, wait and download stop the
// step within seconds, non-zero, with a summary that says how to resume (never the key) and no
// partial files left; after a SIGKILL the post step removes what the main step left.
// The signals reach the pipeline in-process (support/pipeline.ts, the real clients against the
// emulator); one run of the bundle gets a real signal, and the SIGKILL case is the real bundles'.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, mkdtemp, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator, type Scenario } from '../emulator/server.ts';
import { runAction, parseOutputs, ROOT } from './support/action.ts';
import { runPipeline, FakeClock, FakeSignals } from './support/pipeline.ts';
import { memoryState } from '../src/pipeline/state.ts';
import { cleanUpAfterKill } from '../src/pipeline/post-cleanup.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';

let emu: Emulator; // HTTPS, for the bundle
let plain: Emulator; // http on loopback, for the in-process runs
let quick: Emulator; // http, requests that end at once: for the download phase
let dir: string;
let dumpPath: string;
const POST = path.join(ROOT, 'dist', 'post', 'index.js');
const SLOW_TIMING = { pendingMs: 100, processingMs: 120_000, testingMs: 300 };

before(async () => {
  // No PostgreSQL: the upgraded dumps are marked copies (what is cancelled is the transfer, not the upgrade).
  emu = await startEmulator({ tls: true, postgres: false, timing: SLOW_TIMING });
  plain = await startEmulator({ postgres: false, timing: SLOW_TIMING });
  quick = await startEmulator({ postgres: false, timing: { pendingMs: 50, processingMs: 100, testingMs: 50 } });
  dir = await mkdtemp(path.join(tmpdir(), 'cancel-'));
  dumpPath = path.join(dir, 'db.sql');
  await writeSampleSqlDump(dumpPath, 20_000);
});

after(async () => {
  await emu?.close();
  await plain?.close();
  await quick?.close();
  await rm(dir, { recursive: true, force: true });
});

function inputs(server: Emulator, extra: Record<string, string> = {}): Record<string, string> {
  return { contract: 'M1-cancel-secret', email: 'ci@example.com', target: '18.0', dump: dumpPath, 'platform-url': server.url, 'poll-interval': '1', 'artifact-name': '', ...extra };
}

async function leftovers(runnerTemp: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(runnerTemp)) {
    if (e.startsWith('odoo-upgrade-work-')) found.push(e);
    if (e === 'odoo-upgrade') for (const f of await readdir(path.join(runnerTemp, e))) if (f.endsWith('.part')) found.push(f);
  }
  return found;
}

// A stop is prompt when it comes well before what the run would otherwise have waited for (a
// hung answer, two minutes of processing, a retry 15-30 s away): the limits leave the rest of
// that margin to a loaded machine rather than timing the stop itself.
function assertCancelled(run: { code: number | null; stdout: string; summary: string; outputs: Record<string, string> }, server: Emulator, signalledAt: number, limitMs: number) {
  assert.equal(run.code, 1, run.stdout);
  assert.ok(signalledAt > 0, 'the signal was sent');
  assert.ok(Date.now() - signalledAt < limitMs, `stopped ${Date.now() - signalledAt} ms after the signal`);
  assert.match(run.summary, /Cancelled/);
  const id = run.outputs['request-id'];
  assert.ok(id, 'request-id output');
  assert.match(run.summary, new RegExp(`request-id: "${id}"`));
  assert.match(run.summary, /request-key:/);
  assert.ok(!run.summary.includes(server.requests.get(id)!.key), 'the key is not in the summary');
}

const PHASES: Array<[string, Scenario, RegExp, Record<string, string>, number]> = [
  // The upload's answer never comes (the emulator holds it until the client gives up, after its
  // 120 s deadline for an answer): a stop within 60 s of the signal proves it cut the upload short.
  ['upload', { dropCalls: [{ method: 'upload', count: 1, how: 'hang' }] }, /Upload the dump/, {}, 60_000],
  // Processing lasts 2 minutes on this emulator.
  ['wait', {}, /state: processing/, {}, 60_000],
  // The download is cut after 30 kB and the retry waits 15-30 s (the backoff's 30 s cap), a partial file on disk.
  ['download', { cutDownloadAfterBytes: 30_000 }, /download of the upgraded database interrupted/, { ODOO_UPGRADE_RETRY_BASE_MS: '60000' }, 12_000],
];

for (const [phase, scenario, when, extraEnv, limitMs] of PHASES) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`${signal} during ${phase}: stops within seconds, non-zero, resumable, nothing left behind`, async () => {
      const server = phase === 'download' ? quick : plain;
      server.setScenario(scenario);
      // The platform clients read their retry base from the process environment when made.
      const savedEnv = Object.fromEntries(Object.keys(extraEnv).map((k) => [k, process.env[k]]));
      Object.assign(process.env, extraEnv);
      const signals = new FakeSignals();
      let signalledAt = 0;
      let sent = false;
      try {
        const run = await runPipeline({
          inputs: inputs(server),
          clock: new FakeClock(0.1),
          signals,
          onLine: (line) => {
            if (!sent && when.test(line)) {
              sent = true;
              signalledAt = Date.now();
              signals.emit(signal, signal);
            }
          },
        });
        try {
          assertCancelled(run, server, signalledAt, limitMs);
          assert.match(run.stdout, new RegExp(`::warning::Received ${signal}: stopping.`));
          assert.deepEqual(await leftovers(run.runnerTemp), []);
          assert.equal(signals.listenerCount(signal), 0, 'the signal listeners are removed');
        } finally {
          await run.cleanup();
        }
      } finally {
        server.setScenario({});
        for (const [k, v] of Object.entries(savedEnv)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    });
  }
}

test('bundle smoke: a real SIGTERM during the wait stops the process by itself, non-zero, resumable, nothing left behind', async () => {
  const run = await runAction({ inputs: inputs(emu), env: { NODE_EXTRA_CA_CERTS: emu.caFile! }, interrupt: { when: /state: processing/, signal: 'SIGTERM' }, timeoutMs: 40_000 });
  try {
    assert.equal(run.signal, null, 'exited by itself, not killed');
    assertCancelled(run, emu, run.interruptedAt ?? 0, 60_000);
    assert.deepEqual(await leftovers(run.runnerTemp), []);
  } finally {
    await run.cleanup();
  }
});

test('SIGKILL during the wait: the post bundle removes the work dir and partial files, and says how to resume', async () => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'cancel-state-'));
  const stateFile = path.join(stateDir, 'state');
  await writeFile(stateFile, '');
  const main = await runAction({ inputs: inputs(emu), env: { NODE_EXTRA_CA_CERTS: emu.caFile!, GITHUB_STATE: stateFile }, interrupt: { when: /state: processing/, signal: 'SIGKILL' } });
  try {
    assert.equal(main.signal, 'SIGKILL');
    const state = parseOutputs(await readFile(stateFile, 'utf8'));
    assert.ok(state['work-dir']?.startsWith(main.runnerTemp), JSON.stringify(state));
    assert.equal(state.finished, undefined);
    assert.ok((await stat(state['work-dir'])).isDirectory(), 'the killed step left its work dir');
    // What a download killed mid-way leaves: a partial file in the output dir.
    await mkdir(state['output-dir'], { recursive: true });
    await writeFile(path.join(state['output-dir'], 'upgraded_db.zip.part'), 'partial');
    await writeFile(path.join(state['output-dir'], 'keep-me.txt'), 'not ours');
    const stateEnv = Object.fromEntries(Object.entries(state).map(([k, v]) => [`STATE_${k}`, v]));
    const post = await runAction({ inputs: {}, env: stateEnv, entry: POST, timeoutMs: 20_000 });
    try {
      assert.equal(post.code, 0, post.stdout + post.stderr);
      await assert.rejects(stat(state['work-dir']), /ENOENT/);
      assert.deepEqual(await readdir(state['output-dir']), ['keep-me.txt']);
      assert.match(post.stdout, new RegExp(`::warning::.*request ${state['request-id']} may still be running`));
      assert.ok(!post.stdout.includes(emu.requests.get(state['request-id'])!.key), 'no key in the post log');
    } finally {
      await post.cleanup();
    }
  } finally {
    await main.cleanup();
    await rm(stateDir, { recursive: true, force: true });
  }
});

test('post after a main step that finished does nothing', async () => {
  const keep = await mkdtemp(path.join(tmpdir(), 'odoo-upgrade-work-'));
  try {
    const lines: string[] = [];
    const state = memoryState({ 'work-dir': keep, 'request-id': '77', finished: 'true' });
    await cleanUpAfterKill(state, { info: (l) => lines.push(l), warning: (l) => lines.push(`::warning::${l}`) });
    assert.ok((await stat(keep)).isDirectory());
    assert.deepEqual(lines, []);
  } finally {
    await rm(keep, { recursive: true, force: true });
  }
});

test('post removes only a work dir the main step made (by its name), whatever the state says', async () => {
  const notOurs = await mkdtemp(path.join(tmpdir(), 'someone-else-'));
  try {
    const lines: string[] = [];
    await cleanUpAfterKill(memoryState({ 'work-dir': notOurs }), { info: (l) => lines.push(l), warning: (l) => lines.push(l) });
    assert.ok((await stat(notOurs)).isDirectory());
    assert.deepEqual(lines, []);
  } finally {
    await rm(notOurs, { recursive: true, force: true });
  }
});
