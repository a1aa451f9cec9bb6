// Prompt young-generation collections during a large transfer, to hold peak RSS down.
//
// A transfer allocates a Buffer or three per 16–32 KiB it moves (ssh2 copies each write into an
// SFTP message, then an SSH packet, then the cipher's output; undici hands over each TLS record
// as a new Buffer). Their JS objects are tiny, so the young generation fills slowly, and V8
// collects them when their external memory has grown by its 64 MiB soft limit: tens of MiB of
// dead buffers stay resident. A runner cannot pass `--max-semi-space-size` to a `node24`
// action, so the transfer asks for a scavenge itself every MiB: measured on a 256 MiB SFTP
// upload and download, peak RSS 158–161 → 104–109 MiB, CPU no higher (bench/, docs/benchmarks.md).
// `gc` is reached the way jest's leak detector does it: the flag, then a fresh context that has it.
import v8 from 'node:v8';
import vm from 'node:vm';

const EVERY = 1024 * 1024;

type Gc = (opts?: { type?: 'minor' | 'major' }) => void;
let gc: Gc | null | undefined;

function obtain(): Gc | null {
  if (gc !== undefined) return gc;
  try {
    const existing = (globalThis as { gc?: Gc }).gc;
    if (typeof existing === 'function') return (gc = existing);
    v8.setFlagsFromString('--expose-gc');
    const fn = vm.runInNewContext('gc') as unknown;
    gc = typeof fn === 'function' ? (fn as Gc) : null;
  } catch {
    gc = null; // no collector to ask: the transfer runs as it would anyway
  }
  return gc;
}

/** Counts bytes moved; every MiB, a minor GC. Cheap: a scavenge of mostly dead objects. */
export class Scavenger {
  private since = 0;
  private readonly gc = obtain();

  moved(bytes: number): void {
    if (!this.gc) return;
    this.since += bytes;
    if (this.since < EVERY) return;
    this.since = 0;
    this.gc({ type: 'minor' });
  }
}
