// One interface over the platform's protocols, so the pipeline in main.ts does not care
// which one answers. Each protocol maps its own states onto three phases.
import type { DumpInfo } from '../formats/inspect.ts';
import type { ProgressSink } from '../transfer/progress.ts';

export type Phase = 'running' | 'success' | 'failure';

export interface RequestRef {
  id: string;
  key: string; // v1 key, rpc token: a secret
  hostUri?: string; // rpc: the node that holds the request
  /** What the platform said to show the user when the request was created (rpc `info`). */
  warnings?: string[];
}

export interface CreateParams {
  contract: string;
  email: string;
  target: string;
  aim: 'test' | 'production';
  filename: string;
  timezone: string;
  envVars: string[];
}

export interface Status {
  state: string;
  phase: Phase;
  /** The platform's own words about a failure or a warning (customer_message, reason). */
  message?: string;
  databaseVersion?: string;
  postgresql?: string;
  target?: string;
  aim?: string;
  filename?: string;
  createdAt?: string;
  /** Everything the platform said, for the summary; never logged whole (it holds key-bearing URLs). */
  raw: Record<string, unknown>;
}

export interface UploadResult {
  method: 'https' | 'sftp' | 'rsync';
  bytes: number;
  sha256?: string;
  seconds: number;
  resumes: number;
}

export interface DownloadedFile {
  role: 'dump' | 'sql' | 'notes' | 'report' | 'log' | 'filestore';
  path: string;
  bytes: number;
  sha256?: string;
}

export interface TransferContext {
  log: (line: string) => void;
  /** A `::warning` (redacted by the caller); platforms fall back to core.warning through the registry. */
  warn?: (line: string) => void;
  signal?: AbortSignal;
  progress: (label: string, total?: number) => ProgressSink;
}

export interface Platform {
  readonly api: 'v1' | 'rpc';
  create(params: CreateParams, ctx: TransferContext): Promise<RequestRef>;
  upload(ref: RequestRef, dump: DumpInfo, ctx: TransferContext): Promise<UploadResult>;
  process(ref: RequestRef, ctx: TransferContext): Promise<{ warnings: string[] }>;
  status(ref: RequestRef, ctx: TransferContext): Promise<Status>;
  /** Downloads what the config asks into outputDir; returns the files it wrote. */
  download(ref: RequestRef, status: Status, outputDir: string, ctx: TransferContext): Promise<DownloadedFile[]>;
  /** Text of the platform's log since `offset`, when the protocol has one (rpc). */
  logs?(ref: RequestRef, offset: number, ctx: TransferContext): Promise<string>;
  wipe?(ref: RequestRef, ctx: TransferContext): Promise<string>;
  /**
   * The SSH private key this client's transfers use, when it made one for this run: the data
   * server lets in only the key sent at create, so a later run that goes on with the request
   * (a sealed pending handle) needs it too.
   */
  ephemeralSshKey?(): string | undefined;
  /** Releases keys, connections and temporary files. Safe to call twice. */
  close(): Promise<void>;
}

/** A platform answer that says no (v1 failures, rpc errors): the message is the platform's own. */
export class PlatformError extends Error {
  override name = 'PlatformError';
  readonly reasons: string[];
  readonly temporary: boolean;
  constructor(message: string, reasons: string[] = [], temporary = false) {
    super(message);
    this.reasons = reasons;
    this.temporary = temporary;
  }
}

/** The endpoint does not exist (HTTP 404/405/410): the signal for api: auto to try the other protocol. */
export class EndpointMissingError extends Error {
  override name = 'EndpointMissingError';
}
