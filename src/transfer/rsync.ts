// Transfers to and from the platform's data servers with the system rsync over the system
// OpenSSH client, as Odoo's own upgrade script does. A cut transfer is run again and resumes
// (--partial keeps what arrived); host keys are pinned to the lines the platform gave; every
// byte of rsync's or ssh's stderr is redacted before it can reach a log or an error.
import { execFile, spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { withRetry } from '../net/retry.ts';
import type { ProgressSink } from './progress.ts';
import { noteSshIgnoresProxy } from '../net/dispatch.ts';

export interface SshTarget {
  host: string; // as in a URL: a name, an IPv4 address or a bracketed IPv6 address
  port: number;
  user: string;
  privateKeyFile: string;
  /** A file holding only the known_hosts lines the platform returned. */
  knownHostsFile: string;
}

export interface RsyncJob {
  what: string; // "upload of the dump", for messages
  target: SshTarget;
  direction: 'upload' | 'download';
  /** Upload: local paths. Download: paths on the data server. */
  sources: string[];
  /** Upload: a path on the data server. Download: a local directory. */
  dest: string;
  /** rsync options chosen by the caller (recursion, --append-verify, --delete...). */
  options: string[];
  progress?: ProgressSink;
  log: (line: string) => void;
  redact: (text: string) => string;
  signal?: AbortSignal;
  attempts?: number;
  retryBaseMs?: number;
  /** Where to look for rsync and ssh (tests); process.env.PATH by default. */
  pathEnv?: string;
}

export interface RsyncResult {
  /** Bytes rsync reported for the last (successful) run. */
  bytes: number;
  attempts: number;
  seconds: number;
}

export type RsyncFailureKind = 'network' | 'refused' | 'host-key' | 'auth' | 'missing-tool' | 'other';

export class RsyncError extends Error {
  override name = 'RsyncError';
  readonly kind: RsyncFailureKind;
  readonly exitCode: number | null;
  constructor(message: string, kind: RsyncFailureKind, exitCode: number | null) {
    super(message);
    this.kind = kind;
    this.exitCode = exitCode;
  }
}

const INSTALL_HINT = 'GitHub-hosted Ubuntu runners have them; elsewhere install them (`sudo apt-get install rsync openssh-client`).';
const FIREWALL_HINT =
  "The platform's data servers listen on ports 32768-60999: the runner must be allowed to open outbound TCP connections to those ports " +
  '(a firewall or proxy that only lets HTTPS out blocks the transfer; GitHub-hosted runners are not affected).';
// rsync exit codes that mean the connection or the stream broke: worth running again.
const NETWORK_EXITS = new Set([10, 11, 12, 23, 30, 35, 255]);

/** Finds an executable on PATH, or undefined. */
export async function findExecutable(name: string, pathEnv = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const dir of pathEnv.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next directory
    }
  }
  return undefined;
}

/** Why this rsync cannot do the job (--info=progress2, --append-verify need 3.1+), from `rsync --version`. */
export function rsyncVersionProblem(versionText: string): string | undefined {
  const m = /\brsync\s+version\s+v?(\d+)\.(\d+)/i.exec(versionText);
  if (!m) return undefined; // unknown wording: let it try
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major > 3 || (major === 3 && minor >= 1)) return undefined;
  return `rsync ${m[1]}.${m[2]} is too old (3.1 or later is needed)`;
}

const checked = new Map<string, Promise<void>>();

function checkVersion(rsync: string): Promise<void> {
  let p = checked.get(rsync);
  if (!p) {
    p = new Promise<string>((resolve) => {
      execFile(rsync, ['--version'], { timeout: 10_000, env: { ...process.env, LC_ALL: 'C' } }, (_err, stdout) => resolve(String(stdout ?? '')));
    }).then((text) => {
      const problem = rsyncVersionProblem(text);
      if (problem) throw new RsyncError(`The rpc protocol moves dumps with rsync, and ${problem}. ${INSTALL_HINT}`, 'missing-tool', null);
    });
    checked.set(rsync, p);
  }
  return p;
}

