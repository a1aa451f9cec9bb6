// Decides what a dump is from its bytes (never its name) and refuses what the Upgrade
// Platform would reject hours later: empty, truncated or damaged files, Odoo.sh backups,
// archives it does not take. Every check streams with bounded memory, so a 50 GiB dump
// costs one sequential read and no more RAM than a small file.
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { createReadStream, type Stats } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { listZip, openZipEntry, methodName, ZipFormatError, STORED, DEFLATE, type ZipEntry } from './zip.ts';
import { formatBytes } from './transfer/progress.ts';

export type DumpFormat = 'custom' | 'sql' | 'sql.gz' | 'zip' | 'directory';

export interface DumpInfo {
  path: string;
  format: DumpFormat;
  size: number; // bytes; for a directory, the sum of its files
  uploadExt: '.dump' | '.sql' | '.sql.gz' | '.zip' | '.dump/';
  hasFilestore: boolean;
  detail: string; // one line for the log
  serverVersion?: string; // PostgreSQL that was dumped, when the dump says
  pgDumpVersion?: string;
}

/** A dump the platform would refuse: the message names the input, what was found and what to do. */
export class DumpError extends Error {
  override readonly name = 'DumpError';
}

export interface InspectOptions {
  api: 'v1' | 'rpc';
  input: string; // the action input the dump came from, named in every message
}

const HEAD_BYTES = 4096;
const SNIFF_BYTES = 1024; // "the first KiB" decides whether text is SQL
const TAIL_BYTES = 4096;

export async function inspectDump(path: string, opts: InspectOptions): Promise<DumpInfo> {
  const where = `${opts.input}: ${path}`;
  let st: Stats;
  try {
    st = await stat(path);
  } catch (err) {
    throw new DumpError(`${where} cannot be read (${errCode(err)}). Check the path and that the step that makes the dump ran before this one.`);
  }
  if (st.isDirectory()) return inspectDirectory(path, where, opts);
  if (!st.isFile()) throw new DumpError(`${where} is neither a file nor a folder. Pass the dump file itself.`);
  if (st.size === 0) throw new DumpError(`${where} is empty (0 bytes): the dump was not written, or its copy failed. Make the dump again.`);

  let head: Buffer;
  try {
    head = await readHead(path, HEAD_BYTES);
  } catch (err) {
    throw new DumpError(`${where} cannot be read (${errCode(err)}). Check the file's permissions.`);
  }
  const base = { path, size: st.size };
  switch (sniff(head)) {
    case 'pgdmp':
      return { ...base, ...(await inspectCustom(path, st.size, where, opts)) };
    case 'gzip':
      return { ...base, ...(await inspectGzip(path, st.size, where)) };
    case 'zip':
      return { ...base, ...(await inspectZip(path, where)) };
    case 'tar':
      return refuseTar((await scanDecompressed((sink) => pipeline(createReadStream(path), sink))).tar, where, 'a tar archive');
    case 'other-compression':
      throw new DumpError(
        `${where} is compressed with ${compressionName(head)}, which the platform does not take. ` +
          `Recompress it as gzip (e.g. \`${decompressCommand(head)} | gzip > dump.sql.gz\`) or pass the uncompressed .sql.`,
      );
    default: {
      const text = describeText(head.subarray(0, SNIFF_BYTES));
      if (!text.sql) throw new DumpError(`${where} ${text.found}. ${TAKES}`);
      const tail = await readTail(path, st.size, TAIL_BYTES);
      const sql = sqlVerdict(head, tail, where, 'the file');
      return { ...base, format: 'sql', uploadExt: '.sql', hasFilestore: false, detail: `plain SQL${sql.detail}, ${formatBytes(st.size)}`, ...sql.versions };
    }
  }
}

const TAKES =
  'The platform takes a pg_dump custom-format file (`pg_dump -Fc`), plain SQL (.sql), gzip-compressed SQL (.sql.gz), ' +
  'or a zip holding dump.sql (an Odoo database-manager backup).';

// ---------------------------------------------------------------------------------------
// Sniffing

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

function compressionName(head: Buffer): string | undefined {
  const hex = head.subarray(0, 6).toString('hex');
  if (hex.startsWith('425a68')) return 'bzip2';
  if (hex.startsWith('fd377a585a00')) return 'xz';
  if (hex.startsWith('28b52ffd')) return 'zstd';
  if (hex.startsWith('377abcaf271c')) return '7-Zip';
  if (hex.startsWith('52617221')) return 'RAR';
  if (hex.startsWith('04224d18')) return 'LZ4';
  return undefined;
}

