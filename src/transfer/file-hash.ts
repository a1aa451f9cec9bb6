// SHA-256 of a file on a thread of its own. Hashing a dump on the main thread costs about a
// third of a core at transfer speed, on the same thread that runs TLS or SSH: measured in
// bench/, moving it off raised throughput wherever the transfer was CPU-bound.
// The thread reads the file itself and follows a writer: bytes [0, n) are hashed once
// advance(n) says they are final on disk.
import { startThread, type Thread } from './thread.ts';

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
  private readonly thread: Thread<string>;
  private ready = 0;

  constructor(file: string) {
    this.thread = startThread(THREAD, { file }, `SHA-256 of ${file}`, (m) => String(m.hex));
  }

  /** Bytes before `upTo` are written and will not change. */
  advance(upTo: number): void {
    // A message per network chunk would cost more than it saves: tell it every few MiB.
    if (upTo - this.ready < STEP) return;
    this.ready = upTo;
    this.thread.worker.postMessage({ ready: upTo });
  }

  /** The hash of the file's first `size` bytes, once all are on disk. */
  digest(size: number): Promise<string> {
    this.thread.worker.postMessage({ ready: size, end: size });
    return this.thread.finish();
  }

  close(): Promise<void> {
    return this.thread.stop();
  }
}
