// The `dump-database` input: runs the system pg_dump against a connection string. The
// password is taken out of the string and handed over in PGPASSWORD, so it is in no
// command line (visible in `ps`) and in no libpq message quoting the string; everything
// pg_dump prints is redacted before it is logged.
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { access, mkdtemp, readdir, rm } from 'node:fs/promises';
import { constants } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';
import { secrets as defaultSecrets, type SecretRegistry } from '../secrets.ts';
import { DumpError, pathSize } from '../formats/inspect.ts';
import { progress } from '../transfer/progress.ts';
import type { ResolvedDump } from './types.ts';

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

export interface ConnectionParts {
  conn: string; // the connection string without its password
  password?: string;
  dbname?: string;
  host?: string;
  port?: string;
  user?: string;
}

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
        `Install the client tools of that major version in an earlier step${major ? ` (Ubuntu/Debian: \`sudo apt-get install -y postgresql-client-${major}\`, ` +
        'from the PostgreSQL apt repository https://apt.postgresql.org when the release lacks it)' : ''}; ` +
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

interface PgDumpBinary {
  path: string;
  version: string;
}

/** The newest pg_dump on PATH or in the usual per-version folders: newer dumps older servers too. */
export async function findPgDump(explicit?: string, candidates?: string[]): Promise<PgDumpBinary> {
  candidates ??= explicit ? [explicit] : await defaultCandidates();
  let best: (PgDumpBinary & { rank: number }) | undefined;
  for (const path of [...new Set(candidates)]) {
    const version = await pgDumpVersion(path);
    if (!version) continue;
    const [maj, min] = version.split('.').map(Number);
    const rank = maj * 1000 + (min || 0);
    if (!best || rank > best.rank) best = { path, version, rank };
  }
  if (best) return { path: best.path, version: best.version };
  throw new DumpError(
    `${INPUT}: pg_dump was not found (${explicit ? `nothing runnable at ${explicit}` : 'looked on PATH and in /usr/lib/postgresql/*/bin'}). ` +
      "Install the PostgreSQL client tools in an earlier step, of the server's major version or newer: Ubuntu/Debian `sudo apt-get install -y postgresql-client` " +
      '(a given major, e.g. `postgresql-client-17`, comes from the PostgreSQL apt repository https://apt.postgresql.org), macOS `brew install libpq`.',
  );
}

async function defaultCandidates(): Promise<string[]> {
  return [
    ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'pg_dump')),
    ...(await versionDirs('/usr/lib/postgresql', (v) => `/usr/lib/postgresql/${v}/bin/pg_dump`)), // Debian, Ubuntu
    ...(await versionDirs('/usr', (v) => (v.startsWith('pgsql-') ? `/usr/${v}/bin/pg_dump` : undefined))), // RHEL
    '/opt/homebrew/opt/libpq/bin/pg_dump',
    '/usr/local/opt/libpq/bin/pg_dump',
  ];
}

async function versionDirs(root: string, pick: (name: string) => string | undefined): Promise<string[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  return names.map(pick).filter((p): p is string => !!p);
}

async function pgDumpVersion(path: string): Promise<string | undefined> {
  try {
    await access(path, constants.X_OK);
    const { stdout } = await promisify(execFile)(path, ['--version'], { timeout: 10_000 });
    return /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// Connection strings, in libpq's two spellings

function isUri(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}

export function splitConnection(raw: string): ConnectionParts {
  const s = raw.trim();
  if (isUri(s)) return splitUri(s);
  if (s.includes('=')) return splitKeywords(s);
  return { conn: s, dbname: s || undefined }; // a bare database name
}

function splitUri(s: string): ConnectionParts {
  const scheme = /^postgres(ql)?:\/\//i.exec(s)![0];
  let rest = s.slice(scheme.length);
  const parts: ConnectionParts = { conn: '' };
  // As libpq: credentials end at the first '@' met before any '/'.
  const stop = rest.search(/[@/]/);
  let userinfo = '';
  if (stop >= 0 && rest[stop] === '@') {
    userinfo = rest.slice(0, stop);
    rest = rest.slice(stop + 1);
  }
  const colon = userinfo.indexOf(':');
  const userRaw = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
  if (colon >= 0) parts.password = safeDecode(userinfo.slice(colon + 1));
  if (userRaw) parts.user = safeDecode(userRaw);

  const q = rest.indexOf('?');
  const before = q >= 0 ? rest.slice(0, q) : rest;
  const query = q >= 0 ? rest.slice(q + 1) : '';
  const slash = before.indexOf('/');
  const hostspec = slash >= 0 ? before.slice(0, slash) : before;
  const db = slash >= 0 ? before.slice(slash + 1) : '';
  if (db) parts.dbname = safeDecode(db);
  const hostMatch = /^(\[[^\]]*\]|[^:,]*)(?::(\d+))?/.exec(hostspec);
  if (hostMatch?.[1]) parts.host = safeDecode(hostMatch[1]);
  if (hostMatch?.[2]) parts.port = hostMatch[2];

  const kept: string[] = [];
  for (const pair of query.split('&').filter(Boolean)) {
    const eq = pair.indexOf('=');
    const key = safeDecode(eq >= 0 ? pair.slice(0, eq) : pair);
    const value = safeDecode(eq >= 0 ? pair.slice(eq + 1) : '');
    if (key === 'password') parts.password = value;
    else {
      if (key === 'dbname') parts.dbname = value;
      if (key === 'user') parts.user = value;
      if (key === 'host') parts.host = value;
      if (key === 'port') parts.port = value;
      kept.push(pair);
    }
  }
  parts.conn = scheme + (userRaw ? `${userRaw}@` : '') + before + (kept.length ? `?${kept.join('&')}` : '');
  return parts;
}

function splitKeywords(s: string): ConnectionParts {
  const parts: ConnectionParts = { conn: '' };
  const kept: string[] = [];
  const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^\s']*))/y;
  for (let pos = 0; s.slice(pos).trim() !== ''; pos = re.lastIndex) {
    re.lastIndex = pos;
    const m = re.exec(s);
    // Unparseable: hand libpq the original (registered as a secret already) so its own error explains.
    if (!m) return { conn: s, password: parts.password };
    const key = m[1];
    const value = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
    if (key === 'password') {
      parts.password = value;
      continue;
    }
    if (key === 'dbname') parts.dbname = value;
    if (key === 'user') parts.user = value;
    if (key === 'host' || key === 'hostaddr') parts.host ??= value;
    if (key === 'port') parts.port = value;
    kept.push(`${key}='${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);
  }
  parts.conn = kept.join(' ');
  return parts;
}

function safeDecode(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

function describeTarget(p: ConnectionParts): string {
  const where = p.host ? `${p.host}${p.port ? `:${p.port}` : ''}` : 'the local server';
  return `database "${p.dbname ?? p.user ?? '(default)'}" on ${where}${p.user ? ` as ${p.user}` : ''}`;
}

function safeName(name: string): string {
  return name.replace(/[^\w.-]+/g, '_').replace(/^\.+/, '') || 'database';
}
