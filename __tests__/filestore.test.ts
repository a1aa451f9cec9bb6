// The filestore beside a restored database: original first, upgraded over it, from folders,
// zips and tars; unsafe entries (symlinks, hard links, devices, absolute names, `..`) are
// skipped and nothing is ever written outside filestore-dir; free space is checked first;
// `original-filestore` as a path, an https URL, and its input rules.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { copyFilestore, ensureSpace, sourceOf, safeJoin, FilestoreError } from '../src/postgres/filestore.ts';
import { fetchOriginalFilestore } from '../src/postgres/original-filestore.ts';
import { readConfig, InputError } from '../src/inputs.ts';
import { startHttpsFiles, type HttpsFiles } from './support/https-files.ts';

const run = promisify(execFile);
let dir: string;
let srv: HttpsFiles;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'filestore-test-'));
  srv = await startHttpsFiles();
});
after(async () => {
  await srv?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function collect() {
  const lines: string[] = [];
  return { lines, log: (l: string) => lines.push(l) };
}

async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const d of await readdir(root, { recursive: true, withFileTypes: true })) {
    const full = path.join(d.parentPath, d.name);
    if (d.isFile()) out[path.relative(root, full)] = await readFile(full, 'utf8');
    else if (!d.isDirectory()) out[path.relative(root, full)] = '<not a file>';
  }
  return out;
}

/** An Odoo dump zip: dump.sql and filestore/ made with the zip program. */
async function odooZip(name: string, files: Record<string, string>): Promise<string> {
  const src = path.join(dir, `${name}-src`);
  await mkdir(path.join(src, 'filestore'), { recursive: true });
  await writeFile(path.join(src, 'dump.sql'), '-- PostgreSQL database dump\n');
  for (const [rel, body] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(src, 'filestore', rel)), { recursive: true });
    await writeFile(path.join(src, 'filestore', rel), body);
  }
  const zip = path.join(dir, `${name}.zip`);
  await run('zip', ['-qry', zip, 'dump.sql', 'filestore'], { cwd: src });
  return zip;
}

test('original first, upgraded over it: a zip dump\'s filestore/ then the upgraded files; same names take the upgraded bytes', async () => {
  const original = await odooZip('orig', { 'ab/ab01': 'logo (original)', 'cd/cd02': 'invoice.pdf', 'ef/ef03': 'old asset' });
  const upgraded = await odooZip('upg', { 'ef/ef03': 'new asset', '12/1234': 'added by the upgrade' });
  const dest = path.join(dir, 'merged');
  const out = collect();
  const o = await copyFilestore((await sourceOf(original))!, dest, 'original', out.log);
  const u = await copyFilestore((await sourceOf(upgraded))!, dest, 'upgraded', out.log);
  assert.deepEqual([o.files, u.files], [3, 2]);
  assert.deepEqual(await tree(dest), { 'ab/ab01': 'logo (original)', 'cd/cd02': 'invoice.pdf', 'ef/ef03': 'new asset', '12/1234': 'added by the upgrade' });
  assert.equal((await readdir(path.join(dest, 'ef'))).length, 1, 'no temporary file left behind');
});

test('a tar.gz with symlinks, a hard link, a device, absolute and .. names: only the regular files land, all inside', async () => {
  const pack = tar.pack();
  pack.entry({ name: 'dump.sql' }, '-- an Odoo.sh-style backup: not an attachment');
  pack.entry({ name: 'filestore/ab/ab01' }, 'kept');
  pack.entry({ name: './cd/cd02' }, 'kept too');
  pack.entry({ name: 'ab/link', type: 'symlink', linkname: '/etc/passwd' });
  pack.entry({ name: 'ab/hard', type: 'link', linkname: 'ab/ab01' });
  pack.entry({ name: 'ab/dev', type: 'character-device', devmajor: 1, devminor: 3 });
  pack.entry({ name: '../escaped' }, 'must not exist');
  pack.entry({ name: '/tmp/absolute-escape' }, 'must not exist');
  pack.entry({ name: 'ab/../../escaped2' }, 'must not exist');
  pack.finalize();
  const file = path.join(dir, 'fs.tar.gz');
  await pipeline(pack, createGzip(), createWriteStream(file));
  const dest = path.join(dir, 'from-tar', 'filestore');
  const out = collect();
  const r = await copyFilestore((await sourceOf(file))!, dest, 'original', out.log);
  assert.equal(r.files, 2);
  assert.equal(r.skipped, 6);
  assert.deepEqual(await tree(dest), { 'ab/ab01': 'kept', 'cd/cd02': 'kept too' });
  assert.deepEqual(await readdir(path.join(dir, 'from-tar')), ['filestore'], 'nothing beside the filestore');
  assert.equal(await lstat('/tmp/absolute-escape').catch(() => undefined), undefined);
  const said = out.lines.join('\n');
  for (const m of [/"ab\/link".*a symlink/, /"ab\/hard".*a hard link/, /"ab\/dev".*character-device/, /"\.\.\/escaped".*leaves the filestore/]) assert.match(said, m);
});

