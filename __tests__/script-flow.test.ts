// Odoo's own upgrade script's flow, end to end against the rpc emulator, written from the
// script's public behaviour (issue 15): the same JSON-RPC calls and fields, the same
// `https://<host_uri>` switch after create and on resume, rsync over ssh to odoo@<host_uri>
// with the script's options and paths in both directions, pg_dump/pg_restore in directory
// format, the log read with `Range: bytes=N-`, resumes at `new` (upload, then process) and at
// `pending` (monitor only), and the contract-wide wipe sent to the main server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { access, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { startRpcEmulator, MARKER_FILE, type RpcEmulator } from '../emulator/rpc.ts';
import { MARK_TABLE } from '../emulator/upgrade-dump.ts';
import { defaultCertDir } from '../emulator/certs.ts';
import { EmulatorPostgres, type PgServer } from '../emulator/postgres.ts';
import { ODOO_SCHEMA } from './support/postgres.ts';

const run = promisify(execFile);
const skip = process.getuid?.() === 0 ? false : 'needs root (the data server is a chrooted sshd; the node listens on port 443)';
const CONTRACT = 'M2026-script-flow-contract';
const TARGET = '18.0';

let emu: RpcEmulator;
let shared: EmulatorPostgres;
let pg: PgServer; // one server holds the customer's database and the emulator's scratch ones
const SOURCE_DB = 'odoo_test';
let dir: string;
let agent: Agent;
let key: string; // the private key file; `${key}.pub` goes to create
let knownHosts: string; // the script's UserKnownHostsFile, rewritten at each transfer/start

before(async () => {
  if (skip) return;
  // A request that must be found queued is held in pending (scenario holdPending) until released.
  shared = new EmulatorPostgres();
  const started = shared.get();
  emu = await startRpcEmulator({ tls: true, timing: { pendingMs: 200, progressMs: 1000 }, postgres: shared });
  agent = new Agent({ connect: { ca: await readFile(emu.caFile!, 'utf8') } });
  const got = await started;
  assert.ok('server' in got, 'missing' in got ? got.missing : '');
  pg = got.server;
  await run(pg.tool('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-c', `CREATE DATABASE ${SOURCE_DB}`], { env: pg.env });
  await run(pg.tool('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', SOURCE_DB, '-c', ODOO_SCHEMA], { env: pg.env });
  dir = await mkdtemp(path.join(tmpdir(), 'script-flow-'));
  key = path.join(dir, 'upgrade_ssh_key');
  knownHosts = path.join(dir, 'upgrade_known_hosts');
  await run('ssh-keygen', ['-q', '-t', 'rsa', '-N', '', '-f', key]); // the script's own kind of key
});

after(async () => {
  await emu?.close();
  await agent?.close();
  await shared?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The script's JSON-RPC call: a POST of the envelope; `result.error` or `error.data.message` is a failure. */
async function rpc(server: string, endpoint: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await request(`${server}/${endpoint}`, {
    method: 'POST',
    headers: { 'Content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'not_used', params, id: 'not_used' }),
    dispatcher: agent,
  });
  const text = await res.body.text();
  assert.equal(res.statusCode, 200, `${endpoint}: ${text}`);
  // The script reads an answer only when it has a Content-Length and a JSON type.
  assert.ok(Number(res.headers['content-length']) > 0, `${endpoint}: Content-Length`);
  assert.match(String(res.headers['content-type']), /application\/json/);
  const body = JSON.parse(text) as { result?: Record<string, unknown>; error?: { data?: { message?: string } } };
  if (!body.result) throw new Error(`Error: ${body.error?.data?.message ?? 'Upgrade server bad JSONRPC response'}`);
  if ('error' in body.result) throw new Error(String(body.result.error));
  return body.result;
}

async function logs(server: string, token: string, from: number): Promise<string> {
  const res = await request(`${server}/upgrade/request/logs?token=${encodeURIComponent(token)}`, { headers: { Range: `bytes=${from}-` }, dispatcher: agent });
  const text = await res.body.text();
  assert.ok(res.statusCode === 200 || res.statusCode === 206, `logs: HTTP ${res.statusCode}`);
  return text;
}

/** The script's ssh command for rsync's -e. */
const sshCmd = (port: number) => `ssh -p ${port} -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${knownHosts} -i ${key}`;

async function rsync(args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn('rsync', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`rsync exited ${code}: ${err}`))));
  });
}

