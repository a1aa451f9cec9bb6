// Shared settings of the property tests: run count from FUZZ_RUNS, seed from FUZZ_SEED
// (fast-check prints the seed and path of any failure, so a run can be replayed).
import type { Parameters } from 'fast-check';

export const RUNS = Number(process.env.FUZZ_RUNS ?? 100);

export function params<T>(runs = RUNS): Parameters<T> {
  const seed = process.env.FUZZ_SEED;
  return { numRuns: runs, ...(seed ? { seed: Number(seed) } : {}) };
}
