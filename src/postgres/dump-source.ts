// The `dump-database` input: runs the system pg_dump against a connection string. The
// password is taken out of the string and handed over in PGPASSWORD, so it is in no
// command line (visible in `ps`) and in no libpq message quoting the string; everything
// pg_dump prints is redacted before it is logged.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { secrets as defaultSecrets, type SecretRegistry } from '../secrets.ts';
import { DumpError, pathSize } from '../formats/inspect.ts';
import { progress } from '../transfer/progress.ts';
import type { ResolvedDump } from '../source/types.ts';
import { splitConnection, describeTarget, type ConnectionParts } from './connection.ts';
import { candidates, installHint, newest, type PgBinary } from './tools.ts';

export interface FromDatabaseOptions {
  connection: string;
  format: 'custom' | 'directory';
  jobs?: number;
  workDir: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  secrets?: SecretRegistry;
  /** A pg_dump to use instead of searching PATH and /usr/lib/postgresql/*\/bin. */
  pgDump?: string;
  progressIntervalMs?: number;
}

const INPUT = 'dump-database';

export async function fromDatabase(opts: FromDatabaseOptions): Promise<ResolvedDump> {
  const reg = opts.secrets ?? defaultSecrets;
  const raw = opts.connection.trim();
  const parts = splitConnection(raw);
  // The whole string, unless it is a bare database name: masking "odoo" would blank out
  // every mention of upgrade.odoo.com. Query values such as sslmode stay readable.
  if (raw !== parts.dbname) reg.add(raw);
  reg.add(parts.password);
  reg.add(/sslpassword=([^&\s]+)/.exec(raw)?.[1]);
  const log = (line: string) => opts.log(reg.redact(line));

  const pgDump = await findPgDump(opts.pgDump);
  const target = describeTarget(parts);
  const dir = await mkdtemp(join(opts.workDir, 'dump-database-'));
  const out = join(dir, `${safeName(parts.dbname ?? parts.user ?? 'database')}.dump`);
  const jobs = Math.max(1, Math.floor(opts.jobs ?? Math.min(4, availableParallelism())));
  const cmd = pgDumpCommand(parts, opts.format, jobs, out);
  log(`Running pg_dump ${pgDump.version} (${opts.format === 'custom' ? 'custom format' : `directory format, ${jobs} jobs`}) on ${target}`);
  try {
    await runPgDump(pgDump.path, cmd, out, { ...opts, log }, reg);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    // An abort carries no secret, and its DOMException cause cannot be rewritten.
    throw (err as Error)?.name === 'AbortError' ? err : reg.redactError(err);
  }
  return { path: out, kind: 'database', description: `pg_dump of ${target}`, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The arguments and environment pg_dump runs with: the password only in the environment. */
export function pgDumpCommand(parts: ConnectionParts, format: 'custom' | 'directory', jobs: number, out: string): { args: string[]; env: NodeJS.ProcessEnv } {
  const args = format === 'custom' ? ['--format=custom'] : ['--format=directory', `--jobs=${jobs}`];
  args.push('--no-password', `--file=${out}`, `--dbname=${parts.conn}`);
  const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '30' };
  if (parts.password !== undefined) env.PGPASSWORD = parts.password;
  return { args, env };
}

async function runPgDump(bin: string, cmd: { args: string[]; env: NodeJS.ProcessEnv }, out: string, opts: FromDatabaseOptions, reg: SecretRegistry): Promise<void> {
  const child = spawn(bin, cmd.args, { env: cmd.env, stdio: ['ignore', 'ignore', 'pipe'], signal: opts.signal, killSignal: 'SIGTERM' });
  const stderr: string[] = [];
  let partial = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) keep(l);
  });
  const keep = (line: string) => {
    if (!line.trim()) return;
    const safe = reg.redact(line);
    stderr.push(safe);
    if (stderr.length > 40) stderr.shift();
    opts.log(safe);
  };
  const bar = progress({ label: 'pg_dump written', log: opts.log, intervalMs: opts.progressIntervalMs ?? 30_000 });
  const poll = setInterval(() => pathSize(out).then(bar.update, () => {}), Math.min(5000, opts.progressIntervalMs ?? 5000));
  poll.unref();
  let code: number | null;
  try {
    code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    });
  } finally {
    clearInterval(poll);
    if (partial) keep(partial);
  }
  if (code === 0) {
    bar.update(await pathSize(out));
    bar.finish();
    return;
  }
  throw explainFailure(code, stderr);
}

export function explainFailure(code: number | null, stderr: string[]): DumpError {
  const text = stderr.join('\n');
  const tail = stderr.slice(-6).join(' | ');
  if (/server version mismatch/i.test(text)) {
    const server = /server version:\s*([\d.]+\w*)/i.exec(text)?.[1];
    const mine = /pg_dump version:\s*([\d.]+\w*)/i.exec(text)?.[1];
    const major = server?.split('.')[0];
    return new DumpError(
      `${INPUT}: pg_dump ${mine ?? '(this version)'} is older than the server (PostgreSQL ${server ?? 'newer'}) and refuses to dump it. ` +
        `Install the client tools of version ${major ?? 'the server\'s major'} or newer in an earlier step (${installHint(major ? Number(major) : undefined)}); ` +
        'this action uses the newest pg_dump it finds on PATH or in /usr/lib/postgresql/*/bin.',
    );
  }
  if (/password authentication failed|no password supplied|authentication failed/i.test(text)) {
    return new DumpError(`${INPUT}: the server refused the login (${tail}). Check the user and password in the connection string.`);
  }
  if (/could not connect|Connection refused|could not translate host name|timeout expired/i.test(text)) {
    return new DumpError(`${INPUT}: pg_dump could not reach the server (${tail}). Check the host and port, and that the runner can reach the database.`);
  }
  return new DumpError(`${INPUT}: pg_dump failed (exit ${code ?? 'signal'}): ${tail || 'no message'}.`);
}

function safeName(name: string): string {
  return name.replace(/[^\w.-]+/g, '_').replace(/^\.+/, '') || 'database';
}

/** The newest pg_dump on PATH or in the usual per-version folders: newer dumps older servers too. */
export async function findPgDump(explicit?: string, paths?: string[]): Promise<PgBinary> {
  const found = await newest(paths ?? (explicit ? [explicit] : await candidates('pg_dump')));
  if (found) return found;
  throw new DumpError(
    `${INPUT}: pg_dump was not found (${explicit ? `nothing runnable at ${explicit}` : 'looked on PATH and in /usr/lib/postgresql/*/bin'}). ` +
      `Install the PostgreSQL client tools in an earlier step, of the server's major version or newer (${installHint()}; ` +
      'a given major, e.g. `postgresql-client-17`, comes from the PostgreSQL apt repository https://apt.postgresql.org).',
  );
}
