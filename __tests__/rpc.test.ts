// RpcPlatform against the rpc emulator over HTTPS, with real rsync/ssh to a real sshd per
// request: file and directory dumps, failure, api: auto's fallback signal, a cut transfer,
// a wrong host key, the log with Range, wipe, and what a resumed run may and may not do.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ed25519KeyPair } from '../emulator/sshd.ts';
import { startRpcEmulator, MARKER_FILE, type RpcEmulator, type RpcRequest } from '../emulator/rpc.ts';
import { RpcPlatform, nodeBaseUrl, rpcErrorText, mapRpcStatus } from '../src/platform/rpc.ts';
import { V1Platform } from '../src/platform/v1.ts';
import { EndpointMissingError, PlatformError, type RequestRef, type Status, type TransferContext } from '../src/platform/types.ts';
import { RsyncError } from '../src/transfer/rsync.ts';
import { SecretRegistry } from '../src/secrets.ts';
import { closeDispatcher } from '../src/net/http.ts';
import { runPipeline, FakeClock } from './support/pipeline.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';
import type { DumpInfo } from '../src/formats/inspect.ts';

const CONTRACT = 'M2026-rpc-contract-secret';
let emu: RpcEmulator;
let dir: string;
let lines: string[] = [];
const ctx: TransferContext = { log: (l) => lines.push(l), progress: () => ({ update() {}, finish() {} }) };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  // No PostgreSQL: these dumps are random bytes, returned as marked copies either way (a server would only be started).
  emu = await startRpcEmulator({ tls: true, postgres: false, timing: { pendingMs: 100, progressMs: 500 } });
  // In-process stand-in for NODE_EXTRA_CA_CERTS: trust the emulator's CA for this process.
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), await readFile(emu.caFile!, 'utf8')]);
  dir = await mkdtemp(path.join(tmpdir(), 'rpc-test-'));
  // Key directories go to os.tmpdir(): this file's own, so other test files' keys never show up in sshDirs().
  process.env.TMPDIR = dir;
});

after(async () => {
  await emu?.close();
  await closeDispatcher();
  await rm(dir, { recursive: true, force: true });
});

function platform(extra: Partial<ConstructorParameters<typeof RpcPlatform>[0]> = {}) {
  const secrets = new SecretRegistry(() => {});
  const p = new RpcPlatform({
    serverUrl: emu.url, secrets, download: true, sshPrivateKey: '', envVars: ['ODOO_UPGRADE_TEST=1'], contract: CONTRACT, retryBaseMs: 50, ...extra,
  });
  return { p, secrets };
}

const params = (over: Record<string, unknown> = {}) => ({
  contract: CONTRACT, email: '', target: '18.0', aim: 'test' as const, filename: 'db.sql', timezone: '', envVars: ['ODOO_UPGRADE_TEST=1'], ...over,
});

async function fileDump(name: string, bytes: number): Promise<DumpInfo> {
  const p = path.join(dir, name);
  await writeFile(p, Buffer.concat([Buffer.from('-- PostgreSQL database dump\n'), randomBytes(bytes)]));
  return { path: p, format: 'sql', size: bytes + 28, uploadExt: '.sql', hasFilestore: false, detail: 'test' };
}

async function dirDump(): Promise<{ info: DumpInfo; files: Map<string, Buffer> }> {
  const p = path.join(dir, 'dirdump');
  await mkdir(p);
  const files = new Map<string, Buffer>([
    ['toc.dat', Buffer.concat([Buffer.from('PGDMP'), randomBytes(2000)])],
    ['3001.dat.gz', gzipSync(Buffer.from('1\tAzure Interior\n2\tDeco Addict\n\\.\n'))],
    ['3002.dat.gz', gzipSync(randomBytes(50_000))],
  ]);
  let size = 0;
  for (const [n, b] of files) {
    await writeFile(path.join(p, n), b, { mode: 0o600 }); // as pg_dump writes them
    size += b.length;
  }
  return { info: { path: p, format: 'directory', size, uploadExt: '.dump/', hasFilestore: false, detail: 'test' }, files };
}

