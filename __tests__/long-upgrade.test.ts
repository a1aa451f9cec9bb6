// Upgrades longer than a job: a run with `wait: false` and `handle-passphrase` publishes the
// request's sealed handle; later runs `collect` it (by name or pattern), leave it while the
// request runs, and finish the job (download, publish) then delete it. Against the emulator
// and the GitHub fake over real sockets: one start and its final collect through the bundle
// (dist/), as a runner and a schedule run them; every other run is the pipeline in-process
// with GitHub's real services bound to the fake. Bad passphrases and tampered handles stop
// before any platform call.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { startGitHubFake, type GitHubFake } from '../emulator/github.ts';
import { runAction, findLeaks } from './support/action.ts';
import { runWithGitHub, trustCA, type GitHubRun } from './support/pipeline.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';
import { HANDLE_FILE } from '../src/github/handle.ts';

const CONTRACT = 'M424242-long-secret';
const PASS = 'a long passphrase for the handle';
const REPO = 'octo-org/odoo-project';
const RUN = 8_000_001;

let emu: Emulator;
let dir: string;
let dumpPath: string;

before(async () => {
  // Long enough for a collect to find it running, short enough to wait for.
  // What is checked here is GitHub's side: the emulator's results are marked copies of the upload
  // (no PostgreSQL started, nothing restored); the examples and e2e tests check real upgraded SQL.
  emu = await startEmulator({ tls: true, postgres: false, timing: { pendingMs: 200, processingMs: 6_000, testingMs: 200 } });
  await trustCA(emu.caFile!);
  dir = await mkdtemp(path.join(tmpdir(), 'long-upgrade-'));
  dumpPath = path.join(dir, 'prod.sql');
  await writeSampleSqlDump(dumpPath, 500);
});

after(async () => {
  await emu?.close();
  await rm(dir, { recursive: true, force: true });
});

const env = (gh: GitHubFake, run = RUN) => ({ ...gh.env, NODE_EXTRA_CA_CERTS: emu.caFile!, GITHUB_RUN_ID: String(run), GITHUB_EVENT_NAME: 'schedule' });

async function withFake(fn: (gh: GitHubFake) => Promise<void>): Promise<void> {
  const gh = await startGitHubFake({ repository: REPO, runId: RUN });
  try {
    await fn(gh);
  } finally {
    await gh.close();
  }
}

type Run = Pick<GitHubRun, 'stdout' | 'stderr' | 'outputs' | 'summary' | 'cleanup'> & { code: number | null };
type Runner = (opts: { inputs: Record<string, string>; env: Record<string, string> }) => Promise<Run>;
/** Through the bundle, as a runner runs it. */
const bundle: Runner = runAction;
/** The pipeline in-process. */
const inProcess: Runner = runWithGitHub;

async function start(gh: GitHubFake, how: Runner = inProcess): Promise<Run> {
  const run = await how({
    inputs: { contract: CONTRACT, email: 'ops@example.com', target: '18.0', dump: dumpPath, 'platform-url': emu.url, wait: 'false', 'handle-passphrase': PASS, 'github-token': gh.token },
    env: env(gh),
  });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  return run;
}

function collect(gh: GitHubFake, extra: Record<string, string>, run: number, how: Runner = inProcess): Promise<Run> {
  return how({ inputs: { 'platform-url': emu.url, 'poll-interval': '1', 'github-token': gh.token, 'handle-passphrase': PASS, ...extra }, env: env(gh, run) });
}

const handles = (gh: GitHubFake) => gh.artifacts.filter((a) => a.name.startsWith('odoo-upgrade-pending-'));