test('a zip holding a symlink entry and a plain tar of a folder: the link is skipped', async () => {
  const src = path.join(dir, 'zip-link-src');
  await mkdir(path.join(src, 'ab'), { recursive: true });
  await writeFile(path.join(src, 'ab', 'ab01'), 'file');
  await symlink('/etc/hostname', path.join(src, 'ab', 'link'));
  const zip = path.join(dir, 'with-link.zip');
  await run('zip', ['-qry', '--symlinks', zip, 'ab'], { cwd: src });
  const out = collect();
  const dest = path.join(dir, 'from-zip-link');
  const r = await copyFilestore((await sourceOf(zip))!, dest, 'original', out.log);
  assert.deepEqual([r.files, r.skipped], [1, 1]);
  assert.deepEqual(await tree(dest), { 'ab/ab01': 'file' });
  assert.match(out.lines.join('\n'), /"ab\/link" in the original filestore: a symlink/);

  const plainTar = path.join(dir, 'plain.tar');
  await run('tar', ['-cf', plainTar, '-C', src, 'ab']);
  const dest2 = path.join(dir, 'from-plain-tar');
  const r2 = await copyFilestore((await sourceOf(plainTar))!, dest2, 'original', () => {});
  assert.deepEqual([r2.files, r2.skipped], [1, 1]);
});

test('a symlink already in filestore-dir is never written through', async () => {
  const outside = path.join(dir, 'outside');
  await mkdir(outside);
  const dest = path.join(dir, 'dest-with-link');
  await mkdir(dest);
  await symlink(outside, path.join(dest, 'ab'));
  const srcDir = path.join(dir, 'plain-folder');
  await mkdir(path.join(srcDir, 'ab'), { recursive: true });
  await writeFile(path.join(srcDir, 'ab', 'ab01'), 'x');
  const out = collect();
  const r = await copyFilestore({ kind: 'dir', path: srcDir }, dest, 'upgraded', out.log);
  assert.deepEqual([r.files, r.skipped], [0, 1]);
  assert.deepEqual(await readdir(outside), []);
  assert.match(out.lines.join('\n'), /a folder on its way is a symlink/);
});

test('free space is checked before copying', async () => {
  await assert.rejects(ensureSpace(dir, 2 ** 60, 'original'), (e: Error) => e instanceof FilestoreError && /not enough free disk space for the original filestore.*MiB are free/.test(e.message));
  await ensureSpace(dir, 1024, 'original');
});

test('safeJoin keeps names inside the root', () => {
  assert.equal(safeJoin('/fs', 'ab/abc'), '/fs/ab/abc');
  assert.equal(safeJoin('/fs', './ab//abc'), '/fs/ab/abc');
  for (const bad of ['../etc/passwd', '/etc/passwd', 'ab/../../x', 'C:\\x', 'a\0b', '', '.']) assert.equal(safeJoin('/fs', bad), undefined, bad);
});

