// Benchmark dumps: incompressible bytes made fast (one random block, stamped per block so
// no two blocks are equal), reused across runs when the size already matches.
import { randomFillSync } from 'node:crypto';
import { open, stat } from 'node:fs/promises';

const BLOCK = 8 * 1024 * 1024;

export async function makeDump(file: string, bytes: number): Promise<void> {
  if ((await stat(file).catch(() => undefined))?.size === bytes) return;
  const block = randomFillSync(Buffer.allocUnsafe(BLOCK));
  const fh = await open(file, 'w');
  try {
    for (let pos = 0, n = 0; pos < bytes; pos += BLOCK, n++) {
      block.writeDoubleLE(n, 0);
      const len = Math.min(BLOCK, bytes - pos);
      await fh.write(block, 0, len, pos);
    }
  } finally {
    await fh.close();
  }
}

export const MiB = 1024 * 1024;

export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(M|G)i?B?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s} (use e.g. 100M, 1G)`);
  return Math.round(Number(m[1]) * (m[2].toUpperCase() === 'G' ? 1024 : 1) * MiB);
}

export function label(bytes: number): string {
  return bytes >= 1024 * MiB ? `${+(bytes / 1024 / MiB).toFixed(2)} GiB` : `${+(bytes / MiB).toFixed(1)} MiB`;
}
