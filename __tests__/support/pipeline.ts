// Runs the whole pipeline (src/main.ts run()) in this process, with injected dependencies:
// the runner's log as the lines it would print (`::add-mask::`, `::error::`, `::group::`),
// outputs, step state and job summary in memory, a fake clock (sleeps advance it at once),
// signals from an emitter, and either a fake platform or the real clients (against the
// emulator over real sockets, for tests about the wire).
import { EventEmitter } from 'node:events';
import { mkdtemp, mkdir, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { run } from '../../src/main.ts';
import type { ActionIO, Deps, GitHubServices } from '../../src/pipeline/deps.ts';
import { memoryState } from '../../src/pipeline/state.ts';
import { SecretRegistry } from '../../src/secrets.ts';
import { createPlatform } from '../../src/platform/index.ts';
import { closeDispatcher } from '../../src/net/http.ts';
import { findRecentTest } from '../../src/github/recent-test.ts';
import type { Config } from '../../src/inputs.ts';
import { findHandle, deleteHandle } from '../../src/github/pending.ts';
import { gitHubServices } from '../../src/github/services.ts';
import type { DumpInfo } from '../../src/formats/inspect.ts';
import { EndpointMissingError } from '../../src/platform/types.ts';
import type { CreateParams, DownloadedFile, Platform, RequestRef, Status, TransferContext, UploadResult } from '../../src/platform/types.ts';

// The real clients read their retry base from the environment: keep retries short here too.
process.env.ODOO_UPGRADE_RETRY_BASE_MS ??= '50';

export const CLOCK_START = Date.parse('2026-01-05T10:00:00Z');

/** Time that passes only when the pipeline sleeps; `realMs` lets a real server's own clock move on too. */
export class FakeClock {
  t = CLOCK_START;
  readonly sleeps: number[] = [];
  private readonly realScale: number;
  /** realScale: real milliseconds slept per fake millisecond (0: none). */
  constructor(realScale = 0) {
    this.realScale = realScale;
  }
  now = (): number => this.t;
  sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    signal?.throwIfAborted();
    this.sleeps.push(ms);
    const real = Math.min(2_000, Math.round(ms * this.realScale));
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const timer = real > 0 ? setTimeout(done, real) : setImmediate(done);
      const onAbort = () => {
        if (real > 0) clearTimeout(timer as NodeJS.Timeout);
        else clearImmediate(timer as NodeJS.Immediate);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    this.t += ms;
  };
}

/**
 * Makes this process trust a test CA (an emulator's), as NODE_EXTRA_CA_CERTS does for a
 * spawned bundle: in-process runs then reach the HTTPS emulators through the real clients.
 * Process-wide; each test file is its own process.
 */
export async function trustCA(caFile: string): Promise<void> {
  const pems = (await readFile(caFile, 'utf8')).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!pems.length) throw new Error(`no certificate in ${caFile}`);
  const current = tls.getCACertificates('default');
  const added = pems.filter((pem) => !current.includes(`${pem}\n`) && !current.includes(pem));
  if (added.length) tls.setDefaultCACertificates([...current, ...added]);
}

/** The process signals: emit('SIGINT') as a runner's cancel would. */
export class FakeSignals extends EventEmitter {
  readonly exits: number[] = [];
  exit = (code: number): void => {
    this.exits.push(code);
  };
}

export type PlatformFactory = (api: 'v1' | 'rpc', cfg: Config, secrets: SecretRegistry) => Promise<Platform>;

/** The real protocol clients (v1 and rpc), for runs against the emulator. */
export const realPlatforms: PlatformFactory = (api, cfg, secrets) => createPlatform(api, cfg, secrets);

export interface PipelineOptions {
  inputs: Record<string, string>;
  env?: Record<string, string>;
  platforms?: PlatformFactory;
  clock?: FakeClock;
  signals?: FakeSignals;
  github?: Partial<GitHubServices>;
  /**
   * GitHub's real services (artifact, comment, handles, recent test) bound to this run's env,
   * log and secrets, as src/index.ts binds them: for runs against the GitHub fake. Entries of
   * `github` still win.
   */
  realGitHub?: boolean;
  /** Called with every line the runner would print, as it is printed. */
  onLine?: (line: string) => void;
}

export interface PipelineRun {
  /** The step's exit code: 1 once setFailed was called. */
  code: number;
  lines: string[];
  /** The lines joined, as the runner's log shows them. */
  stdout: string;
  outputs: Record<string, string>;
  summary: string;
  state: Map<string, string>;
  secrets: SecretRegistry;
  clock: FakeClock;
  signals: FakeSignals;
  runnerTemp: string;
  workspace: string;
  cleanup(): Promise<void>;
}

/** The runner's escaping of command data (`::error::` messages are one line). */
const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');

