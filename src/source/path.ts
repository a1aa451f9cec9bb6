// The `dump` input: a path on the runner. Relative paths are taken from the workspace,
// where earlier steps of the job wrote, not from wherever the action happens to run.
import { access, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { homedir } from 'node:os';
import { DumpError } from '../formats/inspect.ts';
import type { ResolvedDump } from './types.ts';

export async function fromPath(p: string, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedDump> {
  const given = p.trim();
  if (!given) throw new DumpError('dump: the path is empty. Give the path of the dump file (or, for api: rpc, of a pg_dump directory dump).');
  const abs = resolvePath(given, env);
  const shown = abs === given ? abs : `${abs} (from "${given}"${env.GITHUB_WORKSPACE && !isAbsolute(given) ? ' relative to GITHUB_WORKSPACE' : ''})`;
  let isDir: boolean;
  try {
    isDir = (await stat(abs)).isDirectory();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new DumpError(
        `dump: nothing at ${shown}. Check the path; a dump made in another job reaches this one as an artifact (use dump-artifact), ` +
          'and a checkout step that runs after the dump is written can delete it.',
      );
    }
    if (code === 'ELOOP') throw new DumpError(`dump: ${shown} is a loop of symbolic links, not a file. Point \`dump\` at the dump itself.`);
    throw new DumpError(`dump: ${shown} cannot be read (${code ?? (err as Error).message}). Check its permissions.`);
  }
  try {
    // A folder must also be searchable to read the files inside it.
    await access(abs, isDir ? constants.R_OK | constants.X_OK : constants.R_OK);
  } catch {
    throw new DumpError(`dump: ${shown} is not readable by this user (permission denied). Fix its permissions (e.g. \`chmod a+r\`) in the step that makes it.`);
  }
  return { path: abs, kind: 'path', description: `dump ${abs}`, cleanup: async () => {} };
}

export function resolvePath(p: string, env: NodeJS.ProcessEnv = process.env): string {
  if (p === '~' || p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return isAbsolute(p) ? resolve(p) : resolve(env.GITHUB_WORKSPACE || process.cwd(), p);
}
