// ZIP access through yauzl (central directory, ZIP64, bounds checks, streamed entries).
// yauzl checks sizes but never CRC-32 (its README says so): `verified` adds that check,
// so a flipped byte in a stored entry surfaces as a stream error too.
import { Transform, type Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';

export interface ZipEntry {
  name: string;
  compressedSize: number;
  size: number;
  method: number;
  crc32: number;
  offset: number; // of the local file header
  isDirectory: boolean;
  encrypted: boolean;
  /** Unix file type and permissions, when a Unix zip recorded them (S_IFLNK marks a symlink). */
  unixMode?: number;
}

/** The file is not a zip, or is cut short / damaged: the message says which part. */
export class ZipFormatError extends Error {
  override readonly name = 'ZipFormatError';
}

export interface ZipArchive {
  entries: ZipEntry[];
  /** The entry's decompressed bytes; the stream errors on a CRC or size mismatch. */
  open(entry: ZipEntry): Promise<Readable>;
  close(): void;
}

export const STORED = 0;
export const DEFLATE = 8;
const MAX_ENTRIES = 5_000_000; // each listed entry costs memory: a bound against forged counts

const damaged = (err: unknown) => (err instanceof ZipFormatError ? err : new ZipFormatError(`${(err as Error).message} (damaged zip)`));

/** Reads the central directory once; entries are then opened from the same file handle. */
export async function openZip(path: string): Promise<ZipArchive> {
  const opts = { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true };
  const zf = await yauzl.openPromise(path, opts).catch((err: Error) => {
    if ((err as NodeJS.ErrnoException).code) throw err; // ENOENT, EACCES: not a format problem
    throw damaged(/signature not found/.test(err.message) ? new ZipFormatError('no end-of-central-directory record: not a zip, or the file was cut short') : err);
  });
  if (zf.entryCount > MAX_ENTRIES) throw (zf.close(), new ZipFormatError(`the zip announces ${zf.entryCount} entries, more than the ${MAX_ENTRIES} this reader accepts`));
  const cdStart = Number(zf.readEntryCursor); // local headers and data all lie before it
  const raw = new Map<ZipEntry, yauzl.Entry>();
  try {
    await new Promise<void>((resolve, reject) => {
      zf.on('error', reject).on('end', resolve);
      zf.on('entry', (e: yauzl.Entry) => {
        const name = yauzl.getFileNameLowLevel(e.generalPurposeBitFlag, e.fileNameRaw, e.extraFields, false);
        const entry = { name, compressedSize: e.compressedSize, size: e.uncompressedSize, method: e.compressionMethod, crc32: e.crc32, offset: e.relativeOffsetOfLocalHeader, isDirectory: name.endsWith('/'), encrypted: e.isEncrypted(), ...unixMode(e) };
        if (entry.offset + 30 + entry.compressedSize > cdStart) return reject(new ZipFormatError(`entry "${name}" points past the start of the central directory (damaged zip)`));
        raw.set(entry, e);
        zf.readEntry();
      });
      zf.readEntry();
    });
  } catch (err) {
    zf.close();
    throw damaged(err);
  }
  const entries = [...raw.keys()];
  const open = async (entry: ZipEntry): Promise<Readable> => {
    if (entry.encrypted) throw new ZipFormatError(`entry "${entry.name}" is encrypted`);
    if (entry.method !== STORED && entry.method !== DEFLATE) {
      throw new ZipFormatError(`entry "${entry.name}" uses compression method ${entry.method} (${methodName(entry.method)}); only stored and deflate are supported`);
    }
    // An entry from another listing of the same file is found again by its place.
    const e = raw.get(entry) ?? raw.get(entries.find((x) => x.offset === entry.offset && x.name === entry.name)!);
    if (!e) throw new ZipFormatError(`no entry "${entry.name}" at offset ${entry.offset} in this zip`);
    const stream = await new Promise<Readable>((resolve, reject) => zf.openReadStream(e, (err, s) => (err ? reject(damaged(err)) : resolve(s))));
    return verified(stream, entry);
  };
  return { entries, open, close: () => zf.close() };
}

export async function listZip(path: string): Promise<ZipEntry[]> {
  const zip = await openZip(path);
  zip.close();
  return zip.entries;
}

/** One entry of the zip at `path`; the file stays open until the stream ends or fails. */
export async function openZipEntry(path: string, entry: ZipEntry): Promise<Readable> {
  const zip = await openZip(path);
  try {
    return await zip.open(entry);
  } finally {
    zip.close(); // yauzl counts open streams: the file closes when this one ends
  }
}

/** Passes an entry's decompressed bytes through, failing at the end when their CRC-32 differs from the entry's. */
export function verifier(entry: ZipEntry): Transform {
  let crc = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      crc = crc32(chunk, crc);
      cb(null, chunk);
    },
    flush(cb) {
      cb(crc >>> 0 === entry.crc32 >>> 0 ? null : new ZipFormatError(`entry "${entry.name}" fails its CRC-32 check (damaged zip)`));
    },
  });
}

function verified(source: Readable, entry: ZipEntry): Readable {
  const check = verifier(entry);
  source.on('error', (err) => check.destroy(damaged(err)));
  check.on('close', () => source.destroy()); // a reader that stops early frees the file
  return source.pipe(check);
}

/** "Version made by" 3 = Unix: the external attributes' high half is st_mode. */
function unixMode(e: yauzl.Entry): { unixMode?: number } {
  return e.versionMadeBy >> 8 === 3 ? { unixMode: e.externalFileAttributes >>> 16 } : {};
}

export function methodName(method: number): string {
  const names: Record<number, string> = { 0: 'stored', 8: 'deflate', 9: 'deflate64', 12: 'bzip2', 14: 'lzma', 93: 'zstd', 95: 'xz', 99: 'AES-encrypted' };
  return names[method] ?? 'unknown';
}
