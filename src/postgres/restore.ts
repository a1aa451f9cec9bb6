// The `restore-database` and `filestore-dir` inputs: the upgraded dump goes into a
// PostgreSQL server (a fresh or empty database, never one holding data) and the filestore
// into a folder, the way Odoo's own script does it: the original filestore first, the
// upgraded files over it. Any pair of PostgreSQL versions that can work does: pg_restore
// and psql are picked at least as new as the pg_dump that made the dump, and session
// settings an older server does not know (pg_dump 17's `transaction_timeout`) are dropped
// from plain SQL. Custom and directory dumps restore in parallel (`restore-jobs`).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { secrets as defaultSecrets, type SecretRegistry } from '../secrets.ts';
import { listZip, openZipEntry } from '../formats/zip.ts';
import { readHead } from '../formats/io.ts';
import type { DownloadedFile } from '../platform/types.ts';
import type { Config } from '../inputs.ts';
import { splitConnection, withDatabase, literal, ident, type ConnectionParts } from './connection.ts';
import { findRestoreTools } from './tools.ts';
import { dumpVersions, sqlVersions, streamHead, type DumpVersions } from './dump-version.ts';
import { UnknownSettingFilter, psqlKnowsRestrict } from './sql-filter.ts';
import { PgClient, RestoreError } from './psql.ts';
import { copyFilestore, sourceOf, zipHasFilestore, type FilestoreSource } from './filestore.ts';

export { RestoreError } from './psql.ts';
export { safeJoin } from './filestore.ts';
export { withDatabase } from './connection.ts';

const INPUT = 'restore-database';

export interface RestoreOptions {
  /** libpq connection string (URI or keywords) naming the database to create or fill. */
  connection: string;
  /** The upgraded dump: a v1 zip (dump.sql + filestore/), plain or gzipped SQL, a custom-format file, or a directory dump. */
  dump: string;
  /** A filestore folder downloaded beside the dump (rpc): the upgraded files. */
  filestore?: string;
  /** Where the filestore goes. Empty: not copied. */
  filestoreDir?: string;
  /**
   * The original filestore, laid down before the upgraded files: a folder, a zip (an Odoo
   * dump zip's `filestore/`, or a zip of the filestore), or a tar (maybe gzipped).
   */
  originalFilestore?: string;
  /** Which input the original came from, for messages. */
  originalLabel?: string;
  /** pg_restore --jobs for custom and directory dumps; default: the runner's cores. */
  jobs?: number;
  log: (line: string) => void;
  signal?: AbortSignal;
  secrets?: SecretRegistry;
  /** A folder holding psql and pg_restore, instead of searching PATH and /usr/lib/postgresql. */
  binDir?: string;
}

export interface RestoreResult {
  database: string;
  tables: number;
  /** Files written into filestore-dir (original and upgraded; a name in both counts once). */
  filestoreFiles: number;
  originalFiles?: number;
  upgradedFiles?: number;
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
  if (opts.jobs !== undefined && !(Number.isInteger(opts.jobs) && opts.jobs >= 1 && opts.jobs <= 64)) {
    throw new RestoreError(`restore-jobs: must be a whole number from 1 to 64, got ${opts.jobs}.`);
  }
  const shape = await shapeOf(opts.dump);
  const versions = shape === 'zip' ? await zipSqlVersions(opts.dump) : await dumpVersions(opts.dump, shape);
  const archive = shape === 'custom' || shape === 'directory';
  // pg_restore must read the archive: at least the pg_dump's major. psql runs plain SQL of any version.
  const tools = await findRestoreTools({ binDir: opts.binDir, minMajor: archive ? versions.major : undefined, input: INPUT });
  const pg = new PgClient({ tools, parts, secrets: reg, log, signal: opts.signal, input: INPUT });

