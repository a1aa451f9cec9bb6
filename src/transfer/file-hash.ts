// SHA-256 of a file on a thread of its own. Hashing a dump on the main thread costs about a
// third of a core at transfer speed, on the same thread that runs TLS or SSH: measured in
// bench/, moving it off raised throughput wherever the transfer was CPU-bound.
// The thread reads the file itself and follows a writer: bytes [0, n) are hashed once
// advance(n) says they are final on disk.
import { Worker } from 'node:worker_threads';

// A script rather than a module file, so that the bundle carries it without a second entry.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const fd = openSync(workerData.file, 'r');
const hash = createHash('sha256');
const buf = Buffer.allocUnsafe(1 << 20);
let pos = 0, ready = 0, end = -1;
parentPort.on('message', (m) => {
  if (m.ready > ready) ready = m.ready;
  if (m.end !== undefined) end = m.end;
  try {
    while (pos < ready) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, ready - pos), pos);
      if (n === 0) break;
      hash.update(n === buf.length ? buf : buf.subarray(0, n));
      pos += n;
    }
    if (end >= 0 && pos >= end) {
      closeSync(fd);
      parentPort.postMessage(pos === end ? { hex: hash.digest('hex') } : { error: 'the file ended at ' + pos + ' bytes, expected ' + end });
    }
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
});
`;

const STEP = 4 * 1024 * 1024;

export class FileHash {
  private readonly worker: Worker;
  private readonly result: Promise<string>;
  private ready = 0;

  constructor(file: string) {
    this.worker = new Worker(THREAD, {
      eval: true,
      workerData: { file },
      // It holds one 1 MiB buffer and a hash: keep its heap from growing like the main one.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 },
      stdout: false,
      stderr: false,
    });
    this.worker.unref(); // never what keeps the process alive
    this.result = new Promise<string>((resolve, reject) => {
      this.worker.once('message', (m: { hex?: string; error?: string }) => (m.hex ? resolve(m.hex) : reject(new Error(`SHA-256 of ${file}: ${m.error}`))));
      this.worker.once('error', reject);
      this.worker.once('exit', (code) => reject(new Error(`SHA-256 of ${file}: the hashing thread exited (${code})`)));
    });
    this.result.catch(() => undefined); // awaited by digest(); an early failure is not unhandled
  }

  /** Bytes before `upTo` are written and will not change. */
  advance(upTo: number): void {
    // A message per network chunk would cost more than it saves: tell it every few MiB.
    if (upTo - this.ready < STEP) return;
    this.ready = upTo;
    this.worker.postMessage({ ready: upTo });
  }

  /** The hash of the file's first `size` bytes, once all are on disk. */
  async digest(size: number): Promise<string> {
    this.worker.postMessage({ ready: size, end: size });
    try {
      return await this.result;
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    await this.worker.terminate().catch(() => undefined);
  }
}
