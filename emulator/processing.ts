// Starts building a request's results when it reaches `processing`: from a timer set at
// `process`, or from the next call that looks at the request, whichever comes first.
// close() aborts builds in flight and waits for them, so the data dir can go.
import path from 'node:path';
import type { EmuRequest } from './server.ts';
import { buildResults } from './results.ts';
import { isSuccess, processingStart } from './states.ts';
import { EmulatorPostgres } from './postgres.ts';

export class Builder {
  private readonly builds = new Map<string, Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly abort = new AbortController();
  private readonly log: (line: string) => void;
  private readonly postgres: EmulatorPostgres | undefined;

  constructor(log: (line: string) => void, postgres = true) {
    this.log = log;
    this.postgres = postgres ? new EmulatorPostgres(log) : undefined;
  }

  schedule(r: EmuRequest): void {
    const start = processingStart(r);
    if (start === undefined) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.ensure(r);
    }, Math.max(0, start - Date.now()));
    t.unref();
    this.timers.add(t);
  }

  ensure(r: EmuRequest): void {
    const start = processingStart(r);
    if (start === undefined || Date.now() < start || !isSuccess(r.outcome) || this.builds.has(r.id) || this.abort.signal.aborted) return;
    const build = this.build(r);
    this.builds.set(r.id, build);
  }

  async close(): Promise<void> {
    this.abort.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled(this.builds.values());
    await this.postgres?.close();
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
        at: began,
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
