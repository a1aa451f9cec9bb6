// restore-database against a real PostgreSQL on loopback: the emulator's v1 archive (plain
// SQL inside a zip, plus filestore/), custom and directory dumps via pg_restore, the refusal
// to touch a database that holds data, and no password in any message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startPostgres, preferClientTools, type TestPostgres } from './support/postgres.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';
import { buildResults } from '../emulator/results.ts';
import { restoreUpgraded, withDatabase, safeJoin, restoreSources } from '../src/postgres/restore.ts';
import { splitConnection } from '../src/postgres/connection.ts';
import { SecretRegistry } from '../src/secrets.ts';

const run = promisify(execFile);
let pg: TestPostgres;
let dir: string;
let archive: string;

before(async () => {
  await preferClientTools(); // the real client tools, not Debian's Perl wrapper, for the code under test too
  pg = await startPostgres();
  dir = await mkdtemp(path.join(tmpdir(), 'restore-test-'));
  const sql = path.join(dir, 'db.sql');
  await writeSampleSqlDump(sql, 500);
  const built = await buildResults({
    id: '42', target: '18.0', aim: 'test', filename: 'db.sql', uploadedPath: sql, databaseVersion: '16.0', postgresql: '15',
    notesHtml: '<p>notes</p>', outDir: path.join(dir, 'emu'), at: Date.UTC(2026, 0, 1),
  });
  archive = built.upgradedArchivePath;
});

