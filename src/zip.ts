// A small ZIP reader driven by the central directory: the only reliable source of sizes
// when entries were written with data descriptors (streamed zips). Entries are read
// as streams, so a multi-GiB dump.sql never sits in memory; every entry is checked
// against its CRC-32 and size as it streams, so corruption surfaces as a stream error.
import { open, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { Readable, Transform, pipeline } from 'node:stream';
import { createInflateRaw, crc32 } from 'node:zlib';

export interface ZipEntry {
  name: string;
  compressedSize: number;
  size: number;
  method: number;
  crc32: number;
  offset: number; // of the local file header
  isDirectory: boolean;
  encrypted?: boolean;
}

/** The file is not a zip, or is cut short / damaged: `reason` says which part. */
export class ZipFormatError extends Error {
  override readonly name = 'ZipFormatError';
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_MIN = 22;
const MAX_COMMENT = 0xffff;
const MAX_CENTRAL_DIRECTORY = 512 * 1024 * 1024; // sanity bound before allocating

export const STORED = 0;
export const DEFLATE = 8;

export async function listZip(path: string): Promise<ZipEntry[]> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const end = await findEndOfCentralDirectory(fh, size);
    const cd = await readAt(fh, end.cdOffset, end.cdSize);
    if (cd.length < end.cdSize) throw new ZipFormatError('the central directory runs past the end of the file (truncated?)');
    const entries = parseCentralDirectory(cd, end.entries);
    for (const e of entries) {
      // Local headers live before the central directory; anything else is damage.
      if (e.offset + 30 + e.compressedSize > end.cdOffset) {
        throw new ZipFormatError(`entry "${e.name}" points past the start of the central directory (damaged zip)`);
      }
    }
    return entries;
  } finally {
    await fh.close();
  }
}

/** The entry's decompressed bytes; the stream errors on a CRC or size mismatch. */
export async function openZipEntry(path: string, entry: ZipEntry): Promise<Readable> {
  if (entry.encrypted) throw new ZipFormatError(`entry "${entry.name}" is encrypted`);
  if (entry.method !== STORED && entry.method !== DEFLATE) {
    throw new ZipFormatError(`entry "${entry.name}" uses compression method ${entry.method} (${methodName(entry.method)}); only stored and deflate are supported`);
  }
  const fh = await open(path, 'r');
  let dataStart: number;
  try {
    const local = await readAt(fh, entry.offset, 30);
    if (local.length < 30 || local.readUInt32LE(0) !== LOCAL_SIG) {
      throw new ZipFormatError(`no local header for entry "${entry.name}" at offset ${entry.offset} (damaged zip)`);
    }
    // The local extra field may differ in length from the central one (ZIP64, alignment).
    dataStart = entry.offset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  } finally {
    await fh.close();
  }
  const raw: Readable =
    entry.compressedSize === 0 ? Readable.from([]) : createReadStream(path, { start: dataStart, end: dataStart + entry.compressedSize - 1 });
  const check = verifier(entry);
  const done = (err: NodeJS.ErrnoException | null) => {
    if (err && !check.destroyed) check.destroy(err);
  };
  if (entry.method === DEFLATE) pipeline(raw, createInflateRaw(), check, done);
  else pipeline(raw, check, done);
  return check;
}

export function verifier(entry: ZipEntry): Transform {
  let crc = 0;
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      crc = crc32(chunk, crc);
      size += chunk.length;
      if (size > entry.size) return cb(new ZipFormatError(`entry "${entry.name}" holds more than its declared ${entry.size} bytes (damaged zip)`));
      cb(null, chunk);
    },
    flush(cb) {
      if (size !== entry.size) return cb(new ZipFormatError(`entry "${entry.name}" ends after ${size} of ${entry.size} bytes (truncated or damaged zip)`));
      if (crc >>> 0 !== entry.crc32 >>> 0) return cb(new ZipFormatError(`entry "${entry.name}" fails its CRC-32 check (damaged zip)`));
      cb();
    },
  });
}

interface EndRecord {
  entries: number;
  cdSize: number;
  cdOffset: number;
}

