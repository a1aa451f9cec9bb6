// Cancellation as a runner does it, during transfers that go over SSH: SFTP uploads and downloads (v1, ssh2 in the
// process, to a real sshd) and rsync uploads (rpc, rsync and ssh child processes). The step stops by
// itself within seconds, non-zero, with a summary that says how to resume (never the key);
// its key files and work dir are gone and no rsync/ssh process outlives it (checked by PID).
// Each run gets its own RUNNER_TEMP, which every process of the run carries in its
// environment: that is how its processes are found in /proc.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile, readdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { startRpcEmulator, type RpcEmulator } from '../emulator/rpc.ts';
import { startSshd, type Sshd } from '../emulator/sshd.ts';
import { runAction, findLeaks, type ActionRun } from './support/action.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';
import { throttle } from '../emulator/throttle.ts';

let dir: string;
let dumpPath: string;
const servers: Sshd[] = [];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cancel-ssh-'));
  dumpPath = path.join(dir, 'big.sql');
  await writeSampleSqlDump(dumpPath, 100_000); // about 4.5 MiB
});

after(async () => {
  for (const s of servers) await s.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

interface Proc { pid: number; comm: string; state: string }

/**
 * Live processes whose environment holds RUNNER_TEMP=<runnerTemp> (zombies count as gone).
 * Synchronous reads on purpose: a scan reads every process's environ, and through the thread
 * pool that costs ~5 times the CPU (25 ms a scan on a busy machine), polled many times a second.
 */
async function processesOf(runnerTemp: string): Promise<Proc[]> {
  const needle = Buffer.from(`\0RUNNER_TEMP=${runnerTemp}\0`);
  const found: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const env = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${name}/environ`), Buffer.from([0])]);
      if (!env.includes(needle)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
      if (state === 'Z') continue;
      found.push({ pid: Number(name), comm: readFileSync(`/proc/${name}/comm`, 'utf8').trim(), state });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** Whether a PID is a live process (a zombie waiting for its parent counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

/** What the run left in its RUNNER_TEMP besides the output dir (work dir, key files, partial files). */
async function leftovers(runnerTemp: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(runnerTemp)) {
    if (e !== 'odoo-upgrade') found.push(e);
    else for (const f of await readdir(path.join(runnerTemp, e))) found.push(`${e}/${f}`);
  }
  return found;
}

function assertResumable(run: ActionRun, key: string | undefined) {
  assert.equal(run.signal, null, 'exited by itself, not killed');
  assert.equal(run.code, 1, run.stdout);
  assert.match(run.stdout, /Received SIG(INT|TERM): stopping/);
  assert.match(run.summary, /Cancelled/);
  const id = run.outputs['request-id'];
  assert.ok(id, 'request-id output');
  assert.match(run.summary, new RegExp(`request-id: "${id}"`));
  assert.match(run.summary, /request-key:/);
  assert.ok(key, 'the emulator knows the request');
  assert.deepEqual(findLeaks({ stdout: run.stdout, stderr: run.stderr, summary: run.summary }, [key]), [], 'the key is not in the summary or the log');
}

/** A relay that slows both ways (or only server → client) down to `rate` bytes/s: a transfer lasts long enough to be stopped. */
async function slowRelay(port: number, rate: number, only?: 'down') {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
      if (!only || s === upstream) throttle(s, rate);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * One SFTP transfer of a v1 run through a slowed relay, signalled once `underWay` says bytes
 * are moving; checks what every cancelled SFTP run must show, and returns the rest to check.
 */
async function cancelSftp(
  t: { diagnostic(m: string): void },
  signal: 'SIGINT' | 'SIGTERM',
  opts: { rate: number; only?: 'down'; extra: Record<string, string>; underWay: (sshd: Sshd | undefined, runnerTemp: string) => Promise<boolean> },
  check: (req: { state: string }, sshd: Sshd) => Promise<void>,
): Promise<void> {
  // No PostgreSQL behind the emulator: what is cancelled is the transfer, and a marked copy of
  // the upload is as good a download as a really upgraded dump (and costs no server start).
  const emu: Emulator = await startEmulator({ tls: true, postgres: false, timing: { pendingMs: 100, processingMs: 300, testingMs: 100 } });
  const runnerTemp = await mkdtemp(path.join(tmpdir(), 'cancel-sftp-rt-'));
  let sshd: Sshd | undefined;
  let relay: Awaited<ReturnType<typeof slowRelay>> | undefined;
  emu.sftpProvider = async (req, authorizedKeys) => {
    sshd = await startSshd({ mode: 'sftp', authorizedKeys, sharedFile: req.filename });
    servers.push(sshd);
    req.uploadedPath = sshd.sharedFilePath;
    relay = await slowRelay(sshd.port, opts.rate, opts.only);
    return { hostname: '127.0.0.1', port: relay.port, user: sshd.user, sharedFile: req.filename, root: sshd.root };
  };
  // Once the transfer is under way, signal the action (found by its RUNNER_TEMP).
  let signalledAt = 0;
  let stopWatching = false;
  const watcher = (async () => {
    while (!stopWatching && !signalledAt) {
      const action = (await opts.underWay(sshd, runnerTemp)) ? (await processesOf(runnerTemp)).find((p) => p.comm === 'node' || p.comm === 'MainThread') : undefined;
      if (action) {
        signalledAt = Date.now();
        process.kill(action.pid, signal);
      }
      await sleep(50);
    }
  })();
  const run = await runAction({
    inputs: {
      contract: 'M1-cancel-sftp-secret', email: 'ci@example.com', target: '18.0', dump: dumpPath, 'platform-url': emu.url, 'poll-interval': '1',
      'artifact-name': '', 'upload-method': 'sftp', ...opts.extra,
    },
    env: { NODE_EXTRA_CA_CERTS: emu.caFile!, RUNNER_TEMP: runnerTemp },
    timeoutMs: 60_000,
  });
  const exitedAt = Date.now();
  stopWatching = true;
  await watcher;
  try {
    assert.ok(signalledAt, `the watcher saw the transfer under way and signalled; ${run.stdout}`);
    assert.ok(exitedAt - signalledAt < 3_000, `stopped ${exitedAt - signalledAt} ms after the signal`);
    t.diagnostic(`exited ${exitedAt - signalledAt} ms after ${signal}`);
    const req = emu.requests.get(run.outputs['request-id'])!;
    assertResumable(run, req?.key);
    await check(req, sshd!);
    assert.deepEqual(await leftovers(runnerTemp), [], 'no work dir, key file or partial file left');
    assert.deepEqual(await processesOf(runnerTemp), [], 'no process of the run is left');
    // ssh2 runs in the action's process: the server's session process must end with it.
    let sessions: number[] = [];
    for (let i = 0; i < 40; i++) {
      sessions = await sshd!.sessionPids();
      if (!sessions.length) break;
      await sleep(100);
    }
    assert.deepEqual(sessions, [], 'the SFTP session on the server ended');
  } finally {
    await run.cleanup();
    await relay?.close();
    await emu.close();
    await rm(runnerTemp, { recursive: true, force: true });
  }
}

const sizeOf = async (file: string | undefined) => (file ? ((await stat(file).catch(() => undefined))?.size ?? 0) : 0);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} during an SFTP upload (v1): stops within seconds, resumable, no key file, the server sees the connection go`, (t) =>
    cancelSftp(
      t,
      signal,
      // About 9 s for this dump, uncancelled; signalled once 256 KiB are on the server.
      { rate: 512 * 1024, extra: {}, underWay: async (sshd) => (await sizeOf(sshd?.sharedFilePath)) > 256 * 1024 },
      async (req, sshd) => {
        const arrived = await sizeOf(sshd.sharedFilePath);
        assert.ok(arrived > 0 && arrived < (await stat(dumpPath)).size, `the upload was under way and cut short (${arrived} bytes arrived)`);
        assert.equal(req.state, 'draft', 'never processed');
      },
    ));

  test(`${signal} during an SFTP download (download-via: sftp): stops within seconds, resumable, no partial file, the session ends`, (t) =>
    cancelSftp(
      t,
      signal,
      // The upload at full speed, the download slow; signalled once the partial file holds 128 KiB.
      {
        rate: 256 * 1024, only: 'down', extra: { 'download-via': 'sftp' },
        underWay: async (_sshd, runnerTemp) => {
          const outDir = path.join(runnerTemp, 'odoo-upgrade');
          const part = (await readdir(outDir).catch(() => [] as string[])).find((n) => n.endsWith('.part'));
          return part !== undefined && (await sizeOf(path.join(outDir, part))) > 128 * 1024;
        },
      },
      async (req) => assert.equal(req.state, 'done', 'the upgrade itself had ended'),
    ));
}

let rpc: RpcEmulator | undefined;
after(async () => {
  await rpc?.close();
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} during an rsync upload (rpc): stops within seconds, resumable, key files gone, no rsync/ssh left (by PID)`, async (t) => {
    rpc ??= await startRpcEmulator({ tls: true, timing: { pendingMs: 100, progressMs: 300 } });
    const emu = rpc;
    emu.setScenario({ throttleBytesPerSec: 512 * 1024 });
    const runnerTemp = await mkdtemp(path.join(tmpdir(), 'cancel-rsync-rt-'));
    const seen = new Map<number, string>();
    let keyFile = '';
    let keyExisted = false;
    let stopWatching = false;
    let signalledAt = 0;
    // Watch the run's processes; once rsync and its ssh have been moving data for a moment, signal the action.
    const watcher = (async () => {
      let transferSince = 0;
      while (!stopWatching) {
        const procs = await processesOf(runnerTemp);
        for (const p of procs) {
          seen.set(p.pid, p.comm);
          if (p.comm === 'rsync' && !keyFile) {
            const argv = (await readFile(`/proc/${p.pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
            keyFile = / -i (\S+) /.exec(argv.find((a) => a.startsWith('ssh ')) ?? '')?.[1] ?? '';
            if (keyFile) keyExisted = (await stat(keyFile).catch(() => undefined))?.isFile() ?? false;
          }
        }
        const hasRsync = procs.some((p) => p.comm === 'rsync');
        const hasSsh = procs.some((p) => p.comm === 'ssh');
        if (!signalledAt && hasRsync && hasSsh) {
          transferSince ||= Date.now();
          if (Date.now() - transferSince > 700) {
            const action = procs.find((p) => p.comm === 'node' || p.comm === 'MainThread');
            if (action) {
              signalledAt = Date.now();
              process.kill(action.pid, signal);
            }
          }
        }
        await sleep(100); // each look reads every process's environ: ten a second is enough
      }
    })();
    const run = await runAction({
      inputs: { contract: 'M1-cancel-rsync-secret', target: '18.0', dump: dumpPath, 'platform-url': emu.url, 'poll-interval': '1', 'artifact-name': '', api: 'rpc' },
      env: { NODE_EXTRA_CA_CERTS: emu.caFile!, RUNNER_TEMP: runnerTemp },
      timeoutMs: 40_000,
    });
    const exitedAt = Date.now();
    stopWatching = true;
    await watcher;
    emu.setScenario({});
    try {
      assert.ok(signalledAt, `the watcher saw rsync and ssh running and signalled (${[...seen.values()].join(', ')}); ${run.stdout}`);
      assert.ok(exitedAt - signalledAt < 5_000, `stopped ${exitedAt - signalledAt} ms after the signal`);
      t.diagnostic(`exited ${exitedAt - signalledAt} ms after ${signal}`);
      const r = [...emu.requests.values()].find((x) => String(x.id) === run.outputs['request-id']);
      assertResumable(run, r?.token);
      assert.equal(r!.uploadedAt, undefined, 'the upload never completed');
      const children = [...seen].filter(([, comm]) => comm === 'rsync' || comm === 'ssh').map(([pid]) => pid);
      assert.ok(children.length >= 2, 'rsync and ssh were seen');
      for (let i = 0; i < 20 && children.some(alive); i++) await sleep(100);
      assert.deepEqual(children.filter(alive), [], 'no rsync/ssh process survives the step');
      assert.deepEqual(await processesOf(runnerTemp), []);
      assert.ok(keyFile.startsWith(runnerTemp) && keyExisted, `ssh used a key file in the run's work dir (${keyFile})`);
      await assert.rejects(stat(keyFile), /ENOENT/, 'the private key file is gone');
      assert.deepEqual(await leftovers(runnerTemp), [], 'no work dir, key file or known_hosts left');
    } finally {
      await run.cleanup();
      await rm(runnerTemp, { recursive: true, force: true });
    }
  });
}