after(async () => {
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const superConn = (db: string) => `postgresql://postgres:${encodeURIComponent(pg.superPassword)}@127.0.0.1:${pg.port}/${db}`;

async function sqlAs(db: string, q: string): Promise<string> {
  const { stdout } = await run(path.join(pg.bin, 'psql'), ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-d', db, '-qAtX', '-c', q], {
    env: { ...process.env, PGPASSWORD: pg.superPassword },
  });
  return stdout.trim();
}

function collect() {
  const lines: string[] = [];
  return { lines, log: (l: string) => lines.push(l) };
}

test('the v1 archive from the emulator: dump.sql streamed into a new database, filestore copied', async () => {
  const out = collect();
  const filestoreDir = path.join(dir, 'fs-v1');
  const r = await restoreUpgraded({ connection: superConn('restored_v1'), dump: archive, filestoreDir, log: out.log, binDir: pg.bin, secrets: new SecretRegistry(() => {}) });
  assert.deepEqual(r, { database: 'restored_v1', tables: 2, filestoreFiles: 2, originalFiles: 0, upgradedFiles: 2 });
  assert.ok(out.lines.some((l) => /No original filestore .* only the upgraded files/.test(l)), out.lines.join('\n'));
  assert.equal(await sqlAs('restored_v1', 'SELECT count(*) FROM res_partner'), '500');
  assert.equal(await sqlAs('restored_v1', "SELECT latest_version FROM ir_module_module WHERE name = 'sale'"), '16.0.1.2');
  const dirs = await readdir(filestoreDir);
  assert.equal(dirs.length, 2);
  const first = path.join(filestoreDir, dirs[0]);
  assert.match(await readFile(path.join(first, (await readdir(first))[0]), 'utf8'), /Attachment \d of request 42/);
  assert.ok(out.lines.some((l) => /Created database "restored_v1"/.test(l)), out.lines.join('\n'));
  assert.ok(!out.lines.join('\n').includes(pg.superPassword));

  // Again into the same, now full, database: refused, and the data is untouched.
  await assert.rejects(
    restoreUpgraded({ connection: superConn('restored_v1'), dump: archive, log: () => {}, binDir: pg.bin, secrets: new SecretRegistry(() => {}) }),
    /database "restored_v1" already exists and holds 2 tables; this action never restores over data.*dropdb/,
  );
  assert.equal(await sqlAs('restored_v1', 'SELECT count(*) FROM res_partner'), '500');
});

test('an existing non-empty database is refused before anything is written', async () => {
  const before = await pg.sql('SELECT count(*) FROM res_partner');
  await assert.rejects(
    restoreUpgraded({ connection: pg.connectionString, dump: archive, log: () => {}, binDir: pg.bin, secrets: new SecretRegistry(() => {}) }),
    (err: Error) => {
      assert.match(err.message, /database "odoo_test" already exists and holds \d+ tables/);
      assert.ok(!err.message.includes(pg.password) && !err.message.includes(encodeURIComponent(pg.password)));
      return true;
    },
  );
  assert.equal(await pg.sql('SELECT count(*) FROM res_partner'), before);
});

test('an existing empty database (a service container\'s POSTGRES_DB) is filled, as its owner without CREATEDB', async () => {
  await sqlAs('postgres', `CREATE DATABASE empty_one OWNER ${pg.user}`);
  const conn = `host=127.0.0.1 port=${pg.port} user=${pg.user} dbname=empty_one password='${pg.password.replace(/'/g, "\\'")}'`;
  const r = await restoreUpgraded({ connection: conn, dump: archive, log: () => {}, binDir: pg.bin, secrets: new SecretRegistry(() => {}) });
  assert.equal(r.tables, 2);
  assert.equal(r.filestoreFiles, 0, 'no filestore-dir, nothing copied');
  assert.equal(await sqlAs('empty_one', 'SELECT count(*) FROM ir_module_module'), '3');
});

test('a role that may not create databases is told what to do', async () => {
  const conn = pg.connectionString.replace(/\/odoo_test$/, '/not_there');
  await assert.rejects(restoreUpgraded({ connection: conn, dump: archive, log: () => {}, binDir: pg.bin, secrets: new SecretRegistry(() => {}) }), /may not create databases.*createdb/);
});

for (const format of ['custom', 'directory'] as const) {
  test(`a ${format}-format dump goes through pg_restore; an rpc filestore folder is copied without its symlinks`, async () => {
    const dump = path.join(dir, `src.${format}`);
    await run(path.join(pg.bin, 'pg_dump'), [`--format=${format}`, '--no-password', `--file=${dump}`, `--dbname=${splitConnection(pg.connectionString).conn}`], {
      env: { ...process.env, PGPASSWORD: pg.password },
    });
    const fsSrc = path.join(dir, `filestore-${format}`);
    await mkdir(path.join(fsSrc, 'ab'), { recursive: true });
    await writeFile(path.join(fsSrc, 'ab', 'ab12cd34'), 'logo');
    await symlink('/etc/hostname', path.join(fsSrc, 'ab', 'link-to-etc'));
    const dest = path.join(dir, `fs-out-${format}`);
    const out = collect();
    const db = `restored_${format}`;
    const r = await restoreUpgraded({ connection: superConn(db), dump, filestore: fsSrc, filestoreDir: dest, log: out.log, binDir: pg.bin, secrets: new SecretRegistry(() => {}) });
    assert.equal(r.tables, 4);
    assert.equal(r.filestoreFiles, 1);
    assert.equal(await sqlAs(db, 'SELECT count(*) FROM res_partner'), '300');
    assert.deepEqual(await readdir(path.join(dest, 'ab')), ['ab12cd34']);
    assert.ok(out.lines.some((l) => /Skipped "ab\/link-to-etc" in the upgraded filestore: a symlink/.test(l)), out.lines.join('\n'));
  });
}

test('a wrong password fails clearly, and no form of it reaches the message', async () => {
  const wrong = `postgresql://postgres:n0t-th3-p%40ss@127.0.0.1:${pg.port}/whatever`;
  await assert.rejects(restoreUpgraded({ connection: wrong, dump: archive, log: () => {}, binDir: pg.bin, secrets: new SecretRegistry(() => {}) }), (err: Error) => {
    assert.match(err.message, /refused the login/);
    assert.ok(!err.message.includes('n0t-th3-p'), err.message);
    return true;
  });
});

test('withDatabase swaps the database in both connection-string spellings', () => {
  assert.equal(withDatabase(splitConnection('postgresql://u:pw@h:5432/odoo?sslmode=require&dbname=x'), 'postgres'), 'postgresql://u@h:5432/postgres?sslmode=require');
  assert.equal(withDatabase(splitConnection('postgresql://u@h'), 'postgres'), 'postgresql://u@h/postgres');
  assert.equal(withDatabase(splitConnection("host=h dbname='my db' password=x user=u"), 'postgres'), "host='h' user='u' dbname='postgres'");
});

test('safeJoin keeps archive names inside the filestore; restoreSources needs a dump', () => {
  assert.equal(safeJoin('/fs', 'ab/abc'), '/fs/ab/abc');
  assert.equal(safeJoin('/fs', '../etc/passwd'), undefined);
  assert.equal(safeJoin('/fs', '/etc/passwd'), undefined);
  assert.throws(() => restoreSources([{ role: 'notes', path: '/n', bytes: 1 }]), /no upgraded dump was downloaded/);
  assert.deepEqual(restoreSources([{ role: 'dump', path: '/d', bytes: 1 }, { role: 'filestore', path: '/f', bytes: 1 }]), { dump: '/d', filestore: '/f' });
});

test('end to end through the bundle: restore-database and filestore-dir after a v1 upgrade', async () => {
  const { startEmulator } = await import('../emulator/server.ts');
  const { startGitHubFake } = await import('../emulator/github.ts');
  const { runAction, findLeaks } = await import('./support/action.ts');
  const emu = await startEmulator({ tls: true, timing: { pendingMs: 100, processingMs: 200, testingMs: 100 } });
  const gh = await startGitHubFake();
  try {
    const dump = path.join(dir, 'e2e.sql');
    await writeSampleSqlDump(dump, 300);
    const run = await runAction({
      inputs: {
        contract: 'M-restore-contract', email: 'ci@example.com', target: '18.0', dump, 'platform-url': emu.url, 'poll-interval': '1',
        'artifact-name': '', 'restore-database': superConn('restored_e2e'), 'filestore-dir': 'data/filestore/restored_e2e',
      },
      env: { ...gh.env, NODE_EXTRA_CA_CERTS: emu.caFile! },
    });
    try {
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(run.outputs['restored-database'], 'restored_e2e');
      assert.equal(await sqlAs('restored_e2e', 'SELECT count(*) FROM res_partner'), '300');
      const fsDir = path.join(run.workspace, 'data', 'filestore', 'restored_e2e');
      assert.equal((await readdir(fsDir)).length, 2);
      // 3 tables: the emulator's upgrade adds odoo_upgrade_emulator to the real dump.
      assert.match(run.summary, /\| Restored into \| database `restored_e2e` \(3 tables\); filestore: 2 files/);
      assert.deepEqual(findLeaks({ stdout: run.stdout, stderr: run.stderr, summary: run.summary, outputs: run.outputsRaw.replace(/^request-key<<(.+)\n[\s\S]*?\n\1$/m, '') }, [pg.superPassword, superConn('restored_e2e')]), []);
    } finally {
      await run.cleanup();
    }
  } finally {
    await emu.close();
    await gh.close();
  }
});

// The pipeline in this process (the bundle's own restore run is the test above), with the
// real protocol clients against the emulator over real sockets.
test('end to end, in-process: a zip dump with a filestore restores with the original and the upgraded files', async () => {
  const { startEmulator } = await import('../emulator/server.ts');
  const { runPipeline, FakeClock } = await import('./support/pipeline.ts');
  // No PostgreSQL behind the emulator: this is about the filestores, and a marked copy of the
  // uploaded dump.sql restores as well as an upgraded one (the bundle test above has the real one).
  const emu = await startEmulator({ postgres: false, timing: { pendingMs: 100, processingMs: 200, testingMs: 100 } });
  try {
    // The production backup: dump.sql and filestore/ with two attachments the upgrade will not return.
    const src = path.join(dir, 'backup-src');
    await mkdir(path.join(src, 'filestore', 'aa'), { recursive: true });
    await mkdir(path.join(src, 'filestore', 'bb'), { recursive: true });
    await writeSampleSqlDump(path.join(src, 'dump.sql'), 50);
    await writeFile(path.join(src, 'filestore', 'aa', 'aa11'), 'original invoice');
    await writeFile(path.join(src, 'filestore', 'bb', 'bb22'), 'original image');
    const zip = path.join(dir, 'backup.zip');
    await run('zip', ['-qr', zip, 'dump.sql', 'filestore'], { cwd: src });
    const res = await runPipeline({
      inputs: {
        contract: 'M-restore-contract', email: 'ci@example.com', target: '18.0', dump: zip, 'platform-url': emu.url, 'poll-interval': '1',
        'artifact-name': '', 'restore-database': superConn('restored_zip'), 'filestore-dir': 'data/filestore/restored_zip', 'restore-jobs': '2',
      },
      clock: new FakeClock(0.1),
    });
    try {
      assert.equal(res.code, 0, res.stdout);
      const fsDir = path.join(res.workspace, 'data', 'filestore', 'restored_zip');
      const files = (await readdir(fsDir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile());
      assert.equal(files.length, 4, files.map((f) => f.name).join(' '));
      assert.equal(await readFile(path.join(fsDir, 'aa', 'aa11'), 'utf8'), 'original invoice');
      assert.ok(files.some((f) => /Attachment \d of request/.test(readText(path.join(f.parentPath, f.name)))));
      assert.match(res.stdout, /original filestore comes from the uploaded dump backup\.zip/);
      assert.match(res.stdout, /2 original files .* copied/);
      assert.match(res.stdout, /2 upgraded files laid over it/);
      assert.match(res.summary, /filestore: 4 files/);
    } finally {
      await res.cleanup();
    }
  } finally {
    await emu.close();
  }
});

function readText(file: string): string {
  return readFileSync(file, 'utf8');
}

test('in-process: an original-filestore path that does not exist fails before any request is made', async () => {
  const { startEmulator } = await import('../emulator/server.ts');
  const { runPipeline } = await import('./support/pipeline.ts');
  const emu = await startEmulator({ postgres: false });
  try {
    const dump = path.join(dir, 'pre.sql');
    await writeSampleSqlDump(dump, 10);
    const res = await runPipeline({
      inputs: {
        contract: 'M-restore-contract', email: 'ci@example.com', target: '18.0', dump, 'platform-url': emu.url, 'artifact-name': '',
        'restore-database': superConn('never_restored'), 'filestore-dir': 'fs', 'original-filestore': './backups/missing-filestore.tar.gz',
      },
    });
    try {
      assert.notEqual(res.code, 0);
      assert.match(res.stdout, /original-filestore: nothing at .*backups\/missing-filestore\.tar\.gz/);
      assert.equal(emu.requests.size, 0, 'no request was created');
    } finally {
      await res.cleanup();
    }
  } finally {
    await emu.close();
  }
});
