// The `restore-database` and `filestore-dir` inputs: the upgraded dump goes into a
// PostgreSQL server (a fresh or empty database, never one holding data) and the upgraded
// filestore into a folder, so later steps can run Odoo on the result. The password
// travels in PGPASSWORD only (no argv, no message), and whatever the PostgreSQL tools
// print is redacted before it is logged or thrown.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, constants as fsConstants } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import * as core from '@actions/core';
import { writeOutputs } from './publish/index.ts';
import { secrets as defaultSecrets, type SecretRegistry } from './secrets.ts';
import { splitConnection, findPgDump, type ConnectionParts } from './source/database.ts';
import { listZip, openZip, openZipEntry, type ZipEntry } from './formats/zip.ts';
import type { DownloadedFile } from './platform/types.ts';
import type { Config } from './inputs.ts';
import type { RunReport } from './publish/report.ts';

const INPUT = 'restore-database';

export class RestoreError extends Error {
  override name = 'RestoreError';
}

export interface RestoreOptions {
  /** libpq connection string (URI or keywords) naming the database to create or fill. */
  connection: string;
  /** The upgraded dump: a v1 zip (dump.sql + filestore/), plain or gzipped SQL, a custom-format file, or a directory dump. */
  dump: string;
  /** A filestore folder downloaded beside the dump (rpc). */
  filestore?: string;
  /** Where the filestore goes (merged: files already there are kept). Empty: not copied. */
  filestoreDir?: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  secrets?: SecretRegistry;
  /** A folder holding psql and pg_restore, instead of searching PATH and /usr/lib/postgresql. */
  binDir?: string;
}

export interface RestoreResult {
  database: string;
  tables: number;
  filestoreFiles: number;
}

type DumpShape = 'zip' | 'sql' | 'sql.gz' | 'custom' | 'directory';

export async function restoreUpgraded(opts: RestoreOptions): Promise<RestoreResult> {
  const reg = opts.secrets ?? defaultSecrets;
  const raw = opts.connection.trim();
  reg.add(raw);
  if (/^postgres(ql)?:\/\//i.test(raw)) reg.addUrl(raw);
  const parts = splitConnection(raw);
  reg.add(parts.password);
  const log = (line: string) => opts.log(reg.redact(line));
  try {
    return await restore(opts, parts, reg, log);
  } catch (err) {
    throw (err as Error)?.name === 'AbortError' ? err : reg.redactError(err);
  }
}

async function restore(opts: RestoreOptions, parts: ConnectionParts, reg: SecretRegistry, log: (l: string) => void): Promise<RestoreResult> {
  const database = parts.dbname;
  if (!database) throw new RestoreError(`${INPUT}: the connection string names no database; add one (\`postgresql://user@host:5432/<new database>\`).`);
  const shape = await shapeOf(opts.dump);
  const tools = await findTools(opts.binDir);
  const pg = new Pg(tools, parts, reg, log, opts.signal);

  await prepareDatabase(pg, parts, database, log);

  log(`Restoring ${path.basename(opts.dump)} (${shape}) into database "${database}"`);
  if (shape === 'custom' || shape === 'directory') {
    await pg.run('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', `--dbname=${parts.conn}`, opts.dump]);
  } else {
    await pg.psqlStream(parts.conn, await sqlStream(opts.dump, shape));
  }
  const tables = Number((await pg.query(parts.conn, USER_TABLES)).trim());
  log(`Database "${database}" restored: ${tables} tables.`);

  let filestoreFiles = 0;
  if (opts.filestoreDir) {
    filestoreFiles = shape === 'zip' ? await filestoreFromZip(opts.dump, opts.filestoreDir, log) : opts.filestore ? await copyTree(opts.filestore, opts.filestoreDir, log) : 0;
    log(`Filestore: ${filestoreFiles} files in ${opts.filestoreDir}`);
  }
  return { database, tables, filestoreFiles };
}

const USER_TABLES =
  "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " +
  "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'";

/** Creates the database, or accepts an existing one only when it holds no table: data is never overwritten. */
async function prepareDatabase(pg: Pg, parts: ConnectionParts, database: string, log: (l: string) => void): Promise<void> {
  const maintenance = withDatabase(parts, 'postgres');
  const exists = (await pg.query(maintenance, `SELECT 1 FROM pg_catalog.pg_database WHERE datname = ${literal(database)}`)).trim() === '1';
  if (exists) {
    const tables = Number((await pg.query(parts.conn, USER_TABLES)).trim());
    if (tables > 0) {
      throw new RestoreError(
        `${INPUT}: database "${database}" already exists and holds ${tables} tables; this action never restores over data. ` +
          `Name a new database in the connection string, or drop this one first (\`dropdb "${database}"\`) if it is a disposable copy.`,
      );
    }
    log(`Database "${database}" exists and is empty: restoring into it.`);
    return;
  }
  try {
    await pg.query(maintenance, `CREATE DATABASE ${ident(database)} TEMPLATE template0 ENCODING 'UTF8'`);
  } catch (err) {
    if (/permission denied/i.test((err as Error).message)) {
      throw new RestoreError(
        `${INPUT}: the role may not create databases. Create "${database}" empty beforehand (\`createdb -O <role> "${database}"\`), or grant the role CREATEDB.`,
      );
    }
    throw err;
  }
  log(`Created database "${database}".`);
}

