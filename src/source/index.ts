// Where the dump comes from: one of four sources, each loaded only when used.
import type { SourceSpec } from '../inputs.ts';
import type { ResolvedDump } from './types.ts';
import type { SecretRegistry } from '../secrets.ts';

export interface SourceContext {
  api: 'v1' | 'rpc';
  workDir: string;
  githubToken: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** The job's environment (the artifact source reads the runner's variables from it). */
  env?: NodeJS.ProcessEnv;
  secrets?: SecretRegistry;
}

export async function resolveSource(spec: SourceSpec, ctx: SourceContext): Promise<ResolvedDump> {
  switch (spec.kind) {
    case 'path': {
      const { fromPath } = await import('./path.ts');
      return fromPath(spec.path, ctx.env);
    }
    case 'url': {
      const { fromUrl } = await import('./url.ts');
      return fromUrl({ url: spec.url, headers: spec.headers, workDir: ctx.workDir, log: ctx.log, signal: ctx.signal, secrets: ctx.secrets });
    }
    case 'database': {
      const { fromDatabase } = await import('../postgres/dump-source.ts');
      return fromDatabase({
        connection: spec.connection,
        format: ctx.api === 'rpc' ? 'directory' : 'custom',
        workDir: ctx.workDir,
        log: ctx.log,
        signal: ctx.signal,
        secrets: ctx.secrets,
      });
    }
    case 'artifact': {
      const { fromArtifact } = await import('./artifact.ts');
      return fromArtifact({ ...spec, token: ctx.githubToken, workDir: ctx.workDir, log: ctx.log, signal: ctx.signal, secrets: ctx.secrets }, ctx.env);
    }
  }
}
