// Which GitHub a job runs on. GitHub Enterprise Server (GHES) serves its REST API under
// `<server>/api/v3` (the runner says where in GITHUB_API_URL) and has no artifact "results"
// service (artifacts v4), which @actions/artifact refuses to use there. The rule for GHES is the
// library's own (a host other than github.com, *.ghe.com or *.localhost), so the action skips
// exactly where the library would throw.

export interface GitHubHost {
  /** https://github.com, or the enterprise server's address, without a trailing slash. */
  serverUrl: string;
  /** Where REST calls go: GITHUB_API_URL when given, else what the server implies. */
  apiUrl: string;
  enterpriseServer: boolean;
}

const trim = (u: string): string => u.trim().replace(/\/+$/, '');

export function githubHost(env: NodeJS.ProcessEnv = process.env): GitHubHost {
  const serverUrl = trim(env.GITHUB_SERVER_URL || 'https://github.com');
  let host: string;
  try {
    host = new URL(serverUrl).hostname.toLowerCase();
  } catch {
    throw new Error(`GITHUB_SERVER_URL is not a URL: "${serverUrl}".`);
  }
  const enterpriseServer = host !== 'github.com' && !host.endsWith('.ghe.com') && !host.endsWith('.localhost');
  const implied = enterpriseServer ? `${serverUrl}/api/v3` : host.endsWith('.ghe.com') ? `https://api.${host}` : 'https://api.github.com';
  return { serverUrl, apiUrl: trim(env.GITHUB_API_URL || implied), enterpriseServer };
}

/** The link to a workflow run (or one of its artifacts) on the job's own GitHub. */
export function runUrl(env: NodeJS.ProcessEnv, repository: string, runId: number | string): string {
  return `${githubHost(env).serverUrl}/${repository}/actions/runs/${runId}`;
}
