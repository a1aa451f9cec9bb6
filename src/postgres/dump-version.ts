// Which pg_dump made a dump, read from its first bytes only: the archive header of a custom
// or directory dump (toc.dat), or the "Dumped by pg_dump version" comment of plain SQL. The
// restore needs a pg_restore at least that new; reading the whole dump to learn it would cost
// as much as the restore.
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { majorOf } from './tools.ts';
import { readHead } from '../formats/io.ts';

export interface DumpVersions {
  /** The pg_dump that made the dump, e.g. "17.2" or "17.2 (Debian 17.2-1)". */
  pgDump?: string;
  /** The server that was dumped. */
  server?: string;
  /** The major of pg_dump, when known. */
  major?: number;
}

const HEAD = 4096;

/** The first bytes of a stream, then the stream is destroyed. */
export async function streamHead(stream: Readable, bytes = HEAD): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  try {
    for await (const chunk of stream) {
      parts.push(chunk as Buffer);
      got += (chunk as Buffer).length;
      if (got >= bytes) break;
    }
  } catch {
    // a short or damaged stream: what arrived is all there is to read
  } finally {
    stream.destroy();
  }
  return Buffer.concat(parts).subarray(0, bytes);
}

function withMajor(v: { pgDump?: string; server?: string }): DumpVersions {
  const m = v.pgDump && /^(\d+(?:\.\d+)*)/.exec(v.pgDump)?.[1];
  return { ...v, major: m ? majorOf(m) : undefined };
}

/** pg_dump's archive header (custom format, or a directory dump's toc.dat), as pg_restore reads it. */
export function archiveVersions(buf: Buffer): DumpVersions {
  if (buf.subarray(0, 5).toString('latin1') !== 'PGDMP') return {};
  let pos = 5;
  const byte = () => {
    if (pos >= buf.length) throw new RangeError('short header');
    return buf[pos++];
  };
  try {
    const maj = byte();
    const min = byte();
    const rev = maj > 1 || (maj === 1 && min > 0) ? byte() : 0;
    const v = maj * 10_000 + min * 100 + rev;
    const intSize = byte();
    if (v >= 10_700) byte(); // offset size
    const int = () => {
      const sign = byte();
      let n = 0;
      for (let i = 0; i < intSize; i++) n += byte() * 2 ** (8 * i);
      return sign ? -n : n;
    };
    const str = () => {
      const len = int();
      if (len < 0) return undefined;
      if (pos + len > buf.length) throw new RangeError('short header');
      const s = buf.toString('utf8', pos, pos + len);
      pos += len;
      return s;
    };
    byte(); // format
    if (v >= 11_500) byte();
    else if (v >= 10_400) int();
    else if (v >= 10_200) byte();
    if (v < 10_400) return {};
    for (let i = 0; i < 7; i++) int(); // creation time
    str(); // database name
    if (v < 11_000) return {};
    const server = str();
    const pgDump = str();
    return withMajor({ server, pgDump });
  } catch {
    return {};
  }
}

/** The comments at the top of pg_dump's plain SQL. */
export function sqlVersions(buf: Buffer): DumpVersions {
  const text = buf.toString('utf8');
  const server = /^--\s*Dumped from database version (.+)$/m.exec(text)?.[1]?.trim();
  const pgDump = /^--\s*Dumped by pg_dump version (.+)$/m.exec(text)?.[1]?.trim();
  return withMajor({ server, pgDump });
}

/** The versions of a dump of the shape the restore found; {} when it does not say. */
export async function dumpVersions(file: string, shape: 'custom' | 'directory' | 'sql' | 'sql.gz'): Promise<DumpVersions> {
  try {
    if (shape === 'custom') return archiveVersions(await readHead(file, HEAD));
    if (shape === 'directory') return archiveVersions(await readHead(path.join(file, 'toc.dat'), HEAD));
    if (shape === 'sql') return sqlVersions(await readHead(file, HEAD));
    const raw = createReadStream(file);
    try {
      return sqlVersions(await streamHead(raw.pipe(createGunzip())));
    } finally {
      raw.destroy();
    }
  } catch {
    return {};
  }
}
