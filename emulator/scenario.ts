// The scenario in force and what is left of its one-shot faults: counters start afresh
// each time a scenario is set.
import type { Scenario } from './server.ts';

export type HttpErrorSpec = NonNullable<Scenario['httpErrors']>[number];

export class ScenarioRuntime {
  scenario: Scenario = {};
  private errorsLeft: number[] = [];
  private uploadCutUsed = false;
  private cutDownloads = new Set<string>();

  constructor(s: Scenario = {}) {
    this.set(s);
  }

  set(s: Scenario): void {
    this.scenario = { ...s };
    this.errorsLeft = (s.httpErrors ?? []).map((e) => Math.max(0, Math.floor(e.count)));
    this.uploadCutUsed = false;
    this.cutDownloads = new Set();
  }

  /** The next injected HTTP error for `method`, if any is left (first matching entry wins). */
  takeHttpError(method: string): HttpErrorSpec | undefined {
    const list = this.scenario.httpErrors ?? [];
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      if ((e.method === method || e.method === '*') && this.errorsLeft[i]! > 0) {
        this.errorsLeft[i]!--;
        return e;
      }
    }
    return undefined;
  }

  /** Byte count after which the upload now starting is cut: only the first upload. */
  takeUploadCut(): number | undefined {
    const n = this.scenario.cutUploadAfterBytes;
    if (n === undefined || this.uploadCutUsed) return undefined;
    this.uploadCutUsed = true;
    return n;
  }

  /** Byte count after which this GET of `resource` is cut: only its first GET. */
  takeDownloadCut(resource: string): number | undefined {
    const n = this.scenario.cutDownloadAfterBytes;
    if (n === undefined || this.cutDownloads.has(resource)) return undefined;
    this.cutDownloads.add(resource);
    return n;
  }
}