  const maintenance = withDatabase(parts, 'postgres');
  // One login for both: each psql is a process and a server backend.
  // Plain SQL also needs the server's settings (pg_settings is the same in every database).
  const settings = archive ? '' : ", (SELECT string_agg(name, ',') FROM pg_catalog.pg_settings)";
  const [version, existsFlag, settingNames = ''] = (
    await pg.query(maintenance, `SELECT current_setting('server_version'), EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = ${literal(database)})${settings}`)
  )
    .trim()
    .split('|');
  const serverVersion = version.split(' ')[0];
  const made = versions.pgDump ? `made by pg_dump ${versions.pgDump.split(' ')[0]}` : 'pg_dump version not recorded';
  log(`Restoring ${path.basename(opts.dump)} (${shape}, ${made}) into database "${database}" on PostgreSQL ${serverVersion}, with ${archive ? 'pg_restore' : 'psql'} ${tools.version}.`);
  if (!archive && versions.major !== undefined && tools.major < versions.major) {
    log(`Note: psql ${tools.version} is older than the pg_dump ${versions.major} that wrote this SQL; plain SQL usually still runs. If it does not, install client tools ${versions.major} or newer.`);
  }

  const created = await prepareDatabase(pg, parts, database, existsFlag === 't', log);
  try {
    if (archive) {
      const jobs = opts.jobs ?? availableParallelism();
      // --jobs and --single-transaction exclude each other: with several jobs, a failure is
      // cleaned up by dropping the database this run created.
      const mode = jobs > 1 ? [`--jobs=${Math.min(jobs, 64)}`] : ['--single-transaction'];
      log(`pg_restore with ${jobs > 1 ? `${jobs} parallel jobs` : 'one job, in one transaction'}.`);
      await pg.pgRestore(['--no-owner', '--no-privileges', '--exit-on-error', ...mode, `--dbname=${parts.conn}`, opts.dump]);
    } else {
      const listed = settingNames.split(',').map((l) => l.trim().toLowerCase());
      const known = new Set([...listed, ...HIDDEN_SETTINGS].filter(Boolean));
      const filter = new UnknownSettingFilter({
        known,
        dropRestrict: !psqlKnowsRestrict(tools.version),
        onDrop: (line, setting) =>
          log(
            setting.startsWith('\\')
              ? `Dropped pg_dump's \`${setting}\` line from the dump: psql ${tools.version} predates that command (it guards psql against a malicious server while restoring; the dump here comes from the upgrade).`
              : `Dropped \`${line.trim()}\` from the dump: PostgreSQL ${serverVersion} has no setting "${setting}" (a newer pg_dump wrote it; it only sets a session default).`,
          ),
      });
      await pg.psqlStream(parts.conn, (await sqlStream(opts.dump, shape)).pipe(filter));
    }
  } catch (err) {
    if (created && (err as Error)?.name !== 'AbortError') {
      await pg.query(maintenance, `DROP DATABASE IF EXISTS ${ident(database)}`).then(
        () => log(`The restore failed: dropped the database "${database}" this run created, so a new run can start clean.`),
        () => log(`The restore failed, and the partly restored database "${database}" could not be dropped: drop it before trying again.`),
      );
    } else if (!created && archive) {
      log(`The restore failed: database "${database}" may hold a partial restore; empty or drop it before trying again.`);
    }
    throw err;
  }
  const tables = Number((await pg.query(parts.conn, USER_TABLES)).trim());
  log(`Database "${database}" restored: ${tables} tables.`);

  const result: RestoreResult = { database, tables, filestoreFiles: 0 };
  if (opts.filestoreDir) Object.assign(result, await restoreFilestore(opts, shape, log));
  else if (opts.originalFilestore) log('`original-filestore` is not used: `filestore-dir` is empty, so no filestore is written.');
  return result;
}

/** Settings every server has that pg_settings does not list (GUC_NO_SHOW_ALL): never dropped. */
const HIDDEN_SETTINGS = ['role', 'session_authorization', 'is_superuser', 'seed', 'transaction_isolation', 'transaction_read_only', 'transaction_deferrable'];

