// Builds a request's results as soon as `process` is called, in the background, so the
// state machine (states.ts) is never held back by the build: the states keep their timing
// and `done` waits only for a build that outlasts them. The emulator's PostgreSQL is started
// when a dump starts to arrive (warm(): an HTTPS upload, SFTP access), while it is uploaded.
// close() aborts builds in flight and waits for them, so the data dir can go.
import path from 'node:path';
import type { EmuRequest } from './server.ts';
import { buildResults } from './results.ts';
import { isSuccess } from './states.ts';
import { EmulatorPostgres } from './postgres.ts';

export class Builder {
  private readonly builds = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private readonly log: (line: string) => void;
  private readonly postgres: EmulatorPostgres | undefined;
  private readonly ownsPostgres: boolean;

  /** postgres: true = a server of its own (stopped at close), an instance = shared (left running), false = none. */
  constructor(log: (line: string) => void, postgres: boolean | EmulatorPostgres = true) {
    this.log = log;
    this.ownsPostgres = postgres === true;
    this.postgres = postgres === true ? new EmulatorPostgres(log) : postgres || undefined;
  }

  /** A dump is on its way: the server starts now, not when the build needs it. */
  warm(): void {
    if (this.abort.signal.aborted) return;
    void this.postgres?.get();
  }

  /** `process` was called: build now, in the background. */
  schedule(r: EmuRequest): void {
    this.ensure(r);
  }

  ensure(r: EmuRequest): void {
    if (r.processedAt === undefined || !isSuccess(r.outcome) || this.builds.has(r.id) || this.abort.signal.aborted) return;
    const build = this.build(r);
    this.builds.set(r.id, build);
  }

  async close(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.builds.values());
    if (this.ownsPostgres) await this.postgres?.close();
  }

  private async build(r: EmuRequest): Promise<void> {
    const began = Date.now();
    try {
      if (!r.uploadedPath) throw new Error('no upload');
      const out = await buildResults({
        id: r.id,
        target: r.target,
        aim: r.aim,
        filename: r.filename,
        uploadedPath: r.uploadedPath,
        uploadedSha256: r.uploadedSha256,
        databaseVersion: r.databaseVersion,
        postgresql: r.postgresql,
        notesHtml: r.notesHtml,
        outDir: path.join(r.dir, 'results'),
        at: r.processedAt! + r.timing.pendingMs, // when processing starts, as the archive's dates show
        signal: this.abort.signal,
        postgres: this.postgres,
      });
      Object.assign(r, out);
      r.builtAt = Date.now();
      this.log(`request ${r.id}: results built in ${r.builtAt - began} ms${out.markedCopy ? ` (a marked copy: ${out.markedCopy})` : ''}`);
    } catch (err) {
      if (this.abort.signal.aborted) return;
      r.buildError = (err as Error).message;
      r.buildFailedAt = Date.now();
      this.log(`request ${r.id}: building the results failed: ${r.buildError}`);
    }
  }
}
