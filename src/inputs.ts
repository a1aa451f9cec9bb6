// All inputs → one typed, validated Config. Pure: reads through an injected getter so tests
// need no environment. Every problem names its input and what is allowed, and all problems
// are reported at once, before anything reaches the platform.
import path from 'node:path';
import { urlProblem } from './net/url-policy.ts';

export { urlProblem };

export type Api = 'auto' | 'v1' | 'rpc';
export type Aim = 'test' | 'production';

export type SourceSpec =
  | { kind: 'path'; path: string }
  | { kind: 'artifact'; name: string; runId?: number; repository?: string }
  | { kind: 'url'; url: string; headers: string }
  | { kind: 'database'; connection: string };

export interface Config {
  contract: string;
  email: string;
  target: string;
  aim: Aim;
  timezone: string;
  envVars: string[];
  source?: SourceSpec;
  filename: string; // '' = the dump's base name
  api: Api;
  platformUrl: string;
  uploadMethod: 'auto' | 'https' | 'sftp';
  sftpThreshold: number;
  downloadVia: 'https' | 'sftp';
  sshPrivateKey: string;
  resume?: { id: string; key: string };
  /** A pending handle to collect (name, or pattern with `*`); the request comes from it. */
  collect: string;
  /** Seals the handle of a request left running, and opens the one `collect` finds. */
  handlePassphrase: string;
  wait: boolean;
  pollIntervalSeconds: number;
  timeoutMinutes: number;
  download: 'archive' | 'sql' | 'none';
  outputDir: string;
  artifactName: string; // template with {stem} and {target}; '' = no artifact
  artifactRetentionDays?: number;
  summary: boolean;
  prComment: boolean;
  githubToken: string;
  wipe: boolean;
  requireRecentTest?: number;
  /** Days within which a successful test upgrade of the same dump and target is reused (0: never). */
  reuseDays: number;
  restoreDatabase: string;
  filestoreDir: string;
  /** The production filestore laid down before the upgraded files: a path, an artifact name or an https URL. */
  originalFilestore: string;
  /** pg_restore --jobs; undefined: the runner's cores. */
  restoreJobs?: number;
}

export const DEFAULT_ARTIFACT_NAME = 'odoo-upgraded-{stem}-{target}';
export const TARGET_PATTERN = /^(saas~)?\d{1,2}\.\d+$/;

export class InputError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} inputs are wrong:\n- ${problems.join('\n- ')}`);
    this.name = 'InputError';
    this.problems = problems;
  }
}

/** Reads an input: undefined when the runner did not set it at all, else the raw string. */
export type InputGetter = (name: string) => string | undefined;

export function envInputGetter(env: NodeJS.ProcessEnv = process.env): InputGetter {
  return (name) => env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`];
}

const BOOLEAN_TRUE = ['true', 'True', 'TRUE'];
const BOOLEAN_FALSE = ['false', 'False', 'FALSE'];

export function parseSize(text: string): number | undefined {
  // Trimmed first: two \s* around an optional unit made the match quadratic on long blank runs.
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 }[m[2] ?? 'B'] ?? 1;
  const value = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** local@domain.tld, checked in one pass (the regex it replaces backtracked quadratically). */
function isEmail(v: string): boolean {
  const at = v.indexOf('@');
  if (at <= 0 || at !== v.lastIndexOf('@') || /\s/.test(v)) return false;
  return v.slice(at + 2, -1).includes('.');
}

/** Like .replace(/\/+$/, ''), which is quadratic on a long run of slashes followed by more text. */
function trimTrailingSlashes(v: string): string {
  let end = v.length;
  while (end > 0 && v[end - 1] === '/') end--;
  return v.slice(0, end);
}


