// Writes a download to disk on a thread of its own. The main thread only copies each received
// chunk into a shared ring; the thread writes the ring to the file in small batches. Copying into
// the page cache is the largest cost of a download on these VMs (~1.2 s of system time per GiB,
// 67% of a profile, 0.2–2.4 s from one run to the next): done inline, receiving waits for it;
// done here, it overlaps with receiving, decrypting and hashing the next bytes.
import { startThread, type Thread } from './thread.ts';

// Control words shared with the thread (Int32 slots).
const READ = 0; // bytes taken out of the ring, modulo 2^32 (written by the thread)
const WRITTEN = 1; // bytes put in, modulo 2^32 (written by the main thread)
const SEQ = 2; // bumped by the main thread after every change, so the thread never sleeps through one
const CMD = 3; // 1: finish, 2: truncate and start over
const FAILED = 4; // set by the thread when it stops on an error
const ACKED = 5; // restarts done
const SLEEPING = 6; // set by the thread while it waits: only then is a wake-up worth a call
const FLUSH = 7; // set by the main thread: write out even less than a batch
const SLOTS = 8;
// The thread writes 32 KiB at a time, and is woken only when that much is waiting. Smaller
// writes copy from memory still in cache: 1 GiB downloads took 2.03–2.33 s with 32 KiB,
// 2.18–2.24 s with 128 KiB and 2.35–2.66 s with 1 MiB (4 alternating runs each, bench/).
const BATCH = 32 * 1024;
const SPILL = 256 * 1024;

const FINISH = 1;
const RESTART = 2;

