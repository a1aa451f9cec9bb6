// The `original-filestore` input: the production filestore the upgraded files are laid over.
// A path on the runner (a folder, or a zip/tar of it), else (like the dump) an https URL or
// a workflow artifact of this run holding a zip/tar of it. Fetching reuses the dump sources;
// their messages name `original-filestore` instead of the dump inputs.
import { stat } from 'node:fs/promises';
import { resolvePath } from '../source/path.ts';
import { fromUrl, type FromUrlOptions } from '../source/url.ts';
import { fromArtifact } from '../source/artifact.ts';
import type { SecretRegistry } from '../secrets.ts';

const INPUT = 'original-filestore';

export interface OriginalContext {
  workspace: string;
  workDir: string;
  githubToken: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** The job's environment and secret registry (the pipeline's own, injected). */
  env?: NodeJS.ProcessEnv;
  secrets?: SecretRegistry;
  /** Tests pass an undici Agent trusting their CA; production uses NODE_EXTRA_CA_CERTS. */
  dispatcher?: FromUrlOptions['dispatcher'];
}

export class OriginalFilestoreError extends Error {
  override name = 'OriginalFilestoreError';
}

/** Where the value points: a URL, a path that exists, or else an artifact name. */
export async function fetchOriginalFilestore(value: string, ctx: OriginalContext): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const v = value.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
    const got = await renamed(fromUrl({ url: v, headers: '', workDir: ctx.workDir, log: ctx.log, signal: ctx.signal, dispatcher: ctx.dispatcher, secrets: ctx.secrets }));
    return { path: got.path, cleanup: got.cleanup };
  }
  const abs = resolvePath(v, { ...(ctx.env ?? process.env), GITHUB_WORKSPACE: ctx.workspace });
  if (await stat(abs).catch(() => undefined)) {
    ctx.log(`The original filestore comes from ${abs}.`);
    return { path: abs, cleanup: async () => {} };
  }
  // Artifact names hold no slash; a value with one was meant as a path.
  if (/[/\\]/.test(v) || v.startsWith('.') || v.startsWith('~')) {
    throw new OriginalFilestoreError(`${INPUT}: nothing at ${abs}. Give the path of the original filestore folder (or a zip/tar of it), an artifact name, or an https URL.`);
  }
  ctx.log(`No file or folder "${v}" in the workspace: reading original-filestore as the name of an artifact of this run.`);
  const got = await renamed(fromArtifact({ name: v, token: ctx.githubToken, workDir: ctx.workDir, log: ctx.log, signal: ctx.signal, secrets: ctx.secrets }, ctx.env));
  return { path: got.path, cleanup: got.cleanup };
}

/** The dump sources speak of `dump-url` / `dump-artifact` and of "the dump": say which input this is. */
async function renamed<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    const e = err as Error;
    if (e?.name === 'AbortError' || typeof e?.message !== 'string') throw err;
    const message = e.message
      .replace(/^`?dump-(url|artifact)`?:/, `${INPUT}:`)
      .replace(/candidate dumps/g, 'files')
      .replace(/It must hold one dump:[^.]*\./, 'It must hold one zip or tar of the filestore.');
    throw new OriginalFilestoreError(message, { cause: err });
  }
}
