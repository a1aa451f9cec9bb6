// A worker thread running an inline script: a script rather than a module file, so that the
// bundle carries it without a second entry. Its heap is kept small (it holds a few buffers),
// and it never keeps the process alive except while its answer is awaited.
import { Worker } from 'node:worker_threads';

export interface Thread<T> {
  worker: Worker;
  /** The thread's one answer: `{ error }` rejects, anything else is read by `accept`. */
  result: Promise<T>;
  /** Awaits the answer, keeping the process alive for it, then stops the thread. */
  finish(): Promise<T>;
  stop(): Promise<void>;
}

export function startThread<T>(script: string, workerData: unknown, what: string, accept: (m: Record<string, unknown>) => T): Thread<T> {
  const worker = new Worker(script, {
    eval: true,
    workerData,
    resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 },
    stdout: false,
    stderr: false,
  });
  worker.unref();
  const result = new Promise<T>((resolve, reject) => {
    worker.once('message', (m: Record<string, unknown>) => (typeof m.error === 'string' ? reject(new Error(`${what}: ${m.error}`)) : resolve(accept(m))));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`${what}: the thread exited (${code})`)));
  });
  result.catch(() => undefined); // awaited by finish() or its owner; an early failure is not unhandled
  const stop = () => worker.terminate().then(() => undefined, () => undefined);
  return {
    worker,
    result,
    stop,
    async finish() {
      worker.ref();
      try {
        return await result;
      } finally {
        await stop();
      }
    },
  };
}
