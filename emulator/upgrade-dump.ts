// The emulator's "upgrade": the uploaded dump is restored into a scratch database of the
// emulator's PostgreSQL with PostgreSQL's own tools, a visible change is made (a table
// `odoo_upgrade_emulator` recording the request and the target version), and the database is
// dumped again: as a directory-format dump (rpc, what Odoo's script restores with
// `pg_restore --format d --jobs N`) or as plain SQL (v1's dump.sql). The scratch database is
// dropped afterwards, whatever happened.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import yauzl from 'yauzl';
import type { PgServer } from './postgres.ts';

export const MARK_TABLE = 'odoo_upgrade_emulator';

export type UploadKind = 'sql' | 'gzip' | 'zip' | 'custom' | 'directory' | 'unknown';

export interface UpgradeInput {
  /** The uploaded dump: a file, or a directory-format dump's folder. */
  path: string;
  requestId: string | number;
  target: string;
}

/** What an upload is, from its first bytes (a folder holding toc.dat is a directory dump). */
export async function uploadKind(p: string): Promise<UploadKind> {
  const st = await stat(p);
  if (st.isDirectory()) return (await stat(`${p}/toc.dat`).catch(() => undefined))?.isFile() ? 'directory' : 'unknown';
  const fh = await open(p, 'r');
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const b = head.subarray(0, bytesRead);
    if (b.subarray(0, 5).toString('latin1') === 'PGDMP') return 'custom';
    if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (b.length >= 4 && b.readUInt32LE(0) === 0x04034b50) return 'zip';
    if (b.length > 0 && !b.includes(0)) return 'sql';
    return 'unknown';
  } finally {
    await fh.close();
  }
}

/** Restores the upload, adds the mark, dumps it as a directory dump into `outDir` (made by pg_dump). */
export async function upgradeToDirectory(pg: PgServer, input: UpgradeInput, outDir: string): Promise<void> {
  const jobs = await jobsFor(input.path);
  await withScratch(pg, input, (db) => tool(pg, 'pg_dump', ['--no-owner', '--format', 'd', '--jobs', jobs, '--file', outDir, '--dbname', db]));
}

/** Same, dumped as plain SQL into `outFile` (v1's dump.sql). */
export async function upgradeToSql(pg: PgServer, input: UpgradeInput, outFile: string): Promise<void> {
  await withScratch(pg, input, (db) => tool(pg, 'pg_dump', ['--no-owner', '--no-privileges', '--format', 'p', '--file', outFile, '--dbname', db]));
}

// Parallel workers pay off on big dumps only: each is one more process and login, which on a
// small dump costs more than it saves (the output is a directory dump either way).
const PARALLEL_FROM_BYTES = 64 * 1024 * 1024;

async function jobsFor(p: string): Promise<string> {
  const st = await stat(p);
  let bytes = st.size;
  if (st.isDirectory()) for (const f of await readdir(p)) bytes += (await stat(`${p}/${f}`)).size;
  return bytes >= PARALLEL_FROM_BYTES ? '2' : '1';
}

async function withScratch(pg: PgServer, input: UpgradeInput, dump: (db: string) => Promise<string>): Promise<void> {
  const db = `emu_${String(input.requestId).replace(/\W/g, '')}_${randomBytes(4).toString('hex')}`;
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const create = `CREATE DATABASE ${db} TEMPLATE template0 ENCODING 'UTF8'`;
  const mark = `CREATE TABLE IF NOT EXISTS public.${MARK_TABLE} (request_id text NOT NULL, target_version text NOT NULL, upgraded_at timestamptz NOT NULL DEFAULT now()); ` +
    `INSERT INTO public.${MARK_TABLE} (request_id, target_version) VALUES (${lit(String(input.requestId))}, ${lit(input.target)});`;
  try {
    const kind = await uploadKind(input.path);
    const sql = await sqlOf(kind, input.path);
    if (sql) {
      // SQL: one psql session creates the database, runs the upload and adds the mark (each process
      // spawned and each login costs a busy machine a few hundred milliseconds).
      await psqlScript(pg, sql, ['-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', create, '-c', `\\connect ${db}`, '-c', '\\unset ON_ERROR_STOP', '-f', '-', '-c', '\\set ON_ERROR_STOP 1', '-c', mark]);
    } else {
      await tool(pg, 'psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-c', create]);
      await restoreArchive(pg, db, kind, input.path);
      await tool(pg, 'psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', mark]);
    }
    await dump(db);
  } finally {
    // Off the build's path when the server takes it (close() waits for it): the result is ready before.
    const drop = tool(pg, 'psql', ['-X', '-q', '-d', 'postgres', '-c', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`]).catch(() => undefined);
    if (pg.later) pg.later(drop);
    else await drop;
  }
}

/** The upload as an SQL stream, when it is SQL (plain, gzipped, or dump.sql in a zip). */
async function sqlOf(kind: UploadKind, p: string): Promise<Readable | undefined> {
  switch (kind) {
    case 'sql': return createReadStream(p);
    case 'gzip': return createReadStream(p).pipe(createGunzip());
    case 'zip': return zipEntry(p, 'dump.sql');
    default: return undefined;
  }
}

async function restoreArchive(pg: PgServer, db: string, kind: UploadKind, p: string): Promise<void> {
  switch (kind) {
    case 'directory':
      await tool(pg, 'pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', '--format', 'd', '--jobs', await jobsFor(p), '--dbname', db, p]);
      return;
    case 'custom':
      await tool(pg, 'pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', '--dbname', db, p]);
      return;
    default:
      throw new Error('the upload is not a dump PostgreSQL can read (plain or gzipped SQL, a zip with dump.sql, a custom or directory dump)');
  }
}

// Plain SQL as Odoo's backups make it may name roles this server lacks (ALTER ... OWNER TO
// odoo): those errors are let through, any other one fails the restore.
async function psqlScript(pg: PgServer, sql: Readable, args: string[]): Promise<void> {
  const stderr = await tool(pg, 'psql', ['-X', '-q', ...args], sql);
  const errors = stderr.split('\n').filter((l) => /\bERROR:/.test(l) && !/role "[^"]*" does not exist/.test(l));
  if (errors.length) throw new Error(`psql could not restore the upload: ${errors.slice(0, 3).join(' | ')}`);
}

async function zipEntry(file: string, name: string): Promise<Readable> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: true }, (err, z) => (err ? reject(err) : resolve(z))),
  );
  return new Promise((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', () => reject(new Error(`the zip holds no ${name}`)));
    zip.on('entry', (entry: yauzl.Entry) => {
      if (entry.fileName !== name) return zip.readEntry();
      zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s as Readable)));
    });
    zip.readEntry();
  });
}

/** Runs a client tool against the scratch server; rejects with its last stderr lines; resolves with stderr. */
function tool(pg: PgServer, name: 'pg_dump' | 'pg_restore' | 'psql', args: string[], stdin?: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(pg.tool(name), args, { env: pg.env, stdio: [stdin ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      if (stderr.length > 64 * 1024) stderr = stderr.slice(-32 * 1024);
    });
    if (stdin) {
      stdin.on('error', (err) => child.kill() && reject(err));
      child.stdin!.on('error', () => {}); // psql may stop reading first: its exit code tells
      stdin.pipe(child.stdin!);
    }
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) return resolve(stderr);
      const tail = stderr.trim().split('\n').slice(-3).join(' | ');
      reject(new Error(`${name} failed (exit ${code}): ${tail}`));
    });
  });
}
