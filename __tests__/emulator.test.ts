// The v1 platform emulator over real sockets: the API, state progression, results, downloads
// with Range, every scenario switch, HTTPS with its own CA, and clean shutdown.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { access, chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { Agent, FormData, request, type Dispatcher } from 'undici';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { timeline } from '../emulator/states.ts';
import { parseRange } from '../emulator/serve-file.ts';
import { checkAuthorizedKeys } from '../emulator/authorized-keys.ts';
import { parseMultipart } from '../emulator/multipart.ts';
import { ZipWriter } from '../emulator/zip-writer.ts';
import { readZip, writeStoredZip } from '../emulator/zip-reader.ts';
import { gzipSync } from 'node:zlib';
import { EmulatorPostgres, ensurePgTemplate } from '../emulator/postgres.ts';

const run = promisify(execFile);
// A dispatcher of our own: undici 8's global one hangs on a FormData body once it has served a request.
const agent = new Agent();
after(() => agent.close());
const FAST = { pendingMs: 30, processingMs: 60, testingMs: 40 };
const STATUS_FIELDS = [
  'id', 'key', 'email', 'target', 'aim', 'filename', 'timezone', 'state', 'issue_stage', 'issue', 'status_url', 'notes_url',
  'original_sql_url', 'original_dump_url', 'upgraded_sql_url', 'upgraded_dump_url', 'modules_url', 'filesize', 'database_uuid',
  'created_at', 'estimated_time', 'processed_at', 'elapsed', 'filestore', 'customer_message', 'database_version', 'postgresql',
  'compressions',
];
const SQL = Buffer.from("--\n-- PostgreSQL database dump\n--\nCREATE TABLE res_partner (id integer, name varchar);\nINSERT INTO res_partner VALUES (1, 'Azure');\n");

type Json = { failures: Array<Record<string, unknown>>; request?: Record<string, unknown> };
interface Ref { id: string; key: string }
const auth = (ref: Ref) => ({ key: ref.key, request: ref.id });
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function withEmulator(opts: Parameters<typeof startEmulator>[0], fn: (emu: Emulator) => Promise<void>): Promise<void> {
  // Without PostgreSQL unless a test asks: marked copies are instant, real dumps take seconds.
  const emu = await startEmulator({ timing: FAST, postgres: false, ...opts });
  try {
    await fn(emu);
  } finally {
    await emu.close();
  }
}

async function api(emu: Emulator, method: string, params: Record<string, string>, how: 'form' | 'query' = 'form', dispatcher?: Dispatcher) {
  const qs = new URLSearchParams(params).toString();
  const res = how === 'query'
    ? await request(`${emu.url}/database/v1/${method}?${qs}`, { dispatcher: dispatcher ?? agent })
    : await request(`${emu.url}/database/v1/${method}`, {
      method: 'POST', body: qs, headers: { 'content-type': 'application/x-www-form-urlencoded' }, dispatcher: dispatcher ?? agent,
    });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as Json };
}

async function ok(emu: Emulator, method: string, params: Record<string, string>): Promise<Json> {
  const res = await api(emu, method, params);
  assert.equal(res.status, 200, res.text);
  const json = res.json();
  assert.deepEqual(json.failures, [], `${method}: ${res.text}`);
  return json;
}

async function create(emu: Emulator, extra: Record<string, string> = {}): Promise<Ref> {
  const json = await ok(emu, 'create', { contract: 'M123456-abcdef', email: 'john.doe@example.com', target: '18.0', aim: 'test', filename: 'db.sql', ...extra });
  return { id: String(json.request!.id), key: String(json.request!.key) };
}

async function upload(emu: Emulator, ref: Ref, body: Buffer | Readable, headers: Record<string, string> = {}) {
  const res = await request(`${emu.url}/database/v1/upload?${new URLSearchParams({ key: ref.key, request: ref.id })}`, {
    method: 'POST', body, headers: { 'content-type': 'application/octet-stream', ...headers }, dispatcher: agent,
  });
  return (await res.body.json()) as Json;
}

async function get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  const res = await request(url, { method, headers, dispatcher: agent });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

