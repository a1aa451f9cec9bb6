// A minimal streaming ZIP writer: STORED entries only (dumps are served as the platform
// builds them, and a stored entry can be written while its source streams by), CRC32 by
// zlib.crc32, ZIP64 records as soon as a size or offset needs them. Sizes are declared up
// front, so each local header is final except its CRC, patched in place once the data is
// written: no data descriptors, which some readers of stored entries handle badly.
import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

const LOCAL = 0x04034b50;
const CENTRAL = 0x02014b50;
const EOCD = 0x06054b50;
const ZIP64_EOCD = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const MAX16 = 0xffff;
const MAX32 = 0xffffffff;
const UTF8_NAMES = 0x0800;
const MADE_BY_UNIX = (3 << 8) | 45;

export interface ZipOptions {
  /** Write ZIP64 records even when nothing needs them (tests of readers). */
  forceZip64?: boolean;
  /** Entry timestamps (default now). */
  mtime?: Date;
  signal?: AbortSignal;
}

interface Entry { name: Buffer; crc: number; size: number; offset: number; dir: boolean; zip64: boolean; time: number; date: number }

export class ZipWriter {
  private readonly fh: FileHandle;
  private readonly opts: ZipOptions;
  private readonly entries: Entry[] = [];
  private readonly names = new Set<string>();
  private pos = 0;
  private closed = false;

  private constructor(fh: FileHandle, opts: ZipOptions) {
    this.fh = fh;
    this.opts = opts;
  }

  static async create(path: string, opts: ZipOptions = {}): Promise<ZipWriter> {
    return new ZipWriter(await open(path, 'w'), opts);
  }

  async addDirectory(name: string): Promise<void> {
    await this.addEntry(name.endsWith('/') ? name : `${name}/`, 0, (async function* () {})(), true);
  }

  async addBuffer(name: string, data: Uint8Array): Promise<void> {
    await this.addEntry(name, data.length, (async function* () { yield data; })(), false);
  }

  /** Streams `size` bytes from `source` into a stored entry; any other length is an error. */
  async addStream(name: string, size: number, source: AsyncIterable<Uint8Array>): Promise<void> {
    await this.addEntry(name, size, source, false);
  }

  /** Writes the central directory and closes the file; returns the archive's size. */
  async close(): Promise<number> {
    if (this.closed) return this.pos;
    try {
      const cdStart = this.pos;
      for (const e of this.entries) await this.write(centralHeader(e));
      const cdSize = this.pos - cdStart;
      const count = this.entries.length;
      const zip64 = this.opts.forceZip64 || count >= MAX16 || cdStart >= MAX32 || cdSize >= MAX32;
      if (zip64) {
        const recordAt = this.pos;
        const rec = Buffer.alloc(56);
        rec.writeUInt32LE(ZIP64_EOCD, 0);
        rec.writeBigUInt64LE(44n, 4); // size of the rest of this record
        rec.writeUInt16LE(MADE_BY_UNIX, 12);
        rec.writeUInt16LE(45, 14);
        rec.writeBigUInt64LE(BigInt(count), 24);
        rec.writeBigUInt64LE(BigInt(count), 32);
        rec.writeBigUInt64LE(BigInt(cdSize), 40);
        rec.writeBigUInt64LE(BigInt(cdStart), 48);
        const loc = Buffer.alloc(20);
        loc.writeUInt32LE(ZIP64_LOCATOR, 0);
        loc.writeBigUInt64LE(BigInt(recordAt), 8);
        loc.writeUInt32LE(1, 16);
        await this.write(Buffer.concat([rec, loc]));
      }
      const end = Buffer.alloc(22);
      end.writeUInt32LE(EOCD, 0);
      end.writeUInt16LE(zip64 ? MAX16 : count, 8);
      end.writeUInt16LE(zip64 ? MAX16 : count, 10);
      end.writeUInt32LE(zip64 ? MAX32 : cdSize, 12);
      end.writeUInt32LE(zip64 ? MAX32 : cdStart, 16);
      await this.write(end);
    } finally {
      this.closed = true;
      await this.fh.close();
    }
    return this.pos;
  }

