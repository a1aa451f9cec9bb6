// Prompt young-generation collections during a large transfer, to hold peak RSS down.
//
// A transfer allocates a Buffer or three per 16–32 KiB it moves (ssh2 copies each write into an
// SFTP message, then an SSH packet, then the cipher's output; undici hands over each TLS record
// as a new Buffer). Their JS objects are tiny, so the young generation fills slowly, and V8
// collects them when their external memory has grown by its 64 MiB soft limit: tens of MiB of
// dead buffers stay resident. A runner cannot pass `--max-semi-space-size` to a `node24`
// action, so the transfer asks for a scavenge itself every MiB. Measured (docs/benchmarks.md, sixth
// pass): SFTP peak RSS −50 to −60 MiB and less CPU; HTTPS some more CPU, but without it the whole
// action peaked at 165–171 MiB on a 1 GiB dump (127–143 with it).
//
// `gc` is reached the way jest's leak detector does it: the flag, then a fresh context that has
// it. Node calls `v8.setFlagsFromString` after start-up undefined behaviour in general; this one
// flag only decides whether contexts created later get a `gc` global (Node keeps V8's flags
// unfrozen for this API), so the risk is that `gc` is missing, never a changed collector. Every
// step is guarded: no `gc`, or a `gc` that throws, and the transfer runs as it would without.
import v8 from 'node:v8';
import vm from 'node:vm';

const MiB = 1024 * 1024;

type Gc = (opts?: { type?: 'minor' | 'major' }) => void;
let gc: Gc | null | undefined;

/** `OUA_BENCH_SCAVENGE=off` (or `=N`, every N MiB): the benchmarks' switch to measure transfers without it or at another interval (bench/scavenge-ab.ts). */
function obtain(): Gc | null {
  if (gc !== undefined) return gc;
  if (process.env.OUA_BENCH_SCAVENGE === 'off') return (gc = null);
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
  private readonly every = Number(process.env.OUA_BENCH_SCAVENGE) > 0 ? Number(process.env.OUA_BENCH_SCAVENGE) * MiB : MiB;

  moved(bytes: number): void {
    if (!gc || !this.gc) return;
    this.since += bytes;
    if (this.since < this.every) return;
    this.since = 0;
    try {
      this.gc({ type: 'minor' });
    } catch {
      gc = null; // called from socket and file callbacks: a failure here must not reach a transfer
    }
  }
}