/** new_handler: transfer/start upload, known_hosts stored, rsync up, transfer/stop. */
async function upload(server: string, hostUri: string, token: string, dumpPath: string, destName: string): Promise<void> {
  const info = await rpc(server, 'upgrade/request/transfer/start', { token, transfer_type: 'upload' });
  assert.ok(Number.isInteger(info.ssh_port), 'ssh_port');
  await writeFile(knownHosts, String(info.known_hosts));
  // A directory dump: its content goes, not the directory itself.
  const src = (await stat(dumpPath)).isDirectory() ? `${dumpPath}/` : dumpPath;
  await rsync(['--chmod=u+rwx,g+rwx,o+r', '--info=progress2', '--delete-after', '-are', sshCmd(Number(info.ssh_port)), src, `odoo@${hostUri}:/data/${destName}`]);
  await rpc(server, 'upgrade/request/transfer/stop', { token });
}

/** progress_handler: status every period, the log from the bytes shown so far while `progress`. */
async function monitor(server: string, token: string): Promise<{ status: string; reason?: unknown; log: string; ranges: number }> {
  let shown = '';
  let ranges = 0;
  for (let i = 0; i < 600; i++) {
    const st = await rpc(server, 'upgrade/request/status', { token });
    const status = String(st.status);
    if (status === 'progress') {
      const more = await logs(server, token, Buffer.byteLength(shown));
      ranges++;
      shown += more;
    }
    if (status !== 'pending' && status !== 'progress') {
      shown += await logs(server, token, Buffer.byteLength(shown));
      return { status, reason: st.reason, log: shown, ranges };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the request did not end');
}

/** done_handler: transfer/start download, rsync the four paths down, transfer/stop. */
async function download(server: string, hostUri: string, token: string, dest: string): Promise<string> {
  const info = await rpc(server, 'upgrade/request/transfer/start', { token, transfer_type: 'download' });
  const dumpName = String(info.dump_name);
  await writeFile(knownHosts, String(info.known_hosts));
  const remote = `odoo@${hostUri}:/data`;
  await rsync(['--info=progress2', '-are', sshCmd(Number(info.ssh_port)), '--ignore-missing-args',
    `${remote}/${dumpName}`, `${remote}/filestore`, `${remote}/upgrade-report.html`, `${remote}/upgrade.log`, dest]);
  await rpc(server, 'upgrade/request/transfer/stop', { token });
  return dumpName;
}

async function create(): Promise<{ token: string; hostUri: string; id: number }> {
  const res = await rpc(emu.url, 'upgrade/request/create', {
    contract: CONTRACT, target: TARGET, aim: 'test', actuator: 'cli', env_vars: ['ODOO_UPGRADE_FLOW=1'],
    ssh_key: await readFile(`${key}.pub`, 'utf8'), api_version: '0.2',
  });
  for (const k of ['request_id', 'token', 'assigned_host_uri']) assert.ok(k in res, `create answers ${k}`);
  return { token: String(res.token), hostUri: String(res.assigned_host_uri), id: Number(res.request_id) };
}

const pgEnv = () => pg.env;
const psql = async (db: string, q: string) => (await run('psql', ['-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', q], { env: pgEnv() })).stdout.trim();

test('the script flow: create, upload while new, process, poll, logs with Range, download, pg_restore --jobs', { skip }, async () => {
  // The script's `-d dbname`: dump the database in directory format first.
  const origin = path.join(dir, 'origin.dump');
  await run('pg_dump', ['--no-owner', '--format', 'd', '--jobs', '2', '--file', origin, SOURCE_DB], { env: pgEnv() });

  const { token, hostUri, id } = await create();
  assert.match(hostUri, /^127\.\d+\.\d+\.\d+$/, 'a bare host: the script calls https://<host_uri>/ on port 443 and rsyncs to it');
  assert.equal(hostUri, emu.hostUri);
  const server = `https://${hostUri}`; // set_upgrade_and_data_server_names
  assert.equal((await rpc(server, 'upgrade/request/status', { token })).status, 'new');

  await upload(server, hostUri, token, origin, 'origin.dump');
  const st = await rpc(server, 'upgrade/request/status', { token });
  assert.equal(st.status, 'new', 'uploaded but not processed: still new');
  assert.equal(st.host_uri, hostUri);
  assert.equal(emu.requests.get(token)!.upload?.name, 'origin.dump');

  emu.setScenario({ holdPending: true }); // queued until the checks below are done
  const processed = await rpc(server, 'upgrade/request/process', { token });
  emu.setScenario({});
  assert.equal(typeof processed.is_pg_version_compatible, 'boolean');
  assert.equal((await rpc(server, 'upgrade/request/status', { token })).status, 'pending', 'queued after process');
  await assert.rejects(upload(server, hostUri, token, origin, 'origin.dump'), /cannot be uploaded in state pending/);
  emu.release(token);

  const end = await monitor(server, token);
  assert.equal(end.status, 'done', String(end.reason));
  assert.ok(end.ranges > 0, 'the log was read while progress');
  assert.match(end.log, new RegExp(`request ${id}: upgrading to ${TARGET.replace('.', '\\.')}`));
  assert.equal(end.log, emu.requests.get(token)!.logText, 'the pieces read by Range make the whole log');

  const dest = path.join(dir, 'download');
  await run('mkdir', ['-p', dest]);
  const dumpName = await download(server, hostUri, token, `${dest}/`);
  const got = (await readdir(dest)).sort();
  assert.deepEqual(got, [dumpName, 'filestore', 'upgrade-report.html', 'upgrade.log'].sort());
  await access(path.join(dest, dumpName, 'toc.dat'), constants.R_OK);
  await assert.rejects(access(path.join(dest, dumpName, MARKER_FILE)), 'a real dump, not a marked copy');
  assert.match(await readFile(path.join(dest, 'upgrade.log'), 'utf8'), /upgrade done/);
  assert.ok((await readdir(path.join(dest, 'filestore'), { recursive: true })).length > 0);

  // restore_database: createdb, then pg_restore --no-owner --format d <dump> --dbname <new> --jobs N.
  const restored = `flow_test_${id}`;
  await run('createdb', [restored], { env: pgEnv() });
  await run('pg_restore', ['--no-owner', '--format', 'd', path.join(dest, dumpName), '--dbname', restored, '--jobs', '2'], { env: pgEnv() });
  assert.equal(await psql(restored, `SELECT request_id || ' ' || target_version FROM ${MARK_TABLE}`), `${id} ${TARGET}`, 'the visible change');
  assert.equal(await psql(restored, 'SELECT count(*) FROM res_partner'), '300', 'the data came through');
  assert.equal(await psql(restored, "SELECT login FROM res_users WHERE id = 1"), 'admin');
});

test('resume at new: status on the main server, then upload and process', { skip }, async () => {
  const sql = path.join(dir, 'db.sql');
  await run('pg_dump', ['--no-owner', '--format', 'p', '--file', sql, SOURCE_DB], { env: pgEnv() });
  const { token } = await create();
  // Interrupted before the upload. A later run has only the saved token.
  const st = await rpc(emu.url, 'upgrade/request/status', { token });
  assert.equal(st.status, 'new');
  assert.ok(!st.archived);
  const hostUri = String(st.host_uri);
  const server = `https://${hostUri}`;
  await upload(server, hostUri, token, sql, 'origin.sql');
  await rpc(server, 'upgrade/request/process', { token });
  const end = await monitor(server, token);
  assert.equal(end.status, 'done', String(end.reason));
  assert.equal(emu.requests.get(token)!.markedCopy, undefined, 'plain SQL restores: a real dump');
});

test('resume at pending: monitor only, no second upload or process', { skip }, async () => {
  const sql = path.join(dir, 'db.sql');
  const { token, hostUri } = await create();
  const server = `https://${hostUri}`;
  await upload(server, hostUri, token, sql, 'origin.sql');
  emu.setScenario({ holdPending: true });
  await rpc(server, 'upgrade/request/process', { token });
  emu.setScenario({});
  // Interrupted here. The resumed run asks the main server, finds `pending`, and only monitors.
  const from = emu.records.length;
  const st = await rpc(emu.url, 'upgrade/request/status', { token });
  assert.equal(st.status, 'pending');
  emu.release(token);
  const end = await monitor(`https://${String(st.host_uri)}`, token);
  assert.equal(end.status, 'done', String(end.reason));
  const calls = new Set(emu.records.slice(from).filter((c) => c.listener !== 'data').map((c) => c.endpoint));
  assert.deepEqual([...calls].sort(), ['upgrade/request/logs', 'upgrade/request/status']);
});

test('wipe goes to the main server with contract and token, and wipes every request of the contract', { skip }, async () => {
  const ours = [...emu.requests.values()].filter((r) => !r.wiped).map((r) => r.id);
  assert.ok(ours.length >= 3, `requests so far: ${ours.join(', ')}`);
  const last = [...emu.requests.values()].at(-1)!;
  // Another contract's request stays.
  const other = await rpc(emu.url, 'upgrade/request/create', {
    contract: 'M-someone-else', target: TARGET, aim: 'test', actuator: 'cli', env_vars: [], ssh_key: await readFile(`${key}.pub`, 'utf8'), api_version: '0.2',
  });
  const res = await rpc(emu.url, 'upgrade/request/wipe', { contract: CONTRACT, token: last.token });
  assert.deepEqual((res.wiped as number[]).sort(), ours.sort());
  assert.deepEqual(res.failed, []);
  for (const id of ours) {
    const r = [...emu.requests.values()].find((x) => x.id === id)!;
    assert.equal((await rpc(emu.url, 'upgrade/request/status', { token: r.token })).archived, true);
  }
  assert.equal([...emu.requests.values()].find((x) => x.id === Number(other.request_id))!.wiped, false);
  await assert.rejects(rpc(`https://${emu.hostUri}`, 'upgrade/request/wipe', { contract: CONTRACT, token: last.token }), /no handler|404|Error/);
});

test('npm run emulator serves both protocols and prints what the script needs', { skip }, async () => {
  // The CA every emulator of this machine shares (made once, under a lock): no new one to make here.
  const child = spawn(process.execPath, ['emulator/cli.ts', '--no-postgres', '--cert-dir', defaultCertDir()], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/^The action: .*$/m.test(out)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the emulator exited (${code}): ${out}`)));
    });
    const server = /^ {2}export UPGRADE_SERVER_NAME=(https:\/\/\S+)$/m.exec(out)?.[1];
    const ca = /export SSL_CERT_FILE=(\S+)/.exec(out)?.[1];
    assert.ok(server && ca, out);
    assert.match(out, /SSL_VERIFICATION=0/);
    assert.match(out, /--contract M-emulator/);
    const v1 = /^Database Upgrade API v1: platform-url (http\S+)$/m.exec(out)?.[1];
    assert.ok(v1, out);

    const cli = new Agent({ connect: { ca: await readFile(ca, 'utf8') } });
    try {
      const res = await request(`${server}/upgrade/request/create`, {
        method: 'POST', headers: { 'Content-type': 'application/json' }, dispatcher: cli,
        body: JSON.stringify({ jsonrpc: '2.0', method: 'not_used', id: 'not_used', params: {
          contract: 'M-emulator', target: TARGET, aim: 'test', actuator: 'cli', env_vars: [], ssh_key: await readFile(`${key}.pub`, 'utf8'), api_version: '0.2',
        } }),
      });
      const created = ((await res.body.json()) as { result: { token: string; assigned_host_uri: string } }).result;
      assert.match(created.assigned_host_uri, /^127\.\d+\.\d+\.\d+$/);
      const st = await request(`https://${created.assigned_host_uri}/upgrade/request/status`, {
        method: 'POST', headers: { 'Content-type': 'application/json' }, dispatcher: cli,
        body: JSON.stringify({ jsonrpc: '2.0', method: 'not_used', id: 'not_used', params: { token: created.token } }),
      });
      assert.equal(((await st.body.json()) as { result: { status: string } }).result.status, 'new');
      const v1res = await request(`${v1}/database/v1/status?request=1&key=x`, { dispatcher: cli });
      assert.match(await v1res.body.text(), /"failures"/);
    } finally {
      await cli.close();
    }
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  }
});