// ---------------------------------------------------------------------------------------
// Running psql and pg_restore

interface Tools {
  psql: string;
  pgRestore: string;
}

async function findTools(binDir?: string): Promise<Tools> {
  let dir = binDir;
  if (!dir) {
    try {
      dir = path.dirname((await findPgDump()).path);
    } catch {
      throw new RestoreError(
        `${INPUT}: the PostgreSQL client tools (psql, pg_restore) were not found on PATH or in /usr/lib/postgresql/*/bin. ` +
          'Install them in an earlier step, of the target server\'s major version or newer (`sudo apt-get install -y postgresql-client`).',
      );
    }
  }
  return { psql: path.join(dir, 'psql'), pgRestore: path.join(dir, 'pg_restore') };
}

class Pg {
  private readonly tools: Tools;
  private readonly env: NodeJS.ProcessEnv;
  private readonly reg: SecretRegistry;
  private readonly log: (l: string) => void;
  private readonly signal?: AbortSignal;

  constructor(tools: Tools, parts: ConnectionParts, reg: SecretRegistry, log: (l: string) => void, signal?: AbortSignal) {
    this.tools = tools;
    this.env = { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '30', PGAPPNAME: 'odoo-upgrade-action' };
    if (parts.password !== undefined) this.env.PGPASSWORD = parts.password;
    this.reg = reg;
    this.log = log;
    this.signal = signal;
  }

  /** One statement through psql; its unaligned output. */
  query(conn: string, sql: string): Promise<string> {
    return this.exec(this.tools.psql, ['--no-password', '--no-psqlrc', '-qAtX', '-v', 'ON_ERROR_STOP=1', `--dbname=${conn}`, '-c', sql], undefined, true);
  }

  /** A whole SQL script fed on stdin, in one transaction: a failure leaves the database empty. */
  psqlStream(conn: string, input: Readable): Promise<string> {
    const args = ['--no-password', '--no-psqlrc', '-qX', '-v', 'ON_ERROR_STOP=1', '--single-transaction', `--dbname=${conn}`, '-f', '-'];
    return this.exec(this.tools.psql, args, input, false);
  }

  run(tool: 'pg_restore', args: string[]): Promise<string> {
    return this.exec(this.tools.pgRestore, ['--no-password', ...args], undefined, false);
  }

  private async exec(bin: string, args: string[], input: Readable | undefined, capture: boolean): Promise<string> {
    const child = spawn(bin, args, { env: this.env, stdio: [input ? 'pipe' : 'ignore', capture ? 'pipe' : 'ignore', 'pipe'], signal: this.signal });
    const stderr: string[] = [];
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      for (const line of d.split('\n')) {
        if (!line.trim()) continue;
        stderr.push(this.reg.redact(line));
        if (stderr.length > 40) stderr.shift();
      }
    });
    const closed = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    // psql stops reading at the first error (ON_ERROR_STOP): a broken pipe then is expected.
    const fed = input ? pipeline(input, child.stdin!).catch((e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? undefined : e)) : Promise.resolve(undefined);
    const [code, feedError] = await Promise.all([closed, fed]);
    const name = path.basename(bin);
    if (code !== 0) throw explain(name, code, stderr);
    if (feedError) throw new RestoreError(`${INPUT}: could not read the upgraded dump: ${feedError.message}`);
    for (const line of stderr.filter((l) => !/^NOTICE:/.test(l)).slice(-10)) this.log(`  ${name}: ${line}`);
    return stdout;
  }
}

function explain(tool: string, code: number | null, stderr: string[]): RestoreError {
  const text = stderr.join('\n');
  const tail = stderr.slice(-6).join(' | ') || 'no message';
  if (/unsupported version .* in file header/i.test(text)) {
    return new RestoreError(`${INPUT}: ${tool} is older than the pg_dump that made the upgraded dump (${tail}). Install newer PostgreSQL client tools in an earlier step.`);
  }
  if (/password authentication failed|no password supplied/i.test(text)) {
    return new RestoreError(`${INPUT}: the server refused the login (${tail}). Check the user and password in the connection string.`);
  }
  if (/could not connect|Connection refused|could not translate host name|timeout expired/i.test(text)) {
    return new RestoreError(`${INPUT}: ${tool} could not reach the server (${tail}). Check the host and port, and that the runner can reach it (a service container maps its port to localhost).`);
  }
  return new RestoreError(`${INPUT}: ${tool} failed (exit ${code ?? 'signal'}): ${tail}`);
}

/** The same connection with another database: to look around and create the target. */
export function withDatabase(parts: ConnectionParts, dbname: string): string {
  const conn = parts.conn;
  const uri = /^(postgres(?:ql)?:\/\/[^/?]*)(\/[^?]*)?(\?.*)?$/i.exec(conn);
  if (uri) {
    const query = (uri[3] ?? '').slice(1).split('&').filter((p) => p && !/^dbname=/i.test(p));
    return `${uri[1]}/${encodeURIComponent(dbname)}${query.length ? `?${query.join('&')}` : ''}`;
  }
  if (conn.includes('=')) return `${conn.replace(/(^|\s)dbname='(?:[^'\\]|\\.)*'/g, '').trim()} dbname='${dbname}'`;
  return dbname;
}

