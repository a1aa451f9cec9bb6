// GitHub's side of a run (the recent-test proof, the artifact, the pull request comment, the
// pending handles), bound to one job's environment, runner I/O and secrets. The action binds
// it to this process (src/index.ts); tests bind it to a fake's environment and run the
// pipeline in-process against the GitHub fake.
import type { ActionIO, GitHubServices } from '../pipeline/deps.ts';
import type { SecretRegistry } from '../secrets.ts';
import { findRecentTest } from './recent-test.ts';
import { findHandle, deleteHandle } from './pending.ts';
import { publishResults, commentOnPullRequest } from '../publish/index.ts';

export function gitHubServices(ctx: { env: NodeJS.ProcessEnv; io: ActionIO; secrets: SecretRegistry; now?: () => Date }): GitHubServices {
  const { env, io, secrets } = ctx;
  return {
    findRecentTest,
    publish: (report, cfg, opts) => publishResults(report, cfg, opts, { env, io, secrets, now: ctx.now }),
    comment: (report, cfg, log) => commentOnPullRequest(report, cfg, log, { env, secrets }),
    publishHandle: async ({ name, file, dir, retentionDays, log }) => {
      const { publishArtifact } = await import('../publish/artifact.ts');
      return publishArtifact({ name, files: [file], rootDirectory: dir, retentionDays, log, env, secrets });
    },
    findHandle,
    deleteHandle,
  };
}