/** Throws a clear error unless rsync (3.1+) and ssh are both installed. Returns rsync's path. */
export async function assertRsyncTools(pathEnv?: string): Promise<string> {
  const rsync = await findExecutable('rsync', pathEnv);
  const ssh = await findExecutable('ssh', pathEnv);
  const missing = [rsync ? '' : 'rsync', ssh ? '' : 'ssh (openssh-client)'].filter(Boolean);
  if (missing.length || !rsync) {
    throw new RsyncError(
      `The rpc protocol moves dumps with rsync over SSH, and ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not installed on this runner. ${INSTALL_HINT}`,
      'missing-tool',
      null,
    );
  }
  await checkVersion(rsync);
  return rsync;
}

/** rsync's -e splits on spaces and honours quotes: quote what is not plainly safe. */
function shellWord(value: string): string {
  if (/^[A-Za-z0-9_./:=@+-]+$/.test(value)) return value;
  if (value.includes("'")) throw new Error(`cannot pass a path holding a quote to ssh: ${value}`);
  return `'${value}'`;
}

/** The remote shell command given to rsync's -e. */
export function sshCommand(t: SshTarget): string {
  // ssh reads UserKnownHostsFile as a list split on spaces: a path with one would pin nothing.
  if (/\s/.test(t.knownHostsFile)) throw new Error(`the known_hosts file path must not contain spaces: ${t.knownHostsFile}`);
  const options = [
    'StrictHostKeyChecking=yes',
    `UserKnownHostsFile=${t.knownHostsFile}`,
    'GlobalKnownHostsFile=/dev/null', // only the platform's lines count
    'UpdateHostKeys=no',
    'IdentitiesOnly=yes',
    'BatchMode=yes',
    'ServerAliveInterval=30',
    'ConnectTimeout=30',
  ];
  return ['ssh', '-p', String(t.port), '-i', shellWord(t.privateKeyFile), ...options.flatMap((o) => ['-o', shellWord(o)])].join(' ');
}

export function remoteSpec(t: SshTarget, remotePath: string): string {
  return `${t.user}@${t.host}:${remotePath}`;
}

/** The full argument list (no shell ever sees it). */
export function rsyncArgs(job: RsyncJob): string[] {
  const common = ['--partial', '--info=progress2', '--no-human-readable', '-e', sshCommand(job.target), ...job.options];
  if (job.direction === 'upload') return [...common, '--', ...job.sources, remoteSpec(job.target, job.dest)];
  return [...common, '--', ...job.sources.map((s) => remoteSpec(job.target, s)), job.dest];
}