async function waitEnd(p: RpcPlatform, ref: RequestRef): Promise<{ final: Status; seen: string[] }> {
  const seen: string[] = [];
  for (let i = 0; i < 200; i++) {
    const st = await p.status(ref, ctx);
    if (seen.at(-1) !== st.state) seen.push(st.state);
    if (st.phase !== 'running') return { final: st, seen };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no end; seen ${seen.join(',')}`);
}

function reqOf(ref: RequestRef): RpcRequest {
  const r = emu.requests.get(ref.key);
  assert.ok(r, 'the emulator knows the request');
  return r;
}

function assertNoTokenInRecords() {
  const text = JSON.stringify(emu.records);
  for (const token of emu.requests.keys()) assert.ok(!text.includes(token), 'a token reached the records');
  assert.ok(!text.includes(CONTRACT));
}

async function sshDirs(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((n) => n.startsWith('odoo-upgrade-ssh-'));
}

test('file dump: create, upload with rsync, process, wait, download, close', async () => {
  emu.setScenario({ info: 'Your database is large: the upgrade may take a while.', pgIncompatible: true });
  lines = [];
  const dirsBefore = await sshDirs();
  const { p, secrets } = platform();
  const dump = await fileDump('db.sql', 200_000);
  try {
    const ref = await p.create(params(), ctx);
    assert.ok(secrets.has(ref.key), 'the token is a secret');
    assert.deepEqual(ref.warnings, ['Your database is large: the upgrade may take a while.']);
    assert.equal(ref.hostUri, new URL(emu.nodeUrl).host);
    const r = reqOf(ref);
    assert.equal(r.actuator, 'cli');
    assert.deepEqual(r.envVars, ['ODOO_UPGRADE_TEST=1']);
    assert.match(r.sshKey, /^ssh-ed25519 AAAA/);
    assert.equal((await p.status(ref, ctx)).state, 'new');

    const up = await p.upload(ref, dump, ctx);
    assert.equal(up.method, 'rsync');
    assert.equal(up.resumes, 0);
    assert.deepEqual(r.upload, { name: 'origin.sql', directory: false, bytes: dump.size });
    assert.equal(sha(await readFile(path.join(r.dataDir!, 'origin.sql'))), sha(await readFile(dump.path)));
    assert.equal((await p.status(ref, ctx)).state, 'new', 'uploaded but not processed: still new');

    const { warnings } = await p.process(ref, ctx);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /newer PostgreSQL/);
    const { final, seen } = await waitEnd(p, ref);
    assert.equal(final.state, 'done');
    assert.equal(final.phase, 'success');
    assert.ok(seen.includes('progress'), `saw ${seen.join(',')}`);

    const out = path.join(dir, 'out-file');
    await mkdir(path.join(out, 'filestore', 'zz'), { recursive: true });
    await writeFile(path.join(out, 'keep.txt'), 'mine');
    await writeFile(path.join(out, 'filestore', 'zz', 'stale'), 'from an older run');
    const files = await p.download(ref, final, out, ctx);
    assert.equal(await readFile(path.join(out, 'keep.txt'), 'utf8'), 'mine', 'only the platform folders are mirrored');
    assert.deepEqual(files.map((f) => f.role).sort(), ['dump', 'filestore', 'log', 'report']);
    const dumpDir = files.find((f) => f.role === 'dump')!.path;
    assert.equal(dumpDir, path.join(out, 'upgraded.dump'));
    assert.equal((await readFile(path.join(dumpDir, 'toc.dat'))).subarray(0, 5).toString(), 'PGDMP');
    assert.equal(sha(gunzipSync(await readFile(path.join(dumpDir, '3001.dat.gz')))), sha(await readFile(dump.path)));
    const fsFiles = (await readdir(path.join(out, 'filestore'), { recursive: true })).sort();
    assert.deepEqual(fsFiles.filter((f) => f.includes('/')), [
      '3f/3f786850e387550fdab836ed7e6dc881de23001b', '89/89e6c98d92887913cadf06b2adb97f26cde4849b', 'e9/e9d71f5ee7c92d6dc9e92ffdad17b8bd49418f98',
    ], 'the three attachments, no stale file, no symlink');
    const report = files.find((f) => f.role === 'report')!;
    assert.match(await readFile(report.path, 'utf8'), /Upgrade report/);
    assert.equal(report.sha256, sha(await readFile(report.path)));
    const log = await readFile(files.find((f) => f.role === 'log')!.path, 'utf8');
    assert.match(log, /upgrade done/);
    assert.match(log, /WARNING upgrade: the upgraded dump is a marked copy of the upload, not a real dump: the upload is not a dump PostgreSQL can read/);
    assert.deepEqual(r.transfers.map((t) => [t.type, t.stoppedAt !== undefined]), [['upload', true], ['download', true]]);
  } finally {
    await p.close();
    await p.close(); // twice is fine
  }
  assert.deepEqual(await sshDirs(), dirsBefore, 'close() removed the key directory');
  assert.ok(lines.some((l) => l.includes('Your database is large')));
  assertNoTokenInRecords();
});

test('directory dump: sent as /data/origin.dump/, returned as a directory; wipe', async () => {
  emu.setScenario({});
  const { p } = platform();
  const { info, files } = await dirDump();
  try {
    const ref = await p.create(params({ filename: 'dirdump' }), ctx);
    await p.upload(ref, info, ctx);
    const r = reqOf(ref);
    assert.deepEqual(r.upload, { name: 'origin.dump', directory: true, bytes: info.size });
    for (const [n, b] of files) {
      const remote = path.join(r.dataDir!, 'origin.dump', n);
      assert.equal(sha(await readFile(remote)), sha(b), n);
      assert.equal((await stat(remote)).mode & 0o044, 0o044, `${n} is readable by the platform's services`);
    }
    assert.deepEqual((await p.process(ref, ctx)).warnings, []);
    const { final } = await waitEnd(p, ref);
    const out = path.join(dir, 'out-dir');
    const got = await p.download(ref, final, out, ctx);
    const dumpDir = got.find((f) => f.role === 'dump')!;
    // Random bytes do not restore: the emulator returns a marked copy, its marker file added.
    assert.equal(dumpDir.bytes, info.size + (await stat(path.join(dumpDir.path, MARKER_FILE))).size);
    for (const [n, b] of files) assert.equal(sha(await readFile(path.join(dumpDir.path, n))), sha(b), n);

    const said = await p.wipe(ref, ctx);
    // Contract-wide: the earlier request of this contract goes too.
    assert.match(said, new RegExp(`The platform wiped the data of requests? (\\d+, )*${ref.id}\\.`));
    assert.equal(r.wiped, true);
    assert.equal((await p.status(ref, ctx)).raw.archived, true);
    await assert.rejects(p.download(ref, await p.status(ref, ctx), out, ctx), /archived/);
  } finally {
    await p.close();
  }
});

