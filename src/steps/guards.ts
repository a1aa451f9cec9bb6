// Rules about when a run may go ahead, and how to go on with a request afterwards.
import type { Config } from '../inputs.ts';

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

/**
 * `require-recent-test` only means something for production; there the check itself
 * (src/recent-test.ts) runs before any request is created. Says so when the input is ignored.
 */
export function guardRecentTest(cfg: Config): string | undefined {
  if (cfg.requireRecentTest === undefined || cfg.aim === 'production') return undefined;
  return 'Input `require-recent-test` only applies to `aim: production`; ignored.';
}

/** The number of days a production run must find a test upgrade within, when it must. */
export function recentTestDays(cfg: Config): number | undefined {
  return cfg.aim === 'production' ? cfg.requireRecentTest : undefined;
}

/** The message for a create whose outcome is unknown: never retried, so say how to find it. */
export function uncertainCreateMessage(detail: string, cfg: Config): string {
  return [
    `create: ${detail}.`,
    'The platform may have created the request anyway; it was not sent again so that no second request is made.',
    `Its key was in the lost answer: check for a message from the platform at ${cfg.email || 'your address'}, or ask Odoo's upgrade support with your contract reference and the time of this run;`,
    'with the request id and key, resume it with the inputs `request-id` and `request-key`. Or run the step again to create a new request.',
  ].join(' ');
}