export function readConfig(get: InputGetter, env: NodeJS.ProcessEnv = {}): Config {
  const problems: string[] = [];
  const str = (name: string, fallback = '') => {
    const v = get(name);
    return v === undefined ? fallback : v.trim();
  };
  const bool = (name: string, fallback: boolean) => {
    const v = str(name);
    if (v === '') return fallback;
    if (BOOLEAN_TRUE.includes(v)) return true;
    if (BOOLEAN_FALSE.includes(v)) return false;
    problems.push(`Input \`${name}\` must be \`true\` or \`false\`, got "${v}".`);
    return fallback;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const v = str(name);
    if (v === '') return fallback;
    if ((allowed as readonly string[]).includes(v)) return v as T;
    problems.push(`Input \`${name}\` must be one of ${allowed.map((a) => `\`${a}\``).join(', ')}, got "${v}".`);
    return fallback;
  };
  const wholeNumber = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const v = str(name);
    if (v === '') return fallback;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
      problems.push(`Input \`${name}\` must be a whole number ${range}, got "${v}".`);
      return fallback;
    }
    return Number(v);
  };

  const requestId = str('request-id');
  const requestKey = str('request-key');
  let resume: Config['resume'];
  if (requestId || requestKey) {
    if (!requestId) problems.push('Input `request-key` was given without `request-id`: resuming needs both.');
    else if (!requestKey) problems.push('Input `request-id` was given without `request-key` (the request\'s private key): resuming needs both.');
    else if (!/^[A-Za-z0-9_-]{1,64}$/.test(requestId)) problems.push(`Input \`request-id\` must be the platform's request id (letters, digits, - and _), got "${requestId}".`);
    else resume = { id: requestId, key: requestKey };
  }

  const collect = str('collect');
  const handlePassphrase = get('handle-passphrase') ?? '';
  if (collect) {
    if (resume || requestId || requestKey) problems.push('Input `collect` resumes the request its handle names: give `collect` or `request-id`/`request-key`, not both.');
    if (!handlePassphrase) problems.push('Input `collect` needs `handle-passphrase`: the pending handle is encrypted with it.');
    if (collect.length > 256 || /[":<>|?\r\n\\/]/.test(collect)) problems.push(`Input \`collect\` must be an artifact name, or a pattern with \`*\` (e.g. \`odoo-upgrade-pending-prod-18.0-*\`), without " : < > | ? \\ / or line breaks, got "${collect.slice(0, 80)}".`);
  }
  if (handlePassphrase && handlePassphrase.length < 12) problems.push('Input `handle-passphrase` must be at least 12 characters long: use a long random secret (it protects the request key in an artifact).');
  const collecting = Boolean(collect);

  const api = oneOf('api', ['auto', 'v1', 'rpc'] as const, 'auto');
  const contract = str('contract');
  const email = str('email');
  const target = str('target');
  const aim = oneOf('aim', ['test', 'production'] as const, 'test');
  if (!resume && !collecting) {
    // With dump-database the contract can come from the database itself (database.enterprise_code); with
    // reuse-days a run may need no request at all (pull requests from forks get no secrets): a miss then says so.
    const reuseAsked = /^0*[1-9]\d*$/.test(str('reuse-days'));
    if (!contract && !str('dump-database') && !reuseAsked) {
      problems.push('Input `contract` is required (your Odoo Enterprise contract reference), unless you resume with `request-id` and `request-key`, dump a database with `dump-database` (its `database.enterprise_code` is used), or set `reuse-days` (a run that reuses needs no contract).');
    }
    if (!target) problems.push('Input `target` is required (the Odoo version to reach, e.g. `18.0` or `saas~18.2`), unless you resume.');
    if (!email && api !== 'rpc') problems.push('Input `email` is required for the v1 API (`api: v1` or `auto`): the address the platform writes to.');
  }
  if (target && !TARGET_PATTERN.test(target)) {
    problems.push(`Input \`target\` must look like an Odoo version (\`18.0\`, \`17.0\`, \`saas~18.2\`), got "${target}".`);
  }
  if (email && !isEmail(email)) problems.push(`Input \`email\` must be an e-mail address, got "${email}".`);
  const timezone = str('timezone');
  if (timezone && !/^[A-Za-z0-9_+\-/]{1,64}$/.test(timezone)) problems.push(`Input \`timezone\` must be a timezone name such as \`Europe/Brussels\`, got "${timezone}".`);

  const envVars: string[] = [];
  for (const line of str('env-vars').split(/\r?\n/)) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(t)) problems.push(`Input \`env-vars\` takes lines of \`NAME=value\`; this line is not: "${t.slice(0, 40)}".`);
    // A lone CR or Unicode line separator would read as a second line on the platform's side.
    else if (/[\0-\x08\x0b-\x1f\x7f\x85\u2028\u2029]/.test(t)) problems.push(`Input \`env-vars\` line "${t.split('=')[0]}=..." holds a control character or line separator; values must be one line of text.`);
    else envVars.push(t);
  }

  // Where the dump comes from: exactly one, or none when resuming.
  const sources: SourceSpec[] = [];
  const dump = str('dump');
  const dumpArtifact = str('dump-artifact');
  const dumpUrl = str('dump-url');
  const dumpDatabase = str('dump-database');
  if (dump) sources.push({ kind: 'path', path: dump });
  if (dumpArtifact) {
    const runIdText = str('dump-artifact-run-id');
    const repository = str('dump-artifact-repository');
    let runId: number | undefined;
    if (runIdText) {
      if (/^\d+$/.test(runIdText)) runId = Number(runIdText);
      else problems.push(`Input \`dump-artifact-run-id\` must be a workflow run id (digits), got "${runIdText}".`);
    }
    if (repository && !/^[\w.-]+\/[\w.-]+$/.test(repository)) problems.push(`Input \`dump-artifact-repository\` must be \`owner/name\`, got "${repository}".`);
    if (repository && !runId) problems.push('Input `dump-artifact-repository` needs `dump-artifact-run-id` (the run that made the artifact).');
    sources.push({ kind: 'artifact', name: dumpArtifact, runId, repository: repository || undefined });
  } else if (str('dump-artifact-run-id') || str('dump-artifact-repository')) {
    problems.push('Inputs `dump-artifact-run-id` and `dump-artifact-repository` only apply with `dump-artifact`.');
  }
  if (dumpUrl) {
    const why = urlProblem(dumpUrl, false);
    if (why) problems.push(`Input \`dump-url\` ${why}`);
    sources.push({ kind: 'url', url: dumpUrl, headers: str('dump-url-headers') });
  } else if (str('dump-url-headers')) {
    problems.push('Input `dump-url-headers` only applies with `dump-url`.');
  }
  if (dumpDatabase) {
    if (!/^(postgres(ql)?:\/\/|[a-z]+=)/i.test(dumpDatabase)) {
      problems.push('Input `dump-database` must be a PostgreSQL connection string (`postgresql://user:password@host:5432/db` or `host=... dbname=...`).');
    }
    sources.push({ kind: 'database', connection: dumpDatabase });
  }
  if (sources.length > 1) {
    problems.push(`Give exactly one of \`dump\`, \`dump-artifact\`, \`dump-url\`, \`dump-database\`; got ${sources.map((s) => sourceInputName(s)).join(' and ')}.`);
  } else if (sources.length && collecting) {
    problems.push(`Input \`collect\` goes on with a request that has its dump already; remove ${sourceInputName(sources[0])}.`);
  } else if (sources.length === 0 && !resume && !collecting) {
    problems.push('No dump given: set one of `dump` (a path), `dump-artifact`, `dump-url` or `dump-database`, or resume with `request-id` and `request-key`.');
  }

  const filename = str('filename');
  if (filename && (/[/\\\0]/.test(filename) || filename === '.' || filename === '..' || filename.length > 200)) {
    problems.push(`Input \`filename\` must be a plain file name without path separators, got "${filename}".`);
  }

  const platformUrl = trimTrailingSlashes(str('platform-url', 'https://upgrade.odoo.com')) || 'https://upgrade.odoo.com';
  const platformWhy = urlProblem(platformUrl, true);
  if (platformWhy) problems.push(`Input \`platform-url\` ${platformWhy}`);

  const uploadMethod = oneOf('upload-method', ['auto', 'https', 'sftp'] as const, 'auto');
  const thresholdText = str('sftp-threshold', '512MiB') || '512MiB';
  let sftpThreshold = parseSize(thresholdText);
  if (sftpThreshold === undefined) {
    problems.push(`Input \`sftp-threshold\` must be a size such as \`512MiB\` (units B, KiB, MiB, GiB, TiB), got "${thresholdText}".`);
    sftpThreshold = 512 * 1024 ** 2;
  }
  const downloadVia = oneOf('download-via', ['https', 'sftp'] as const, 'https');
  const sshPrivateKey = get('ssh-private-key')?.trim() ?? '';
  if (sshPrivateKey && !/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(sshPrivateKey)) {
    problems.push('Input `ssh-private-key` must be a private key in OpenSSH or PEM format (text starting with `-----BEGIN ... PRIVATE KEY-----`).');
  }

  const wait = bool('wait', true);
  const pollIntervalSeconds = wholeNumber('poll-interval', 30, 1, 3600);
  const timeoutMinutes = wholeNumber('timeout-minutes', 330, 1, 60 * 24 * 30);
  const download = oneOf('download', ['archive', 'sql', 'none'] as const, 'archive');
  const runnerTemp = env.RUNNER_TEMP || path.join(env.TMPDIR || '/tmp', 'runner');
  const outputDir = path.resolve(env.GITHUB_WORKSPACE || '.', str('output-dir') || path.join(runnerTemp, 'odoo-upgrade'));

  const artifactRaw = get('artifact-name');
  const artifactName = artifactRaw === undefined ? DEFAULT_ARTIFACT_NAME : artifactRaw.trim();
  if (artifactName && /[":<>|*?\r\n\\/]/.test(artifactName.replace(/\{(stem|target)\}/g, ''))) {
    problems.push(`Input \`artifact-name\` must not contain any of " : < > | * ? \\ / or line breaks, got "${artifactName}".`);
  }
  const retentionText = str('artifact-retention-days');
  const artifactRetentionDays = retentionText ? wholeNumber('artifact-retention-days', 0, 1, 90) : undefined;
  const summary = bool('summary', true);
  const prComment = bool('pr-comment', false);
  const wipe = bool('wipe', false);
  if (wipe && api === 'v1') problems.push('Input `wipe` only works with the rpc protocol (`api: rpc` or `auto`); the v1 API has no wipe.');
  const requireText = str('require-recent-test');
  const requireRecentTest = requireText ? wholeNumber('require-recent-test', 0, 1, 365) : undefined;
  const reuseDays = wholeNumber('reuse-days', 0, 0, 90);
  if (reuseDays > 0 && aim === 'production') {
    problems.push(`Input \`reuse-days\` (${reuseDays}) only applies to \`aim: test\`: a production upgrade is always a fresh request. Remove \`reuse-days\` or set it to 0.`);
  }
  if (reuseDays > 0 && collecting) problems.push('Input `reuse-days` does not apply with `collect` (the request exists already).');
  if (reuseDays > 0 && resume) {
    problems.push('Input `reuse-days` looks for an earlier upgrade of the same dump: it does not apply when resuming with `request-id`.');
  }

  const restoreDatabase = str('restore-database');
  const filestoreDir = str('filestore-dir');
  const originalFilestore = str('original-filestore');
  if (originalFilestore) {
    if (!restoreDatabase || !filestoreDir) problems.push('Input `original-filestore` only applies with `restore-database` and `filestore-dir` (it is merged into the restored filestore).');
    if (/^[a-z][a-z0-9+.-]*:/i.test(originalFilestore) && !/^[a-z]:[\\/]/i.test(originalFilestore)) {
      const why = urlProblem(originalFilestore, false);
      if (why) problems.push(`Input \`original-filestore\` ${why}`);
    } else if (/[\0\r\n]/.test(originalFilestore)) problems.push('Input `original-filestore` must be a path, an artifact name or an https URL on one line.');
  }
  const jobsText = str('restore-jobs');
  const restoreJobs = jobsText ? wholeNumber('restore-jobs', 1, 1, 64) : undefined;
  if (jobsText && !restoreDatabase) problems.push('Input `restore-jobs` only applies with `restore-database`.');

  if (download === 'sql' && api === 'rpc') problems.push('Input `download: sql` needs the v1 API; the rpc protocol returns a dump directory (use `archive`).');

  if (problems.length) throw new InputError(problems);

  return {
    contract,
    email,
    target,
    aim,
    timezone,
    envVars,
    source: sources[0],
    filename,
    api,
    platformUrl,
    uploadMethod,
    sftpThreshold,
    downloadVia,
    sshPrivateKey,
    resume,
    collect,
    handlePassphrase,
    wait,
    pollIntervalSeconds,
    timeoutMinutes,
    download,
    outputDir,
    artifactName,
    artifactRetentionDays,
    summary,
    prComment,
    githubToken: str('github-token'),
    wipe,
    requireRecentTest,
    reuseDays,
    restoreDatabase,
    filestoreDir,
    originalFilestore,
    restoreJobs,
  };
}

export function sourceInputName(s: SourceSpec): string {
  return { path: '`dump`', artifact: '`dump-artifact`', url: '`dump-url`', database: '`dump-database`' }[s.kind];
}

/** The artifact name for a run: the template with {stem} and {target} filled in and made safe. */
export function artifactNameFor(template: string, filename: string, target: string): string {
  const stem = filename.replace(/(\.sql\.gz|\.tar\.gz|\.[A-Za-z0-9]+)$/, '') || 'database';
  return template.replace(/\{stem\}/g, stem).replace(/\{target\}/g, target).replace(/[":<>|*?\r\n\\/~]/g, '-');
}
