// Cancellation as a runner does it: SIGINT / SIGTERM during upload, wait and download stop the
// step within seconds, non-zero, with a summary that says how to resume (never the key) and no
// partial files left; after a SIGKILL the post bundle removes what the main step left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, mkdtemp, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator, type Scenario } from '../emulator/server.ts';
import { runAction, parseOutputs, ROOT, type ActionRun } from './support/action.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';

let emu: Emulator;
let dir: string;
let dumpPath: string;
const POST = path.join(ROOT, 'dist', 'post', 'index.js');

before(async () => {
  emu = await startEmulator({ tls: true, timing: { pendingMs: 100, processingMs: 120_000, testingMs: 300 } });
  dir = await mkdtemp(path.join(tmpdir(), 'cancel-'));
  dumpPath = path.join(dir, 'db.sql');
  await writeSampleSqlDump(dumpPath, 20_000);
});

after(async () => {
  await emu?.close();
  await rm(dir, { recursive: true, force: true });
});

function inputs(extra: Record<string, string> = {}): Record<string, string> {
  return { contract: 'M1-cancel-secret', email: 'ci@example.com', target: '18.0', dump: dumpPath, 'platform-url': emu.url, 'poll-interval': '1', 'artifact-name': '', ...extra };
}

async function leftovers(run: ActionRun): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(run.runnerTemp)) {
    if (e.startsWith('odoo-upgrade-work-')) found.push(e);
    if (e === 'odoo-upgrade') for (const f of await readdir(path.join(run.runnerTemp, e))) if (f.endsWith('.part')) found.push(f);
  }
  return found;
}

function assertCancelled(run: ActionRun, startedAt: number, limitMs: number) {
  assert.equal(run.signal, null, 'exited by itself, not killed');
  assert.equal(run.code, 1, run.stdout);
  assert.ok(Date.now() - startedAt < limitMs, `took ${Date.now() - startedAt} ms`);
  assert.match(run.summary, /Cancelled/);
  const id = run.outputs['request-id'];
  assert.ok(id, 'request-id output');
  assert.match(run.summary, new RegExp(`request-id: "${id}"`));
  assert.match(run.summary, /request-key:/);
  assert.ok(!run.summary.includes(emu.requests.get(id)!.key), 'the key is not in the summary');
}

const PHASES: Array<[string, Scenario, RegExp, Record<string, string>, number]> = [
  // Every answer is held 5 s (create included): uncancelled, the upload alone ends after 10 s
  // and the run after 20 s or more; a stop under 8.5 s proves the signal cut the upload short.
  ['upload', { slowMs: 5_000 }, /Upload the dump/, {}, 8_500],
  // Processing lasts 2 minutes on this emulator.
  ['wait', {}, /state: processing/, {}, 9_000],
  // The download is cut after 30 kB and the retry waits 10-20 s, a partial file on disk.
  ['download', { cutDownloadAfterBytes: 30_000 }, /download of the upgraded database interrupted/, { ODOO_UPGRADE_RETRY_BASE_MS: '20000' }, 9_000],
];

for (const [phase, scenario, when, extraEnv, limitMs] of PHASES) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`${signal} during ${phase}: stops within seconds, non-zero, resumable, nothing left behind`, async () => {
      let emuForRun = emu;
      if (phase === 'download') emuForRun = await startEmulator({ tls: true, timing: { pendingMs: 50, processingMs: 100, testingMs: 50 } });
      emuForRun.setScenario(scenario);
      const startedAt = Date.now();
      const run = await runAction({
        inputs: inputs({ 'platform-url': emuForRun.url }),
        env: { NODE_EXTRA_CA_CERTS: emuForRun.caFile!, ...extraEnv },
        interrupt: { when, signal },
        timeoutMs: 40_000,
      });
      emuForRun.setScenario({});
      try {
        if (phase === 'download') {
          // its own emulator: check against it
          assert.equal(run.code, 1, run.stdout);
          assert.ok(Date.now() - startedAt < limitMs, `took ${Date.now() - startedAt} ms`);
          assert.match(run.summary, /Cancelled/);
          assert.match(run.summary, new RegExp(`request-id: "${run.outputs['request-id']}"`));
          assert.ok(!run.summary.includes(emuForRun.requests.get(run.outputs['request-id'])!.key));
        } else {
          assertCancelled(run, startedAt, limitMs);
        }
        assert.deepEqual(await leftovers(run), []);
      } finally {
        await run.cleanup();
        if (emuForRun !== emu) await emuForRun.close();
      }
    });
  }
}

test('SIGKILL during the wait: the post bundle removes the work dir and partial files, and says how to resume', async () => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'cancel-state-'));
  const stateFile = path.join(stateDir, 'state');
  await writeFile(stateFile, '');
  const main = await runAction({ inputs: inputs(), env: { NODE_EXTRA_CA_CERTS: emu.caFile!, GITHUB_STATE: stateFile }, interrupt: { when: /state: processing/, signal: 'SIGKILL' } });
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
    const post = await runAction({ inputs: {}, env: { 'STATE_work-dir': keep, STATE_finished: 'true' }, entry: POST, timeoutMs: 20_000 });
    try {
      assert.equal(post.code, 0);
      assert.ok((await stat(keep)).isDirectory());
    } finally {
      await post.cleanup();
    }
  } finally {
    await rm(keep, { recursive: true, force: true });
  }
});
