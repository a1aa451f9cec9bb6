import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { inspectDump, DumpError, odooShBackupSigns, tarLister, type DumpInfo } from '../src/formats/inspect.ts';
import { fromPath } from '../src/source/path.ts';
import { startPostgres, type TestPostgres } from './support/postgres.ts';

const run = promisify(execFile);
let pg: TestPostgres;
let dir: string;
const f = (name: string) => join(dir, name);

before(async () => {
  pg = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'dump-test-'));
  const env = { ...process.env, PGPASSWORD: pg.password };
  const conn = ['-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', pg.database];
  const pgDump = join(pg.bin, 'pg_dump');
  await Promise.all([
    run(pgDump, ['-Fc', '-f', f('db.dump'), ...conn], { env }),
    run(pgDump, ['-Fp', '-f', f('db.sql'), ...conn], { env }),
    run(pgDump, ['-Fd', '-j', '2', '-f', f('dir.dump'), ...conn], { env }),
    run(pgDump, ['-Ft', '-f', f('db.tar'), ...conn], { env }),
    run(join(pg.bin, 'pg_dumpall'), ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres', '-f', f('cluster.sql')], { env: { ...process.env, PGPASSWORD: pg.superPassword } }),
  ]);
  await pg.stop(); // everything below reads files only
});

