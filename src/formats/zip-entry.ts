// What the ZIP reader hands out: entries, the open archive, its error, method names.
import type { Readable } from 'node:stream';

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

/** An open zip: its entries, each readable as a stream that errors on a CRC or size mismatch. */
export interface ZipArchive {
  entries: ZipEntry[];
  open(entry: ZipEntry): Promise<Readable>;
  close(): void;
}

export function methodName(method: number): string {
  const names: Record<number, string> = { 0: 'stored', 8: 'deflate', 9: 'deflate64', 12: 'bzip2', 14: 'lzma', 93: 'zstd', 95: 'xz', 99: 'AES-encrypted' };
  return names[method] ?? 'unknown';
}