const USER_TABLES =
  "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " +
  "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'";

/** Creates the database (true), or accepts an existing one only when it holds no table (false): data is never overwritten. */
async function prepareDatabase(pg: PgClient, parts: ConnectionParts, database: string, exists: boolean, log: (l: string) => void): Promise<boolean> {
  const maintenance = withDatabase(parts, 'postgres');
  if (exists) {
    const tables = Number((await pg.query(parts.conn, USER_TABLES)).trim());
    if (tables > 0) {
      throw new RestoreError(
        `${INPUT}: database "${database}" already exists and holds ${tables} tables; this action never restores over data. ` +
          `Name a new database in the connection string, or drop this one first (\`dropdb "${database}"\`) if it is a disposable copy.`,
      );
    }
    log(`Database "${database}" exists and is empty: restoring into it.`);
    return false;
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
  return true;
}

// ---------------------------------------------------------------------------------------
// The dump

async function shapeOf(p: string): Promise<DumpShape> {
  const st = await stat(p).catch(() => undefined);
  if (!st) throw new RestoreError(`${INPUT}: the upgraded dump ${p} is missing.`);
  if (st.isDirectory()) {
    if ((await stat(path.join(p, 'toc.dat')).catch(() => undefined))?.isFile()) return 'directory';
    throw new RestoreError(`${INPUT}: ${p} is a folder without toc.dat, not a pg_dump directory dump.`);
  }
  const head = Buffer.concat([await readHead(p, 8), Buffer.alloc(8)]);
  if (head.subarray(0, 5).toString('latin1') === 'PGDMP') return 'custom';
  if (head.readUInt32LE(0) === 0x04034b50) return 'zip';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'sql.gz';
  return 'sql';
}

async function zipSqlVersions(zip: string): Promise<DumpVersions> {
  const entry = (await listZip(zip)).find((e) => e.name === 'dump.sql');
  return entry ? sqlVersions(await streamHead(await openZipEntry(zip, entry))) : {};
}

async function sqlStream(p: string, shape: DumpShape): Promise<Readable> {
  if (shape === 'sql') return createReadStream(p, { highWaterMark: 1 << 20 });
  if (shape === 'sql.gz') return createReadStream(p, { highWaterMark: 1 << 20 }).pipe(createGunzip());
  const entry = (await listZip(p)).find((e) => e.name === 'dump.sql');
  if (!entry) throw new RestoreError(`${INPUT}: the upgraded archive ${path.basename(p)} holds no dump.sql.`);
  return openZipEntry(p, entry);
}

// ---------------------------------------------------------------------------------------
// The filestore: original first, upgraded over it

async function restoreFilestore(opts: RestoreOptions, shape: DumpShape, log: (l: string) => void): Promise<Pick<RestoreResult, 'filestoreFiles' | 'originalFiles' | 'upgradedFiles'>> {
  const dest = opts.filestoreDir!;
  const label = opts.originalLabel ?? 'original-filestore';
  let original: FilestoreSource | undefined;
  if (opts.originalFilestore) {
    original = await sourceOf(opts.originalFilestore);
    if (!original) {
      throw new RestoreError(`${label}: ${opts.originalFilestore} is neither a folder nor a zip or tar archive of a filestore. Give the filestore folder, or a .zip/.tar/.tar.gz of it.`);
    }
  }
  let upgraded: FilestoreSource | undefined;
  if (shape === 'zip' && (await zipHasFilestore(opts.dump))) upgraded = { kind: 'zip', path: opts.dump, prefix: 'filestore/' };
  else if (opts.filestore) upgraded = { kind: 'dir', path: opts.filestore };

  let originalFiles = 0;
  if (original) {
    const r = await copyFilestore(original, dest, 'original', log);
    originalFiles = r.files;
    log(`Filestore: ${r.files} original files (${label}) copied into ${dest}.`);
  } else {
    log(
      'No original filestore (the dump carries none and `original-filestore` is not set): the restored database has only the upgraded files ' +
        'the platform returned, so attachments the upgrade did not touch are missing. Set `original-filestore` to the production filestore for a complete copy.',
    );
  }
  let upgradedFiles = 0;
  if (upgraded) {
    const r = await copyFilestore(upgraded, dest, 'upgraded', log);
    upgradedFiles = r.files;
    log(`Filestore: ${r.files} upgraded files laid over it.`);
  } else log('The upgrade returned no filestore files.');
  const filestoreFiles = await countFiles(dest);
  log(`Filestore: ${filestoreFiles} files in ${dest}.`);
  return { filestoreFiles, originalFiles, upgradedFiles };
}

async function countFiles(dir: string): Promise<number> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).length;
}

