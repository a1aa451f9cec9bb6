// What every dump source hands back: a local path the rest of the run reads, and how to
// tidy up after it.
export interface ResolvedDump {
  path: string; // a file, or (rpc) a pg_dump directory dump
  kind: 'path' | 'artifact' | 'url' | 'database';
  description: string; // safe to log: never a password, token or query string
  /** Removes the temp files the source made; a no-op for a user's own path. */
  cleanup(): Promise<void>;
}