after(async () => {
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const v1 = { api: 'v1', input: 'dump' } as const;
const rpc = { api: 'rpc', input: 'dump' } as const;

async function refused(path: string, opts: { api: 'v1' | 'rpc'; input: string }, ...patterns: RegExp[]): Promise<string> {
  const err = await inspectDump(path, opts).then(
    (info: DumpInfo) => assert.fail(`accepted ${path}: ${info.detail}`),
    (e: Error) => e,
  );
  assert.ok(err instanceof DumpError, `${path}: ${err}`);
  assert.ok(err.message.startsWith(`${opts.input}: `), `names the input: ${err.message}`);
  for (const p of patterns) assert.match(err.message, p);
  return err.message;
}

async function zipOf(name: string, files: Record<string, string | Buffer>, entries?: string[]): Promise<string> {
  const src = await mkdtemp(join(dir, 'src-'));
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(join(src, rel, '..'), { recursive: true });
    await writeFile(join(src, rel), content);
  }
  await run('zip', ['-qr', f(name), ...(entries ?? (await readdir(src)))], { cwd: src });
  return f(name);
}

test('custom format: accepted for both APIs, with archiver and server versions', async () => {
  for (const opts of [v1, rpc]) {
    const info = await inspectDump(f('db.dump'), opts);
    assert.equal(info.format, 'custom');
    assert.equal(info.uploadExt, '.dump');
    assert.equal(info.hasFilestore, false);
    assert.match(info.detail, /^pg_dump custom format, archiver 1\.\d+, PostgreSQL \d+/);
    assert.match(info.serverVersion ?? '', /^\d+\.\d+/);
    assert.equal(info.size, (await readFile(f('db.dump'))).length);
  }
});

test('custom format cut anywhere is refused as truncated', async () => {
  const whole = await readFile(f('db.dump'));
  const cuts = new Set([1, 5, 20, 100, whole.length - 1, whole.length - 5, whole.length - 20]);
  for (let c = 200; c < whole.length; c += 211) cuts.add(c);
  for (const cut of cuts) {
    await writeFile(f('cut.dump'), whole.subarray(0, cut));
    await refused(f('cut.dump'), v1, /truncated|damaged/);
  }
  // A damaged chunk length inside the data is caught by the block walk.
  const damaged = Buffer.from(whole);
  damaged.writeUInt32LE(0x7fffffff, whole.length - 8);
  await writeFile(f('damaged.dump'), damaged);
  await refused(f('damaged.dump'), v1, /truncated|damaged/);
});

test('plain SQL: accepted; cut before its closing line refused', async () => {
  const info = await inspectDump(f('db.sql'), v1);
  assert.equal(info.format, 'sql');
  assert.equal(info.uploadExt, '.sql');
  assert.match(info.detail, /^plain SQL \(PostgreSQL \d+.*, pg_dump \d+\.\d+\)/);
  const whole = await readFile(f('db.sql'));
  const closing = whole.lastIndexOf('PostgreSQL database dump complete');
  const cuts = [1024, Math.floor(whole.length / 2), closing - 5];
  if (whole.includes('\\unrestrict ')) cuts.push(whole.length - 10); // inside the last line
  for (const cut of cuts) {
    await writeFile(f('cut.sql'), whole.subarray(0, cut));
    await refused(f('cut.sql'), v1, /truncated/, /PostgreSQL database dump complete/);
  }
  await writeFile(f('handwritten.sql'), 'BEGIN;\nCREATE TABLE x (id int);\nCOMMIT;\n');
  assert.match((await inspectDump(f('handwritten.sql'), v1)).detail, /not from pg_dump/);
});

test('gzip: whole accepted (decompressed to the end); truncated or damaged refused', async () => {
  const gz = gzipSync(await readFile(f('db.sql')));
  await writeFile(f('db.sql.gz'), gz);
  const info = await inspectDump(f('db.sql.gz'), v1);
  assert.equal(info.format, 'sql.gz');
  assert.equal(info.uploadExt, '.sql.gz');
  assert.match(info.detail, /uncompressed/);
  for (const cut of [gz.length - 1, gz.length - 8, Math.floor(gz.length * 0.6), 600]) {
    await writeFile(f('cut.sql.gz'), gz.subarray(0, cut));
    // 600 bytes hold less than the first KiB: still refused, whatever the reason given.
    await refused(f('cut.sql.gz'), v1, cut === 600 ? /truncated|SQL|gzip/ : /truncated/);
  }
  const flipped = Buffer.from(gz);
  flipped[Math.floor(gz.length / 2)] ^= 0x55;
  await writeFile(f('flipped.sql.gz'), flipped);
  await refused(f('flipped.sql.gz'), v1, /damaged|truncated|gzip/);

  await writeFile(f('custom.dump.gz'), gzipSync(await readFile(f('db.dump'))));
  await refused(f('custom.dump.gz'), v1, /gzip-compressed pg_dump custom-format/, /gunzip/);
  await writeFile(f('notsql.gz'), gzipSync(Buffer.from('just some notes\n'.repeat(200))));
  await refused(f('notsql.gz'), v1, /does not look like SQL/);
});

test('zip with dump.sql and filestore: accepted with hasFilestore; without filestore too', async () => {
  const sql = await readFile(f('db.sql'));
  const withFs = await zipOf('backup.zip', { 'dump.sql': sql, 'manifest.json': '{"version": "16.0"}', 'filestore/ab/ab12cd34': randomBytes(3000) });
  const info = await inspectDump(withFs, v1);
  assert.equal(info.format, 'zip');
  assert.equal(info.uploadExt, '.zip');
  assert.equal(info.hasFilestore, true);
  assert.match(info.detail, /zip with dump\.sql .*filestore\/ \(1 files\)/);

  const bare = await inspectDump(await zipOf('bare.zip', { 'dump.sql': sql }), rpc);
  assert.equal(bare.hasFilestore, false);

  await refused(await zipOf('cutsql.zip', { 'dump.sql': sql.subarray(0, sql.length / 2) }), v1, /truncated/);
  const z = await readFile(f('bare.zip'));
  await writeFile(f('cut.zip'), z.subarray(0, z.length - 30));
  await refused(f('cut.zip'), v1, /not a readable zip/);
  const flipped = Buffer.from(z);
  flipped[200] ^= 0xff; // inside dump.sql's compressed data
  await writeFile(f('flipped.zip'), flipped);
  await refused(f('flipped.zip'), v1, /cannot be read whole|CRC|SQL/);
});

test('an Odoo.sh backup (sources, .git, no dump.sql) is refused with the Download Dump advice', async () => {
  const files = {
    'home/odoo/src/user/my_addon/__manifest__.py': "{'name': 'My addon'}",
    'home/odoo/src/user/.git/HEAD': 'ref: refs/heads/main\n',
    'home/odoo/data/filestore/prod/ab/ab12': 'x',
  };
  const zip = await zipOf('odoosh.zip', files, ['home']);
  const msg = await refused(zip, v1, /Odoo\.sh backup/, /Download Dump/, /Backups tab/, /home\/odoo\/src/);
  assert.match(msg, /addon manifest/);

  const src = await mkdtemp(join(dir, 'tar-'));
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(join(src, rel, '..'), { recursive: true });
    await writeFile(join(src, rel), content);
  }
  await run('tar', ['czf', f('odoosh.tar.gz'), '-C', src, 'home']);
  await refused(f('odoosh.tar.gz'), v1, /gzip-compressed tar archive that looks like an Odoo\.sh backup/, /Download Dump/);
  await run('tar', ['cf', f('odoosh.tar'), '-C', src, 'home']);
  await refused(f('odoosh.tar'), rpc, /Odoo\.sh backup/);
});