test('a failed upgrade carries the reason; refusals carry the platform text', async () => {
  emu.setScenario({ outcome: 'failed', reason: 'Module sale_custom cannot be upgraded: its view is broken.' });
  const { p } = platform();
  try {
    await assert.rejects(p.create(params({ contract: 'invalid-contract' }), ctx), (err: Error) => {
      assert.ok(err instanceof PlatformError);
      assert.match(err.message, /The subscription code you entered is not valid/);
      return true;
    });
    await assert.rejects(p.create(params({ target: '9.0' }), ctx), (err: Error) => {
      assert.ok(err instanceof PlatformError);
      assert.match(err.message, /Upgrading to version 9\.0 is not supported/);
      return true;
    });
    const ref = await p.create(params(), ctx);
    await p.upload(ref, await fileDump('small.sql', 1000), ctx);
    await p.process(ref, ctx);
    const { final } = await waitEnd(p, ref);
    assert.equal(final.state, 'failed');
    assert.equal(final.phase, 'failure');
    assert.equal(final.message, 'Module sale_custom cannot be upgraded: its view is broken.');
  } finally {
    await p.close();
  }
});

test('api auto: v1 finds no endpoint on an rpc server; a resumed run finds the node from status', async () => {
  emu.setScenario({});
  const v1Secrets = new SecretRegistry(() => {});
  const v1 = new V1Platform({
    baseUrl: emu.url, secrets: v1Secrets, download: 'archive', uploadMethod: 'https', sftpThreshold: 1e12, downloadVia: 'https', sshPrivateKey: '', retryBaseMs: 50,
  });
  await assert.rejects(v1.create(params({ email: 'ci@example.com' }), ctx), EndpointMissingError);
  await assert.rejects(v1.status({ id: '1', key: 'abcd' }, ctx), EndpointMissingError);
  await v1.close();

  const key = ed25519KeyPair().private;
  const first = platform({ sshPrivateKey: key }).p;
  const ref = await first.create(params(), ctx);
  await first.close();

  // A later run knows only the id and the token: status goes to the entry, the rest to the node.
  const { p } = platform({ sshPrivateKey: key });
  const resumed: RequestRef = { id: ref.id, key: ref.key };
  const before = emu.records.length;
  try {
    const st = await p.status(resumed, ctx);
    assert.equal(st.state, 'new');
    assert.equal(resumed.hostUri, ref.hostUri);
    await p.upload(resumed, await fileDump('resume.sql', 5000), ctx);
    const calls = emu.records.slice(before).filter((c) => c.listener !== 'data').map((c) => `${c.listener} ${c.endpoint}`);
    assert.deepEqual(calls, [
      'entry upgrade/request/status', 'node upgrade/request/transfer/start', 'node upgrade/request/transfer/stop',
    ]);
  } finally {
    await p.close();
  }

  // Without the key that created it, a resumed run cannot transfer: said before any transfer.
  const keyless = platform().p;
  try {
    await keyless.status(resumed, ctx);
    await assert.rejects(keyless.upload(resumed, await fileDump('x.sql', 10), ctx), /same `ssh-private-key`/);
  } finally {
    await keyless.close();
  }
});