async function waitFor(emu: Emulator, ref: Ref, states: string[], timeoutMs = 4000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const req = (await ok(emu, 'status', auth(ref))).request!;
    if (['done', 'delivered'].includes(String(req.state))) {
      assert.ok(emu.requests.get(ref.id)!.upgradedArchiveSha256, 'done only once the upgraded files exist');
    }
    if (states.includes(String(req.state))) return req;
    if (Date.now() > deadline) assert.fail(`still ${req.state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

function publicKeyLine(): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const str = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]).toString('base64')} ci@example`;
}

async function sftpAccess(emu: Emulator, ref: Ref, keys: string) {
  const form = new FormData();
  form.append('ssh_keys', new Blob([keys], { type: 'text/plain' }), 'authorized_keys');
  const res = await request(`${emu.url}/database/v1/request_sftp_access?${new URLSearchParams({ key: ref.key, request: ref.id })}`, { method: 'POST', body: form, dispatcher: agent });
  return (await res.body.json()) as Json;
}

test('create takes a form body or a query string and answers the documented request object', async () => {
  await withEmulator({}, async (emu) => {
    const form = await ok(emu, 'create', { contract: 'M1', email: 'a@example.com', target: 'saas~17.2', aim: 'production', filename: 'prod.dump', timezone: 'Europe/Brussels' });
    const r = form.request!;
    assert.deepEqual(Object.keys(r).sort(), [...STATUS_FIELDS].sort());
    assert.equal(typeof r.id, 'number');
    assert.match(String(r.key), /^[A-Za-z0-9_-]{22}==$/);
    assert.equal(r.state, 'draft');
    assert.equal(r.timezone, 'Europe/Brussels');
    assert.equal(r.upgraded_dump_url, `${emu.url}/database/eu1/${r.id}/${r.key}/upgraded/archive`);
    assert.equal(r.notes_url, `${emu.url}/database/eu1/${r.id}/${r.key}/upgraded/notes`);
    assert.match(String(r.created_at), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

    const query = await api(emu, 'create', { contract: 'M1', email: 'a@example.com', target: '18.0', aim: 'test', filename: 'db.sql' }, 'query');
    const q = query.json().request!;
    assert.equal(q.id, Number(r.id) + 1, 'ids increase');
    assert.equal(q.timezone, null);
    assert.notEqual(q.key, r.key);
    const truth = emu.requests.get(String(r.id))!;
    assert.equal(truth.contract, 'M1');
    assert.equal(truth.key, r.key);

    assert.deepEqual(emu.records.map((c) => [c.method, c.via, c.httpStatus]), [['create', 'POST', 200], ['create', 'GET', 200]]);
    assert.equal(emu.records[0]!.contentType, 'application/x-www-form-urlencoded');
    assert.ok(emu.records[0]!.bytesIn > 0 && emu.records[0]!.bytesOut > 0);
    const recorded = JSON.stringify(emu.records);
    for (const key of [r.key, q.key]) assert.ok(!recorded.includes(String(key)), 'records never hold a key');
    assert.ok(!recorded.includes('M1'), 'nor the contract');
  });
});

test('create refuses what the platform refuses, with reason and message, and creates nothing', async () => {
  await withEmulator({}, async (emu) => {
    const bad = (await api(emu, 'create', { contract: 'unknown-42', email: 'a@example.com', target: '5.0', aim: 'test', filename: 'db.sql' })).json();
    assert.equal(bad.request, undefined);
    const target = bad.failures.find((f) => f.reason === 'TARGET:INVALID')!;
    assert.equal(target.value, '5.0');
    assert.ok(Array.isArray(target.expected) && target.expected.includes('18.0') && target.expected.includes('saas~18.4'));
    assert.match(String(target.message), /5\.0/);
    const contract = bad.failures.find((f) => f.reason === 'CONTRACT:NOT_FOUND')!;
    assert.equal(contract.code, 'unknown-42');

    const listed = (await api(emu, 'create', { contract: 'M1', email: 'a@example.com', target: 'saas~99.1', aim: 'test', filename: 'x' })).json();
    assert.deepEqual(listed.failures.map((f) => f.reason), ['TARGET:INVALID'], 'the right shape is not enough');
    const missing = (await api(emu, 'create', { contract: 'M1', target: '18.0', aim: 'sometimes', filename: 'a/b.sql' })).json();
    assert.deepEqual(missing.failures.map((f) => f.reason).sort(), ['AIM:INVALID', 'FILENAME:INVALID', 'PARAMETER:MISSING']);
    assert.equal(missing.failures.find((f) => f.reason === 'PARAMETER:MISSING')!.value, 'email');

    // JSON is not a form: its fields are not read.
    const res = await request(`${emu.url}/database/v1/create`, { method: 'POST', body: JSON.stringify({ contract: 'M1' }), headers: { 'content-type': 'application/json' }, dispatcher: agent });
    assert.equal(res.statusCode, 200);
    assert.equal(((await res.body.json()) as Json).failures.length, 5);
    assert.equal(emu.requests.size, 0);
  });
});

test('upload, process and status: from draft to done, with results built from the upload', async () => {
  await withEmulator({}, async (emu) => {
    const ref = await create(emu);
    assert.deepEqual((await api(emu, 'process', auth(ref))).json().failures.map((f) => f.reason), ['UPLOAD:MISSING']);
    assert.deepEqual((await upload(emu, { ...ref, key: 'A'.repeat(22) + '==' }, SQL)).failures.map((f) => f.reason), ['REQUEST:NOT_FOUND']);
    assert.deepEqual((await upload(emu, ref, Readable.from([SQL]))).failures.map((f) => f.reason), ['UPLOAD:LENGTH_REQUIRED'], 'chunked: no Content-Length');

    assert.deepEqual((await upload(emu, ref, SQL)).failures, []);
    const truth = emu.requests.get(ref.id)!;
    assert.equal(truth.uploadedSha256, sha(SQL));
    assert.equal(truth.uploadedBytes, SQL.length);
    assert.equal(truth.uploads, 3 - 2, 'refused calls never reached the body');
    const draft = (await ok(emu, 'status', auth(ref))).request!;
    assert.equal(draft.state, 'draft');
    assert.equal(draft.filesize, `${(SQL.length / 1024).toFixed(2)} Kb`);
    assert.deepEqual(draft.compressions, ['sql']);

    await ok(emu, 'process', auth(ref));
    const early = await get(String(draft.upgraded_dump_url));
    assert.equal(early.status, 404, 'no upgraded archive before done');
    assert.deepEqual((await api(emu, 'process', auth(ref))).json().failures.map((f) => f.reason), ['STATE:INVALID']);
    assert.deepEqual((await upload(emu, ref, SQL)).failures.map((f) => f.reason), ['STATE:INVALID']);

    const done = await waitFor(emu, ref, ['done']);
    assert.deepEqual(truth.history.map((h) => h.state), ['draft', 'pending', 'processing', 'testing', 'done']);
    assert.equal(done.database_version, '16.0');
    assert.equal(done.postgresql, '15');
    assert.match(String(done.processed_at), /^\d{4}-/);
    assert.equal(done.customer_message, null);

    const archive = await get(String(done.upgraded_dump_url));
    assert.equal(archive.status, 200);
    assert.equal(archive.headers['content-type'], 'application/zip');
    assert.equal(Number(archive.headers['content-length']), archive.body.length);
    assert.equal(sha(archive.body), truth.upgradedArchiveSha256);
    const entries = await readZip(archive.body);
    const dump = entries.get('dump.sql')!.toString();
    assert.match(dump, /^--[\s\S]*Target version: 18\.0/);
    assert.match(dump, /MARKED COPY, not a real upgraded dump: PostgreSQL is turned off/);
    assert.equal(truth.markedCopy, 'PostgreSQL is turned off for this emulator');
    assert.ok(dump.endsWith(SQL.toString()), 'a marked copy of plain SQL keeps the upload whole');
    assert.equal([...entries.keys()].filter((n) => n.startsWith('filestore/') && !n.endsWith('/')).length, 2, 'only the files the upgrade added');

    const sqlFile = await get(String(done.upgraded_sql_url));
    assert.equal(sha(sqlFile.body), truth.upgradedSqlSha256);
    assert.equal(sqlFile.body.toString(), dump);
    const notes = await get(String(done.notes_url));
    assert.match(notes.headers['content-type'] as string, /^text\/html/);
    assert.match(notes.body.toString(), /<h1>[\s\S]*<li>[\s\S]*<script>alert\(1\)<\/script>[\s\S]*<img [^>]*onerror=/);
    assert.equal((await get(String(done.original_dump_url))).body.toString(), SQL.toString());
    assert.equal((await get(String(done.original_sql_url))).body.toString(), SQL.toString());
    assert.equal((await get(String(done.modules_url))).status, 200);
    assert.equal((await get(String(done.status_url))).status, 200);
    assert.equal((await get(String(done.upgraded_dump_url).replace(ref.key, ref.key.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))))).status, 404, 'wrong key');

    // Ranges, HEAD, If-Range.
    const etag = archive.headers.etag as string;
    const part = await get(String(done.upgraded_dump_url), { range: 'bytes=10-19' });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 10-19/${archive.body.length}`);
    assert.deepEqual(part.body, archive.body.subarray(10, 20));
    const tail = await get(String(done.upgraded_dump_url), { range: 'bytes=-7' });
    assert.deepEqual(tail.body, archive.body.subarray(-7));
    const open = await get(String(done.upgraded_dump_url), { range: `bytes=${archive.body.length - 3}-` });
    assert.deepEqual(open.body, archive.body.subarray(-3));
    const beyond = await get(String(done.upgraded_dump_url), { range: `bytes=${archive.body.length}-` });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], `bytes */${archive.body.length}`);
    const head = await get(String(done.upgraded_dump_url), {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers['content-length']), archive.body.length);
    assert.equal(head.headers['accept-ranges'], 'bytes');
    assert.equal(head.body.length, 0);
    assert.equal((await get(String(done.upgraded_dump_url), { range: 'bytes=0-0', 'if-range': etag })).status, 206);
    assert.equal((await get(String(done.upgraded_dump_url), { range: 'bytes=0-0', 'if-range': '"stale"' })).status, 200);
  });
});

test('with PostgreSQL: dump.sql is real SQL that psql restores, with the visible change; the filestore holds only what the upgrade added', async () => {
  // One scratch server (a copy of the initdb template, no initdb of its own) serves the emulator and
  // the restores that check its output, each restore in a database of its own.
  const shared = new EmulatorPostgres();
  const got = await shared.get();
  assert.ok('server' in got, 'missing' in got ? got.missing : '');
  const pg = got.server;
  const dir = await mkdtemp(path.join(tmpdir(), 'emu-real-'));
  const psql = (db: string, ...args: string[]) => run(pg.tool('psql'), ['-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-d', db, ...args], { env: pg.env });
  try {
    await withEmulator({ postgres: shared }, async (emu) => {
      const uploads: Array<[string, Buffer]> = [
        ['db.sql.gz', gzipSync(SQL)],
        ['db.zip', await writeStoredZip({ 'dump.sql': SQL, 'filestore/ab/ab12': Buffer.from('an original attachment') })],
      ];
      for (const [filename, body] of uploads) {
        const ref = await create(emu, { filename, target: '17.0' });
        await upload(emu, ref, body);
        await ok(emu, 'process', auth(ref));
        const done = await waitFor(emu, ref, ['done'], 120_000);
        const truth = emu.requests.get(ref.id)!;
        assert.equal(truth.markedCopy, undefined, `${filename}: a real dump`);
        const entries = await readZip((await get(String(done.upgraded_dump_url))).body);
        const dump = entries.get('dump.sql')!;
        assert.match(dump.toString(), /-- PostgreSQL database dump/);
        assert.deepEqual(dump, (await get(String(done.upgraded_sql_url))).body, 'the SQL download is dump.sql');
        const added = [...entries.keys()].filter((n) => n.startsWith('filestore/'));
        assert.equal(added.length, 2, `only what the upgrade added: ${added.join(', ')}`);
        for (const n of added) assert.match(entries.get(n)!.toString(), /added by the upgrade/);
        assert.ok(!added.includes('filestore/ab/ab12'), 'not the original filestore');

        const db = `restored_${ref.id}_${filename.replace(/\W/g, '_')}`;
        const file = path.join(dir, `${db}.sql`);
        await writeFile(file, dump);
        await psql('postgres', '-c', `CREATE DATABASE ${db}`);
        await psql(db, '-f', file);
        assert.equal((await psql(db, '-c', 'SELECT name FROM res_partner')).stdout.trim(), 'Azure');
        assert.equal((await psql(db, '-c', 'SELECT request_id, target_version FROM odoo_upgrade_emulator')).stdout.trim(), `${ref.id}|17.0`);
      }
    });
    // A shared server is its owner's: the emulator's close() left it running.
    assert.equal((await psql('postgres', '-c', 'SELECT 1')).stdout.trim(), '1');
  } finally {
    await shared.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('results are built as soon as process is called, while the request is still pending; done keeps its time', async () => {
  await withEmulator({ timing: { pendingMs: 60_000, processingMs: 60, testingMs: 40 } }, async (emu) => {
    const ref = await create(emu);
    await upload(emu, ref, SQL);
    await ok(emu, 'process', auth(ref));
    const truth = emu.requests.get(ref.id)!;
    // Wait on the emulator's own record (an event, not a clock): the build finished...
    for (let i = 0; truth.builtAt === undefined && truth.buildError === undefined; i++) {
      if (i > 2000) assert.fail('the build did not finish');
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(truth.buildError, undefined);
    // ... while the state machine is still where its timing puts it: nothing is hurried or shown early.
    const st = (await ok(emu, 'status', auth(ref))).request!;
    assert.equal(st.state, 'pending');
    assert.equal((await get(String(st.upgraded_dump_url))).status, 404, 'no upgraded archive before done');
    assert.equal(truth.upgradedArchiveSha256?.length, 64);
  });
});

test('the PostgreSQL template is made once when several emulators need it at the same moment', async () => {
  // A temp dir of its own, so this test really makes the template (and races on it) whatever
  // other test processes made before; the other tests keep using the shared one.
  const saved = process.env.TMPDIR;
  const tmp = await mkdtemp(path.join(tmpdir(), 'emu-template-race-'));
  await chmod(tmp, 0o755); // PostgreSQL's service user (under root) passes through it
  const restore = () => (saved === undefined ? delete process.env.TMPDIR : (process.env.TMPDIR = saved));
  process.env.TMPDIR = tmp;
  const lines: string[] = [];
  try {
    const got = await Promise.all([1, 2, 3].map((n) => ensurePgTemplate((l) => lines.push(`${n} ${l}`))));
    restore();
    assert.equal(lines.filter((l) => /template made by initdb/.test(l)).length, 1, `initdb ran once: ${lines.join('\n')}`);
    assert.equal(new Set(got).size, 1, 'every caller got the one template');
    const root = path.join(tmp, 'odoo-upgrade-emulator-pg-templates');
    const left = await readdir(root);
    assert.deepEqual(left, [path.basename(path.dirname(got[0]!))], 'no lock or half-made folder left');
    await access(path.join(got[0]!, 'PG_VERSION'));
  } finally {
    restore();
    await rm(tmp, { recursive: true, force: true });
  }
});

test('without PostgreSQL client tools the emulator still runs and says its dumps are marked copies', async () => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  const lines: string[] = [];
  const pg = new EmulatorPostgres((l) => lines.push(l));
  try {
    const got = await pg.get();
    assert.ok('missing' in got);
    assert.match(got.missing, /client tools \(pg_dump, pg_restore, psql\) are not on PATH/);
    assert.ok(lines.some((l) => /upgraded dumps will be marked copies/.test(l)), lines.join('\n'));
  } finally {
    process.env.PATH = saved;
    await pg.close();
  }
});

test('a dump that is not SQL gets generated SQL of comparable size; production has no testing', async () => {
  await withEmulator({}, async (emu) => {
    const ref = await create(emu, { aim: 'production', filename: 'db.dump' });
    const dumpBytes = Buffer.concat([Buffer.from('PGDMP'), randomBytes(300_000)]);
    await upload(emu, ref, dumpBytes);
    await ok(emu, 'process', auth(ref));
    const done = await waitFor(emu, ref, ['done']);
    const truth = emu.requests.get(ref.id)!;
    assert.deepEqual(truth.history.map((h) => h.state), ['draft', 'pending', 'processing', 'done']);
    assert.deepEqual(done.compressions, ['pgdmp_custom']);
    assert.equal(truth.generatedSql, true);
    const sql = (await get(String(done.upgraded_sql_url))).body;
    assert.ok(Math.abs(sql.length - dumpBytes.length) < 1024, `${sql.length} vs ${dumpBytes.length}`);
    assert.match(sql.toString('latin1', 0, 400), /Target version: 18\.0/);
    assert.match(sql.toString('latin1', sql.length - 60), /\\\.\n/);
    assert.equal((await get(String(done.original_sql_url))).status, 404, 'no SQL form of a custom-format upload');
  });
});

test('skip_test ends the request in delivered; it is refused in draft', async () => {
  await withEmulator({ timing: { pendingMs: 20, processingMs: 40, testingMs: 60_000 } }, async (emu) => {
    const ref = await create(emu);
    assert.deepEqual((await api(emu, 'skip_test', auth(ref))).json().failures.map((f) => f.reason), ['STATE:INVALID']);
    await upload(emu, ref, SQL);
    await ok(emu, 'process', auth(ref));
    await waitFor(emu, ref, ['testing']);
    await ok(emu, 'skip_test', auth(ref));
    const delivered = await waitFor(emu, ref, ['delivered'], 2000);
    assert.equal((await get(String(delivered.upgraded_dump_url))).status, 200);
    assert.deepEqual(emu.requests.get(ref.id)!.history.map((h) => h.state), ['draft', 'pending', 'processing', 'testing', 'delivered']);
  });
});

test('outcomes failed, invalid and cancelled show the customer message and no upgraded files', async () => {
  await withEmulator({}, async (emu) => {
    for (const [outcome, message] of [['invalid', 'Not a dump'], ['failed', undefined], ['cancelled', 'Cancelled by support']] as const) {
      emu.setScenario({ outcome, ...(message ? { customerMessage: message } : {}) });
      const ref = await create(emu);
      await upload(emu, ref, SQL);
      await ok(emu, 'process', auth(ref));
      const end = await waitFor(emu, ref, [outcome]);
      if (message) assert.equal(end.customer_message, message);
      else assert.match(String(end.customer_message), /upgrade of your database failed/);
      assert.equal((await get(String(end.upgraded_dump_url))).status, 404);
      assert.equal((await get(String(end.notes_url))).status, 404);
      assert.equal(emu.requests.get(ref.id)!.upgradedArchivePath, undefined);
    }
  });
});

test('scenario: injected HTTP errors, create failures, missing v1, slow answers, notes override', async () => {
  await withEmulator({ scenario: { httpErrors: [{ method: 'status', status: 503, retryAfter: 7, count: 2 }] } }, async (emu) => {
    const ref = await create(emu);
    for (let i = 0; i < 2; i++) {
      const res = await api(emu, 'status', auth(ref));
      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '7');
      assert.match(res.text, /<html>/);
    }
    assert.equal((await api(emu, 'status', auth(ref))).status, 200);

    emu.setScenario({ httpErrors: [{ method: '*', status: 502, count: 1, body: 'bad gateway' }, { method: 'download', status: 500, count: 1 }] });
    const any = await api(emu, 'create', { contract: 'M1', email: 'a@example.com', target: '18.0', aim: 'test', filename: 'x.sql' });
    assert.equal(any.status, 502);
    assert.equal(any.text, 'bad gateway');
    assert.equal(emu.requests.size, 1, 'an injected error does nothing else');
    await upload(emu, ref, SQL);
    assert.equal((await get(`${emu.url}/database/eu1/${ref.id}/${ref.key}/original/archive`)).status, 500);
    assert.equal((await get(`${emu.url}/database/eu1/${ref.id}/${ref.key}/original/archive`)).status, 200);

    const failures = [{ reason: 'SERVER:ERROR', message: 'Try again later' }];
    emu.setScenario({ createFailures: failures });
    assert.deepEqual((await api(emu, 'create', { contract: 'M1', email: 'a@example.com', target: '18.0', aim: 'test', filename: 'x.sql' })).json(), { failures });
    assert.equal(emu.requests.size, 1);

    emu.setScenario({ cutCreateAnswer: true, statusUrls: { upgraded_dump_url: 'https://elsewhere.invalid/x' } });
    await assert.rejects(api(emu, 'create', { contract: 'M1', email: 'a@example.com', target: '18.0', aim: 'test', filename: 'x.sql' }));
    assert.equal(emu.requests.size, 2, 'the request exists although the answer was lost');
    assert.equal(emu.records.at(-1)!.aborted, true);
    assert.equal((await ok(emu, 'status', auth(ref))).request!.upgraded_dump_url, 'https://elsewhere.invalid/x');

    emu.setScenario({ v1Missing: true });
    const missing = await api(emu, 'create', { contract: 'M1' });
    assert.equal(missing.status, 404);
    assert.equal((await api(emu, 'status', auth(ref))).status, 404);

    emu.setScenario({ slowMs: 150, notesHtml: '<p>custom notes</p>' });
    const t0 = Date.now();
    await ok(emu, 'process', auth(ref));
    assert.ok(Date.now() - t0 >= 140, 'slow answer');
    emu.setScenario({});
    const done = await waitFor(emu, ref, ['done']);
    assert.equal((await get(String(done.notes_url))).body.toString(), '<p>custom notes</p>');
    assert.equal(emu.requests.get(ref.id)!.notesHtml, '<p>custom notes</p>');
  });
});

test('scenario: a cut upload keeps nothing; a cut download is resumable with Range', async () => {
  await withEmulator({ scenario: { cutUploadAfterBytes: 64 * 1024, cutDownloadAfterBytes: 1000 } }, async (emu) => {
    const ref = await create(emu);
    const big = Buffer.concat([SQL, Buffer.from('-- filler\n'.repeat(50_000))]);
    await assert.rejects(upload(emu, ref, big));
    const truth = emu.requests.get(ref.id)!;
    assert.equal(truth.uploadedPath, undefined);
    assert.equal(truth.uploadedSha256, undefined);
    assert.equal(truth.uploads, 1);
    const cutRecord = emu.records.findLast((c) => c.method === 'upload')!;
    assert.equal(cutRecord.aborted, true);
    assert.equal(cutRecord.httpStatus, 0);
    assert.deepEqual((await upload(emu, ref, big)).failures, [], 'only the first upload is cut');
    assert.equal(truth.uploadedSha256, sha(big));
    assert.equal(truth.uploads, 2);
    assert.deepEqual((await readdir(truth.dir)).filter((f) => f.endsWith('.part')), []);

    await ok(emu, 'process', auth(ref));
    const done = await waitFor(emu, ref, ['done']);
    const first = await request(String(done.upgraded_sql_url), { dispatcher: agent });
    assert.equal(first.statusCode, 200);
    const received: Buffer[] = [];
    await assert.rejects(async () => {
      for await (const chunk of first.body) received.push(chunk as Buffer);
    });
    const got = Buffer.concat(received);
    assert.equal(got.length, 1000);
    const rest = await get(String(done.upgraded_sql_url), { range: `bytes=${got.length}-` });
    assert.equal(rest.status, 206);
    assert.equal(sha(Buffer.concat([got, rest.body])), truth.upgradedSqlSha256);
    assert.equal((await get(String(done.upgraded_sql_url))).status, 200, 'only the first GET of a URL is cut');
    assert.equal(emu.records.filter((c) => c.aborted).length, 2);
  });
});

test('request_sftp_access: multipart keys checked, no provider means SFTP:UNAVAILABLE, the hook gets the keys', async () => {
  await withEmulator({}, async (emu) => {
    const ref = await create(emu, { filename: 'big.dump' });
    const key = publicKeyLine();
    assert.deepEqual(checkAuthorizedKeys(`# ci\n\n${key}\n`), { keys: 1, badLines: [] });
    const noProvider = await sftpAccess(emu, ref, `${key}\n`);
    assert.deepEqual(noProvider.failures.map((f) => f.reason), ['SFTP:UNAVAILABLE']);
    const privateKey = await sftpAccess(emu, ref, `${key}\n-----BEGIN OPENSSH PRIVATE KEY-----\n`);
    assert.deepEqual(privateKey.failures.map((f) => [f.reason, f.value]), [['SSH_KEYS:INVALID', [2]]]);
    assert.ok(!JSON.stringify(privateKey).includes('PRIVATE'), 'the bad line is not echoed');
    const notMultipart = (await api(emu, 'request_sftp_access', { ...auth(ref), ssh_keys: key })).json();
    assert.deepEqual(notMultipart.failures.map((f) => f.reason), ['PARAMETER:MISSING']);

    let seen = '';
    const shared = path.join(emu.requests.get(ref.id)!.dir, 'sftp-shared.dump');
    emu.sftpProvider = async (req, keys) => {
      seen = keys;
      req.uploadedPath = shared; // where the SFTP server writes the shared file
      return { hostname: '127.0.0.1', port: 2222, user: `user_${req.id}`, sharedFile: req.filename };
    };
    const granted = await sftpAccess(emu, ref, `# mine\n${key}\n`);
    assert.deepEqual(granted.failures, []);
    assert.deepEqual(granted.request, {
      hostname: '127.0.0.1', sftp_port: 2222, sftp_user: `user_${ref.id}`, shared_file: 'big.dump', request_id: Number(ref.id),
      sample_command: `sftp -P 2222 user_${ref.id}@127.0.0.1`,
    });
    assert.equal(seen, `# mine\n${key}\n`);

    // What arrives by SFTP is taken in at process.
    await writeFile(shared, SQL);
    await ok(emu, 'process', auth(ref));
    assert.equal(emu.requests.get(ref.id)!.uploadedSha256, sha(SQL));
    assert.deepEqual((await sftpAccess(emu, ref, key)).failures.map((f) => f.reason), ['STATE:INVALID']);
    await waitFor(emu, ref, ['done']);
  });
});

