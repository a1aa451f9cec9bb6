// A throwaway PostgreSQL server for tests: real initdb, real postmaster on 127.0.0.1 with
// password (SCRAM) authentication, and a tiny Odoo-like database. initdb refuses to run
// as root, so under root (CI) the server runs as `postgres` (or a dedicated user made
// for it) by spawning with that uid/gid.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { chown, mkdir, mkdtemp, readdir, realpath, rm, writeFile, access } from 'node:fs/promises';
import { constants } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

const run = promisify(execFile);
const NEEDED = ['initdb', 'postgres', 'pg_dump', 'psql', 'pg_isready'];
const SERVICE_USER = 'odoo-upgrade-pg';

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
  const bin = await findBin();
  const owner = process.getuid?.() === 0 ? await serviceUser() : undefined;
  const base = await mkdtemp(join(tmpdir(), 'pg-test-'));
  let child: ChildProcess | undefined;
  const killOnExit = () => child?.pid && !child.killed && process.kill(child.pid, 'SIGKILL');
  try {
    const data = join(base, 'data');
    const sock = join(base, 'sock');
    await mkdir(sock);
    const superPassword = randomBytes(12).toString('hex');
    const pwfile = join(base, 'pw');
    await writeFile(pwfile, `${superPassword}\n`, { mode: 0o600 });
    if (owner) for (const p of [base, sock, pwfile]) await chown(p, owner.uid, owner.gid);

    await runAs(owner, join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-sync'], base);
    await rm(pwfile);

    const port = await freePort();
    child = spawn(
      join(bin, 'postgres'),
      ['-D', data, '-h', '127.0.0.1', '-p', String(port), '-k', sock,
        '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
        '-c', 'shared_buffers=16MB', '-c', 'max_connections=40', '-c', 'log_min_messages=warning'],
      { stdio: ['ignore', 'ignore', 'pipe'], cwd: base, ...(owner ?? {}) },
    );
    process.once('exit', killOnExit);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    await waitReady(bin, port, child, () => stderr);

    const user = 'odoo_test';
    const database = 'odoo_test';
    // Characters that need escaping in a URI and in libpq's keyword form, on purpose.
    const password = `s3cr/t@${randomBytes(9).toString('hex')}`;
    const env = { ...process.env, PGPASSWORD: superPassword };
    const psql = async (db: string, role: string, q: string, pw: string) =>
      (await run(join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', role, '-d', db, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', q], { env: { ...env, PGPASSWORD: pw } })).stdout;
    await psql('postgres', 'postgres', `CREATE ROLE ${user} LOGIN PASSWORD '${password.replace(/'/g, "''")}'`, superPassword);
    await psql('postgres', 'postgres', `CREATE DATABASE ${database} OWNER ${user}`, superPassword);
    await psql(database, user, ODOO_SCHEMA, password);

    const stop = async () => {
      process.removeListener('exit', killOnExit);
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill('SIGINT'); // "fast" shutdown
        const timer = setTimeout(() => child!.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(base, { recursive: true, force: true });
    };
    return {
      host: '127.0.0.1',
      port,
      user,
      password,
      database,
      connectionString: `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
      bin,
      superPassword,
      sql: (q) => psql(database, user, q, password),
      stop,
    };
  } catch (err) {
    process.removeListener('exit', killOnExit);
    if (child?.pid && child.exitCode === null) child.kill('SIGKILL');
    await rm(base, { recursive: true, force: true });
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

/** A folder holding every PostgreSQL program the tests need, newest major first. */
async function findBin(): Promise<string> {
  const candidates: string[] = [];
  if (process.env.PG_BIN_DIR) candidates.push(process.env.PG_BIN_DIR);
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const initdb = join(dir, 'initdb');
    if (await exists(initdb)) candidates.push(dirname(await realpath(initdb)));
  }
  const majors = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  for (const m of majors.sort((a, b) => Number(b) - Number(a))) candidates.push(`/usr/lib/postgresql/${m}/bin`);
  for (const dir of candidates) {
    if ((await Promise.all(NEEDED.map((n) => exists(join(dir, n))))).every(Boolean)) return dir;
  }
  throw new Error(`no PostgreSQL server binaries (${NEEDED.join(', ')}) found in PG_BIN_DIR, next to initdb on PATH, or in /usr/lib/postgresql/*/bin; install postgresql`);
}

export async function serviceUser(): Promise<{ uid: number; gid: number }> {
  for (const name of ['postgres', SERVICE_USER]) {
    const ids = await idOf(name);
    if (ids) return ids;
  }
  await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', SERVICE_USER]);
  const ids = await idOf(SERVICE_USER);
  if (!ids) throw new Error(`could not create the user ${SERVICE_USER} to run PostgreSQL (initdb refuses root)`);
  return ids;
}

async function idOf(name: string): Promise<{ uid: number; gid: number } | undefined> {
  try {
    const uid = Number((await run('id', ['-u', name])).stdout.trim());
    const gid = Number((await run('id', ['-g', name])).stdout.trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

async function runAs(owner: { uid: number; gid: number } | undefined, file: string, args: string[], cwd: string): Promise<void> {
  try {
    await run(file, args, { cwd, ...(owner ?? {}) });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${file} failed: ${e.stderr || e.message}`);
  }
}

async function waitReady(bin: string, port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited at start: ${stderr()}`);
    try {
      await run(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-t', '1']);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`postgres did not become ready on 127.0.0.1:${port}: ${stderr()}`);
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

async function exists(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