/** The downloaded files a restore starts from, or why there are none. */
export function restoreSources(downloads: DownloadedFile[]): { dump: string; filestore?: string } {
  const dump = downloads.find((f) => f.role === 'dump' || f.role === 'sql');
  if (!dump) throw new RestoreError(`${INPUT}: nothing to restore: no upgraded dump was downloaded (\`download: none\`?).`);
  return { dump: dump.path, filestore: downloads.find((f) => f.role === 'filestore')?.path };
}

export interface RestoreStepOptions {
  log: (l: string) => void;
  signal?: AbortSignal;
  /** The dump that was uploaded: its `filestore/` (an Odoo zip dump) is the original filestore. */
  originalDump?: string;
  /** Where `original-filestore` downloads go. */
  workDir?: string;
  env?: NodeJS.ProcessEnv;
  secrets?: SecretRegistry;
}

/** The original filestore: `original-filestore` (fetched if need be), else the uploaded zip dump's own. */
export async function findOriginal(cfg: Config, opts: RestoreStepOptions, workspace: string): Promise<{ path: string; label: string; cleanup: () => Promise<void> } | undefined> {
  if (cfg.originalFilestore) {
    const { fetchOriginalFilestore } = await import('./original-filestore.ts');
    const got = await fetchOriginalFilestore(cfg.originalFilestore, { workspace, workDir: opts.workDir ?? workspace, githubToken: cfg.githubToken, log: opts.log, signal: opts.signal, env: opts.env, secrets: opts.secrets });
    return { ...got, label: 'original-filestore' };
  }
  if (opts.originalDump && (await shapeOf(opts.originalDump).catch(() => undefined)) === 'zip' && (await zipHasFilestore(opts.originalDump))) {
    opts.log(`The original filestore comes from the uploaded dump ${path.basename(opts.originalDump)} (its filestore/).`);
    return { path: opts.originalDump, label: 'the uploaded dump', cleanup: async () => {} };
  }
  return undefined;
}

/**
 * Checks made before anything is sent, so a restore that cannot happen fails in seconds, not
 * after the upgrade: client tools present, and an `original-filestore` meant as a path exists.
 */
export async function preflightRestore(cfg: Config, opts: { log: (l: string) => void }): Promise<void> {
  if (!cfg.restoreDatabase) return;
  const tools = await findRestoreTools({ input: INPUT });
  opts.log(`Restore: psql and pg_restore ${tools.version} found (${path.dirname(tools.pgRestore)}).`);
  const v = cfg.originalFilestore;
  if (v && cfg.filestoreDir && !/^[a-z][a-z0-9+.-]*:\/\//i.test(v) && (/[/\\]/.test(v) || v.startsWith('.') || v.startsWith('~'))) {
    const { resolvePath } = await import('../source/path.ts');
    const abs = resolvePath(v);
    if (!(await stat(abs).catch(() => undefined))) {
      throw new RestoreError(`original-filestore: nothing at ${abs}. Give the path of the original filestore folder (or a zip/tar of it), an artifact name, or an https URL.`);
    }
  }
}
