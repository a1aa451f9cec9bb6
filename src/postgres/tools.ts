// Finding the PostgreSQL client programs (pg_dump, pg_restore, psql) of the right version.
// A runner often has several majors side by side (/usr/lib/postgresql/<major>/bin on Debian
// and Ubuntu, /usr/pgsql-<major>/bin on RHEL, Homebrew's libpq): newer tools read older
// dumps and talk to older servers, never the reverse, so the newest is taken, and a
// minimum major (the pg_dump that made a dump) is checked with a message that says what to
// install.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { access, readdir, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

export type PgTool = 'pg_dump' | 'pg_restore' | 'psql';

export interface PgBinary {
  path: string;
  /** As the program reports it: "15.18", "17.2", "9.6.24". */
  version: string;
  major: number;
}

export class PgToolError extends Error {
  override name = 'PgToolError';
}

/** "15.18" → 15, "9.6.24" → 9.6 (before 10, the major had two parts). */
export function majorOf(version: string): number {
  const [a, b] = version.split('.').map(Number);
  return a >= 10 ? a : Number(`${a}.${b || 0}`);
}

function rank(version: string): number {
  const [a, b, c] = version.split('.').map((n) => Number(n) || 0);
  return a >= 10 ? a * 10_000 + b : a * 10_000 + b * 100 + c;
}

/** Every place a client program may live, in search order (PATH first). */
export async function candidates(tool: PgTool, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  return [
    ...(env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, tool)),
    ...(await versionDirs('/usr/lib/postgresql', (v) => `/usr/lib/postgresql/${v}/bin/${tool}`)), // Debian, Ubuntu
    ...(await versionDirs('/usr', (v) => (v.startsWith('pgsql-') ? `/usr/${v}/bin/${tool}` : undefined))), // RHEL
    `/opt/homebrew/opt/libpq/bin/${tool}`,
    `/usr/local/opt/libpq/bin/${tool}`,
  ];
}

async function versionDirs(root: string, pick: (name: string) => string | undefined): Promise<string[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  return names.map(pick).filter((p): p is string => !!p);
}

// Answers by path and file identity: every restore or dump asks again about each candidate
// (Debian's /usr/bin ones are a Perl wrapper), and a program replaced in place is asked anew.
const versions = new Map<string, Promise<string | undefined>>();

/** What `<tool> --version` says, or undefined when nothing runnable is there. */
export async function toolVersion(path: string): Promise<string | undefined> {
  try {
    await access(path, constants.X_OK);
    const st = await stat(path);
    const key = `${path}\0${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}`;
    let answer = versions.get(key);
    if (!answer) {
      answer = promisify(execFile)(path, ['--version'], { timeout: 10_000 }).then(
        ({ stdout }) => /\(PostgreSQL\)\s+(\d+(?:\.\d+){0,2})/.exec(stdout)?.[1],
        () => undefined,
      );
      // Only answers are kept: a failed or timed-out ask is asked again next time.
      void answer.then((v) => v === undefined && versions.delete(key));
      versions.set(key, answer);
    }
    return await answer;
  } catch {
    return undefined;
  }
}

/** The newest runnable program among the paths, or undefined. */
export async function newest(paths: string[]): Promise<PgBinary | undefined> {
  let best: (PgBinary & { rank: number }) | undefined;
  for (const path of [...new Set(paths)]) {
    const version = await toolVersion(path);
    if (!version) continue;
    if (!best || rank(version) > best.rank) best = { path, version, major: majorOf(version), rank: rank(version) };
  }
  return best && { path: best.path, version: best.version, major: best.major };
}

/** How to get a given major of the client tools, for messages. */
export function installHint(major?: number): string {
  const pkg = major ? `postgresql-client-${major}` : 'postgresql-client';
  return (
    `Ubuntu/Debian: \`sudo apt-get install -y ${pkg}\`` +
    (major ? ' (from the PostgreSQL apt repository https://apt.postgresql.org when the release lacks that major)' : '') +
    `, RHEL: \`postgresql${major ?? ''}\` from https://yum.postgresql.org, macOS: \`brew install libpq\``
  );
}

export interface RestoreTools {
  psql: string;
  pgRestore: string;
  version: string;
  major: number;
}

/**
 * psql and pg_restore from one folder, the newest found, and at least `minMajor` when given
 * (the major of the pg_dump that made the dump: older pg_restore cannot read its archive).
 */
export async function findRestoreTools(opts: { binDir?: string; minMajor?: number; input: string; env?: NodeJS.ProcessEnv }): Promise<RestoreTools> {
  const paths = opts.binDir ? [join(opts.binDir, 'pg_restore')] : await candidates('pg_restore', opts.env);
  const found = await newest(paths);
  if (!found) {
    throw new PgToolError(
      `${opts.input}: the PostgreSQL client tools (psql, pg_restore) were not found ` +
        `${opts.binDir ? `in ${opts.binDir}` : 'on PATH or in /usr/lib/postgresql/*/bin'}. Install them in an earlier step, ` +
        `${opts.minMajor ? `version ${opts.minMajor} or newer` : "of the target server's major version or newer"} (${installHint(opts.minMajor)}).`,
    );
  }
  if (opts.minMajor !== undefined && found.major < opts.minMajor) {
    throw new PgToolError(
      `${opts.input}: the upgraded dump was made by pg_dump ${opts.minMajor}, and pg_restore ${found.version} (the newest here, ${found.path}) cannot read it: ` +
        `PostgreSQL client tools ${opts.minMajor} or newer are needed. Install them in an earlier step (${installHint(opts.minMajor)}); ` +
        'the action takes the newest it finds on PATH or in /usr/lib/postgresql/*/bin.',
    );
  }
  const dir = dirname(found.path);
  const psql = join(dir, 'psql');
  if (!(await toolVersion(psql))) throw new PgToolError(`${opts.input}: ${found.path} has no psql beside it; install the whole client package (${installHint(found.major)}).`);
  return { psql, pgRestore: found.path, version: found.version, major: found.major };
}
