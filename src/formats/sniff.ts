// What a file is, from its first bytes.
import { isTarHeader } from './tar.ts';

type Sniffed = 'pgdmp' | 'gzip' | 'zip' | 'tar' | 'other-compression' | 'unknown';

export function sniff(head: Buffer): Sniffed {
  // A file shorter than the magic but matching it is a cut custom dump: the reader says so.
  if ('PGDMP'.startsWith(head.toString('latin1', 0, 5))) return 'pgdmp';
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && ['0304', '0506', '0708'].includes(head.toString('hex', 2, 4))) return 'zip';
  if (isTarHeader(head)) return 'tar';
  if (compressionName(head) !== undefined) return 'other-compression';
  return 'unknown';
}

export function compressionName(head: Buffer): string | undefined {
  const hex = head.subarray(0, 6).toString('hex');
  if (hex.startsWith('425a68')) return 'bzip2';
  if (hex.startsWith('fd377a585a00')) return 'xz';
  if (hex.startsWith('28b52ffd')) return 'zstd';
  if (hex.startsWith('377abcaf271c')) return '7-Zip';
  if (hex.startsWith('52617221')) return 'RAR';
  if (hex.startsWith('04224d18')) return 'LZ4';
  return undefined;
}

export function decompressCommand(head: Buffer): string {
  const name = compressionName(head);
  if (name === 'bzip2') return 'bzip2 -dc dump.sql.bz2';
  if (name === 'xz') return 'xz -dc dump.sql.xz';
  if (name === 'zstd') return 'zstd -dc dump.sql.zst';
  if (name === 'LZ4') return 'lz4 -dc dump.sql.lz4';
  return '7z x -so archive';
}

export interface TextVerdict {
  sql: boolean;
  found: string; // "is ..." phrase for messages
}

/** Judges the first KiB: SQL text has no NUL bytes and starts with pg_dump's header or statements. */
export function describeText(first: Buffer): TextVerdict {
  if (first.includes(0)) return { sql: false, found: `holds binary data (first bytes: ${hexPreview(first)}), not a dump` };
  let text = first.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const trimmed = text.trimStart();
  if (/^<(!doctype html|html|head|body)\b/i.test(trimmed)) {
    return { sql: false, found: 'is an HTML page, not a dump (a download that needed a login, or an expired link?)' };
  }
  if (/^<\?xml|^<Error>/i.test(trimmed)) return { sql: false, found: 'is an XML document (an object-store error answer?), not a dump' };
  if (/^[{[]/.test(trimmed)) return { sql: false, found: 'is JSON, not a dump' };
  const controls = [...text].filter((c) => /[\u0000-\u0008\u000e-\u001f]/.test(c)).length;
  if (controls > text.length / 100) return { sql: false, found: `holds binary data (first bytes: ${hexPreview(first)}), not a dump` };
  if (/^--\s*PostgreSQL database (cluster )?dump/im.test(text) || SQL_STATEMENT.test(text)) return { sql: true, found: 'is SQL text' };
  return { sql: false, found: 'is text that does not look like SQL (no pg_dump header and no SET, CREATE or COPY statement in its first KiB)' };
}

const SQL_STATEMENT =
  /^[ \t]*(SET|CREATE|COPY|ALTER|INSERT|SELECT|BEGIN|START TRANSACTION|DROP|COMMENT ON|GRANT|REVOKE|\\connect|\\restrict)\b/im;

function hexPreview(b: Buffer): string {
  return [...b.subarray(0, 8)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}
