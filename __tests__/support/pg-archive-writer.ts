// Writes pg_dump archives as pg_dump does (header, table of contents, data blocks), for the
// versions the reader walks: valid inputs for the fuzzers, which then damage them.
export interface ArchiveSpec {
  minor: number; // archive version 1.<minor>: 14 (PG 12-15), 15 (PG 16), 16 (PG 17+)
  format: 'custom' | 'directory';
  intSize?: number; // 4 as pg_dump writes; the reader takes 1 to 8
  offSize?: number;
  entries: { desc: string; tag: string; defn: string; data?: Buffer[] }[]; // data: the chunks of a TABLE DATA
  positions?: boolean; // custom: write each data block's offset (a seekable output) or leave it unset
}

export function writeArchive(spec: ArchiveSpec): { file: Buffer; dataFiles: Map<string, Buffer> } {
  const intSize = spec.intSize ?? 4;
  const offSize = spec.offSize ?? 8;
  const int = (v: number) => {
    const b = Buffer.alloc(1 + intSize);
    b[0] = v < 0 ? 1 : 0;
    let a = Math.abs(v);
    for (let i = 1; i <= intSize; i++, a = Math.floor(a / 256)) b[i] = a % 256;
    return b;
  };
  const str = (s: string | null) => (s === null ? int(-1) : Buffer.concat([int(Buffer.byteLength(s)), Buffer.from(s)]));
  const offset = (state: number, pos: number) => {
    const b = Buffer.alloc(1 + offSize);
    b[0] = state;
    for (let i = 1, a = pos; i <= offSize; i++, a = Math.floor(a / 256)) b[i] = a % 256;
    return b;
  };
  const m = spec.minor;
  const head = [Buffer.from('PGDMP'), Buffer.from([1, m, 0, intSize, offSize, spec.format === 'custom' ? 1 : 5])];
  head.push(m >= 15 ? Buffer.from([0]) : int(0)); // no compression
  for (const v of [0, 0, 12, 4, 11, 126, 0]) head.push(int(v)); // creation time
  head.push(str('odoo'), str('16.4'), str('16.4 (Debian 16.4-1)'));
  const dataFiles = new Map<string, Buffer>();
  const toc = (positions: number[]) => {
    const parts = [int(spec.entries.length)];
    spec.entries.forEach((e, i) => {
      parts.push(int(i + 1), int(e.data ? 1 : 0), str('0'), str('0'), str(e.tag), str(e.desc), int(e.data ? 3 : 2));
      parts.push(str(e.defn), str(''), str(e.data ? `COPY ${e.tag} FROM stdin;\n` : ''), str('public'), str(''), str('heap'));
      if (m >= 16) parts.push(int(114)); // relkind 'r'
      parts.push(str('odoo'), str('false'), str(String(i)), str(null));
      if (spec.format === 'custom') parts.push(offset(e.data ? (spec.positions ? 2 : 1) : 3, positions[i] ?? 0));
      else parts.push(str(e.data ? `${i + 1}.dat` : ''));
    });
    return Buffer.concat(parts);
  };
  const blocks = spec.entries.map((e, i) => (e.data ? Buffer.concat([Buffer.from([1]), int(i + 1), ...e.data.flatMap((c) => [int(c.length), c]), int(0)]) : Buffer.alloc(0)));
  if (spec.format === 'directory') {
    spec.entries.forEach((e, i) => e.data && dataFiles.set(`${i + 1}.dat`, Buffer.concat(e.data)));
    return { file: Buffer.concat([...head, toc([])]), dataFiles };
  }
  // Data positions depend on the TOC's length, which does not depend on their values.
  const before = Buffer.concat([...head, toc([])]).length;
  const positions: number[] = [];
  let at = before;
  for (const b of blocks) positions.push(b.length ? at : 0), (at += b.length);
  return { file: Buffer.concat([...head, toc(positions), ...blocks]), dataFiles };
}