function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function ident(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

// ---------------------------------------------------------------------------------------
// The dump and the filestore

async function shapeOf(p: string): Promise<DumpShape> {
  const st = await stat(p).catch(() => undefined);
  if (!st) throw new RestoreError(`${INPUT}: the upgraded dump ${p} is missing.`);
  if (st.isDirectory()) {
    if ((await stat(path.join(p, 'toc.dat')).catch(() => undefined))?.isFile()) return 'directory';
    throw new RestoreError(`${INPUT}: ${p} is a folder without toc.dat, not a pg_dump directory dump.`);
  }
  const fh = await open(p, 'r');
  const head = Buffer.alloc(8);
  try {
    await fh.read(head, 0, 8, 0);
  } finally {
    await fh.close();
  }
  if (head.subarray(0, 5).toString('latin1') === 'PGDMP') return 'custom';
  if (head.readUInt32LE(0) === 0x04034b50) return 'zip';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'sql.gz';
  return 'sql';
}

async function sqlStream(p: string, shape: DumpShape): Promise<Readable> {
  if (shape === 'sql') return createReadStream(p, { highWaterMark: 1 << 20 });
  if (shape === 'sql.gz') return createReadStream(p, { highWaterMark: 1 << 20 }).pipe(createGunzip());
  const entry = (await listZip(p)).find((e) => e.name === 'dump.sql');
  if (!entry) throw new RestoreError(`${INPUT}: the upgraded archive ${path.basename(p)} holds no dump.sql.`);
  return openZipEntry(p, entry);
}

/** A zip entry's place under `root`, or undefined for names that would leave it. */
export function safeJoin(root: string, rel: string): string | undefined {
  if (!rel || rel.includes('\0') || path.isAbsolute(rel) || rel.split(/[\\/]/).some((s) => s === '..')) return undefined;
  return path.join(root, rel);
}

async function filestoreFromZip(zip: string, dest: string, log: (l: string) => void): Promise<number> {
  const archive = await openZip(zip); // one read of the central directory for every entry
  try {
    const entries: ZipEntry[] = archive.entries.filter((e) => e.name.startsWith('filestore/') && !e.isDirectory);
    await mkdir(dest, { recursive: true });
    let files = 0;
    for (const e of entries) {
      const target = safeJoin(dest, e.name.slice('filestore/'.length));
      if (!target) {
        log(`Skipped the archive entry "${e.name}": its name leaves the filestore.`);
        continue;
      }
      files++;
      if (await stat(target).catch(() => undefined)) continue; // content-addressed: same name, same bytes
      await mkdir(path.dirname(target), { recursive: true });
      await pipeline(await archive.open(e), createWriteStream(target, { flags: 'wx' }));
    }
    return files;
  } finally {
    archive.close();
  }
}

/** Regular files only: a symlink in a downloaded tree could point anywhere on the runner. */
async function copyTree(src: string, dest: string, log: (l: string) => void): Promise<number> {
  await mkdir(dest, { recursive: true });
  let files = 0;
  for (const name of await readdir(src)) {
    const from = path.join(src, name);
    const to = path.join(dest, name);
    const st = await lstat(from);
    if (st.isDirectory()) files += await copyTree(from, to, log);
    else if (st.isFile()) {
      files++;
      await copyFile(from, to, fsConstants.COPYFILE_EXCL).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    } else log(`Skipped ${name} in the filestore: not a regular file.`);
  }
  return files;
}

/** The downloaded files a restore starts from, or why there are none. */
export function restoreSources(downloads: DownloadedFile[]): { dump: string; filestore?: string } {
  const dump = downloads.find((f) => f.role === 'dump' || f.role === 'sql');
  if (!dump) throw new RestoreError(`${INPUT}: nothing to restore: no upgraded dump was downloaded (\`download: none\`?).`);
  return { dump: dump.path, filestore: downloads.find((f) => f.role === 'filestore')?.path };
}

/** The pipeline's restore phase: after the downloads, before publishing. */
export async function restoreStep(report: RunReport, cfg: Config, opts: { log: (l: string) => void; signal?: AbortSignal }): Promise<void> {
  if (!cfg.restoreDatabase) {
    if (cfg.filestoreDir) opts.log('Input `filestore-dir` is ignored without `restore-database`.');
    return;
  }
  const from = restoreSources(report.downloads);
  const r = await core.group('Restore the upgraded database', () =>
    restoreUpgraded({ connection: cfg.restoreDatabase, ...from, filestoreDir: cfg.filestoreDir ? path.resolve(process.env.GITHUB_WORKSPACE || '.', cfg.filestoreDir) : undefined, log: opts.log, signal: opts.signal }),
  );
  report.restored = { ...r, filestoreDir: cfg.filestoreDir || undefined };
  writeOutputs({ 'restored-database': r.database });
}
