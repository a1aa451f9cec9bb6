// What the API and download handlers share: the emulator's state, and how a call proves
// it holds a request's key.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Failure } from './http-util.ts';
import { failure } from './http-util.ts';
import type { Part } from './multipart.ts';
import type { Builder } from './processing.ts';
import type { ScenarioRuntime } from './scenario.ts';
import type { Emulator, EmuRequest } from './server.ts';
import type { Timing } from './states.ts';

export interface Env {
  url: string;
  dataDir: string;
  timing: Timing;
  requests: Map<string, EmuRequest>;
  runtime: ScenarioRuntime;
  builder: Builder;
  emulator: Emulator;
  nextId(): number;
  log(line: string): void;
}

export interface Params { values: Map<string, string>; parts: Part[] }

export function missing(values: Map<string, string>, names: string[]): Failure[] {
  return names
    .filter((n) => !values.get(n))
    .map((n) => failure('PARAMETER:MISSING', `Missing required parameter "${n}"`, { value: n }));
}

export function authenticate(env: Env, v: Map<string, string>): EmuRequest | Failure[] {
  const failures = missing(v, ['key', 'request']);
  if (failures.length) return failures;
  const r = findRequest(env, v.get('request')!, v.get('key')!);
  return r ?? [failure('REQUEST:NOT_FOUND', 'No upgrade request matches this id and key')];
}

export function findRequest(env: Env, id: string, key: string): EmuRequest | undefined {
  const r = /^\d{1,15}$/.test(id) ? env.requests.get(String(Number(id))) : undefined;
  if (!r) return undefined;
  const a = createHash('sha256').update(r.key).digest();
  const b = createHash('sha256').update(key).digest();
  return timingSafeEqual(a, b) ? r : undefined;
}

export function wrongState(state: string, expected: readonly string[], what: string): Failure {
  return failure('STATE:INVALID', `Cannot ${what} a request in state "${state}"`, { value: state, expected: [...expected] });
}