  /** Closes the file without finishing the archive (after an error). */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }

  private async addEntry(name: string, size: number, source: AsyncIterable<Uint8Array>, dir: boolean): Promise<void> {
    if (this.closed) throw new Error('zip: archive already closed');
    if (this.names.has(name)) throw new Error(`zip: duplicate entry ${name}`);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`zip: bad size for ${name}`);
    this.names.add(name);
    const entry: Entry = {
      name: Buffer.from(name, 'utf8'),
      crc: 0,
      size,
      offset: this.pos,
      dir,
      zip64: Boolean(this.opts.forceZip64) || size >= MAX32,
      ...this.dosTime(),
    };
    const header = localHeader(entry);
    await this.write(header);
    let crc = 0;
    let written = 0;
    for await (const chunk of source) {
      this.opts.signal?.throwIfAborted();
      written += chunk.length;
      if (written > size) throw new Error(`zip: ${name} is longer than the ${size} bytes declared`);
      crc = crc32(chunk, crc);
      await this.write(chunk);
    }
    if (written !== size) throw new Error(`zip: ${name} has ${written} bytes, ${size} declared`);
    entry.crc = crc;
    const crcField = Buffer.alloc(4);
    crcField.writeUInt32LE(crc >>> 0, 0);
    await this.fh.write(crcField, 0, 4, entry.offset + 14);
    this.entries.push(entry);
  }

  private dosTime(): { time: number; date: number } {
    const d = this.opts.mtime ?? new Date();
    return {
      time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
      date: ((Math.max(1980, d.getFullYear()) - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
    };
  }

  private async write(buf: Uint8Array): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, done, buf.length - done, this.pos);
      done += bytesWritten;
      this.pos += bytesWritten;
    }
  }
}

function localHeader(e: Entry): Buffer {
  const extra = e.zip64 ? zip64Extra([e.size, e.size]) : Buffer.alloc(0);
  const h = Buffer.alloc(30);
  h.writeUInt32LE(LOCAL, 0);
  h.writeUInt16LE(e.zip64 ? 45 : e.dir ? 20 : 10, 4);
  h.writeUInt16LE(UTF8_NAMES, 6);
  h.writeUInt16LE(0, 8); // stored
  h.writeUInt16LE(e.time, 10);
  h.writeUInt16LE(e.date, 12);
  // CRC at 14: patched after the data
  h.writeUInt32LE(e.zip64 ? MAX32 : e.size, 18);
  h.writeUInt32LE(e.zip64 ? MAX32 : e.size, 22);
  h.writeUInt16LE(e.name.length, 26);
  h.writeUInt16LE(extra.length, 28);
  return Buffer.concat([h, e.name, extra]);
}

function centralHeader(e: Entry): Buffer {
  // Only the saturated fields go to the ZIP64 extra, in the order the spec fixes.
  const bigSizes = e.zip64;
  const bigOffset = e.zip64 || e.offset >= MAX32;
  const fields: number[] = [];
  if (bigSizes) fields.push(e.size, e.size);
  if (bigOffset) fields.push(e.offset);
  const extra = fields.length ? zip64Extra(fields) : Buffer.alloc(0);
  const h = Buffer.alloc(46);
  h.writeUInt32LE(CENTRAL, 0);
  h.writeUInt16LE(MADE_BY_UNIX, 4);
  h.writeUInt16LE(fields.length ? 45 : e.dir ? 20 : 10, 6);
  h.writeUInt16LE(UTF8_NAMES, 8);
  h.writeUInt16LE(0, 10);
  h.writeUInt16LE(e.time, 12);
  h.writeUInt16LE(e.date, 14);
  h.writeUInt32LE(e.crc >>> 0, 16);
  h.writeUInt32LE(bigSizes ? MAX32 : e.size, 20);
  h.writeUInt32LE(bigSizes ? MAX32 : e.size, 24);
  h.writeUInt16LE(e.name.length, 28);
  h.writeUInt16LE(extra.length, 30);
  const mode = e.dir ? 0o40755 : 0o100644;
  h.writeUInt32LE(((mode << 16) | (e.dir ? 0x10 : 0)) >>> 0, 38);
  h.writeUInt32LE(bigOffset ? MAX32 : e.offset, 42);
  return Buffer.concat([h, e.name, extra]);
}

function zip64Extra(values: number[]): Buffer {
  const b = Buffer.alloc(4 + 8 * values.length);
  b.writeUInt16LE(0x0001, 0);
  b.writeUInt16LE(8 * values.length, 2);
  values.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 4 + 8 * i));
  return b;
}
