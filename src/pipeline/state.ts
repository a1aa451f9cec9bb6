// What the main step leaves for the post step (the runner's step state), under typed keys.
import * as core from '@actions/core';

export type StateKey = 'work-dir' | 'output-dir' | 'request-id' | 'finished';

export interface StateProvider {
  save(key: StateKey, value: string): void;
  get(key: StateKey): string;
}

/** The runner's step state, through @actions/core (GITHUB_STATE in, STATE_* out). */
export const runnerState: StateProvider = {
  save: (key, value) => core.saveState(key, value),
  get: (key) => core.getState(key),
};

/** State kept in memory: tests, and anything that runs both steps in one process. */
export function memoryState(initial: Partial<Record<StateKey, string>> = {}): StateProvider & { values: Map<StateKey, string> } {
  const values = new Map(Object.entries(initial) as Array<[StateKey, string]>);
  return { values, save: (key, value) => values.set(key, value), get: (key) => values.get(key) ?? '' };
}
