// pg_dump archives: custom-format files and the toc.dat of directory dumps, read as
// pg_restore reads them (header, table of contents, data blocks), never held whole.
import { open, type FileHandle } from 'node:fs/promises';
import { DumpError } from './types.ts';
import { errCode, firstWord } from './io.ts';

export const FORMAT_CUSTOM = 1;
export const FORMAT_TAR = 3;
export const FORMAT_DIRECTORY = 5;
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

const MAX_KEPT_STRING = 64 * 1024;

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

  /** A string this reader keeps: bounded, so a forged length cannot make it allocate gigabytes. */
  async str(): Promise<string | null> {
    const len = await this.int();
    if (len < 0) return null;
    if (len > MAX_KEPT_STRING) throw new Corrupt(`a ${len}-byte name at offset ${this.pos} (names here are short)`);
    if (len > this.size - this.pos) throw new Truncated(`a ${len}-byte string at offset ${this.pos} runs past the end`);
    return (await this.need(len)).toString('utf8');
  }

  /** A string this reader does not need (SQL definitions can be large): passed over unread. Null is false. */
  async skipStr(): Promise<boolean> {
    const len = await this.int();
    if (len < 0) return false;
    if (len > this.size - this.pos) throw new Truncated(`a ${len}-byte string at offset ${this.pos} runs past the end`);
    this.pos += len;
    return true;
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
    if (v >= version(1, 8, 0)) await c.skipStr(); // tableoid
    await c.skipStr(); // oid
    await c.skipStr(); // tag
    await c.skipStr(); // desc
    if (v >= version(1, 11, 0)) await c.int(); // section
    await c.skipStr(); // defn
    await c.skipStr(); // dropStmt
    if (v >= version(1, 3, 0)) await c.skipStr(); // copyStmt
    if (v >= version(1, 6, 0)) await c.skipStr(); // namespace
    if (v >= version(1, 10, 0)) await c.skipStr(); // tablespace
    if (v >= version(1, 14, 0)) await c.skipStr(); // tableam
    if (v >= version(1, 16, 0)) await c.int(); // relkind
    await c.skipStr(); // owner
    if (v >= version(1, 9, 0)) await c.skipStr(); // "with oids"
    if (v >= version(1, 5, 0)) while (await c.skipStr()); // dependencies, NULL-terminated
    const item: TocItem = { dumpId };
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

export interface ArchiveReport {
  header: ArchiveHeader;
  items?: TocItem[]; // undefined when the version is beyond what this reader walks
  dataBlocks?: number;
}

export async function readArchive(path: string, walkData: boolean): Promise<ArchiveReport> {
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

export function archiveDetail(label: string, a: ArchiveReport): string {
  const h = a.header;
  const parts = [label, `archiver ${h.versionText}`];
  if (h.serverVersion) parts.push(`PostgreSQL ${h.serverVersion}`);
  if (h.pgDumpVersion) parts.push(`pg_dump ${firstWord(h.pgDumpVersion)}`);
  if (a.items) parts.push(`${a.items.length} TOC entries`);
  else parts.push('archive version newer than this action knows: contents not verified');
  if (h.compression !== 'none' && h.compression !== 'unknown') parts.push(`${h.compression}-compressed data`);
  return parts.join(', ');
}


export function archiveError(err: unknown, where: string, what: string): DumpError {
  if (err instanceof Truncated) {
    return new DumpError(`${where} is a truncated ${what}: ${err.message}. The dump or its copy was interrupted: make or copy it again.`);
  }
  if (err instanceof Corrupt) return new DumpError(`${where} is a damaged ${what}: ${err.message}. Make or copy the dump again.`);
  return new DumpError(`${where} cannot be read (${errCode(err)}). Check the file and its permissions.`);
}

export const V1_SINGLE_FILE =
  'The v1 API takes a single file: make one with `pg_dump -Fc -f db.dump <database>` ' +
  '(or turn this directory into plain SQL with `pg_restore -f db.sql <directory>`), or set `api: rpc`, which uploads directory dumps.';
