// Plain SQL: pg_dump's header says where it came from, its closing line that it is whole.
import { DumpError } from './types.ts';
import { firstWord, HEAD_BYTES, TAIL_BYTES } from './io.ts';

export interface SqlResult {
  detail: string;
  versions: { serverVersion?: string; pgDumpVersion?: string };
}

/** pg_dump's plain output ends with a "complete" line: its absence means a cut file. */
export function sqlVerdict(head: Buffer, tail: Buffer, where: string, what: string): SqlResult {
  const text = head.toString('utf8');
  const tailText = tail.toString('utf8');
  if (/^--\s*PostgreSQL database cluster dump/im.test(text)) {
    throw new DumpError(
      `${where}: ${what} is a pg_dumpall cluster dump (every database and role), not one database. ` +
        'Dump the Odoo database alone: `pg_dump -Fc -f db.dump <database>`.',
    );
  }
  const serverVersion = /^--\s*Dumped from database version (.+)$/m.exec(text)?.[1]?.trim();
  const pgDumpVersion = /^--\s*Dumped by pg_dump version (.+)$/m.exec(text)?.[1]?.trim();
  const fromPgDump = /^--\s*PostgreSQL database dump\s*$/m.test(text);
  // Since 17.6/16.10/15.14 pg_dump brackets the script with \restrict KEY ... \unrestrict KEY.
  const restrictKey = /^\\restrict (\S+)/m.exec(text)?.[1];
  const complete = /PostgreSQL database dump complete/.test(tailText) && (!restrictKey || tailText.includes(`\\unrestrict ${restrictKey}`));
  if (fromPgDump && !complete) {
    throw new DumpError(
      `${where}: ${what} starts like a pg_dump SQL dump but lacks its closing "PostgreSQL database dump complete" line: ` +
        'it is truncated (an interrupted dump or copy). Make or copy the dump again.',
    );
  }
  const versions = { serverVersion, pgDumpVersion };
  if (!fromPgDump) return { detail: ' (not from pg_dump: completeness not checked)', versions };
  const parts = [serverVersion && `PostgreSQL ${serverVersion}`, pgDumpVersion && `pg_dump ${firstWord(pgDumpVersion)}`].filter(Boolean);
  return { detail: parts.length ? ` (${parts.join(', ')})` : '', versions };
}

/** Keeps the first and last few KiB of a stream of SQL and its length. */
export function sqlTracker() {
  let head = Buffer.alloc(0);
  let tail = Buffer.alloc(0);
  let total = 0;
  return {
    push(chunk: Buffer) {
      total += chunk.length;
      if (head.length < HEAD_BYTES) head = Buffer.concat([head, chunk.subarray(0, HEAD_BYTES - head.length)]);
      tail = chunk.length >= TAIL_BYTES ? Buffer.from(chunk.subarray(chunk.length - TAIL_BYTES)) : Buffer.concat([tail, chunk]).subarray(-TAIL_BYTES);
    },
    get head() {
      return head;
    },
    get tail() {
      return tail;
    },
    get total() {
      return total;
    },
  };
}
