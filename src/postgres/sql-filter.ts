// Plain SQL from a newer pg_dump into an older server: pg_dump 17+ opens its script with
// `SET transaction_timeout = 0;`, which a server before 17 rejects ("unrecognized
// configuration parameter"), and psql with ON_ERROR_STOP then stops the whole restore.
// This stream drops exactly such lines: a whole-line `SET name = ...;` (or pg_dump's
// `SELECT pg_catalog.set_config('name', ...);`) at the start of a statement, for a setting
// the target server does not have. Everything else passes byte for byte, so real errors
// still fail the restore.
//
// It follows the SQL just enough to know where statements start: quotes, dollar quotes and
// comments (a function body may hold a `SET` line of its own, which must stay), and COPY
// data blocks (a row may read like SQL). COPY data, the bulk of any dump, is passed on in
// whole chunks without being split into lines; SQL lines are held only until their end.
import { Transform, type TransformCallback } from 'node:stream';

type Lex = { kind: 'normal' } | { kind: 'quote'; close: string; backslash: boolean } | { kind: 'dollar'; tag: string } | { kind: 'comment'; depth: number };

const SET_LINE = /^\s*SET\s+(?:SESSION\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?:=|\s+TO\s+)[^;]*;\s*$/i;
const SET_CONFIG_LINE = /^\s*SELECT\s+(?:pg_catalog\.)?set_config\(\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*,[^;]*;\s*$/i;
const COPY_FROM_STDIN = /^\s*COPY\s[\s\S]*\sFROM\s+stdin\b[^;]*;\s*$/i;
const NL = 0x0a;

/** The setting a line sets, when it is a whole-line SET (or set_config) statement. */
export function settingOf(line: string): string | undefined {
  return (SET_LINE.exec(line) ?? SET_CONFIG_LINE.exec(line))?.[1]?.toLowerCase();
}

export interface SqlFilterOptions {
  /** Names the target server knows (pg_settings.name, lower case). */
  known: ReadonlySet<string>;
  /** Called once per dropped line, with the line (without its newline). */
  onDrop: (line: string, setting: string) => void;
  /**
   * Drop pg_dump's `\restrict KEY` / `\unrestrict KEY` lines (17.6, 16.10, 15.14, 14.19, 13.22 and
   * later write them), for a psql older than those, which stops at them as unknown commands.
   */
  dropRestrict?: boolean;
}

export class UnknownSettingFilter extends Transform {
  private readonly known: ReadonlySet<string>;
  private readonly onDrop: SqlFilterOptions['onDrop'];
  private readonly dropRestrict: boolean;
  private copy = false; // inside a COPY ... FROM stdin data block
  private copyLineStart = true; // (copy mode) the next byte starts a line
  private copyHeld: Buffer | undefined; // (copy mode) a short line start that may be `\.`
  private sqlLine: Buffer[] = []; // (sql mode) the line so far
  private lex: Lex = { kind: 'normal' };
  private statementStart = true;

  constructor(opts: SqlFilterOptions) {
    super();
    this.known = opts.known;
    this.onDrop = opts.onDrop;
    this.dropRestrict = opts.dropRestrict ?? false;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      if (this.copyHeld) {
        // A line start too short to tell `\.` from data was held back (at most 3 bytes).
        chunk = Buffer.concat([this.copyHeld, chunk]);
        this.copyHeld = undefined;
        this.copyLineStart = true;
      }
      let pos = 0;
      while (pos < chunk.length) pos = this.copy ? this.copyData(chunk, pos) : this.sqlData(chunk, pos);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    if (this.copyHeld) this.push(this.copyHeld);
    if (this.sqlLine.length) this.line(Buffer.concat(this.sqlLine), false);
    done();
  }

  /** COPY data: pass everything on, watching only for the `\.` line that ends the block. */
  private copyData(chunk: Buffer, pos: number): number {
    return this.copyScan(chunk, pos, this.copyLineStart);
  }

  private copyScan(chunk: Buffer, pos: number, lineStart: boolean): number {
    let start = pos;
    let at = pos;
    let fresh = lineStart;
    for (;;) {
      if (fresh) {
        const end = endOfData(chunk.subarray(at, at + 4));
        if (end === 'end') {
          if (at > start) this.push(chunk.subarray(start, at));
          return this.leaveCopy(at);
        }
        if (end === 'undecided' && at + 4 > chunk.length) {
          if (at > start) this.push(chunk.subarray(start, at));
          this.copyHeld = Buffer.from(chunk.subarray(at));
          return chunk.length;
        }
      }
      const nl = chunk.indexOf(NL, at);
      if (nl < 0) {
        this.push(chunk.subarray(start, chunk.length));
        this.copyLineStart = false;
        return chunk.length;
      }
      at = nl + 1;
      fresh = true;
      if (at >= chunk.length) {
        this.push(chunk.subarray(start, at));
        this.copyLineStart = true;
        return at;
      }
      if (at - start > 1 << 20) {
        this.push(chunk.subarray(start, at));
        start = at;
      }
    }
  }

  /** `\.` at `pos` ends the COPY block: hand that line on and return to SQL. */
  private leaveCopy(pos: number): number {
    this.copy = false;
    this.copyLineStart = true;
    this.statementStart = true;
    this.lex = { kind: 'normal' };
    return pos; // the `\.` line goes through the SQL path as a line of its own
  }

  /** SQL: collect the line, then decide on it whole. */
  private sqlData(chunk: Buffer, pos: number): number {
    const nl = chunk.indexOf(NL, pos);
    if (nl < 0) {
      this.sqlLine.push(Buffer.from(chunk.subarray(pos)));
      return chunk.length;
    }
    this.sqlLine.push(chunk.subarray(pos, nl + 1));
    const line = this.sqlLine.length === 1 ? this.sqlLine[0] : Buffer.concat(this.sqlLine);
    this.sqlLine = [];
    this.line(line, true);
    return nl + 1;
  }

  private line(buf: Buffer, complete: boolean): void {
    // latin1 maps bytes one to one: every character the lexer looks at is ASCII.
    const text = buf.toString('latin1').replace(/\r?\n$/, '');
    const atStart = this.statementStart && this.lex.kind === 'normal';
    if (atStart && complete) {
      if (text === '\\.') {
        this.push(buf);
        return;
      }
      if (this.dropRestrict && /^\\(un)?restrict\s+\S+\s*$/.test(text)) {
        this.onDrop(text, text.startsWith('\\u') ? '\\unrestrict' : '\\restrict');
        return;
      }
      const setting = settingOf(text);
      if (setting && !this.known.has(setting)) {
        this.onDrop(text, setting);
        return;
      }
    }
    this.push(buf);
    if (atStart && /^\s*\\/.test(text)) return; // a psql meta-command line (\connect, \restrict): no statement
    const startsCopy = atStart && COPY_FROM_STDIN.test(text);
    this.scan(text);
    if (startsCopy && this.statementStart && this.lex.kind === 'normal') {
      this.copy = true;
      this.copyLineStart = true;
    }
  }

  /** Follows quotes and comments through one line; notes whether it ends a statement. */
  private scan(text: string): void {
    let i = 0;
    const n = text.length;
    while (i < n) {
      const lex = this.lex;
      const c = text[i];
      if (lex.kind === 'quote') {
        if (lex.backslash && c === '\\') i += 2;
        else if (c === lex.close) {
          if (text[i + 1] === lex.close) i += 2;
          else {
            this.lex = { kind: 'normal' };
            i++;
          }
        } else i++;
        continue;
      }
      if (lex.kind === 'dollar') {
        const end = text.indexOf(lex.tag, i);
        if (end < 0) return;
        this.lex = { kind: 'normal' };
        i = end + lex.tag.length;
        continue;
      }
      if (lex.kind === 'comment') {
        if (c === '*' && text[i + 1] === '/') {
          this.lex = lex.depth > 1 ? { kind: 'comment', depth: lex.depth - 1 } : { kind: 'normal' };
          i += 2;
        } else if (c === '/' && text[i + 1] === '*') {
          this.lex = { kind: 'comment', depth: lex.depth + 1 };
          i += 2;
        } else i++;
        continue;
      }
      if (c === '-' && text[i + 1] === '-') return; // the rest of the line is a comment
      if (c === '/' && text[i + 1] === '*') {
        this.lex = { kind: 'comment', depth: 1 };
        i += 2;
        continue;
      }
      if (c === "'") {
        const prev = text[i - 1];
        const escape = (prev === 'E' || prev === 'e') && !/[A-Za-z0-9_]/.test(text[i - 2] ?? ' ');
        this.lex = { kind: 'quote', close: "'", backslash: escape };
        this.statementStart = false;
        i++;
        continue;
      }
      if (c === '"') {
        this.lex = { kind: 'quote', close: '"', backslash: false };
        this.statementStart = false;
        i++;
        continue;
      }
      if (c === '$' && !/[A-Za-z0-9_$]/.test(text[i - 1] ?? ' ')) {
        const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 66))?.[0];
        if (tag) {
          this.lex = { kind: 'dollar', tag };
          this.statementStart = false;
          i += tag.length;
          continue;
        }
      }
      if (c === ';') this.statementStart = true;
      else if (c !== ' ' && c !== '\t' && c !== '\r') this.statementStart = false;
      i++;
    }
  }
}

/** Whether a line start is the `\.` that ends COPY data: 'end', 'not', or 'undecided' (too few bytes yet). */
function endOfData(b: Buffer): 'end' | 'not' | 'undecided' {
  const want = [0x5c, 0x2e]; // \.
  for (let i = 0; i < 2; i++) {
    if (i >= b.length) return 'undecided';
    if (b[i] !== want[i]) return 'not';
  }
  if (b.length === 2) return 'undecided';
  if (b[2] === NL) return 'end';
  if (b[2] === 0x0d) return b.length === 3 ? 'undecided' : b[3] === NL ? 'end' : 'not';
  return 'not';
}

/** Whether a psql knows `\restrict` (added in the minor releases of August 2025). */
export function psqlKnowsRestrict(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  const since: Record<number, number> = { 13: 22, 14: 19, 15: 14, 16: 10, 17: 6 };
  if (major >= 18) return true;
  return since[major] !== undefined && minor >= since[major];
}