export async function runPipeline(opts: PipelineOptions): Promise<PipelineRun> {
  const base = await mkdtemp(path.join(tmpdir(), 'pipeline-run-'));
  const runnerTemp = path.join(base, 'temp');
  const workspace = path.join(base, 'workspace');
  await mkdir(runnerTemp);
  await mkdir(workspace);
  const lines: string[] = [];
  const print = (line: string) => {
    lines.push(line);
    opts.onLine?.(line);
  };
  const outputs: Record<string, string> = {};
  let summary = '';
  let code = 0;
  const io: ActionIO = {
    info: (line) => print(line),
    warning: (line) => print(`::warning::${escapeData(line)}`),
    notice: (line) => print(`::notice::${escapeData(line)}`),
    debug: (line) => print(`::debug::${escapeData(line)}`),
    group: async (name, fn) => {
      print(`::group::${name}`);
      try {
        return await fn();
      } finally {
        print('::endgroup::');
      }
    },
    setSecret: (value) => print(`::add-mask::${escapeData(value)}`),
    setOutput: (name, value) => {
      outputs[name] = value;
    },
    setFailed: (message) => {
      code = 1;
      print(`::error::${escapeData(message)}`);
    },
    appendSummary: async (markdown) => {
      summary += markdown;
    },
  };
  const secrets = new SecretRegistry((v) => io.setSecret(v));
  const clock = opts.clock ?? new FakeClock();
  const signals = opts.signals ?? new FakeSignals();
  const state = memoryState();
  const inputs = Object.fromEntries(Object.entries(opts.inputs).map(([k, v]) => [k.toLowerCase(), v]));
  const platforms = opts.platforms ?? realPlatforms;
  const env: NodeJS.ProcessEnv = { RUNNER_TEMP: runnerTemp, GITHUB_WORKSPACE: workspace, ...opts.env };
  const real = opts.realGitHub ? gitHubServices({ env, io, secrets }) : undefined;
  const deps: Deps = {
    inputs: (name) => inputs[name],
    env,
    io,
    state,
    secrets,
    createPlatform: (api, cfg) => platforms(api, cfg, secrets),
    clock,
    github: {
      // The real check: it reads the injected env (GITHUB_API_URL of the GitHub fake in tests).
      findRecentTest: opts.github?.findRecentTest ?? findRecentTest,
      publish: opts.github?.publish ?? real?.publish ?? noArtifact,
      comment: opts.github?.comment ?? real?.comment ?? (async () => {
        throw new Error('this test gives no GitHub service for comments');
      }),
      publishHandle: opts.github?.publishHandle ?? real?.publishHandle ?? (async () => {
        throw new Error('this test gives no GitHub artifact service for handles');
      }),
      // The real REST calls: they read the injected env (GITHUB_API_URL of the GitHub fake in tests).
      findHandle: opts.github?.findHandle ?? findHandle,
      deleteHandle: opts.github?.deleteHandle ?? deleteHandle,
    },
    signals,
    closeNetwork: closeDispatcher,
  };
  await run(deps);
  return {
    code,
    lines,
    stdout: lines.join('\n'),
    outputs,
    summary,
    state: state.values,
    secrets,
    clock,
    signals,
    runnerTemp,
    workspace,
    cleanup: () => rm(base, { recursive: true, force: true }),
  };
}

export interface GitHubRun extends PipelineRun {
  /** Always '' (in-process there is no second stream); kept so assertion messages read as a bundle run's. */
  stderr: string;
}

/**
 * The pipeline in-process as the bundle would run with these inputs and this environment
 * (a GitHub fake's env, say): GitHub's real services bound to it, retries short. The fake
 * clock starts at the real time (artifacts and records are dated by the wall clock) and lets
 * a tenth of each wait really pass, so an emulator's states move on. A NODE_EXTRA_CA_CERTS
 * file is trusted by this process (trustCA), as the bundle's process would trust it.
 */
export async function runWithGitHub(opts: { inputs: Record<string, string>; env: Record<string, string>; github?: Partial<GitHubServices>; onLine?: (line: string) => void }): Promise<GitHubRun> {
  const clock = new FakeClock(0.1);
  clock.t = Date.now();
  const { NODE_EXTRA_CA_CERTS: caFile, ...env } = opts.env;
  if (caFile) await trustCA(caFile);
  // What runAction gives a bundle's process besides the test's variables.
  const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ODOO_UPGRADE_RETRY_BASE_MS: '50' };
  const run = await runPipeline({ inputs: opts.inputs, env: { ...base, ...env }, clock, realGitHub: true, github: opts.github, onLine: opts.onLine });
  return { ...run, stderr: '' };
}

/** Publishing without GitHub: reads nothing, refuses an artifact (tests set artifact-name ''). */
async function noArtifact(_report: unknown, _cfg: Config, opts: { artifactName: string }): Promise<void> {
  if (opts.artifactName) throw new Error(`this test gives no GitHub artifact service (artifact "${opts.artifactName}")`);
}