async function findEndOfCentralDirectory(fh: FileHandle, size: number): Promise<EndRecord> {
  if (size < EOCD_MIN) throw new ZipFormatError(`only ${size} bytes: too short for a zip`);
  const tailLen = Math.min(size, EOCD_MIN + MAX_COMMENT + 20);
  const tailStart = size - tailLen;
  const tail = await readAt(fh, tailStart, tailLen);
  let at = -1;
  for (let i = tail.length - EOCD_MIN; i >= 0; i--) {
    // The comment length must reach exactly to the end, or this is a false match in data.
    if (tail.readUInt32LE(i) === EOCD_SIG && i + EOCD_MIN + tail.readUInt16LE(i + 20) === tail.length) {
      at = i;
      break;
    }
  }
  if (at < 0) throw new ZipFormatError('no end-of-central-directory record: not a zip, or the file was cut short');
  let entries = tail.readUInt16LE(at + 10);
  let cdSize = tail.readUInt32LE(at + 12);
  let cdOffset = tail.readUInt32LE(at + 16);
  let cdEnd = tailStart + at; // the central directory must end where the end records begin
  if (tail.readUInt16LE(at + 4) !== 0 || tail.readUInt16LE(at + 6) !== 0) throw new ZipFormatError('a multi-part (split) zip');

  const loc = at - 20;
  if (loc >= 0 && tail.readUInt32LE(loc) === ZIP64_LOCATOR_SIG) {
    const recOffset = Number(tail.readBigUInt64LE(loc + 8));
    const rec = await readAt(fh, recOffset, 56);
    if (rec.length < 56 || rec.readUInt32LE(0) !== ZIP64_EOCD_SIG) throw new ZipFormatError('the ZIP64 end record is missing or damaged');
    entries = safeNumber(rec.readBigUInt64LE(32));
    cdSize = safeNumber(rec.readBigUInt64LE(40));
    cdOffset = safeNumber(rec.readBigUInt64LE(48));
    cdEnd = recOffset;
  }
  if (cdOffset + cdSize > cdEnd) throw new ZipFormatError('the central directory overlaps its end record (truncated or damaged zip)');
  if (cdSize > MAX_CENTRAL_DIRECTORY) throw new ZipFormatError(`a central directory of ${cdSize} bytes is beyond what this reader accepts`);
  return { entries, cdSize, cdOffset };
}

function parseCentralDirectory(cd: Buffer, expected: number): ZipEntry[] {
  const entries: ZipEntry[] = [];
  let p = 0;
  while (p + 46 <= cd.length && cd.readUInt32LE(p) === CENTRAL_SIG) {
    const flags = cd.readUInt16LE(p + 8);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw new ZipFormatError('a central directory entry runs past its end (damaged zip)');
    const nameBytes = cd.subarray(p + 46, p + 46 + nameLen);
    const name = nameBytes.toString(flags & 0x800 ? 'utf8' : 'latin1');
    let compressedSize = cd.readUInt32LE(p + 20);
    let size = cd.readUInt32LE(p + 24);
    let offset = cd.readUInt32LE(p + 42);
    const extra = cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
    const z64 = findExtra(extra, 0x0001);
    if (z64) {
      // Present only for the fields whose 32-bit slot is saturated, in this order.
      let q = 0;
      const next = () => {
        if (q + 8 > z64.length) throw new ZipFormatError(`entry "${name}" has a short ZIP64 extra field (damaged zip)`);
        const v = safeNumber(z64.readBigUInt64LE(q));
        q += 8;
        return v;
      };
      if (size === 0xffffffff) size = next();
      if (compressedSize === 0xffffffff) compressedSize = next();
      if (offset === 0xffffffff) offset = next();
    }
    entries.push({
      name,
      compressedSize,
      size,
      method: cd.readUInt16LE(p + 10),
      crc32: cd.readUInt32LE(p + 16),
      offset,
      isDirectory: name.endsWith('/'),
      encrypted: (flags & 0x1) !== 0,
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  // The 16-bit count wraps for >65535 entries in non-ZIP64 archives: trust the walk then.
  if (entries.length !== expected && entries.length % 0x10000 !== expected % 0x10000) {
    throw new ZipFormatError(`the central directory lists ${entries.length} entries where ${expected} were announced (damaged zip)`);
  }
  return entries;
}

function findExtra(extra: Buffer, id: number): Buffer | undefined {
  for (let p = 0; p + 4 <= extra.length; ) {
    const len = extra.readUInt16LE(p + 2);
    if (extra.readUInt16LE(p) === id) return extra.subarray(p + 4, Math.min(extra.length, p + 4 + len));
    p += 4 + len;
  }
  return undefined;
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

function safeNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError('a ZIP64 size or offset is out of range (damaged zip)');
  return Number(v);
}

export function methodName(method: number): string {
  const names: Record<number, string> = { 0: 'stored', 8: 'deflate', 9: 'deflate64', 12: 'bzip2', 14: 'lzma', 93: 'zstd', 95: 'xz', 99: 'AES-encrypted' };
  return names[method] ?? 'unknown';
}
