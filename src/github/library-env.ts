// @actions/artifact reads its runtime settings from process.env and nowhere else (the
// results service URL, the runtime token, the server, the workspace, retention, limits). The
// pipeline's environment is injected (Deps.env): for the length of one library call, the
// variables the library reads are taken from it. When the injected environment is
// process.env itself (the real action), nothing changes. Calls are serialized, so two runs in
// one process never see each other's values.

const LIBRARY_VARS = [
  'ACTIONS_RUNTIME_TOKEN',
  'ACTIONS_RESULTS_URL',
  'ACTIONS_RUNTIME_URL',
  'GITHUB_SERVER_URL',
  'GITHUB_WORKSPACE',
  'GITHUB_RETENTION_DAYS',
  'ACTIONS_ARTIFACT_UPLOAD_CONCURRENCY',
  'ACTIONS_ARTIFACT_UPLOAD_TIMEOUT_MS',
  'ACTIONS_ARTIFACT_MAX_ARTIFACT_COUNT',
] as const;

let queue: Promise<unknown> = Promise.resolve();

export async function withLibraryEnv<T>(env: NodeJS.ProcessEnv, fn: () => Promise<T>): Promise<T> {
  if (env === process.env) return fn();
  const turn = queue.then(async () => {
    const saved = LIBRARY_VARS.map((k) => [k, process.env[k]] as const);
    for (const k of LIBRARY_VARS) {
      if (env[k] === undefined) delete process.env[k];
      else process.env[k] = env[k];
    }
    try {
      return await fn();
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
  queue = turn.catch(() => undefined);
  return turn;
}
