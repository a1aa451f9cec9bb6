import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromDatabase, findPgDump, pgDumpCommand } from '../src/postgres/dump-source.ts';
import { splitConnection } from '../src/postgres/connection.ts';
import { DumpError, inspectDump } from '../src/formats/inspect.ts';
import { SecretRegistry } from '../src/secrets.ts';
import { startPostgres, preferClientTools, type TestPostgres } from './support/postgres.ts';

const run = promisify(execFile);
let pg: TestPostgres;
let work: string;

before(async () => {
  await preferClientTools(); // the real client tools, not Debian's Perl wrapper, for the code under test too
  pg = await startPostgres();
  work = await mkdtemp(join(tmpdir(), 'source-db-'));
});

after(async () => {
  await pg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

function setup() {
  const reg = new SecretRegistry(() => {});
  const lines: string[] = [];
  return { reg, lines, log: (l: string) => lines.push(l) };
}

test('custom format from a URI connection string: a real dump, password registered and never logged', async () => {
  const { reg, lines, log } = setup();
  const got = await fromDatabase({ connection: pg.connectionString, format: 'custom', workDir: work, log, secrets: reg });
  try {
    assert.equal(got.kind, 'database');
    const info = await inspectDump(got.path, { api: 'v1', input: 'dump-database' });
    assert.equal(info.format, 'custom');
    const { stdout } = await run(join(pg.bin, 'pg_restore'), ['--list', got.path]);
    assert.match(stdout, /TABLE DATA public ir_module_module/);
    assert.match(stdout, /TABLE DATA public res_partner/);
    assert.ok(reg.has(pg.password), 'password registered');
    assert.ok(reg.has(pg.connectionString), 'connection string registered');
    assert.ok(!reg.has(pg.database) && !reg.has(pg.user), 'plain names stay readable');
    for (const text of [...lines, got.description]) {
      assert.ok(!text.includes(pg.password) && !text.includes(encodeURIComponent(pg.password)), `password leaked: ${text}`);
    }
    assert.match(got.description, /odoo_test/);
  } finally {
    await got.cleanup();
  }
  await assert.rejects(stat(got.path), /ENOENT/);
});

test('directory format with jobs, from a keyword connection string', async () => {
  const { reg, log } = setup();
  const quoted = pg.password.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  const connection = `host=${pg.host} port=${pg.port} user=${pg.user} password='${quoted}' dbname=${pg.database}`;
  const got = await fromDatabase({ connection, format: 'directory', jobs: 2, workDir: work, log, secrets: reg });
  try {
    assert.ok((await stat(got.path)).isDirectory());
    const info = await inspectDump(got.path, { api: 'rpc', input: 'dump-database' });
    assert.equal(info.format, 'directory');
    assert.equal(info.uploadExt, '.dump/');
    assert.ok((await readdir(got.path)).includes('toc.dat'));
  } finally {
    await got.cleanup();
  }
});

test('a wrong password fails with a redacted, explained error and leaves no files behind', async () => {
  const { reg, lines, log } = setup();
  const wrong = 'Wrong-Pass-71c2e9';
  const connection = `postgresql://${pg.user}:${wrong}@127.0.0.1:${pg.port}/${pg.database}?password=${wrong}`;
  const err = await fromDatabase({ connection, format: 'custom', workDir: work, log, secrets: reg }).then(
    () => assert.fail('should fail'),
    (e: Error) => e,
  );
  assert.ok(err instanceof DumpError, String(err));
  assert.match(err.message, /^dump-database: the server refused the login/);
  assert.match(err.message, /password authentication failed/);
  for (const text of [err.message, err.stack ?? '', ...lines]) assert.ok(!text.includes(wrong), `password leaked: ${text}`);
  assert.deepEqual(await readdir(work), [], 'the partial dump folder is removed');
});

test('pg_dump older than the server: says which client to install', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fake-pgdump-'));
  try {
    // Only one PostgreSQL major is installed here, so a real mismatch cannot happen: this
    // stand-in prints what pg_dump 15 prints against a 17 server.
    const fake = join(dir, 'pg_dump');
    await writeFile(
      fake,
      '#!/bin/sh\n[ "$1" = --version ] && { echo "pg_dump (PostgreSQL) 15.18"; exit 0; }\n' +
        'echo "pg_dump: error: aborting because of server version mismatch" >&2\n' +
        'echo "pg_dump: detail: server version: 17.2; pg_dump version: 15.18" >&2\n' +
        // A stderr that quotes the password, to prove every line is redacted.
        'echo "pg_dump: detail: tried password $PGPASSWORD" >&2\nexit 1\n',
    );
    await chmod(fake, 0o755);
    const { reg, lines, log } = setup();
    const err = await fromDatabase({ connection: pg.connectionString, format: 'custom', workDir: work, log, secrets: reg, pgDump: fake }).then(
      () => assert.fail('should fail'),
      (e: Error) => e,
    );
    assert.ok(err instanceof DumpError);
    assert.match(err.message, /pg_dump 15\.18 is older than the server \(PostgreSQL 17\.2\)/);
    assert.match(err.message, /postgresql-client-17/);
    assert.ok(lines.some((l) => l.includes('tried password ***')), lines.join('\n'));
    for (const text of [err.message, ...lines]) assert.ok(!text.includes(pg.password), `password leaked: ${text}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('no pg_dump: says how to install it', async () => {
  await assert.rejects(findPgDump(undefined, ['/nonexistent/bin/pg_dump']), (e: Error) => e instanceof DumpError && /pg_dump was not found/.test(e.message) && /apt-get install -y postgresql-client/.test(e.message));
  const found = await findPgDump();
  assert.match(found.version, /^\d+\.\d+/);
});

test('an abort kills pg_dump and removes its output', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'slow-pgdump-'));
  try {
    const slow = join(dir, 'pg_dump');
    await writeFile(slow, '#!/bin/sh\n[ "$1" = --version ] && { echo "pg_dump (PostgreSQL) 15.18"; exit 0; }\nexec sleep 30\n');
    await chmod(slow, 0o755);
    const ac = new AbortController();
    const { reg, log } = setup();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 200);
    await assert.rejects(fromDatabase({ connection: pg.connectionString, format: 'custom', workDir: work, log, secrets: reg, pgDump: slow, signal: ac.signal }), /abort/i);
    assert.ok(Date.now() - t0 < 5000);
    assert.deepEqual(await readdir(work), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('connection strings: the password leaves the string and goes to PGPASSWORD only', () => {
  const uri = splitConnection('postgresql://odoo:p%40ss%2Fw0rd@db.example:5433/prod?sslmode=require&password=other-pass');
  assert.equal(uri.password, 'other-pass', 'the query parameter wins, as in libpq');
  assert.equal(uri.conn, 'postgresql://odoo@db.example:5433/prod?sslmode=require');
  assert.equal(uri.dbname, 'prod');
  assert.equal(uri.host, 'db.example');
  assert.equal(uri.user, 'odoo');
  const plain = splitConnection('postgres://u:secret-pw@localhost/db');
  assert.deepEqual([plain.conn, plain.password], ['postgres://u@localhost/db', 'secret-pw']);
  const kw = splitConnection(`host=h port=5432 password='it\\'s secret' dbname=odoo user=me`);
  assert.equal(kw.password, "it's secret");
  assert.equal(kw.conn, "host='h' port='5432' dbname='odoo' user='me'");
  assert.deepEqual(splitConnection('odoo_db'), { conn: 'odoo_db', dbname: 'odoo_db' });

  const cmd = pgDumpCommand(uri, 'directory', 3, '/tmp/out.dump');
  assert.ok(cmd.args.every((a) => !a.includes('other-pass') && !a.includes('p%40ss')), cmd.args.join(' '));
  assert.ok(cmd.args.includes('--format=directory') && cmd.args.includes('--jobs=3') && cmd.args.includes('--no-password'));
  assert.equal(cmd.env.PGPASSWORD, 'other-pass');
});
