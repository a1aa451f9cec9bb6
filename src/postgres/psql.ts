// Running psql and pg_restore for one connection. The password travels in PGPASSWORD only
// (no argv, no message), and whatever the tools print is redacted before it is logged or
// thrown; errors are explained in terms of what the user can change.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { SecretRegistry } from '../secrets.ts';
import type { ConnectionParts } from './connection.ts';

export class RestoreError extends Error {
  override name = 'RestoreError';
}

export interface ClientTools {
  psql: string;
  pgRestore?: string;
}

export class PgClient {
  private readonly tools: ClientTools;
  private readonly env: NodeJS.ProcessEnv;
  private readonly reg: SecretRegistry;
  private readonly log: (l: string) => void;
  private readonly signal?: AbortSignal;
  private readonly input: string;

  constructor(opts: { tools: ClientTools; parts: ConnectionParts; secrets: SecretRegistry; log: (l: string) => void; signal?: AbortSignal; input: string }) {
    this.tools = opts.tools;
    this.env = { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '30', PGAPPNAME: 'odoo-upgrade-action' };
    if (opts.parts.password !== undefined) this.env.PGPASSWORD = opts.parts.password;
    this.reg = opts.secrets;
    this.log = opts.log;
    this.signal = opts.signal;
    this.input = opts.input;
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

  pgRestore(args: string[]): Promise<string> {
    if (!this.tools.pgRestore) throw new Error('pg_restore was not looked up');
    return this.exec(this.tools.pgRestore, ['--no-password', ...args], undefined, false);
  }

  private async exec(bin: string, args: string[], input: Readable | undefined, capture: boolean): Promise<string> {
    const child = spawn(bin, args, { env: this.env, stdio: [input ? 'pipe' : 'ignore', capture ? 'pipe' : 'ignore', 'pipe'], signal: this.signal });
    const stderr: string[] = [];
    let stdout = '';
    let partial = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) keep(line);
    });
    const keep = (line: string) => {
      if (!line.trim()) return;
      stderr.push(this.reg.redact(line));
      if (stderr.length > 40) stderr.shift();
    };
    const closed = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    // psql stops reading at the first error (ON_ERROR_STOP): a broken pipe then is expected.
    const fed = input
      ? pipeline(input, child.stdin!).then(
          () => undefined,
          (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ERR_STREAM_PREMATURE_CLOSE' ? undefined : e),
        )
      : Promise.resolve(undefined);
    const [code, feedError] = await Promise.all([closed, fed]);
    if (partial) keep(partial);
    const name = path.basename(bin);
    if (code !== 0) throw explain(this.input, name, code, stderr);
    if (feedError) throw new RestoreError(`${this.input}: could not read the dump: ${feedError.message}`);
    for (const line of stderr.filter((l) => !/^NOTICE:/.test(l)).slice(-10)) this.log(`  ${name}: ${line}`);
    return stdout;
  }
}

export function explain(input: string, tool: string, code: number | null, stderr: string[]): RestoreError {
  const text = stderr.join('\n');
  const tail = stderr.slice(-6).join(' | ') || 'no message';
  if (/unsupported version .* in file header/i.test(text)) {
    return new RestoreError(`${input}: ${tool} is older than the pg_dump that made the dump (${tail}). Install newer PostgreSQL client tools in an earlier step.`);
  }
  if (/password authentication failed|no password supplied/i.test(text)) {
    return new RestoreError(`${input}: the server refused the login (${tail}). Check the user and password in the connection string.`);
  }
  if (/could not connect|Connection refused|could not translate host name|timeout expired/i.test(text)) {
    return new RestoreError(`${input}: ${tool} could not reach the server (${tail}). Check the host and port, and that the runner can reach it (a service container maps its port to localhost).`);
  }
  return new RestoreError(`${input}: ${tool} failed (exit ${code ?? 'signal'}): ${tail}`);
}