test('HTTPS: a local CA made once by openssl (race-safe), trusted only when given', async () => {
  const certDir = await mkdtemp(path.join(tmpdir(), 'emu-certs-'));
  const [a, b] = await Promise.all([startEmulator({ tls: true, certDir }), startEmulator({ tls: true, certDir })]);
  try {
    assert.match(a.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(a.caFile, path.join(certDir, 'ca.pem'));
    assert.deepEqual((await readdir(certDir)).sort(), ['ca.key', 'ca.pem', 'server.key', 'server.pem']);
    const ca = await readFile(a.caFile!);
    const trusting = new Agent({ connect: { ca } });
    try {
      for (const emu of [a, b]) {
        const res = await api(emu, 'create', { contract: 'M1', email: 'a@example.com', target: '18.0', aim: 'test', filename: 'x.sql' }, 'form', trusting);
        assert.deepEqual(res.json().failures, []);
        assert.match(String(res.json().request!.status_url), new RegExp(`^${emu.url}/database/eu1/`));
      }
    } finally {
      await trusting.close();
    }
    await assert.rejects(request(`${a.url}/database/v1/status`, { dispatcher: agent }), /certificate/i);
    const c = await startEmulator({ tls: true, certDir });
    await c.close();
    assert.deepEqual(await readFile(c.caFile!), ca, 'made once, then reused');
    const { stdout } = await run('openssl', ['verify', '-CAfile', a.caFile!, path.join(certDir, 'server.pem')]);
    assert.match(stdout, /OK/);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await rm(certDir, { recursive: true, force: true });
  }
});

test('close() drops open connections and removes only a data dir it made', async () => {
  // Without PostgreSQL: the upload below would start one, and close() would wait for it to stop.
  const emu = await startEmulator({ timing: FAST, postgres: false });
  const ref = await create(emu);
  // An upload that never ends holds a connection open.
  const endless = new Readable({ read() {} });
  endless.push(SQL);
  const pending = upload(emu, ref, endless, { 'content-length': String(10 * 1024 * 1024) }).catch((err: Error) => err);
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  await emu.close();
  assert.ok(Date.now() - t0 < 2000);
  assert.ok((await pending) instanceof Error);
  await assert.rejects(access(emu.dataDir));
  await emu.close(); // idempotent

  const own = await mkdtemp(path.join(tmpdir(), 'emu-data-'));
  const kept = await startEmulator({ dataDir: own, timing: FAST });
  await create(kept);
  await kept.close();
  await access(own);
  await rm(own, { recursive: true, force: true });
});

test('pure parts: state timeline, ranges, multipart, ZIP64', async () => {
  const timing = { pendingMs: 10, processingMs: 10, testingMs: 10 };
  const base = { createdAt: 0, aim: 'test', timing, outcome: 'done' as const, processedAt: 100 };
  assert.deepEqual(timeline(base, 1000).map((s) => s.state), ['draft', 'pending', 'processing', 'testing'], 'not done before the files exist');
  assert.deepEqual(timeline({ ...base, builtAt: 500 }, 1000).map((s) => [s.state, s.at]), [['draft', 0], ['pending', 100], ['processing', 110], ['testing', 120], ['done', 500]]);
  assert.deepEqual(timeline({ ...base, skippedAt: 105, builtAt: 112 }, 1000).map((s) => s.state), ['draft', 'pending', 'processing', 'delivered']);
  assert.deepEqual(timeline({ ...base, outcome: 'failed' }, 1000).map((s) => s.state), ['draft', 'pending', 'processing', 'failed']);

  assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=90-200', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
  assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-1,5-6', 100), undefined);

  const body = Buffer.from('preamble\r\n--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--XyZ\r\nContent-Disposition: form-data; name="ssh_keys"; filename="k;1"\r\nContent-Type: text/plain\r\n\r\nline\r\n\r\n--XyZ--\r\n');
  const parts = parseMultipart(body, 'XyZ');
  assert.deepEqual(parts.map((p) => [p.name, p.filename, p.data.toString()]), [['a', undefined, '1'], ['ssh_keys', 'k;1', 'line\r\n']]);
  assert.throws(() => parseMultipart(Buffer.from('--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1'), 'XyZ'));

  const dir = await mkdtemp(path.join(tmpdir(), 'emu-zip-'));
  try {
    const file = path.join(dir, 'z64.zip');
    const zip = await ZipWriter.create(file, { forceZip64: true });
    await zip.addStream('dump.sql', SQL.length, Readable.from([SQL.subarray(0, 10), SQL.subarray(10)]));
    await zip.addDirectory('filestore');
    await zip.close();
    const bytes = await readFile(file);
    assert.ok(bytes.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])), 'zip64 end record');
    assert.deepEqual((await readZip(bytes)).get('dump.sql'), SQL);
    const { stdout } = await run('unzip', ['-t', file]);
    assert.match(stdout, /No errors detected/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