test('other archives: nested dump.sql, no dump, pg_dump tar format', async () => {
  await refused(await zipOf('nested.zip', { 'backup/dump.sql': '-- SQL\nSELECT 1;\n' }), v1, /inside the folder "backup\/"/, /root/);
  await refused(await zipOf('other.zip', { 'mydb.sql': 'SELECT 1;\n' }), v1, /holding "mydb\.sql" but no dump\.sql/);
  await refused(await zipOf('photos.zip', { 'a.jpg': randomBytes(100) }), v1, /without dump\.sql/);
  await refused(f('db.tar'), v1, /tar-format archive/, /pg_dump -Fc/);
});

test('directory dumps: rpc only; v1 is told how to make a single file; incomplete refused', async () => {
  const info = await inspectDump(f('dir.dump'), rpc);
  assert.equal(info.format, 'directory');
  assert.equal(info.uploadExt, '.dump/');
  const files = await readdir(f('dir.dump'));
  let sum = 0;
  for (const name of files) sum += (await readFile(join(f('dir.dump'), name))).length;
  assert.equal(info.size, sum);
  await refused(f('dir.dump'), v1, /directory-format/, /pg_dump -Fc/, /api: rpc/);
  await refused(join(f('dir.dump'), 'toc.dat'), rpc, /toc\.dat of a pg_dump directory-format/);

  await run('cp', ['-r', f('dir.dump'), f('partial.dump')]);
  const data = (await readdir(f('partial.dump'))).find((n) => /^\d+\.dat/.test(n))!;
  await unlink(join(f('partial.dump'), data));
  await refused(f('partial.dump'), rpc, /incomplete/);

  await mkdir(f('emptydir'));
  await refused(f('emptydir'), rpc, /without toc\.dat/);
  await mkdir(f('extracted'));
  await writeFile(join(f('extracted'), 'dump.sql'), 'SELECT 1;');
  await refused(f('extracted'), rpc, /holding dump\.sql/);
});

test('empty, random, text, HTML, pg_dumpall, other compressions: refused, naming the input', async () => {
  await writeFile(f('empty.dump'), '');
  await refused(f('empty.dump'), { api: 'v1', input: 'dump-url' }, /empty \(0 bytes\)/);
  await writeFile(f('random.bin'), randomBytes(20_000));
  await refused(f('random.bin'), v1, /binary data/);
  await writeFile(f('notes.txt'), 'Hello,\nthis is not a dump.\n');
  await refused(f('notes.txt'), v1, /does not look like SQL/);
  await writeFile(f('login.html'), '<!DOCTYPE html><html><head><title>Sign in</title></head></html>');
  await refused(f('login.html'), { api: 'v1', input: 'dump-url' }, /HTML page/);
  await refused(f('cluster.sql'), v1, /pg_dumpall/, /pg_dump -Fc/);
  await writeFile(f('db.sql.bz2'), Buffer.concat([Buffer.from('BZh91AY&SY'), randomBytes(100)]));
  await refused(f('db.sql.bz2'), v1, /bzip2/, /gzip/);
  await refused(f('missing.dump'), v1, /no such file/);
});

test('odooShBackupSigns and tarLister are pure helpers', () => {
  assert.deepEqual(odooShBackupSigns(['dump.sql', 'filestore/ab/x', 'manifest.json']), []);
  assert.equal(odooShBackupSigns(['./home/odoo/src/x', 'a/.git/config', 'm/__manifest__.py', 'n/__openerp__.py']).length, 3);
  const t = tarLister();
  assert.equal(t.push(Buffer.alloc(1024)), true, 'two zero blocks end a tar');
  assert.deepEqual(t.result().names, []);
});

test('fromPath: relative to GITHUB_WORKSPACE, clear error when missing, nothing to clean', async () => {
  const got = await fromPath(' db.dump ', { GITHUB_WORKSPACE: dir });
  assert.equal(got.path, f('db.dump'));
  assert.equal(got.kind, 'path');
  await got.cleanup();
  assert.ok((await readFile(f('db.dump'))).length > 0, 'cleanup leaves a user file alone');
  assert.equal((await fromPath(f('dir.dump'), {})).path, f('dir.dump'));
  await assert.rejects(fromPath('nope/db.dump', { GITHUB_WORKSPACE: dir }), (e: Error) =>
    e instanceof DumpError && e.message.startsWith('dump: nothing at ') && e.message.includes(join(dir, 'nope/db.dump')) && /GITHUB_WORKSPACE/.test(e.message));
  await assert.rejects(fromPath('   ', {}), /dump: the path is empty/);
});