// ---- a fake platform: the protocol's state machine, recording every call

export interface FakeScript {
  api?: 'v1' | 'rpc';
  /** The state a resumed request is in (created requests start `new`). */
  resumeAt?: string;
  /** States the status calls return after `process` (or on resume), one per call; the last one stays. */
  after?: string[];
  /** The platform's answer to `create`, when it must fail. */
  createError?: Error;
  /** Platforms of this api do not exist (EndpointMissingError). */
  missing?: boolean;
  logs?: string[];
}

const SUCCESS = new Set(['done']);
const FAILURE = new Set(['failed', 'cancelled', 'invalid']);

export class FakePlatform implements Platform {
  readonly api: 'v1' | 'rpc';
  readonly calls: string[] = [];
  state: string;
  private readonly script: FakeScript;
  private queue: string[];
  private logIndex = 0;
  readonly logs?: Platform['logs'];

  constructor(script: FakeScript) {
    this.script = script;
    this.api = script.api ?? 'rpc';
    this.state = script.resumeAt ?? 'none';
    this.queue = script.resumeAt && script.resumeAt !== 'new' ? [...(script.after ?? ['done'])] : [];
    if (script.logs) {
      this.logs = async (_ref: RequestRef, offset: number) => {
        this.calls.push(`logs@${offset}`);
        return this.script.logs![this.logIndex++] ?? '';
      };
    }
  }

  async create(params: CreateParams, _ctx: TransferContext): Promise<RequestRef> {
    this.calls.push('create');
    if (this.script.missing) throw new EndpointMissingError(`create: the ${this.api} endpoint does not exist (HTTP 404)`);
    if (this.script.createError) throw this.script.createError;
    this.state = 'new';
    void params;
    return { id: '4242', key: 'fake-request-key-0123456789' };
  }

  async upload(_ref: RequestRef, dump: DumpInfo, _ctx: TransferContext): Promise<UploadResult> {
    this.calls.push(`upload@${this.state}`);
    return { method: 'https', bytes: dump.size, seconds: 0.1, resumes: 0 };
  }

  async process(_ref: RequestRef, _ctx: TransferContext): Promise<{ warnings: string[] }> {
    this.calls.push(`process@${this.state}`);
    if (this.state !== 'new') throw new Error(`process refused: the request is ${this.state}`);
    this.state = 'pending';
    this.queue = [...(this.script.after ?? ['progress', 'done'])];
    return { warnings: [] };
  }

  async status(_ref: RequestRef, _ctx: TransferContext): Promise<Status> {
    this.calls.push('status');
    if (this.script.missing) throw new EndpointMissingError(`status: the ${this.api} endpoint does not exist (HTTP 404)`);
    if (this.queue.length) this.state = this.queue.length > 1 ? this.queue.shift()! : this.queue[0];
    const phase = SUCCESS.has(this.state) ? 'success' : FAILURE.has(this.state) ? 'failure' : 'running';
    return { state: this.state, phase, raw: { state: this.state }, target: '18.0', databaseVersion: '16.0', postgresql: '16' };
  }

  async download(_ref: RequestRef, _status: Status, outputDir: string, _ctx: TransferContext): Promise<DownloadedFile[]> {
    this.calls.push('download');
    const file = path.join(outputDir, 'upgraded.dump');
    await writeFile(file, 'upgraded');
    return [{ role: 'dump', path: file, bytes: (await stat(file)).size }];
  }

  async close(): Promise<void> {
    this.calls.push('close');
  }
}

/** A factory handing out fake platforms (one per api asked) and keeping them for assertions. */
export function fakePlatforms(scripts: FakeScript | Partial<Record<'v1' | 'rpc', FakeScript>>): PlatformFactory & { made: FakePlatform[] } {
  const made: FakePlatform[] = [];
  const factory = async (api: 'v1' | 'rpc') => {
    const perApi = 'v1' in scripts || 'rpc' in scripts ? (scripts as Partial<Record<'v1' | 'rpc', FakeScript>>)[api] : (scripts as FakeScript);
    if (!perApi) throw new Error(`no fake platform for ${api}`);
    const p = new FakePlatform({ ...perApi, api });
    made.push(p);
    return p;
  };
  return Object.assign(factory, { made });
}

// ---- for in-process runs of the real clients against test servers

/**
 * Runs `fn` with these variables in process.env (undefined: unset), then puts back what was there: the real platform
 * clients read their test knobs (ODOO_UPGRADE_RETRY_BASE_MS, ODOO_UPGRADE_CALL_TIMEOUT_MS) from it.
 */
export async function withProcessEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k]; // undefined: the variable is not set during the run
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