const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, writeSync, ftruncateSync, closeSync } = require('node:fs');
const [READ, WRITTEN, SEQ, CMD, FAILED, ACKED, SLEEPING, FLUSH] = [0, 1, 2, 3, 4, 5, 6, 7];
const BATCH = workerData.batch;
const ctrl = new Int32Array(workerData.ctrl);
const ring = Buffer.from(workerData.ring);
const mask = ring.length - 1;
const MAX_WRITE = 4 * BATCH; // when it has fallen behind
let fd, pos = 0, read = 0;
try {
  fd = openSync(workerData.file, 'w');
  for (;;) {
    const seq = Atomics.load(ctrl, SEQ);
    const available = (Atomics.load(ctrl, WRITTEN) - read) >>> 0;
    if (available >= BATCH || (available > 0 && Atomics.load(ctrl, FLUSH))) {
      const at = read & mask;
      const n = Math.min(available, ring.length - at, MAX_WRITE);
      const view = ring.subarray(at, at + n);
      for (let off = 0; off < n; ) off += writeSync(fd, view, off, n - off, pos + off);
      pos += n;
      read = (read + n) | 0;
      Atomics.store(ctrl, READ, read);
      Atomics.notify(ctrl, READ);
      continue;
    }
    if (available > 0) {
      Atomics.store(ctrl, SLEEPING, 1);
      Atomics.wait(ctrl, SEQ, seq);
      Atomics.store(ctrl, SLEEPING, 0);
      continue;
    }
    const cmd = Atomics.load(ctrl, CMD);
    if (cmd === 1) {
      closeSync(fd);
      parentPort.postMessage({ bytes: pos });
      break;
    }
    if (cmd === 2) {
      ftruncateSync(fd, 0);
      pos = 0;
      Atomics.store(ctrl, CMD, 0);
      Atomics.add(ctrl, ACKED, 1);
      Atomics.notify(ctrl, ACKED);
      continue;
    }
    Atomics.store(ctrl, SLEEPING, 1);
    Atomics.wait(ctrl, SEQ, seq);
    Atomics.store(ctrl, SLEEPING, 0);
  }
} catch (err) {
  Atomics.store(ctrl, FAILED, 1);
  Atomics.notify(ctrl, READ);
  Atomics.notify(ctrl, ACKED);
  parentPort.postMessage({ error: String((err && err.message) || err) });
}
`;


export class FileSink {
  private readonly thread: Thread<number>;
  private readonly ctrl: Int32Array;
  private readonly ring: Buffer;
  private written = 0; // modulo 2^32, as in the control word
  private failure?: Error;
  private backlog?: Buffer[]; // what the ring could not take yet, in order
  private flushing?: Promise<void>;
  // The backlog's bytes are kept here while they fit: a reader pauses after the chunk that
  // filled the ring, so this is a record or two, and a fresh copy each time would be garbage
  // for V8 to collect (it showed as +20 MiB of peak memory over a 4 GiB download).
  private readonly spill = Buffer.allocUnsafe(SPILL);
  private spilled = 0;
  private readonly file: string;
  private readonly batch: number;
  /** Bytes handed to the sink since it was opened or restarted. */
  bytes = 0;

  /**
   * Opens `file` (truncated) on the thread.
   * The ring's size is a power of two; 8 MiB keeps a fast network busy while a write stalls.
   */
  constructor(file: string, opts: { ringBytes?: number } = {}) {
    this.file = file;
    const size = opts.ringBytes ?? 8 * 1024 * 1024;
    if (size & (size - 1)) throw new Error('FileSink: the ring size must be a power of two');
    this.ctrl = new Int32Array(new SharedArrayBuffer(SLOTS * 4));
    const shared = new SharedArrayBuffer(size);
    this.ring = Buffer.from(shared);
    this.batch = Math.min(BATCH, size / 2);
    this.thread = startThread(
      THREAD,
      { file, ctrl: this.ctrl.buffer, ring: shared, batch: this.batch },
      `writing ${file}`,
      (m) => Number(m.bytes),
    );
    this.thread.result.catch((err) => (this.failure = err));
  }

  /**
   * Copies `chunk` into the ring. Returns a promise only when the ring was too full to take
   * it all (await it: that is the backpressure); otherwise nothing, so the common case costs
   * no promise. What did not fit is copied aside, so `chunk` may be reused once this returns.
   */
  write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    if (Atomics.load(this.ctrl, FAILED)) return this.stopped(); // rejects with the thread's message
    this.bytes += chunk.length;
    if (this.backlog) {
      this.backlog.push(this.keep(chunk));
      return this.flushing;
    }
    const taken = this.copyIn(chunk, 0);
    if (taken === chunk.length) return undefined;
    this.backlog = [this.keep(chunk.subarray(taken))];
    this.flushing = this.flushBacklog();
    return this.flushing;
  }

  /** Waits until everything handed over is in the file; returns the file's length. */
  async drain(): Promise<number> {
    await this.flushing;
    Atomics.store(this.ctrl, FLUSH, 1);
    this.bump();
    try {
      for (;;) {
        const seen = Atomics.load(this.ctrl, READ);
        if (this.written === seen) break;
        await this.waitFor(READ, seen);
        await this.stopped();
      }
    } finally {
      Atomics.store(this.ctrl, FLUSH, 0);
    }
    return this.bytes;
  }

  /** Empties the file, to receive it again from its first byte. */
  async restart(): Promise<void> {
    await this.drain();
    const acked = Atomics.load(this.ctrl, ACKED);
    this.command(RESTART);
    while (Atomics.load(this.ctrl, ACKED) === acked) {
      await this.waitFor(ACKED, acked);
      await this.stopped();
    }
    this.bytes = 0;
  }

  /** Writes out the rest, closes the file and returns its length. */
  async finish(): Promise<number> {
    await this.drain();
    this.command(FINISH);
    return this.thread.finish();
  }

  close(): Promise<void> {
    return this.thread.stop();
  }

  private async flushBacklog(): Promise<void> {
    try {
      while (this.backlog!.length) {
        const chunk = this.backlog![0];
        for (let from = 0; ; ) {
          const seen = Atomics.load(this.ctrl, READ);
          from = this.copyIn(chunk, from);
          if (from === chunk.length) break;
          await this.waitFor(READ, seen); // returns at once if the thread moved on since `seen`
          await this.stopped();
        }
        this.backlog!.shift();
      }
    } finally {
      this.backlog = undefined;
      this.flushing = undefined;
      this.spilled = 0;
    }
  }

  /** A copy of `chunk` that stays valid until the backlog is written out. */
  private keep(chunk: Uint8Array): Buffer {
    if (this.spilled + chunk.length > this.spill.length) return Buffer.from(chunk);
    const at = this.spilled;
    this.spill.set(chunk, at);
    this.spilled += chunk.length;
    return this.spill.subarray(at, this.spilled);
  }

  /** Copies as much of chunk[from..] as the ring has room for; returns the new `from`. */
  private copyIn(chunk: Uint8Array, from: number): number {
    const size = this.ring.length;
    while (from < chunk.length) {
      const room = size - this.used();
      if (room === 0) break;
      const at = this.written & (size - 1);
      const n = Math.min(chunk.length - from, room, size - at);
      this.ring.set(chunk.subarray(from, from + n), at);
      from += n;
      this.written = (this.written + n) | 0;
      Atomics.store(this.ctrl, WRITTEN, this.written);
      if (this.used() >= this.batch) this.bump();
    }
    return from;
  }

  private used(): number {
    return (this.written - Atomics.load(this.ctrl, READ)) >>> 0;
  }

  private command(cmd: number): void {
    Atomics.store(this.ctrl, CMD, cmd);
    this.bump();
  }

  /** Tells the thread something changed; wakes it only if it sleeps (a notify is a runtime call). */
  private bump(): void {
    Atomics.add(this.ctrl, SEQ, 1);
    if (Atomics.load(this.ctrl, SLEEPING)) Atomics.notify(this.ctrl, SEQ);
  }

  /** Resolves when the slot no longer holds `from`, or the thread fails. */
  private async waitFor(slot: number, from: number): Promise<void> {
    if (Atomics.load(this.ctrl, FAILED)) return;
    const w = Atomics.waitAsync(this.ctrl, slot, from);
    if (!w.async) return;
    // A pending waitAsync does not keep the process alive: the thread does, while we wait on it.
    this.thread.worker.ref();
    try {
      await Promise.race([w.value, this.thread.result.then(() => undefined, () => undefined)]);
    } finally {
      this.thread.worker.unref();
    }
  }

  /** Throws the thread's own error (with its message) once it has stopped on one. */
  private async stopped(): Promise<void> {
    if (!this.failure && !Atomics.load(this.ctrl, FAILED)) return;
    await this.thread.result; // rejects with the thread's message
    throw new Error(`writing ${this.file}: the writing thread stopped`);
  }
}