test('a cut transfer is resumed by running rsync again', async () => {
  emu.setScenario({ cutTransferOnce: true });
  lines = [];
  const { p } = platform({ retryBaseMs: 400 }); // lets the server side settle its partial file
  const dump = await fileDump('big.sql', 3 * 1024 * 1024);
  try {
    const ref = await p.create(params(), ctx);
    const up = await p.upload(ref, dump, ctx);
    assert.equal(up.resumes, 1);
    const conns = emu.records.filter((c) => c.listener === 'data' && c.requestId === Number(ref.id));
    assert.equal(conns.length, 2);
    assert.ok(conns[0]!.cut, 'the relay cut the first connection');
    // The second run sent only what was missing: fewer bytes than the whole dump.
    assert.ok(conns[1]!.bytes! < dump.size, `resumed connection moved ${conns[1]!.bytes} bytes of ${dump.size}`);
    assert.ok(lines.some((l) => /interrupted \(rsync exit code \d+\); running rsync again/.test(l)), lines.join('\n'));
    assert.equal(sha(await readFile(path.join(reqOf(ref).dataDir!, 'origin.sql'))), sha(await readFile(dump.path)));
  } finally {
    await p.close();
  }
});

test('a data server whose host key differs from known_hosts is refused, without retries', async () => {
  emu.setScenario({ wrongKnownHosts: true });
  lines = [];
  const { p } = platform();
  try {
    const ref = await p.create(params(), ctx);
    await assert.rejects(p.upload(ref, await fileDump('k.sql', 1000), ctx), (err: Error) => {
      assert.ok(err instanceof RsyncError);
      assert.equal(err.kind, 'host-key');
      assert.match(err.message, /does not match the known_hosts lines/);
      return true;
    });
    assert.ok(!lines.some((l) => /running rsync again/.test(l)));
    const r = reqOf(ref);
    assert.deepEqual(await readdir(r.dataDir!), [], 'nothing reached the server');
    assert.equal(r.transfers.at(-1)?.stoppedAt, undefined, 'no transfer/stop after a failed transfer');
  } finally {
    await p.close();
  }
});