test('original-filestore: a path, an https URL (fetched with the dump-url code), or a clear error naming the input', async () => {
  const zip = await odooZip('served', { 'ab/ab01': 'from the web' });
  const ctx = { workspace: dir, workDir: dir, githubToken: '', log: () => {}, dispatcher: srv.dispatcher };
  const local = await fetchOriginalFilestore(path.basename(zip), ctx);
  assert.equal(local.path, zip);

  srv.files.set('filestore.zip', { body: await readFile(zip) });
  const got = await fetchOriginalFilestore(`${srv.url}/files/filestore.zip`, ctx);
  try {
    const dest = path.join(dir, 'from-url');
    await copyFilestore((await sourceOf(got.path))!, dest, 'original', () => {});
    assert.deepEqual(await tree(dest), { 'ab/ab01': 'from the web' });
  } finally {
    await got.cleanup();
  }
  await assert.rejects(fetchOriginalFilestore(`${srv.url}/files/missing.zip`, ctx), /^OriginalFilestoreError: original-filestore: .*HTTP 404/);
  await assert.rejects(fetchOriginalFilestore('./no/such/folder', ctx), /original-filestore: nothing at .*no\/such\/folder/);
});

test('input rules: original-filestore needs restore-database and filestore-dir, a URL must be https; restore-jobs is 1..64', () => {
  const base: Record<string, string> = { contract: 'M1', email: 'a@b.co', target: '18.0', dump: 'db.dump' };
  const cfg = (extra: Record<string, string>) => readConfig((n) => ({ ...base, ...extra })[n]);
  const problems = (extra: Record<string, string>) => {
    try {
      cfg(extra);
      return [];
    } catch (e) {
      assert.ok(e instanceof InputError);
      return e.problems;
    }
  };
  assert.match(problems({ 'original-filestore': 'fs.zip' }).join('\n'), /`original-filestore` only applies with `restore-database` and `filestore-dir`/);
  const restoring = { 'restore-database': 'postgresql://u@localhost/x', 'filestore-dir': 'fs' };
  assert.match(problems({ ...restoring, 'original-filestore': 'http://example.com/fs.zip' }).join('\n'), /`original-filestore` must use https:\/\//);
  assert.deepEqual(problems({ ...restoring, 'original-filestore': 'https://example.com/fs.tar.gz' }), []);
  assert.equal(cfg({ ...restoring, 'original-filestore': 'prod-filestore' }).originalFilestore, 'prod-filestore');
  for (const bad of ['0', '65', 'two', '-1', '1.5']) assert.match(problems({ ...restoring, 'restore-jobs': bad }).join('\n'), /`restore-jobs` must be a whole number from 1 to 64/, bad);
  assert.equal(cfg({ ...restoring, 'restore-jobs': '8' }).restoreJobs, 8);
  assert.equal(cfg(restoring).restoreJobs, undefined);
  assert.match(problems({ 'restore-jobs': '2' }).join('\n'), /`restore-jobs` only applies with `restore-database`/);
  // The contract may come from the database with dump-database.
  assert.deepEqual(problems({ contract: '', dump: '', 'dump-database': 'postgresql://u@localhost/odoo' }), []);
  assert.match(problems({ contract: '' }).join('\n'), /`contract` is required/);
});

test('a filestore packed with its database folder (data-dir/filestore/<db>/...) lands with the buckets at the top', async () => {
  const data = path.join(dir, 'data-dir');
  await mkdir(path.join(data, 'filestore', 'prod', 'ab'), { recursive: true });
  await mkdir(path.join(data, 'filestore', 'prod', 'cd'), { recursive: true });
  await writeFile(path.join(data, 'filestore', 'prod', 'ab', 'ab01'), 'one');
  await writeFile(path.join(data, 'filestore', 'prod', 'cd', 'cd02'), 'two');
  const want = { 'ab/ab01': 'one', 'cd/cd02': 'two' };
  const tgz = path.join(dir, 'prod.tar.gz');
  await run('tar', ['-czf', tgz, '-C', data, 'filestore']);
  const zip = path.join(dir, 'prod-only.zip');
  await run('zip', ['-qr', zip, 'prod'], { cwd: path.join(data, 'filestore') });
  for (const [label, src] of [['folder', data], ['tar.gz', tgz], ['zip', zip]] as const) {
    const dest = path.join(dir, `wrapped-${label}`);
    await copyFilestore((await sourceOf(src))!, dest, 'original', () => {});
    assert.deepEqual(await tree(dest), want, label);
  }
});
