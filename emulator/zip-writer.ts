// The emulator's streaming ZIP writer, on yazl: STORED entries (dumps are served as the
// platform builds them, and a stored entry is written while its source streams by), ZIP64
// records as soon as a size or offset needs them (yazl decides), or always with forceZip64
// (tests of readers). A declared size is checked, so a short or long source is an error.
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import yazl from 'yazl';

export interface ZipOptions {
  /** Write ZIP64 records even when nothing needs them (tests of readers). */
  forceZip64?: boolean;
  /** Entry timestamps (default now). */
  mtime?: Date;
  signal?: AbortSignal;
}

export class ZipWriter {
  private readonly zip = new yazl.ZipFile();
  private readonly out: WriteStream;
  private readonly done: Promise<void>;
  private readonly path: string;
  private readonly opts: ZipOptions;
  private readonly names = new Set<string>();
  private failure: Error | undefined;
  private closed = false;

  private constructor(file: string, opts: ZipOptions) {
    this.path = file;
    this.opts = opts;
    this.out = createWriteStream(file);
    this.zip.outputStream.pipe(this.out);
    this.done = finished(this.out);
    this.done.catch(() => {}); // read in close()/abort()
    this.zip.outputStream.on('error', (err: Error) => this.fail(err));
  }

  static async create(file: string, opts: ZipOptions = {}): Promise<ZipWriter> {
    return new ZipWriter(file, opts);
  }

  async addDirectory(name: string): Promise<void> {
    this.claim(name.endsWith('/') ? name : `${name}/`);
    this.zip.addEmptyDirectory(name, { mtime: this.mtime() });
  }

  async addBuffer(name: string, data: Uint8Array): Promise<void> {
    this.claim(name);
    this.zip.addBuffer(Buffer.from(data.buffer, data.byteOffset, data.length), name, this.entryOptions());
  }

  /** Streams `size` bytes from `source` into a stored entry; any other length is an error. */
  async addStream(name: string, size: number, source: AsyncIterable<Uint8Array>): Promise<void> {
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`zip: bad size for ${name}`);
    this.claim(name);
    let seen = 0;
    const signal = this.opts.signal;
    const check = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (signal?.aborted) return cb(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        seen += chunk.length;
        if (seen > size) return cb(new Error(`zip: ${name} is longer than the ${size} bytes declared`));
        cb(null, chunk);
      },
      flush(cb) {
        cb(seen === size ? null : new Error(`zip: ${name} has ${seen} bytes, ${size} declared`));
      },
    });
    const input = Readable.from(source);
    input.on('error', (err) => check.destroy(err));
    check.on('error', (err) => this.fail(err));
    input.pipe(check);
    // Resolves once yazl has read the entry whole: callers may rely on the source being spent.
    const consumed = new Promise<void>((resolve, reject) => {
      check.once('end', resolve);
      check.once('error', reject);
    });
    this.zip.addReadStream(check, name, { ...this.entryOptions(), size });
    await consumed;
  }

  /** Finishes the archive and closes the file; returns the archive's size. */
  async close(): Promise<number> {
    if (!this.closed) {
      this.closed = true;
      this.zip.end({ forceZip64Format: !!this.opts.forceZip64, comment: '' });
    }
    await Promise.race([this.done, this.failed()]);
    if (this.failure) throw this.failure;
    return (await stat(this.path)).size;
  }

  /** Stops writing without finishing the archive (after an error) and removes the file. */
  async abort(): Promise<void> {
    this.closed = true;
    this.zip.outputStream.unpipe(this.out);
    this.out.destroy();
    await this.done.catch(() => {});
    await rm(this.path, { force: true });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.failWaiters.forEach((w) => w());
    this.out.destroy(err);
  }

  private failWaiters: Array<() => void> = [];
  private failed(): Promise<void> {
    return new Promise((resolve) => (this.failure ? resolve() : this.failWaiters.push(resolve)));
  }

  private claim(name: string): void {
    if (this.closed) throw new Error('zip: archive already closed');
    if (this.failure) throw this.failure;
    if (this.names.has(name)) throw new Error(`zip: duplicate entry ${name}`);
    this.names.add(name);
  }

  private mtime(): Date {
    return this.opts.mtime ?? new Date();
  }

  private entryOptions(): { mtime: Date; compress: false; forceZip64Format: boolean } {
    return { mtime: this.mtime(), compress: false, forceZip64Format: !!this.opts.forceZip64 };
  }
}