test('start publishes a sealed handle; a collect finds the request running and keeps it; a later collect finishes and deletes it', async () => {
  await withFake(async (gh) => {
    const started = await start(gh, bundle);
    const id = started.outputs['request-id'];
    const key = started.outputs['request-key'];
    const name = started.outputs['handle-name'];
    assert.equal(name, `odoo-upgrade-pending-prod-18.0-${id}`);
    const [handle] = handles(gh);
    assert.equal(handle?.name, name);
    const sealed = (await handle.entries()).get(HANDLE_FILE)!.toString('utf8');
    assert.ok(sealed.includes('"aes-256-gcm"'));
    // The key is nowhere in clear: not in the handle, the log or the summary.
    assert.deepEqual(findLeaks({ handle: sealed, stdout: started.stdout, summary: started.summary }, [key, CONTRACT]), []);
    assert.match(started.summary, new RegExp(`collect: ${name}`));
    await started.cleanup();

    const creates = emu.records.filter((r) => r.method === 'create').length;
    const early = await collect(gh, { collect: 'odoo-upgrade-pending-prod-18.0-*', wait: 'false' }, RUN + 1);
    try {
      assert.equal(early.code, 0, early.stdout + early.stderr);
      assert.equal(early.outputs['request-id'], id);
      assert.notEqual(early.outputs.state, 'done');
      assert.match(early.stdout, /stays for the next collect/);
      assert.equal(handles(gh).length, 1, 'a request still running keeps its handle');
      assert.deepEqual(findLeaks({ stdout: early.stdout, summary: early.summary }, [key]), []);
    } finally {
      await early.cleanup();
    }

    const late = await collect(gh, { collect: name, 'artifact-name': 'odoo-upgraded-{stem}-{target}' }, RUN + 2, bundle);
    try {
      assert.equal(late.code, 0, late.stdout + late.stderr);
      assert.equal(late.outputs.state, 'done');
      assert.ok(late.outputs['upgraded-dump']);
      assert.ok(late.outputs['artifact-id'], 'results published');
      assert.equal(handles(gh).length, 0, 'the collected handle is deleted');
      assert.match(late.stdout, /Deleted the pending handle/);
      assert.match(late.summary, new RegExp(`Collected request ${id} from the pending handle "${name}"`));
      assert.deepEqual(findLeaks({ stdout: late.stdout, summary: late.summary }, [key, PASS]), []);
    } finally {
      await late.cleanup();
    }
    assert.equal(emu.records.filter((r) => r.method === 'create').length, creates, 'collecting never creates a request');
  });
});

test('a wrong passphrase, a tampered handle or no handle at all: a clear error naming the input, before any platform call', async () => {
  await withFake(async (gh) => {
    const started = await start(gh);
    const name = started.outputs['handle-name'];
    await started.cleanup();
    const calls = emu.records.length;

    const wrong = await collect(gh, { collect: name, 'handle-passphrase': 'not the right passphrase' }, RUN + 1);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stdout, /handle-passphrase: the pending handle does not open with this passphrase/);
    await wrong.cleanup();

    // Tampered: one byte of the ciphertext changed, stored as another run's artifact.
    const [handle] = handles(gh);
    const env0 = JSON.parse((await handle.entries()).get(HANDLE_FILE)!.toString('utf8')) as { data: string };
    const data = Buffer.from(env0.data, 'base64');
    data[0] ^= 0x40;
    await gh.addArtifact({ runId: RUN + 5, repository: REPO, name: `${name}-tampered`, files: { [HANDLE_FILE]: Buffer.from(JSON.stringify({ ...env0, data: data.toString('base64') })) } });
    const tampered = await collect(gh, { collect: `${name}-tampered` }, RUN + 6);
    assert.notEqual(tampered.code, 0);
    assert.match(tampered.stdout, /handle-passphrase: .*(altered|does not open)/);
    await tampered.cleanup();

    const truncated = `${name}-cut`;
    await gh.addArtifact({ runId: RUN + 7, repository: REPO, name: truncated, files: { [HANDLE_FILE]: Buffer.from(JSON.stringify(env0).slice(0, 100)) } });
    const cut = await collect(gh, { collect: truncated }, RUN + 8);
    assert.notEqual(cut.code, 0);
    assert.match(cut.stdout, /collect: the pending handle is damaged/);
    await cut.cleanup();

    const none = await collect(gh, { collect: 'odoo-upgrade-pending-nothing-*' }, RUN + 9);
    assert.notEqual(none.code, 0);
    assert.match(none.stdout, /collect: no pending handle named "odoo-upgrade-pending-nothing-\*"/);
    await none.cleanup();

    assert.equal(emu.records.length, calls, 'no platform call for a handle that cannot be opened');
  });
});

test('input rules: collect needs the passphrase and excludes request-id and dump inputs; a short passphrase is refused', async () => {
  await withFake(async (gh) => {
    const calls = emu.records.length;
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ collect: 'x-*', 'handle-passphrase': '' }, /`collect` needs `handle-passphrase`/],
      [{ collect: 'x-*', 'request-id': '12', 'request-key': 'k' }, /give `collect` or `request-id`/],
      [{ collect: 'x-*', dump: dumpPath }, /remove `dump`/],
      [{ collect: 'a/b' }, /`collect` must be an artifact name/],
      [{ contract: CONTRACT, email: 'a@b.co', target: '18.0', dump: dumpPath, wait: 'false', 'handle-passphrase': 'short' }, /`handle-passphrase` must be at least 12 characters/],
    ];
    for (const [inputs, message] of cases) {
      const r = await collect(gh, inputs, RUN + 20);
      try {
        assert.notEqual(r.code, 0, JSON.stringify(inputs));
        assert.match(r.stdout, message);
      } finally {
        await r.cleanup();
      }
    }
    assert.equal(emu.records.length, calls);
  });
});
