// An emulated request: plain recorded facts, plus `state` and `history` computed from them
// on every read (enumerable, so they show in JSON and assertion diffs).
import type { EmuRequest } from './server.ts';
import { timeline } from './states.ts';

export type RequestInit = Omit<EmuRequest, 'state' | 'history'>;

export function makeRequest(init: RequestInit): EmuRequest {
  const r = init as EmuRequest;
  Object.defineProperties(r, {
    history: { enumerable: true, get: () => timeline(r, Date.now()) },
    state: { enumerable: true, get: () => timeline(r, Date.now()).at(-1)!.state },
  });
  return r;
}

/** The source version the platform would "guess" from a dump: two majors below the target. */
export function guessSourceVersion(target: string): string {
  const major = Number(/^(?:saas~)?(\d+)\./.exec(target)?.[1] ?? 16);
  return `${Math.max(8, major - 2)}.0`;
}
