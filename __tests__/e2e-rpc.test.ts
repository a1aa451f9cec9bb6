// The bundle with `api: auto` against a platform that only speaks the rpc protocol: v1's
// create gets a 404, nothing is created, the run goes on over rpc with rsync to a real sshd.
// A failed upgrade runs the pipeline in-process (support/pipeline.ts) against a plain-HTTP rpc
// emulator; so do resumes from `pending` (through the bundle: the sealed handle is an artifact),
// with requests held in `pending` until the resumed run has seen it (an event, not a timer).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { startRpcEmulator, type RpcEmulator } from '../emulator/rpc.ts';
import { startGitHubFake, type GitHubFake } from '../emulator/github.ts';
import { runAction, findLeaks, type ActionRun } from './support/action.ts';
import { runPipeline, FakeClock } from './support/pipeline.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';

const execFileP = promisify(execFile);
let emu: RpcEmulator; // HTTPS, for the bundle
let plain: RpcEmulator; // plain HTTP on loopback, for the in-process run (this process trusts no extra CA)
let gh: GitHubFake;
let dir: string;
let dumpPath: string;
const CONTRACT = 'M777777-rpc-e2e-secret';

before(async () => {
  emu = await startRpcEmulator({ tls: true, timing: { pendingMs: 200, progressMs: 1200 } });
  // Plain HTTP (the action allows it on loopback) for the in-process runs and the resumes; its dumps
  // are marked copies: what is checked there is the flow, not the upgrade (the first test's is real).
  plain = await startRpcEmulator({ timing: { pendingMs: 100, progressMs: 300 }, postgres: false });
  gh = await startGitHubFake();
  dir = await mkdtemp(path.join(tmpdir(), 'e2e-rpc-'));
  dumpPath = path.join(dir, 'shop.sql');
  await writeSampleSqlDump(dumpPath, 5000);
});

after(async () => {
  await emu?.close();
  await plain?.close();
  await gh?.close();
  await rm(dir, { recursive: true, force: true });
});

const env = () => ({ ...gh.env, NODE_EXTRA_CA_CERTS: emu.caFile! });
const inputs = (extra: Record<string, string> = {}) => ({
  contract: CONTRACT, target: '18.0', dump: dumpPath, 'platform-url': emu.url, 'poll-interval': '1', ...extra,
});

test('api: auto falls back to rpc, uploads with rsync, downloads dump, filestore, report and log, wipes', async () => {
  emu.setScenario({ info: 'Your contract expires soon', pgIncompatible: true });
  const run = await runAction({ inputs: inputs({ email: 'ci@example.com', wipe: 'true' }), env: env(), timeoutMs: 120_000 });
  emu.setScenario({});
  try {
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /does not exist.*rpc/);
    assert.equal(emu.requests.size, 1, 'one request on the platform');
    const req = [...emu.requests.values()][0];
    assert.equal(run.outputs['request-id'], String(req.id));
    assert.equal(run.outputs['request-key'], req.token);
    assert.equal(run.outputs.state, 'done');
    assert.equal(req.upload?.name, 'origin.sql');
    assert.ok(req.wiped, 'wiped');
    assert.ok((await stat(run.outputs['upgraded-dump'])).isDirectory());
    // The node is a bare host (port 443): the action went there, and got a real directory dump back.
    assert.match(emu.hostUri, /^127\.\d+\.\d+\.\d+$/);
    assert.ok(emu.records.some((c) => c.listener === 'node' && c.endpoint === 'upgrade/request/process'));
    assert.equal(req.markedCopy, undefined, 'the sample SQL restores: a real upgraded dump');
    const { stdout: toc } = await execFileP('pg_restore', ['--list', run.outputs['upgraded-dump']]);
    assert.match(toc, /TABLE public odoo_upgrade_emulator/);
    assert.match(toc, /TABLE DATA public res_partner/);
    assert.ok((await stat(run.outputs.notes)).size > 0);
    const out = await readdir(path.dirname(run.outputs.notes));
    for (const f of ['filestore', 'upgrade-report.html', 'upgrade.log']) assert.ok(out.includes(f), `${f} in ${out}`);
    assert.match(run.stdout, /::warning::.*contract expires soon/);
    assert.match(run.summary, /PostgreSQL/);
    assert.match(run.stdout, / \| /, 'the platform log is streamed');
    const art = gh.artifacts.find((a) => String(a.id) === run.outputs['artifact-id']);
    assert.ok(art, 'artifact published');
    const names = [...(await art.entries()).keys()];
    assert.ok(names.some((n) => n.endsWith('upgrade-report.html')), names.join(','));
    assert.ok(names.some((n) => n.includes('filestore/')), names.join(','));
    const leaks = findLeaks(
      { stdout: run.stdout, stderr: run.stderr, summary: run.summary, outputs: run.outputsRaw.replace(/^request-key<<(.+)\n[\s\S]*?\n\1$/m, '') },
      [CONTRACT, req.token],
    );
    assert.deepEqual(leaks, []);
  } finally {
    await run.cleanup();
  }
});

