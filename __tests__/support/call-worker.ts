// Runs one exported function of a source module per message, in a thread the test can kill:
// a parser stuck in a loop blocks this thread, not the test runner, and then it is ended.
import { parentPort } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// A handle on the collector (workers cannot take --expose-gc): memory samples then count what is held, not garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export interface Call {
  id: number;
  module: string; // file URL of the module
  fn: string;
  args: unknown[];
  getter?: boolean; // args[0] is a record of inputs, passed on as an InputGetter
  registry?: boolean; // append a fresh SecretRegistry (for parseHeaders)
  measure?: boolean; // collect garbage before each memory sample, so the peak is what the call holds
}

parentPort!.on('message', async (call: Call) => {
  const mod = (await import(call.module)) as Record<string, (...a: unknown[]) => unknown>;
  const args = [...call.args];
  if (call.getter) {
    const rec = args[0] as Record<string, string>;
    args[0] = (name: string) => (Object.hasOwn(rec, name) ? rec[name] : undefined);
  }
  if (call.registry) {
    const { SecretRegistry } = (await import(new URL('../../src/secrets.ts', import.meta.url).href)) as { SecretRegistry: new (mask: (v: string) => void) => unknown };
    args.push(new SecretRegistry(() => {})); // registered, not printed: the runner is not listening
  }
  // Peak of Buffer memory while the call runs: a reader that buffers what it should stream shows here.
  if (call.measure) gc();
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const sample = () => {
    if (call.measure) gc();
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
  };
  const timer = setInterval(sample, call.measure ? 200 : 1); // a collection every 200 ms leaves the call time to run
  try {
    const value = await mod[call.fn](...args);
    sample();
    parentPort!.postMessage({ id: call.id, ok: true, value: JSON.parse(JSON.stringify(value ?? null)), peak });
  } catch (err) {
    const e = err as { name?: string; message?: string; problems?: string[]; constructor?: { name?: string } };
    parentPort!.postMessage({ id: call.id, ok: false, error: { name: e?.name ?? e?.constructor?.name, message: String(e?.message ?? err), problems: e?.problems }, peak });
  } finally {
    clearInterval(timer);
  }
});
