// Small reads at either end of a file, and errno codes in words.
import { open } from 'node:fs/promises';

export const HEAD_BYTES = 4096;
export const SNIFF_BYTES = 1024; // "the first KiB" decides whether text is SQL
export const TAIL_BYTES = 4096;

export async function readHead(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export async function readTail(path: string, size: number, n: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const len = Math.min(n, size);
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, size - len);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export function firstWord(version: string): string {
  return version.split(' ')[0];
}

export function errCode(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT') return 'no such file or folder';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ELOOP') return 'a loop of symbolic links';
  if (code === 'ENOTDIR') return 'a path through something that is not a folder';
  return code ?? (err as Error)?.message ?? String(err);
}