test('logs: Range from an offset, empty past the end', async () => {
  emu.setScenario({});
  const { p } = platform();
  try {
    const ref = await p.create(params(), ctx);
    await p.upload(ref, await fileDump('l.sql', 1000), ctx);
    await p.process(ref, ctx);
    await waitEnd(p, ref);
    const full = await p.logs(ref, 0, ctx);
    assert.match(full, /upgrading to 18\.0/);
    const bytes = Buffer.from(full);
    assert.equal(await p.logs(ref, 100, ctx), bytes.subarray(100).toString());
    assert.equal(await p.logs(ref, bytes.length, ctx), '');
    const ranges = emu.records.filter((c) => c.endpoint === 'upgrade/request/logs' && c.requestId === Number(ref.id)).map((c) => [c.range, c.httpStatus]);
    assert.deepEqual(ranges, [['bytes=0-', 206], ['bytes=100-', 206], [`bytes=${bytes.length}-`, 200]]);
  } finally {
    await p.close();
  }
  assertNoTokenInRecords();
});

test('logs: a key or token in the platform\'s log is redacted, and offsets added up from what was shown read on exactly', async () => {
  emu.setScenario({});
  const { p } = platform();
  try {
    const ref = await p.create(params(), ctx);
    await p.upload(ref, await fileDump('r.sql', 1000), ctx);
    await p.process(ref, ctx);
    await waitEnd(p, ref);
    const r = reqOf(ref);
    const apiKey = 'Zx8kQ2pL9mN4vB7cR1tY6wE3';
    const bare = 'a9F3kQ7mZ2xL8vN4bR6cT1yW5eH0';
    const later = 'Qm4Xr9Tz2Kp7Vb3Nw8Lc5Hd1';
    r.logText += [
      `INFO odoo.addons.payment: provider configured with api_key = '${apiKey}'`,
      `INFO upgrade: archive at https://upgrade.odoo.com/database/eu1/${ref.id}/${ref.key}/upgraded/archive`,
      `WARNING odoo.http: unexpected session ${bare} in the request`,
      'INFO upgrade: plain line after the secrets',
      '',
    ].join('\n');
    // As the wait step does: the next offset is the sum of the byte lengths of what was returned.
    const first = await p.logs(ref, 0, ctx);
    for (const secret of [apiKey, bare, ref.key]) assert.ok(!first.includes(secret), `printed from the log: ${secret.slice(0, 4)}…\n${first}`);
    assert.match(first, /upgrading to 18\.0/);
    assert.match(first, /api_key = '\*\*\*'/);
    assert.match(first, /\/database\/eu1\/\d+\/\*\*\*\/upgraded\/archive/);
    assert.match(first, /unexpected session \*\*\* in the request/);
    assert.match(first, /plain line after the secrets\n$/);
    r.logText += `INFO upgrade: the next lines\nINFO auth: token=${later}\n`;
    const second = await p.logs(ref, Buffer.byteLength(first), ctx);
    assert.equal(second, 'INFO upgrade: the next lines\nINFO auth: token=***\n', 'the lines after the first call, once, redacted');
    assert.equal(await p.logs(ref, Buffer.byteLength(first) + Buffer.byteLength(second), ctx), '');
  } finally {
    await p.close();
  }
});

