// Calls into src/ from a worker thread with a watchdog, so that a parser that hangs (a loop that
// never yields) fails its test with the input that did it instead of freezing the whole run.
import { Worker } from 'node:worker_threads';
import type { Call } from './call-worker.ts';

export interface Outcome {
  ok: boolean;
  value?: unknown;
  error?: { name?: string; message: string; problems?: string[] };
  peak: number; // bytes of Buffer memory above the start, sampled while the call ran
}

export class HangError extends Error {
  override readonly name = 'HangError';
}

// Far above what any of these calls takes (milliseconds); only a hang or a quadratic blow-up reaches it.
const WATCHDOG_MS = Number(process.env.FUZZ_WATCHDOG_MS ?? 30_000);

export class BoundedCaller {
  private worker?: Worker;
  private next = 1;

  async call(module: string, fn: string, args: unknown[], extra: Partial<Pick<Call, 'getter' | 'registry' | 'measure'>> = {}): Promise<Outcome> {
    const worker = (this.worker ??= new Worker(new URL('./call-worker.ts', import.meta.url)));
    const id = this.next++;
    const message: Call = { id, module: new URL(module, import.meta.url).href, fn, args, ...extra };
    return new Promise<Outcome>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
      };
      const onMessage = (m: Outcome & { id: number }) => {
        if (m.id !== id) return;
        done();
        resolve(m);
      };
      const onError = (err: Error) => {
        done();
        this.worker = undefined;
        reject(err);
      };
      const timer = setTimeout(() => {
        done();
        this.worker = undefined;
        void worker.terminate();
        reject(new HangError(`${fn} gave no answer within ${WATCHDOG_MS} ms (a hang or runaway time) for ${describe(args)}`));
      }, WATCHDOG_MS);
      worker.on('message', onMessage).on('error', onError);
      worker.postMessage(message);
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}

function describe(args: unknown[]): string {
  const text = JSON.stringify(args) ?? '';
  return text.length > 300 ? `${text.slice(0, 300)}... (${text.length} chars)` : text;
}
