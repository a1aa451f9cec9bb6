// ZIP access through yauzl (central directory, ZIP64, bounds checks, streamed entries).
// yauzl checks sizes but never CRC-32 (its README says so): `checkCrc32` adds that check.
import type { Readable, Transform } from 'node:stream';
import yauzl from 'yauzl';
import { checkCrc32, crc32Transform } from './crc-check.ts';
import { openBounded } from './file-reader.ts';
import { methodName, ZipFormatError, type ZipArchive, type ZipEntry } from './zip-entry.ts';

export { methodName, ZipFormatError, type ZipArchive, type ZipEntry };

export const STORED = 0;
export const DEFLATE = 8;
const MAX_ENTRIES = 5_000_000; // each listed entry costs memory: a bound against forged counts
const OPTIONS = { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true };
const damaged = (err: unknown) => (err instanceof ZipFormatError ? err : new ZipFormatError(`${(err as Error).message} (damaged zip)`));

/** Reads the central directory once; entries are then opened from the same file handle. */
export async function openZip(path: string): Promise<ZipArchive> {
  const zf = await openBounded(path, OPTIONS).catch((err: NodeJS.ErrnoException) => {
    if (err.code) throw err; // ENOENT, EACCES: not a format problem
    throw /signature not found/.test(err.message) ? new ZipFormatError('no end-of-central-directory record: not a zip, or the file was cut short') : damaged(err);
  });
  const cdStart = Number(zf.readEntryCursor); // local headers and data all lie before it
  const entries: ZipEntry[] = [];
  try {
    if (zf.entryCount > MAX_ENTRIES) throw new ZipFormatError(`the zip announces ${zf.entryCount} entries, more than the ${MAX_ENTRIES} this reader accepts`);
    await new Promise<void>((resolve, reject) => {
      zf.on('error', reject).on('end', resolve);
      zf.on('entry', (e: yauzl.Entry) => {
        const name = yauzl.getFileNameLowLevel(e.generalPurposeBitFlag, e.fileNameRaw, e.extraFields, false);
        const entry = { name, compressedSize: e.compressedSize, size: e.uncompressedSize, method: e.compressionMethod, crc32: e.crc32, offset: e.relativeOffsetOfLocalHeader, isDirectory: name.endsWith('/'), encrypted: e.isEncrypted(), ...unixMode(e) };
        if (entry.offset + 30 + entry.compressedSize > cdStart) return reject(new ZipFormatError(`entry "${name}" points past the start of the central directory (damaged zip)`));
        entries.push(entry);
        zf.readEntry();
      });
      zf.readEntry();
    });
  } catch (err) {
    zf.close();
    throw damaged(err);
  }
  async function open(entry: ZipEntry): Promise<Readable> {
    if (entry.encrypted) throw new ZipFormatError(`entry "${entry.name}" is encrypted`);
    if (entry.method !== STORED && entry.method !== DEFLATE) throw new ZipFormatError(`entry "${entry.name}" uses compression method ${entry.method} (${methodName(entry.method)}); only stored and deflate are supported`);
    // Only what yauzl reads to open an entry is kept per entry, so a long listing stays small.
    const e = Object.assign(new yauzl.Entry(), { relativeOffsetOfLocalHeader: entry.offset, compressedSize: entry.compressedSize, uncompressedSize: entry.size, compressionMethod: entry.method, generalPurposeBitFlag: 0 });
    const stream = await new Promise<Readable>((resolve, reject) => zf.openReadStream(e, (err, s) => (err ? reject(damaged(err)) : resolve(s))));
    return checkCrc32(stream, entry.crc32, damaged, () => new ZipFormatError(`entry "${entry.name}" fails its CRC-32 check (damaged zip)`));
  }
  return { entries, open, close: () => zf.close() };
}

export async function listZip(path: string): Promise<ZipEntry[]> {
  const zip = await openZip(path);
  zip.close();
  return zip.entries;
}

/** One entry of the zip at `path`; yauzl counts open streams, so the file closes when this one ends. */
export async function openZipEntry(path: string, entry: ZipEntry): Promise<Readable> {
  const zip = await openZip(path);
  return zip.open(entry).finally(() => zip.close());
}

/** "Version made by" 3 = Unix: the external attributes' high half is st_mode. */
function unixMode(e: yauzl.Entry): { unixMode?: number } {
  return e.versionMadeBy >> 8 === 3 ? { unixMode: e.externalFileAttributes >>> 16 } : {};
}

/** An entry's CRC-32 check as a pipeline stage, for bytes read some other way (ranges of a remote zip). */
export function verifier(entry: ZipEntry): Transform {
  return crc32Transform(entry.crc32, () => new ZipFormatError(`entry "${entry.name}" fails its CRC-32 check (damaged zip)`));
}
