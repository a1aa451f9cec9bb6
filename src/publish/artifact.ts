// Publishes the upgraded dump and its notes as a workflow artifact. @actions/artifact pulls
// in the Azure SDK and protobuf runtime: it is imported only when a run publishes something.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { secrets as processSecrets, type SecretRegistry } from '../secrets.ts';
import { formatBytes } from '../transfer/progress.ts';
import { githubHost, runUrl } from '../github/ghes.ts';
import { withLibraryEnv } from '../github/library-env.ts';

export interface PublishedArtifact {
  id: number;
  url: string;
  size: number; // bytes of the uploaded zip
  digest?: string; // sha256 hex of the uploaded zip, as @actions/artifact reports it
}

export interface PublishOptions {
  name: string;
  files: string[]; // files or directories (walked: the library would only record an empty folder)
  rootDirectory: string;
  retentionDays?: number;
  log: (line: string) => void;
  /** The job's environment (the runtime token, the results service, the server): this process's by default. */
  env?: NodeJS.ProcessEnv;
  /** Whose secrets are redacted from errors: this process's registry by default. */
  secrets?: SecretRegistry;
}

// What GitHub refuses in artifact names, with words for the message.
const FORBIDDEN: Array<[string, string]> = [
  ['"', 'double quote "'],
  [':', 'colon :'],
  ['<', 'less than <'],
  ['>', 'greater than >'],
  ['|', 'vertical bar |'],
  ['*', 'asterisk *'],
  ['?', 'question mark ?'],
  ['\r', 'carriage return'],
  ['\n', 'line feed'],
  ['\\', 'backslash \\'],
  ['/', 'forward slash /'],
];

/** Why GitHub would refuse this artifact name, or undefined when it is fine. */
export function artifactNameProblem(name: string): string | undefined {
  if (!name) return 'Input `artifact-name` is empty here, yet an artifact was to be published (an empty `artifact-name` disables publishing).';
  const bad = FORBIDDEN.filter(([c]) => name.includes(c)).map(([, words]) => words);
  if (bad.length) return `Input \`artifact-name\` gives the name "${name}", which GitHub refuses: it contains ${bad.join(', ')}.`;
  return undefined;
}

/**
 * The artifact service does not exist where the job runs (GitHub Enterprise Server): not a
 * failure of the upgrade. The caller skips publishing and leaves the files to an
 * actions/upload-artifact@v3 step.
 */
export class ArtifactServiceUnavailable extends Error {
  override name = 'ArtifactServiceUnavailable';
}

function ghesUnavailable(serverUrl: string): ArtifactServiceUnavailable {
  return new ArtifactServiceUnavailable(
    `This job runs on GitHub Enterprise Server (${serverUrl}), which has no service for the workflow artifacts this action publishes (artifacts v4).`,
  );
}

/** Why the artifact service is out of reach from this process, or undefined. */
export function artifactServiceProblem(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const missing = ['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_RESULTS_URL'].filter((k) => !env[k]);
  if (!missing.length) return undefined;
  return (
    `Cannot publish the workflow artifact: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set, so the GitHub artifact service is out of reach ` +
    '(this happens outside a GitHub Actions job, or in a container step that does not pass them on). ' +
    'Set input `artifact-name` to an empty string to publish nothing.'
  );
}

export async function publishArtifact(opts: PublishOptions): Promise<PublishedArtifact> {
  const env = opts.env ?? process.env;
  const nameProblem = artifactNameProblem(opts.name);
  if (nameProblem) throw new Error(nameProblem);
  const days = opts.retentionDays;
  if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 90)) {
    throw new Error(`Input \`artifact-retention-days\` must be a whole number from 1 to 90, got ${days}.`);
  }
  // Before the runtime variables: GHES runners do not set ACTIONS_RESULTS_URL, and that is no mistake of the workflow.
  const host = githubHost(env);
  if (host.enterpriseServer) throw ghesUnavailable(host.serverUrl);
  const serviceProblem = artifactServiceProblem(env);
  if (serviceProblem) throw new Error(serviceProblem);

  const root = path.resolve(opts.rootDirectory);
  const files = await expandFiles(opts.files.map((f) => path.resolve(root, f)), root);
  if (!files.length) throw new Error(`Nothing to publish in artifact "${opts.name}": no files given.`);
  let total = 0;
  for (const f of files) total += (await stat(f)).size;
  opts.log(`Publishing artifact "${opts.name}": ${files.length} file${files.length === 1 ? '' : 's'}, ${formatBytes(total)}`);

  const { DefaultArtifactClient } = await import('@actions/artifact');
  let result: { id?: number; size?: number; digest?: string };
  try {
    result = await withLibraryEnv(env, () =>
      new DefaultArtifactClient().uploadArtifact(opts.name, files, root, {
        compressionLevel: 0, // dumps are compressed already: deflating again costs time, saves nothing
        ...(days !== undefined ? { retentionDays: days } : {}),
      }),
    );
  } catch (err) {
    throw publishError(opts.name, err, env, opts.secrets ?? processSecrets);
  }
  if (result.id === undefined) throw new Error(`Publishing artifact "${opts.name}" failed: the artifact service returned no artifact id.`);

  const url = artifactUrl(result.id, env);
  opts.log(`Published artifact "${opts.name}" (id ${result.id}, ${formatBytes(result.size ?? 0)}): ${url}`);
  return { id: result.id, url, size: result.size ?? 0, ...(result.digest ? { digest: result.digest } : {}) };
}

function artifactUrl(id: number, env: NodeJS.ProcessEnv): string {
  return `${runUrl(env, env.GITHUB_REPOSITORY ?? '', env.GITHUB_RUN_ID ?? '')}/artifacts/${id}`;
}

/** Files as the library wants them: directories replaced by the files below them. */
async function expandFiles(entries: string[], root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of entries) {
    const rel = path.relative(root, entry);
    // The library only checks a string prefix, which lets /out-x pass for root /out.
    if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
      throw new Error(`Cannot publish ${entry}: it is not inside ${root}.`);
    }
    const s = await stat(entry);
    if (!s.isDirectory()) {
      out.push(entry);
      continue;
    }
    const below = await readdir(entry, { recursive: true, withFileTypes: true });
    const found = below.filter((d) => !d.isDirectory()).map((d) => path.join(d.parentPath, d.name));
    if (found.length) out.push(...found.sort());
    else if (rel !== '') out.push(entry); // an empty directory stays, as itself
  }
  return [...new Set(out)];
}

function publishError(name: string, err: unknown, env: NodeJS.ProcessEnv, secrets: SecretRegistry): Error {
  // Should the library judge the host differently from githubHost(), its verdict wins.
  if ((err as Error)?.name === 'GHESNotSupportedError') return ghesUnavailable(githubHost(env).serverUrl);
  const e = secrets.redactError(err);
  // Signed blob URLs carry their key in `sig`: never let one into a message.
  const scrub = (s: string): string => s.replace(/([?&]sig=)[^&\s"']+/gi, '$1***');
  e.message = scrub(e.message);
  if (e.stack) e.stack = scrub(e.stack);
  let msg = e.message;
  if (/\(409\)|already exists/i.test(msg)) {
    msg += ' Artifact names must be unique within a workflow run (matrix jobs included): give each job its own `artifact-name`.';
  }
  return new Error(`Publishing artifact "${name}" failed: ${msg}`, { cause: e });
}