test('a whole run prints the platform\'s log between polls with its keys and tokens redacted, every line once', async () => {
  emu.setScenario({});
  const dumpPath = path.join(dir, 'run.sql');
  await writeSampleSqlDump(dumpPath, 200);
  const apiKey = 'Zx8kQ2pL9mN4vB7cR1tY6wE3';
  const bare = 'a9F3kQ7mZ2xL8vN4bR6cT1yW5eH0';
  const patched = new Set<RpcRequest>();
  const earlier = new Set(emu.requests.values()); // other tests' requests
  const run = await runPipeline({
    inputs: { contract: CONTRACT, target: '18.0', dump: dumpPath, 'platform-url': emu.url, api: 'rpc', 'poll-interval': '1', 'artifact-name': '', download: 'none' },
    clock: new FakeClock(0.05),
    // Once the request is processed, its log gets lines the run does not know to be secret.
    onLine: () => {
      for (const r of emu.requests.values()) {
        if (r.processedAt === undefined || patched.has(r) || earlier.has(r)) continue;
        patched.add(r);
        r.logText += `INFO odoo.addons.payment: provider configured with api_key = '${apiKey}'\nWARNING odoo.http: unexpected session ${bare} in the request\nINFO upgrade: the last line\n`;
      }
    },
  });
  try {
    assert.equal(run.code, 0, run.stdout);
    assert.equal(patched.size, 1);
    const logLines = run.lines.flatMap((l) => l.split('\n')).filter((l) => l.startsWith('  | '));
    assert.ok(logLines.some((l) => /api_key = '\*\*\*'/.test(l)), `the api_key line is shown, redacted:\n${logLines.join('\n')}`);
    assert.ok(logLines.some((l) => /unexpected session \*\*\* in the request/.test(l)), logLines.join('\n'));
    for (const secret of [apiKey, bare]) assert.ok(!run.stdout.includes(secret), `the log printed ${secret.slice(0, 4)}…`);
    assert.equal(logLines.filter((l) => l.includes('the last line')).length, 1, 'each log line shown once');
  } finally {
    await run.cleanup();
  }
});

test('wipe with another contract is reported as not wiped', async () => {
  emu.setScenario({});
  const { p } = platform();
  const ref = await p.create(params(), ctx);
  await p.close();
  const other = platform({ contract: 'M-other-contract' }).p;
  try {
    assert.equal(await other.wipe(ref, ctx), `The platform could not wipe request ${ref.id}.`);
    assert.equal(reqOf(ref).wiped, false);
  } finally {
    await other.close();
  }
});

test('pure parts: node URL rules, error texts, status mapping', () => {
  assert.equal(nodeBaseUrl('upgrade-p3.odoo.com', 'https://upgrade.odoo.com').href, 'https://upgrade-p3.odoo.com/');
  assert.equal(nodeBaseUrl('127.0.0.1:4443', 'http://127.0.0.1:8069').href, 'http://127.0.0.1:4443/');
  assert.equal(nodeBaseUrl('127.0.0.1:4443', 'https://127.0.0.1:8069').href, 'https://127.0.0.1:4443/');
  for (const bad of ['evil.example.com', 'upgrade.odoo.com.evil.net', 'user@upgrade.odoo.com', 'upgrade.odoo.com/x', 'http://upgrade.odoo.com', '']) {
    assert.throws(() => nodeBaseUrl(bad, 'https://upgrade.odoo.com'), PlatformError, bad);
  }
  assert.throws(() => nodeBaseUrl('127.0.0.1:1', 'https://upgrade.odoo.com'), PlatformError);
  assert.equal(rpcErrorText({ result: { error: 'no such contract' } }), 'no such contract');
  assert.equal(rpcErrorText({ error: { code: 200, message: 'Odoo Server Error', data: { message: 'boom' } } }), 'boom');
  assert.equal(rpcErrorText({ result: { status: 'done' } }), undefined);
  assert.deepEqual(
    ['new', 'pending', 'progress', 'done', 'failed', 'cancelled', 'Something Else'].map((s) => mapRpcStatus({ status: s }).phase),
    ['running', 'running', 'running', 'success', 'failure', 'failure', 'running'],
  );
  assert.equal(mapRpcStatus({ status: ' FAILED ', reason: 'why' }).message, 'why');
});