/** Bytes so far from one --info=progress2 update ("  1,234,567  42%  1.2MB/s  0:00:10 ..."). */
export function parseProgress(line: string): number | undefined {
  const m = /^\s*([\d,.']+)\s+\d+%/.exec(line);
  if (!m) return undefined;
  const digits = m[1]!.replace(/\D/g, '');
  return digits ? Number(digits) : undefined;
}

/** What went wrong, from rsync's exit code and what rsync and ssh wrote on stderr. */
export function classifyFailure(exitCode: number | null, stderr: string): RsyncFailureKind {
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key for .* has changed|No \S+ host key is known/i.test(stderr)) {
    return 'host-key';
  }
  if (/Permission denied \(publickey|Too many authentication failures/i.test(stderr)) return 'auth';
  if (/Failed to exec ssh|ssh: (command )?not found/i.test(stderr)) return 'missing-tool';
  if (/connect to host .* port \d+: (Connection refused|Connection timed out|No route to host|Network is unreachable|Operation timed out)/i.test(stderr)) {
    return 'refused';
  }
  if (exitCode !== null && NETWORK_EXITS.has(exitCode)) return 'network';
  return 'other';
}

function tail(text: string, lines = 6): string {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-lines)
    .join(' | ');
}

export function describeFailure(job: Pick<RsyncJob, 'what' | 'target'>, kind: RsyncFailureKind, exitCode: number | null, stderr: string): string {
  const said = tail(stderr);
  const where = `${job.target.host} port ${job.target.port}`;
  const detail = `rsync exited with code ${exitCode ?? 'none'}${said ? `: ${said}` : ''}`;
  switch (kind) {
    case 'host-key':
      return `The ${job.what} was refused: the SSH host key of the data server ${where} does not match the known_hosts lines the platform gave (Host key verification failed). Nothing was sent; this can mean the connection is intercepted. (${detail})`;
    case 'auth':
      return `The ${job.what} failed: the data server ${where} refused the SSH key. A request only accepts the key pair sent when it was created: to resume it, give the same \`ssh-private-key\` as the run that created it. (${detail})`;
    case 'missing-tool':
      return `The ${job.what} failed: rsync could not start ssh. ${INSTALL_HINT} (${detail})`;
    case 'refused':
      return `The ${job.what} could not connect to the data server ${where}. ${FIREWALL_HINT} (${detail})`;
    case 'network':
      return `The ${job.what} was interrupted (${detail}). Running the action again resumes it.`;
    default:
      return `The ${job.what} failed (${detail}).`;
  }
}

const MAX_STDERR = 16 * 1024;

/** One rsync run; resolves on exit 0, rejects with an RsyncError otherwise. */
function runOnce(rsync: string, job: RsyncJob, onBytes: (n: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a stop reaches ssh too; C locale keeps messages parseable.
    const child = spawn(rsync, rsyncArgs(job), {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
    });
    let stderr = '';
    let pending = '';
    let settled = false;
    const stop = () => {
      if (child.pid && child.exitCode === null) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    };
    job.signal?.addEventListener('abort', stop, { once: true });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const parts = (pending + chunk).split(/[\r\n]/);
      pending = parts.pop() ?? '';
      for (const p of parts) {
        const n = parseProgress(p);
        if (n !== undefined) onBytes(n);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-MAX_STDERR);
    });
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      job.signal?.removeEventListener('abort', stop);
      if (err) reject(err);
      else resolve();
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      const kind: RsyncFailureKind = err.code === 'ENOENT' ? 'missing-tool' : 'other';
      const msg = kind === 'missing-tool' ? `The ${job.what} needs rsync, which is not installed. ${INSTALL_HINT}` : `The ${job.what} could not start rsync: ${err.message}`;
      finish(new RsyncError(job.redact(msg), kind, null));
    });
    child.once('close', (code, sig) => {
      if (pending) {
        const n = parseProgress(pending);
        if (n !== undefined) onBytes(n);
      }
      if (code === 0) return finish();
      if (job.signal?.aborted) return finish(job.signal.reason instanceof Error ? job.signal.reason : new Error(`${job.what} stopped`));
      const text = job.redact(stderr);
      const kind = sig ? 'other' : classifyFailure(code, text);
      finish(new RsyncError(job.redact(describeFailure(job, kind, code, sig ? `${text}\n(killed by ${sig})` : text)), kind, code));
    });
  });
}

/** Runs the transfer, again after a cut (rsync picks up where it stopped). */
export async function rsyncTransfer(job: RsyncJob): Promise<RsyncResult> {
  noteSshIgnoresProxy(job.log);
  const rsync = await assertRsyncTools(job.pathEnv);
  const started = Date.now();
  let bytes = 0;
  let attempts = 0;
  await withRetry(
    async (attempt) => {
      attempts = attempt;
      bytes = 0;
      await runOnce(rsync, job, (n) => {
        bytes = n;
        job.progress?.update(n);
      });
    },
    {
      attempts: job.attempts ?? 6,
      baseMs: job.retryBaseMs ?? 3000,
      signal: job.signal,
      // A port that stays unreachable is a firewall, not a glitch: give up sooner.
      retryable: (err, attempt) => err instanceof RsyncError && (err.kind === 'network' || (err.kind === 'refused' && attempt < 3)),
      onRetry: (err, attempt, delay) => {
        const e = err as RsyncError;
        const why = e.kind === 'refused' ? 'could not connect to the data server' : `was interrupted (rsync exit code ${e.exitCode})`;
        job.log(`The ${job.what} ${why}; running rsync again in ${Math.round(delay / 1000)} s to resume (attempt ${attempt + 1}).`);
      },
    },
  );
  return { bytes, attempts, seconds: (Date.now() - started) / 1000 };
}
