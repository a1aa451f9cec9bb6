// Rules about when a run may go ahead, and how to go on with a request afterwards.
import type { Config } from './inputs.ts';

export class GuardError extends Error {
  override name = 'GuardError';
}

/** A production upgrade from a pull request would let unreviewed code touch production. */
export function guardProduction(cfg: Config, env: NodeJS.ProcessEnv): void {
  const event = env.GITHUB_EVENT_NAME ?? '';
  if (cfg.aim === 'production' && (event === 'pull_request' || event === 'pull_request_target')) {
    throw new GuardError(
      'Input `aim: production` is refused on pull_request events: run production upgrades from a protected environment (push to a release branch, workflow_dispatch or a release), after a test upgrade.',
    );
  }
}

/** Markdown telling how to resume: the inputs to use, never the key itself. */
export function resumeHint(requestId: string, cfg: Config): string {
  const lines = [
    '```yaml',
    '- uses: odoo-upgrade-action@v1',
    '  with:',
    `    request-id: "${requestId}"`,
    '    request-key: ${{ secrets.ODOO_UPGRADE_REQUEST_KEY }}  # the masked request-key output of this run',
  ];
  if (cfg.api !== 'auto') lines.push(`    api: ${cfg.api}`);
  if (cfg.platformUrl !== 'https://upgrade.odoo.com') lines.push(`    platform-url: ${cfg.platformUrl}`);
  if (cfg.download !== 'archive') lines.push(`    download: ${cfg.download}`);
  lines.push('```');
  return lines.join('\n');
}