function decompressCommand(head: Buffer): string {
  const name = compressionName(head);
  if (name === 'bzip2') return 'bzip2 -dc dump.sql.bz2';
  if (name === 'xz') return 'xz -dc dump.sql.xz';
  if (name === 'zstd') return 'zstd -dc dump.sql.zst';
  if (name === 'LZ4') return 'lz4 -dc dump.sql.lz4';
  return '7z x -so archive';
}

interface TextVerdict {
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

interface SqlResult {
  detail: string;
  versions: { serverVersion?: string; pgDumpVersion?: string };
}

/** pg_dump's plain output ends with a "complete" line: its absence means a cut file. */
function sqlVerdict(head: Buffer, tail: Buffer, where: string, what: string): SqlResult {
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
function sqlTracker() {
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

class StopReading extends Error {}

type Sink = (source: AsyncIterable<Buffer>) => Promise<void>;

interface Scan {
  sql: ReturnType<typeof sqlTracker>;
  kind: 'sql' | 'tar' | 'other' | 'empty';
  tar: TarListing;
  error?: unknown; // the stream failed (truncated, damaged) after `sql.total` bytes
}

/**
 * Reads decompressed bytes once: SQL is read to its end (a cut stream must fail), a tar
 * only until its names tell what it is, anything else stops after the first KiB.
 */
async function scanDecompressed(feed: (sink: Sink) => Promise<void>): Promise<Scan> {
  const sql = sqlTracker();
  const tar = tarLister();
  let kind = 'undecided' as 'undecided' | Scan['kind']; // set inside the stream callback
  let pending: Buffer[] = []; // what came before the verdict, replayed into the tar reader
  const decide = (): void => {
    if (isTarHeader(sql.head)) {
      kind = 'tar';
      if (tar.push(Buffer.concat(pending))) throw new StopReading();
    } else if (!describeText(sql.head.subarray(0, SNIFF_BYTES)).sql) {
      kind = 'other';
      throw new StopReading();
    } else kind = 'sql';
    pending = [];
  };
  let error: unknown;
  try {
    await feed(async (source) => {
      for await (const chunk of source) {
        if (kind === 'tar') {
          if (tar.push(chunk)) throw new StopReading();
          continue;
        }
        sql.push(chunk);
        if (kind === 'undecided') {
          pending.push(chunk);
          if (sql.total >= SNIFF_BYTES) decide();
        }
      }
      if (kind === 'undecided' && sql.total > 0) decide();
    });
  } catch (err) {
    if (!(err instanceof StopReading)) error = err;
  }
  return { sql, kind: kind === 'undecided' ? 'empty' : kind, tar: tar.result(), error };
}

// ---------------------------------------------------------------------------------------
// gzip

async function inspectGzip(path: string, size: number, where: string): Promise<Omit<DumpInfo, 'path' | 'size'>> {
  const scan = await scanDecompressed((sink) => pipeline(createReadStream(path), createGunzip(), sink));
  const { sql } = scan;
  if (scan.error) throw gzipError(scan.error, where, sql.total);
  if (scan.kind === 'tar') return refuseTar(scan.tar, where, 'a gzip-compressed tar archive');
  if (scan.kind === 'empty') throw new DumpError(`${where} is a gzip file that holds nothing. Make the dump again.`);
  const first = sql.head.subarray(0, SNIFF_BYTES);
  if (sniff(first) === 'pgdmp') {
    throw new DumpError(
      `${where} is a gzip-compressed pg_dump custom-format dump. The custom format is compressed already and the platform takes it as is: ` +
        'decompress it (`gunzip -c file.gz > db.dump`) and pass the .dump file.',
    );
  }
  if (scan.kind === 'other') throw new DumpError(`${where} is gzip-compressed, but what it holds ${describeText(first).found}. ${TAKES}`);
  const verdict = sqlVerdict(sql.head, sql.tail, where, 'the decompressed SQL');
  return {
    format: 'sql.gz',
    uploadExt: '.sql.gz',
    hasFilestore: false,
    detail: `gzip-compressed plain SQL${verdict.detail}, ${formatBytes(size)} (${formatBytes(sql.total)} uncompressed)`,
    ...verdict.versions,
  };
}

function gzipError(err: unknown, where: string, decompressed: number): DumpError {
  const e = err as { code?: string; message?: string };
  if (e.code === 'Z_BUF_ERROR' || /unexpected end/i.test(e.message ?? '')) {
    return new DumpError(
      `${where} is a truncated gzip file: its compressed stream stops before its end (after ${formatBytes(decompressed)} of decompressed data). ` +
        'The file was cut during its download or copy: fetch or copy it again (`gzip -t` checks a .gz file).',
    );
  }
  return new DumpError(`${where} is a damaged gzip file (${e.message ?? String(err)}). Make or copy the dump again (\`gzip -t\` checks a .gz file).`);
}

// ---------------------------------------------------------------------------------------
// zip

async function inspectZip(path: string, where: string): Promise<Omit<DumpInfo, 'path' | 'size'>> {
  let entries: ZipEntry[];
  try {
    entries = await listZip(path);
  } catch (err) {
    if (err instanceof ZipFormatError) {
      throw new DumpError(`${where} is not a readable zip: ${err.message}. Copy or download it again, or check it with \`unzip -t\`.`);
    }
    throw err;
  }
  const names = entries.map((e) => normaliseName(e.name));
  const dumpEntry = entries.find((e, i) => names[i] === 'dump.sql' && !e.isDirectory);
  if (!dumpEntry) throw refuseArchiveWithoutDump(names, where, 'a zip');
  if (dumpEntry.encrypted) throw new DumpError(`${where} is a zip whose dump.sql is encrypted. The platform cannot read it: make the zip without a password.`);
  if (dumpEntry.method !== STORED && dumpEntry.method !== DEFLATE) {
    throw new DumpError(
      `${where} is a zip whose dump.sql is compressed with ${methodName(dumpEntry.method)} (method ${dumpEntry.method}), which the platform may not read. ` +
        'Make the zip again with standard deflate compression (`zip -r db.zip dump.sql filestore`).',
    );
  }
  const entry = await openZipEntry(path, dumpEntry);
  const scan = await scanDecompressed((sink) => pipeline(entry, sink));
  const { sql } = scan;
  if (scan.error) {
    throw new DumpError(`${where} is a zip whose dump.sql cannot be read whole (${(scan.error as Error).message}). Make or copy the zip again (\`unzip -t\` checks it).`);
  }
  if (scan.kind === 'empty') throw new DumpError(`${where} is a zip whose dump.sql is empty. Make the backup again.`);
  const first = sql.head.subarray(0, SNIFF_BYTES);
  if (sniff(first) === 'pgdmp') {
    throw new DumpError(`${where} is a zip whose dump.sql is a pg_dump custom-format archive, not SQL. Extract it and pass it alone as a .dump file.`);
  }
  if (scan.kind !== 'sql') throw new DumpError(`${where} is a zip whose dump.sql ${describeText(first).found}. ${TAKES}`);
  const verdict = sqlVerdict(sql.head, sql.tail, where, 'dump.sql in the zip');
  const filestore = entries.filter((e, i) => names[i].startsWith('filestore/') && !e.isDirectory).length;
  const hasFilestore = names.some((n) => n.startsWith('filestore/'));
  return {
    format: 'zip',
    uploadExt: '.zip',
    hasFilestore,
    detail: `zip with dump.sql${verdict.detail} (${formatBytes(sql.total)})` + (hasFilestore ? ` and filestore/ (${filestore} files)` : ', no filestore'),
    ...verdict.versions,
  };
}

function normaliseName(name: string): string {
  return name.replace(/\\/g, '/').replace(/^(\.\/|\/)+/, '');
}

/** An archive without a root dump.sql: say what it is most likely, and what to do instead. */
function refuseArchiveWithoutDump(names: string[], where: string, kind: string): DumpError {
  const signs = odooShBackupSigns(names);
  if (signs.length) return new DumpError(`${where} is ${kind} that looks like an Odoo.sh backup (${signs.join('; ')}). ${ODOO_SH_ADVICE}`);
  const nested = names.find((n) => n.endsWith('/dump.sql'));
  if (nested) {
    const dir = nested.slice(0, -'dump.sql'.length);
    return new DumpError(
      `${where} is ${kind} with dump.sql inside the folder "${dir}", but the platform needs dump.sql at the archive's root. ` +
        `Zip that folder's content instead (\`cd "${dir}" && zip -r ../db.zip dump.sql filestore\`).`,
    );
  }
  const other = names.find((n) => /\.(sql|sql\.gz|dump|backup)$/i.test(n));
  if (other) {
    return new DumpError(
      `${where} is ${kind} holding "${other}" but no dump.sql. Pass that dump file itself (extracted), or name it dump.sql inside the zip.`,
    );
  }
  return new DumpError(`${where} is ${kind} without dump.sql (${names.length} entries), so it is not a database dump. ${TAKES}`);
}

export const ODOO_SH_ADVICE =
  "Odoo.sh backups hold the project's complete sources and are incompatible with the Upgrade Platform. " +
  'Download a Dump instead: in the Backups tab of the production branch use "Download Dump", ' +
  'or on the Builds page use "Download Dump" in the menu of the latest production build.';

/** What in a list of archive paths says "Odoo.sh backup" (sources, not a dump). */
export function odooShBackupSigns(names: string[]): string[] {
  const signs: string[] = [];
  const norm = names.map(normaliseName);
  if (norm.some((n) => /^home\/odoo\/src(\/|$)/.test(n))) signs.push('home/odoo/src/');
  if (norm.some((n) => /(^|\/)\.git(\/|$)/.test(n))) signs.push('a .git folder');
  const manifests = norm.filter((n) => /(^|\/)__(manifest|openerp)__\.py$/.test(n));
  if (manifests.length) signs.push(`${manifests.length} addon manifest${manifests.length > 1 ? 's' : ''} such as ${manifests[0]}`);
  return signs;
}

// ---------------------------------------------------------------------------------------
// tar (only to say what it is: the platform takes no tar)

function refuseTar(listing: TarListing, where: string, kind: string): never {
  if (listing.names.includes('toc.dat') && listing.names.some((n) => /^\d+\.dat(\.gz)?$/.test(n) || n === 'restore.sql')) {
    throw new DumpError(
      `${where} is a pg_dump tar-format archive (\`pg_dump -Ft\`), which the platform does not take. ` +
        'Make a custom-format dump instead (`pg_dump -Fc -f db.dump <database>`).',
    );
  }
  if (listing.names.includes('dump.sql')) {
    throw new DumpError(
      `${where} is ${kind} holding dump.sql; the platform takes zip archives, not tar. ` +
        'Extract it and pass dump.sql, or repack it as a zip (`zip -r db.zip dump.sql filestore`).',
    );
  }
  throw refuseArchiveWithoutDump(listing.names, where, kind);
}

function isTarHeader(b: Buffer): boolean {
  if (b.length < 512) return false;
  if (b.toString('latin1', 257, 262) !== 'ustar') return false;
  return tarChecksumOk(b.subarray(0, 512));
}

function tarChecksumOk(h: Buffer): boolean {
  const stored = parseInt(h.toString('latin1', 148, 156).replace(/\0.*$/s, '').trim(), 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return stored === sum;
}

interface TarListing {
  names: string[];
}

/**
 * Incremental tar reader that only collects member names. push() returns true once there
 * is enough to decide (the end, or an Odoo.sh sign) so callers can stop reading.
 */
export function tarLister() {
  const names: string[] = [];
  let pending = Buffer.alloc(0);
  let skip = 0; // bytes of member data (and padding) still to pass
  let meta: { type: string; need: number; padded: number; data: Buffer[] } | undefined;
  let longName: string | undefined;
  let done = false;
  const MAX_NAMES = 100_000;

  function header(h: Buffer) {
    if (h.every((x) => x === 0)) {
      done = true;
      return;
    }
    if (!tarChecksumOk(h)) {
      done = true; // damaged: the names so far are all there is to say
      return;
    }
    const type = String.fromCharCode(h[156] || 0x30);
    const size = tarSize(h.subarray(124, 136));
    const padded = Math.ceil(size / 512) * 512;
    if (type === 'L' || type === 'x') {
      meta = { type, need: size, padded, data: [] };
      return;
    }
    let name = cString(h, 0, 100);
    if (h.toString('latin1', 257, 262) === 'ustar') {
      const prefix = cString(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (longName !== undefined) name = longName;
    longName = undefined;
    if (names.length < MAX_NAMES) names.push(normaliseName(name));
    skip = padded;
  }

  function push(chunk: Buffer): boolean {
    let p = 0;
    while (!done && p < chunk.length) {
      if (meta) {
        const take = Math.min(meta.padded, chunk.length - p);
        meta.data.push(chunk.subarray(p, p + take));
        meta.padded -= take;
        p += take;
        if (meta.padded === 0) {
          const data = Buffer.concat(meta.data).subarray(0, meta.need).toString('utf8');
          longName = meta.type === 'L' ? data.replace(/\0.*$/s, '') : (/(?:^|\n)\d+ path=([^\n]*)\n/.exec(data)?.[1] ?? longName);
          meta = undefined;
        }
        continue;
      }
      if (skip > 0) {
        const take = Math.min(skip, chunk.length - p);
        skip -= take;
        p += take;
        continue;
      }
      const take = Math.min(512 - pending.length, chunk.length - p);
      pending = Buffer.concat([pending, chunk.subarray(p, p + take)]);
      p += take;
      if (pending.length === 512) {
        const h = pending;
        pending = Buffer.alloc(0);
        header(h);
        if (odooShBackupSigns(names.slice(-1)).length) done = true;
      }
    }
    return done;
  }
  return { push, result: (): TarListing => ({ names }) };
}

function tarSize(field: Buffer): number {
  if (field[0] & 0x80) {
    let v = 0;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i];
    return v;
  }
  return parseInt(field.toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
}

function cString(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len);
  const end = s.indexOf(0);
  return s.subarray(0, end < 0 ? s.length : end).toString('utf8');
}

// ---------------------------------------------------------------------------------------
// pg_dump archives: custom format files and the toc.dat of directory dumps

const FORMAT_CUSTOM = 1;
const FORMAT_TAR = 3;
const FORMAT_DIRECTORY = 5;
const OFFSET_POS_NOT_SET = 1;
const OFFSET_POS_SET = 2;
const OFFSET_NO_DATA = 3;
const BLK_DATA = 1;
const BLK_BLOBS = 3;
// Versions whose table of contents this reader walks (PostgreSQL 8.2 to 18).
const TOC_MIN = version(1, 10, 0);
const TOC_MAX = version(1, 16, 255);

function version(maj: number, min: number, rev: number): number {
  return (maj * 256 + min) * 256 + rev;
}

class Truncated extends Error {}
class Corrupt extends Error {}

/** Buffered reader over a file; the async calls only touch the disk when the buffer runs out. */
class Cursor {
  readonly fh: FileHandle;
  readonly size: number;
  intSize = 4;
  offSize = 8;
  pos = 0;
  private buf = Buffer.alloc(0);
  private bufStart = 0;

  constructor(fh: FileHandle, size: number) {
    this.fh = fh;
    this.size = size;
  }

  get eof(): boolean {
    return this.pos >= this.size;
  }

  async need(n: number): Promise<Buffer> {
    if (this.pos + n > this.size) throw new Truncated(`needs ${n} bytes at offset ${this.pos}, the file ends at ${this.size}`);
    const off = this.pos - this.bufStart;
    if (off < 0 || off + n > this.buf.length) {
      const len = Math.min(Math.max(n, 1 << 20), this.size - this.pos);
      const buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await this.fh.read(buf, got, len - got, this.pos + got);
        if (bytesRead === 0) throw new Truncated(`the file ends early at ${this.pos + got}`);
        got += bytesRead;
      }
      this.buf = buf;
      this.bufStart = this.pos;
    }
    const start = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(start, start + n);
  }

  async byte(): Promise<number> {
    return (await this.need(1))[0];
  }

  /** pg_dump's integer: a sign byte, then intSize bytes, least significant first. */
  async int(): Promise<number> {
    const b = await this.need(1 + this.intSize);
    let v = 0;
    for (let i = this.intSize; i >= 1; i--) v = v * 256 + b[i];
    if (v > Number.MAX_SAFE_INTEGER) throw new Corrupt('an integer is out of range');
    return b[0] ? -v : v;
  }

  async str(): Promise<string | null> {
    const len = await this.int();
    if (len < 0) return null;
    if (len > this.size - this.pos) throw new Truncated(`a ${len}-byte string at offset ${this.pos} runs past the end`);
    return (await this.need(len)).toString('utf8');
  }

  async offset(): Promise<{ state: number; pos: number }> {
    const state = await this.byte();
    if (state !== OFFSET_POS_NOT_SET && state !== OFFSET_POS_SET && state !== OFFSET_NO_DATA) throw new Corrupt(`unexpected data offset flag ${state}`);
    const b = await this.need(this.offSize);
    let pos = 0;
    for (let i = this.offSize - 1; i >= 0; i--) pos = pos * 256 + b[i];
    return { state, pos };
  }

  skip(n: number): void {
    if (this.pos + n > this.size) throw new Truncated(`a ${n}-byte data chunk at offset ${this.pos} runs past the end`);
    this.pos += n;
  }
}

interface ArchiveHeader {
  version: number;
  versionText: string;
  format: number;
  compression: string;
  dbname?: string;
  serverVersion?: string;
  pgDumpVersion?: string;
}

interface TocItem {
  dumpId: number;
  desc: string;
  dataState?: number;
  dataPos?: number;
  filename?: string;
}

async function readArchiveHeader(c: Cursor): Promise<ArchiveHeader> {
  if ((await c.need(5)).toString('latin1') !== 'PGDMP') throw new Corrupt('no PGDMP magic');
  const maj = await c.byte();
  const min = await c.byte();
  const rev = maj > 1 || (maj === 1 && min > 0) ? await c.byte() : 0;
  const v = version(maj, min, rev);
  if (maj !== 1) throw new Corrupt(`unknown archive version ${maj}.${min}`);
  c.intSize = await c.byte();
  if (c.intSize < 1 || c.intSize > 8) throw new Corrupt(`integer size ${c.intSize} is not plausible`);
  c.offSize = v >= version(1, 7, 0) ? await c.byte() : c.intSize;
  if (c.offSize < 1 || c.offSize > 8) throw new Corrupt(`offset size ${c.offSize} is not plausible`);
  const format = await c.byte();
  let compression = 'unknown';
  if (v >= version(1, 15, 0)) compression = ['none', 'gzip', 'lz4', 'zstd'][await c.byte()] ?? 'unknown';
  else if (v >= version(1, 4, 0)) compression = levelName(await c.int());
  else if (v >= version(1, 2, 0)) compression = levelName(await c.byte());
  const header: ArchiveHeader = { version: v, versionText: `${maj}.${min}` + (rev ? `.${rev}` : ''), format, compression };
  if (v >= version(1, 4, 0)) {
    for (let i = 0; i < 7; i++) await c.int(); // creation time: sec, min, hour, mday, mon, year, isdst
    header.dbname = (await c.str()) ?? undefined;
  }
  if (v >= version(1, 10, 0)) {
    header.serverVersion = (await c.str()) ?? undefined;
    header.pgDumpVersion = (await c.str()) ?? undefined;
  }
  return header;
}

function levelName(level: number): string {
  if (level === 0) return 'none';
  return 'gzip';
}

/** Reads the table of contents as pg_restore's ReadToc does, for the versions it knows. */
async function readToc(c: Cursor, h: ArchiveHeader): Promise<TocItem[]> {
  const v = h.version;
  const count = await c.int();
  if (count < 0 || count > 50_000_000) throw new Corrupt(`a table of contents of ${count} entries`);
  const items: TocItem[] = [];
  for (let i = 0; i < count; i++) {
    const dumpId = await c.int();
    if (dumpId <= 0) throw new Corrupt(`TOC entry ID ${dumpId} out of range`);
    await c.int(); // hadDumper
    if (v >= version(1, 8, 0)) await c.str(); // tableoid
    await c.str(); // oid
    await c.str(); // tag
    const desc = (await c.str()) ?? '';
    if (v >= version(1, 11, 0)) await c.int(); // section
    await c.str(); // defn
    await c.str(); // dropStmt
    if (v >= version(1, 3, 0)) await c.str(); // copyStmt
    if (v >= version(1, 6, 0)) await c.str(); // namespace
    if (v >= version(1, 10, 0)) await c.str(); // tablespace
    if (v >= version(1, 14, 0)) await c.str(); // tableam
    if (v >= version(1, 16, 0)) await c.int(); // relkind
    await c.str(); // owner
    if (v >= version(1, 9, 0)) await c.str(); // "with oids"
    if (v >= version(1, 5, 0)) while ((await c.str()) !== null); // dependencies, NULL-terminated
    const item: TocItem = { dumpId, desc };
    if (h.format === FORMAT_CUSTOM) {
      const off = await c.offset();
      item.dataState = off.state;
      item.dataPos = off.pos;
    } else if (h.format === FORMAT_DIRECTORY || h.format === FORMAT_TAR) {
      item.filename = (await c.str()) || undefined;
    }
    items.push(item);
  }
  return items;
}

/** Walks every data block to the end of the file: a cut or damaged file cannot pass. */
async function walkDataBlocks(c: Cursor, items: TocItem[]): Promise<number> {
  const expected = new Map(items.filter((t) => t.dataState !== OFFSET_NO_DATA).map((t) => [t.dumpId, t]));
  const seen = new Set<number>();
  while (!c.eof) {
    const at = c.pos;
    const type = await c.byte();
    const id = await c.int();
    const item = expected.get(id);
    if (!item) throw new Corrupt(`a data block for unknown entry ${id} at offset ${at}`);
    if (item.dataState === OFFSET_POS_SET && item.dataPos !== at) throw new Corrupt(`the data block of entry ${id} is at ${at}, the table of contents says ${item.dataPos}`);
    if (type === BLK_DATA) await skipChunks(c);
    else if (type === BLK_BLOBS) {
      for (let oid = await c.int(); oid !== 0; oid = await c.int()) await skipChunks(c);
    } else throw new Corrupt(`unknown data block type ${type} at offset ${at}`);
    seen.add(id);
  }
  const missing = [...expected.keys()].filter((id) => !seen.has(id));
  if (missing.length) throw new Truncated(`${missing.length} data block(s) listed in the table of contents are missing`);
  return seen.size;
}

async function skipChunks(c: Cursor): Promise<void> {
  for (let len = await c.int(); len !== 0; len = await c.int()) {
    if (len < 0) throw new Corrupt(`negative data chunk length at offset ${c.pos}`);
    c.skip(len);
  }
}

interface ArchiveReport {
  header: ArchiveHeader;
  items?: TocItem[]; // undefined when the version is beyond what this reader walks
  dataBlocks?: number;
}

async function readArchive(path: string, walkData: boolean): Promise<ArchiveReport> {
  const fh = await open(path, 'r');
  try {
    const c = new Cursor(fh, (await fh.stat()).size);
    const header = await readArchiveHeader(c);
    if (header.version < TOC_MIN || header.version > TOC_MAX) return { header };
    const items = await readToc(c, header);
    const dataBlocks = walkData && header.format === FORMAT_CUSTOM ? await walkDataBlocks(c, items) : undefined;
    return { header, items, dataBlocks };
  } finally {
    await fh.close();
  }
}

function archiveDetail(label: string, a: ArchiveReport): string {
  const h = a.header;
  const parts = [label, `archiver ${h.versionText}`];
  if (h.serverVersion) parts.push(`PostgreSQL ${h.serverVersion}`);
  if (h.pgDumpVersion) parts.push(`pg_dump ${firstWord(h.pgDumpVersion)}`);
  if (a.items) parts.push(`${a.items.length} TOC entries`);
  else parts.push('archive version newer than this action knows: contents not verified');
  if (h.compression !== 'none' && h.compression !== 'unknown') parts.push(`${h.compression}-compressed data`);
  return parts.join(', ');
}

async function inspectCustom(path: string, size: number, where: string, opts: InspectOptions): Promise<Omit<DumpInfo, 'path' | 'size'>> {
  let report: ArchiveReport;
  try {
    report = await readArchive(path, true);
  } catch (err) {
    throw archiveError(err, where, 'pg_dump custom-format dump');
  }
  const f = report.header.format;
  if (f === FORMAT_DIRECTORY || f === FORMAT_TAR) {
    throw new DumpError(
      `${where} is the toc.dat of a pg_dump directory-format (or tar-format) dump, not a whole dump. ` +
        (opts.api === 'rpc' ? 'Pass the folder that holds it.' : V1_SINGLE_FILE),
    );
  }
  if (f !== FORMAT_CUSTOM) throw new DumpError(`${where} starts with PGDMP but declares archive format ${f}. Make a custom-format dump: \`pg_dump -Fc\`.`);
  return {
    format: 'custom',
    uploadExt: '.dump',
    hasFilestore: false,
    detail: `${archiveDetail('pg_dump custom format', report)}, ${formatBytes(size)}`,
    serverVersion: report.header.serverVersion,
    pgDumpVersion: report.header.pgDumpVersion,
  };
}

function archiveError(err: unknown, where: string, what: string): DumpError {
  if (err instanceof Truncated) {
    return new DumpError(`${where} is a truncated ${what}: ${err.message}. The dump or its copy was interrupted: make or copy it again.`);
  }
  if (err instanceof Corrupt) return new DumpError(`${where} is a damaged ${what}: ${err.message}. Make or copy the dump again.`);
  return new DumpError(`${where} cannot be read (${errCode(err)}). Check the file and its permissions.`);
}

const V1_SINGLE_FILE =
  'The v1 API takes a single file: make one with `pg_dump -Fc -f db.dump <database>` ' +
  '(or turn this directory into plain SQL with `pg_restore -f db.sql <directory>`), or set `api: rpc`, which uploads directory dumps.';

// ---------------------------------------------------------------------------------------
// Directories

async function inspectDirectory(path: string, where: string, opts: InspectOptions): Promise<DumpInfo> {
  const names = await readdir(path).catch((err) => {
    throw new DumpError(`${where} is a folder that cannot be listed (${errCode(err)}). Check its permissions.`);
  });
  if (!names.includes('toc.dat')) {
    if (names.includes('dump.sql')) {
      throw new DumpError(
        `${where} is a folder holding dump.sql (an extracted Odoo backup?), not a pg_dump directory dump. ` +
          'Pass dump.sql itself, or zip the folder\'s content so that dump.sql is at the root (`zip -r db.zip dump.sql filestore`).',
      );
    }
    const deep = await shallowListing(path);
    if (odooShBackupSigns(deep).length) {
      throw new DumpError(`${where} is a folder that looks like an extracted Odoo.sh backup (${odooShBackupSigns(deep).join('; ')}). ${ODOO_SH_ADVICE}`);
    }
    throw new DumpError(`${where} is a folder without toc.dat, so not a pg_dump directory-format dump. Pass the dump file, or the folder \`pg_dump -Fd\` wrote.`);
  }
  const toc = join(path, 'toc.dat');
  const tocHead = await readHead(toc, 5).catch(() => Buffer.alloc(0));
  if (tocHead.toString('latin1') !== 'PGDMP') {
    throw new DumpError(`${where} has a toc.dat that is not a pg_dump table of contents (no PGDMP header). Make the directory dump again with \`pg_dump -Fd\`.`);
  }
  let report: ArchiveReport;
  try {
    report = await readArchive(toc, false);
  } catch (err) {
    throw archiveError(err, where, 'pg_dump directory dump (its toc.dat)');
  }
  // pg_dump writes the tar code into a directory dump's toc.dat: the two share its layout.
  if (report.header.format !== FORMAT_DIRECTORY && report.header.format !== FORMAT_TAR) {
    throw new DumpError(`${where} has a toc.dat of archive format ${report.header.format}, not a directory dump. Make it again with \`pg_dump -Fd\`.`);
  }
  if (opts.api === 'v1') throw new DumpError(`${where} is a pg_dump directory-format dump. ${V1_SINGLE_FILE}`);
  const present = new Set(names);
  const missing = (report.items ?? [])
    .map((t) => t.filename)
    .filter((f): f is string => !!f && !['', '.gz', '.lz4', '.zst'].some((ext) => present.has(f + ext)));
  if (missing.length) {
    throw new DumpError(
      `${where} is an incomplete pg_dump directory dump: ${missing.length} data file(s) named in toc.dat are missing (e.g. ${missing[0]}). ` +
        'The dump or its copy was interrupted: make or copy it again.',
    );
  }
  const size = await pathSize(path);
  return {
    path,
    format: 'directory',
    size,
    uploadExt: '.dump/',
    hasFilestore: false,
    detail: `${archiveDetail('pg_dump directory format', report)}, ${names.length} files, ${formatBytes(size)}`,
    serverVersion: report.header.serverVersion,
    pgDumpVersion: report.header.pgDumpVersion,
  };
}

/** Names two levels deep: enough to see addon folders and .git without walking a whole tree. */
async function shallowListing(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    out.push(e.isDirectory() ? `${e.name}/` : e.name);
    if (e.isDirectory()) {
      const sub = await readdir(join(dir, e.name)).catch(() => [] as string[]);
      for (const s of sub.slice(0, 500)) out.push(`${e.name}/${s}`);
    }
  }
  return out;
}

/** Bytes of a file, or of every file under a folder. */
export async function pathSize(p: string): Promise<number> {
  const st = await stat(p);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const e of await readdir(p, { withFileTypes: true })) total += await pathSize(join(p, e.name));
  return total;
}

// ---------------------------------------------------------------------------------------
// Small I/O helpers

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

async function readTail(path: string, size: number, n: number): Promise<Buffer> {
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

function firstWord(version: string): string {
  return version.split(' ')[0];
}

function errCode(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT') return 'no such file or folder';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return code ?? (err as Error)?.message ?? String(err);
}
