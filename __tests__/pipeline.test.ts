// The whole pipeline in-process, against a fake platform that plays the protocol's state
// machine and records every call, with a fake clock: phases, resume rules, wait: false,
// timeout, cancellation, the end of every run (summary, state, work dir).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runPipeline, fakePlatforms, FakeClock, FakeSignals, CLOCK_START, type PipelineRun } from './support/pipeline.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';

let dir: string;
let dumpPath: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pipeline-'));
  dumpPath = path.join(dir, 'prod.sql');
  await writeSampleSqlDump(dumpPath, 200);
});

after(() => rm(dir, { recursive: true, force: true }));

const NEW_REQUEST = { contract: 'M123456-pipeline-secret', email: 'ci@example.com', target: '18.0', 'poll-interval': '5', 'artifact-name': '' };
const resumeInputs = (extra: Record<string, string> = {}) => ({ 'request-id': '4242', 'request-key': 'resume-key-abcdef', api: 'rpc', 'artifact-name': '', ...extra });

async function workDirsLeft(run: PipelineRun): Promise<string[]> {
  return (await readdir(run.runnerTemp)).filter((e) => e.startsWith('odoo-upgrade-work-'));
}

test('a new request goes through every phase, one log group each, in order', async () => {
  const platforms = fakePlatforms({ after: ['pending', 'progress', 'progress', 'done'] });
  const run = await runPipeline({ inputs: { ...NEW_REQUEST, dump: dumpPath, api: 'rpc' }, platforms });
  try {
    assert.equal(run.code, 0, run.stdout);
    const [p] = platforms.made;
    assert.deepEqual(p.calls, ['create', 'upload@new', 'process@new', 'status', 'status', 'status', 'status', 'download', 'close']);
    const groups = run.lines.filter((l) => l.startsWith('::group::')).map((l) => l.slice(9).replace(/ \(\d+ bytes\)/, ''));
    assert.deepEqual(groups, ['Find the dump', 'Check the dump', 'Create the request', 'Upload the dump', 'Start the upgrade', 'Wait for the upgrade', 'Download the results']);
    assert.equal(run.outputs['request-id'], '4242');
    assert.equal(run.outputs['request-key'], 'fake-request-key-0123456789');
    assert.equal(run.outputs.state, 'done');
    assert.ok(run.outputs['upgraded-dump'].endsWith('upgraded.dump'));
    assert.match(run.summary, /Upgrade succeeded/);
    assert.match(run.summary, /### Timeline/);
    assert.equal(run.state.get('finished'), 'true');
    assert.equal(run.state.get('request-id'), '4242');
    assert.deepEqual(await workDirsLeft(run), [], 'the work dir is removed');
    // Polls wait on the fake clock: poll-interval first, longer while nothing changes.
    assert.deepEqual(run.clock.sleeps, [5000, 5000, 7500]);
    assert.equal(run.outputs['elapsed-seconds'], '18');
  } finally {
    await run.cleanup();
  }
});

for (const state of ['pending', 'progress']) {
  test(`resuming an rpc request in \`${state}\` only monitors it: no upload, never a second process`, async () => {
    const platforms = fakePlatforms({ resumeAt: state, after: [state, 'progress', 'done'] });
    const run = await runPipeline({ inputs: resumeInputs(), platforms });
    try {
      assert.equal(run.code, 0, run.stdout);
      const calls = platforms.made.flatMap((p) => p.calls);
      assert.ok(!calls.some((c) => c.startsWith('process')), `calls: ${calls}`);
      assert.ok(!calls.some((c) => c.startsWith('upload')), `calls: ${calls}`);
      assert.equal(calls.at(-2), 'download');
      assert.equal(run.outputs.state, 'done');
      assert.match(run.stdout, new RegExp(`Request 4242 \\(rpc\\) is \`${state}\``));
    } finally {
      await run.cleanup();
    }
  });
}

test('resuming a v1 request that is already queued (`pending`) does not process it again', async () => {
  const platforms = fakePlatforms({ resumeAt: 'pending', after: ['processing', 'done'] });
  const run = await runPipeline({ inputs: resumeInputs({ api: 'v1' }), platforms });
  try {
    assert.equal(run.code, 0, run.stdout);
    assert.ok(!platforms.made[0].calls.some((c) => c.startsWith('process')), `${platforms.made[0].calls}`);
  } finally {
    await run.cleanup();
  }
});

test('resuming a request still `new` uploads the dump again and processes it', async () => {
  const platforms = fakePlatforms({ resumeAt: 'new', after: ['pending', 'done'] });
  const run = await runPipeline({ inputs: resumeInputs({ dump: dumpPath }), platforms });
  try {
    assert.equal(run.code, 0, run.stdout);
    assert.deepEqual(platforms.made[0].calls, ['status', 'upload@new', 'process@new', 'status', 'status', 'download', 'close']);
  } finally {
    await run.cleanup();
  }
});

test('resuming a request still `new` without a dump fails naming the dump inputs, after no upload', async () => {
  const platforms = fakePlatforms({ resumeAt: 'new' });
  const run = await runPipeline({ inputs: resumeInputs(), platforms });
  try {
    assert.equal(run.code, 1);
    assert.match(run.stdout, /::error::Request 4242 is still waiting for its dump \(state `new`\): give one of `dump`, `dump-artifact`, `dump-url`, `dump-database`/);
    assert.deepEqual(platforms.made[0].calls, ['status', 'close']);
    assert.match(run.summary, /request-id: "4242"/);
  } finally {
    await run.cleanup();
  }
});

test('api auto: v1 missing, the request is created with rpc; nothing was created twice', async () => {
  const platforms = fakePlatforms({ v1: { missing: true }, rpc: { after: ['done'] } });
  const run = await runPipeline({ inputs: { ...NEW_REQUEST, dump: dumpPath }, platforms });
  try {
    assert.equal(run.code, 0, run.stdout);
    assert.deepEqual(platforms.made.map((p) => [p.api, p.calls[0]]), [['v1', 'create'], ['rpc', 'create']]);
    assert.match(run.stdout, /nothing was created; using the protocol of Odoo's upgrade script \(rpc\)/);
    assert.match(run.stdout, /Request 4242 created with the rpc protocol/);
  } finally {
    await run.cleanup();
  }
});

test('wait: false stops once processing started, with the resume inputs in the summary', async () => {
  const platforms = fakePlatforms({ after: ['pending'] });
  const run = await runPipeline({ inputs: { ...NEW_REQUEST, dump: dumpPath, api: 'rpc', wait: 'false' }, platforms });
  try {
    assert.equal(run.code, 0, run.stdout);
    assert.equal(run.outputs.state, 'pending');
    assert.ok(!platforms.made[0].calls.includes('download'));
    assert.match(run.stdout, /Not waiting \(wait: false\)/);
    assert.match(run.summary, /request-id: "4242"/);
    assert.deepEqual(run.clock.sleeps, []);
  } finally {
    await run.cleanup();
  }
});

test('timeout-minutes: gives up on the fake clock (no real wait), fails, and says how to resume', async () => {
  const platforms = fakePlatforms({ after: ['progress'] });
  const run = await runPipeline({ inputs: { ...NEW_REQUEST, dump: dumpPath, api: 'rpc', 'poll-interval': '1', 'timeout-minutes': '1' }, platforms });
  try {
    assert.equal(run.code, 1);
    assert.match(run.stdout, /::error::Stopped waiting after 1 min; the request is still `progress`/);
    assert.equal(run.clock.now() - CLOCK_START, 60_000, 'waited exactly the timeout on the fake clock');
    assert.match(run.summary, /still running/);
    assert.match(run.summary, /request-id:/);
    assert.equal(run.outputs['elapsed-seconds'], '60');
    assert.equal(run.outputs.state, 'progress');
  } finally {
    await run.cleanup();
  }
});

test('a platform failure state fails the step with the platform state, and no download', async () => {
  const platforms = fakePlatforms({ after: ['progress', 'failed'] });
  const run = await runPipeline({ inputs: { ...NEW_REQUEST, dump: dumpPath, api: 'rpc' }, platforms });
  try {
    assert.equal(run.code, 1);
    assert.match(run.stdout, /::error::The upgrade of request 4242 ended in state `failed`/);
    assert.ok(!platforms.made[0].calls.includes('download'));
    assert.match(run.summary, /Upgrade failed/);
    assert.doesNotMatch(run.summary, /request-key:/, 'a failed request is not to be resumed');
  } finally {
    await run.cleanup();
  }
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} during the wait stops the run: cancelled, resumable, nothing left behind, listeners removed`, async () => {
    const platforms = fakePlatforms({ after: ['pending', 'progress'] });
    const signals = new FakeSignals();
    const run = await runPipeline({
      inputs: { ...NEW_REQUEST, dump: dumpPath, api: 'rpc' },
      platforms,
      signals,
      onLine: (line) => {
        if (/state: progress/.test(line)) signals.emit(signal, signal);
      },
    });
    try {
      assert.equal(run.code, 1);
      assert.match(run.stdout, new RegExp(`::warning::Received ${signal}: stopping.`));
      assert.match(run.summary, /Cancelled/);
      assert.match(run.summary, /request-id: "4242"/);
      assert.doesNotMatch(run.summary, /fake-request-key/);
      assert.ok(!platforms.made[0].calls.includes('download'));
      assert.deepEqual(await workDirsLeft(run), []);
      assert.equal(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM'), 0);
      assert.equal(run.state.get('finished'), 'true');
    } finally {
      await run.cleanup();
    }
  });
}

test('a second signal does not stop the cleanup twice', async () => {
  const platforms = fakePlatforms({ after: ['progress'] });
  const signals = new FakeSignals();
  const run = await runPipeline({
    inputs: { ...NEW_REQUEST, dump: dumpPath, api: 'rpc' },
    platforms,
    signals,
    onLine: (line) => {
      if (/state: progress/.test(line)) {
        signals.emit('SIGINT', 'SIGINT');
        signals.emit('SIGTERM', 'SIGTERM');
      }
    },
  });
  try {
    assert.equal(run.lines.filter((l) => l.includes('Received SIG')).length, 1);
    assert.equal(run.lines.filter((l) => l.startsWith('::error::')).length, 1);
  } finally {
    await run.cleanup();
  }
});

test('the run touches the process only through its dependencies: env, signals, state', async () => {
  const tmpBefore = process.env.TMPDIR;
  const listenersBefore = process.listenerCount('SIGINT') + process.listenerCount('SIGTERM');
  let listenersDuring = -1;
  const signals = new FakeSignals();
  const run = await runPipeline({
    inputs: { ...NEW_REQUEST, dump: dumpPath, api: 'rpc' },
    platforms: fakePlatforms({ after: ['progress', 'done'] }),
    signals,
    onLine: (line) => {
      if (/state: progress/.test(line)) listenersDuring = process.listenerCount('SIGINT') + process.listenerCount('SIGTERM');
    },
  });
  try {
    assert.equal(run.code, 0, run.stdout);
    assert.equal(process.env.TMPDIR, tmpBefore, 'TMPDIR is set in the injected env, not in this process');
    assert.equal(listenersDuring, listenersBefore, 'no listener on the real process signals');
    assert.ok(run.state.get('work-dir')?.startsWith(path.join(run.runnerTemp, 'odoo-upgrade-work-')));
    assert.equal(run.state.get('output-dir'), path.join(run.runnerTemp, 'odoo-upgrade'));
  } finally {
    await run.cleanup();
  }
});

test('restore phase: filestore-dir alone is noted and ignored; restore-database with download: none is refused by name', async () => {
  const noted = await runPipeline({ inputs: { ...NEW_REQUEST, dump: dumpPath, api: 'rpc', 'filestore-dir': 'fs' }, platforms: fakePlatforms({ after: ['done'] }) });
  try {
    assert.equal(noted.code, 0, noted.stdout);
    assert.match(noted.stdout, /Input `filestore-dir` is ignored without `restore-database`/);
  } finally {
    await noted.cleanup();
  }
  const platforms = fakePlatforms({ after: ['done'] });
  platforms.made.length = 0;
  const refused = await runPipeline({
    inputs: { ...NEW_REQUEST, dump: dumpPath, api: 'rpc', 'restore-database': 'postgresql://odoo:restorepw99@127.0.0.1:1/upgraded' },
    platforms: async (api, cfg, secrets) => {
      const p = await platforms(api, cfg, secrets);
      p.download = async () => [];
      return p;
    },
  });
  try {
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /::error::.*nothing to restore/);
    assert.ok(!refused.stdout.replace(/^::add-mask::.*$/gm, '').includes('restorepw99'), 'the password is never printed');
  } finally {
    await refused.cleanup();
  }
});

test('the clock the report uses is the injected one', async () => {
  const clock = new FakeClock();
  const run = await runPipeline({ inputs: { ...NEW_REQUEST, dump: dumpPath, api: 'rpc' }, platforms: fakePlatforms({ after: ['done'] }), clock });
  try {
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.summary, /2026-01-05 10:00:00 UTC \| `done`/);
  } finally {
    await run.cleanup();
  }
});