test('rpc: a failed upgrade fails the step with the reason', async () => {
  plain.setScenario({ outcome: 'failed', reason: 'Module custom_x: field foo_id is missing' });
  const run = await runPipeline({ inputs: { ...inputs({ api: 'rpc', 'artifact-name': '' }), 'platform-url': plain.url }, clock: new FakeClock(0.1) });
  plain.setScenario({});
  try {
    assert.equal(run.code, 1);
    assert.equal(run.outputs.state, 'failed');
    assert.match(run.stdout, /::error::.*field foo_id is missing/);
    assert.match(run.summary, /Upgrade failed/);
  } finally {
    await run.cleanup();
  }
});

/**
 * Runs the bundle; once the platform has answered it a status (the run has seen the request
 * `pending`), the held requests are released so the run can go on to the end.
 */
async function runReleasingAfterStatus(opts: Parameters<typeof runAction>[0]): Promise<ActionRun> {
  const from = plain.records.length;
  let settled = false;
  const run = runAction(opts).finally(() => (settled = true));
  while (!settled && !plain.records.slice(from).some((r) => r.endpoint === 'upgrade/request/status' && r.httpStatus === 200)) {
    await new Promise((r) => setTimeout(r, 20));
  }
  plain.release();
  return run;
}

test('rpc: a request left pending is resumed without a second process, as Odoo\'s script does; a sealed handle carries the SSH key a collect needs', async () => {
  // Processed requests stay `pending` until released, so each resume finds one still queued.
  plain.setScenario({ holdPending: true });
  const from = plain.records.length;
  try {
    const keyFile = path.join(dir, 'resume-key');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'resume-test', '-f', keyFile]);
    const sshKey = await readFile(keyFile, 'utf8');
    const startInputs = (extra: Record<string, string>) => ({ ...inputs({ api: 'rpc', wait: 'false', 'artifact-name': '', ...extra }), 'platform-url': plain.url });
    const started = async (r: { code: number | null; stdout: string; outputs: Record<string, string>; cleanup(): Promise<void> }) => {
      assert.equal(r.code, 0, r.stdout);
      assert.equal(r.outputs.state, 'pending');
      await r.cleanup();
      return r.outputs;
    };
    const processes = () => plain.records.slice(from).filter((r) => r.endpoint === 'upgrade/request/process').length;

    // request-id + request-key (and the SSH key the request was created with: its data server lets in no other).
    // The run that starts it: in-process (what is checked is the resume, through the bundle).
    const first = await started(await runPipeline({ inputs: startInputs({ 'ssh-private-key': sshKey }), clock: new FakeClock(0.1) }));
    const resumed = await runReleasingAfterStatus({
      inputs: { 'request-id': first['request-id'], 'request-key': first['request-key'], 'ssh-private-key': sshKey, api: 'rpc', 'platform-url': plain.url, 'poll-interval': '1', 'artifact-name': '' },
      env: env(),
      timeoutMs: 120_000,
    });
    try {
      assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
      assert.match(resumed.stdout, new RegExp(`Request ${first['request-id']} \\(rpc\\) is \`pending\``));
      assert.equal(resumed.outputs.state, 'done');
      assert.equal(processes(), 1, 'process was called once, by the run that uploaded');
    } finally {
      await resumed.cleanup();
    }

    // A run with an ephemeral key and a passphrase: its handle carries that key, sealed, so the collect can download.
    // Through the bundle: the sealed handle goes to the fake of GitHub's artifact service.
    const second = await started(await runAction({ inputs: startInputs({ 'handle-passphrase': 'rpc handle passphrase, long', 'github-token': gh.token }), env: env(), timeoutMs: 120_000 }));
    const collected = await runReleasingAfterStatus({
      inputs: { collect: second['handle-name'], 'handle-passphrase': 'rpc handle passphrase, long', 'github-token': gh.token, 'platform-url': plain.url, 'poll-interval': '1', 'artifact-name': '' },
      env: { ...env(), GITHUB_RUN_ID: '7000123' },
      timeoutMs: 120_000,
    });
    try {
      assert.equal(collected.code, 0, collected.stdout + collected.stderr);
      assert.match(collected.stdout, /is `pending`/);
      assert.equal(collected.outputs.state, 'done');
      assert.ok((await stat(collected.outputs['upgraded-dump'])).isDirectory());
      assert.equal(processes(), 2, 'one process per request, none at resume');
      assert.equal(plain.records.slice(from).filter((r) => r.endpoint === 'upgrade/request/create').length, 2);
      assert.deepEqual(findLeaks({ stdout: collected.stdout, summary: collected.summary }, [second['request-key']]), []);
    } finally {
      await collected.cleanup();
    }
  } finally {
    plain.setScenario({});
    plain.release();
  }
});
