// Builds a request's results from its upload, streaming from disk to disk so a 4 GiB dump
// never sits in memory:
//  - upgraded SQL: a header comment naming the target, then real SQL: the upload (plain,
//    gzipped or zipped SQL, a custom dump) restored into the emulator's PostgreSQL, marked
//    with a table `odoo_upgrade_emulator`, dumped again by pg_dump as plain SQL (psql restores
//    it). Without PostgreSQL, or when the upload does not restore, a MARKED COPY (the header
//    says so and why): the uploaded bytes unchanged when they were plain SQL, otherwise a
//    deterministic generated dump of about the upload's size (a table and a COPY block), so
//    sizes, timings and checksums stay realistic;
//  - upgraded archive: a zip in the layout of Odoo's backups: dump.sql (the same bytes as
//    the upgraded SQL), filestore/ holding only what the upgrade added (two new files, as the
//    platform returns new ones: the original filestore stays with the customer), manifest.json;
//  - the notes HTML and a small custom-modules archive.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { ZipWriter } from './zip-writer.ts';
import type { EmulatorPostgres } from './postgres.ts';
import { upgradeToSql, uploadKind } from './upgrade-dump.ts';

export type DumpKind = 'sql' | 'pgdmp_custom' | 'gzip' | 'zip' | 'unknown';

export function kindOf(head: Buffer): DumpKind {
  if (head.length === 0) return 'unknown';
  if (head.subarray(0, 5).toString('latin1') === 'PGDMP') return 'pgdmp_custom';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50) return 'zip';
  return looksLikeText(head) ? 'sql' : 'unknown';
}

function looksLikeText(head: Buffer): boolean {
  if (head.includes(0)) return false;
  try {
    // A multi-byte character may be cut at the end of the sample.
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, Math.max(0, head.length - 4)));
  } catch {
    return false;
  }
  let control = 0;
  for (const b of head) if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) control++;
  return control <= head.length / 100;
}

export function compressionsOf(kind: DumpKind): string[] {
  switch (kind) {
    case 'pgdmp_custom': return ['pgdmp_custom'];
    case 'gzip': return ['gzip', 'sql'];
    case 'zip': return ['zip', 'sql'];
    case 'sql': return ['sql'];
    default: return [];
  }
}

export async function sniffFile(file: string): Promise<DumpKind> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return kindOf(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20, signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface BuildInput {
  id: string;
  target: string;
  aim: string;
  filename: string;
  uploadedPath: string;
  uploadedSha256?: string;
  databaseVersion: string;
  postgresql: string;
  notesHtml: string;
  outDir: string;
  at: number;
  signal?: AbortSignal;
  /** The emulator's PostgreSQL (absent: marked copies). */
  postgres?: EmulatorPostgres;
}

export interface BuildOutput {
  upgradedArchivePath: string; upgradedArchiveSha256: string;
  upgradedSqlPath: string; upgradedSqlSha256: string;
  notesPath: string; notesSha256: string;
  modulesArchivePath: string; modulesArchiveSha256: string;
  generatedSql: boolean;
  /** Set when dump.sql is a marked copy, not real upgraded SQL: why. */
  markedCopy?: string;
}

export async function buildResults(b: BuildInput): Promise<BuildOutput> {
  await mkdir(b.outDir, { recursive: true });
  const out = {
    upgradedArchivePath: path.join(b.outDir, 'upgraded.zip'),
    upgradedSqlPath: path.join(b.outDir, 'upgraded.sql'),
    notesPath: path.join(b.outDir, 'notes.html'),
    modulesArchivePath: path.join(b.outDir, 'modules.zip'),
  };
  const kind = await sniffFile(b.uploadedPath);
  const uploadSize = (await stat(b.uploadedPath)).size;
  const realSql = path.join(b.outDir, 'pg_dump.sql');
  let markedCopy: string | undefined;
  if ((await uploadKind(b.uploadedPath)) === 'unknown') {
    markedCopy = 'the upload is not a dump PostgreSQL can read';
  } else {
    const pg = b.postgres ? await b.postgres.get() : { missing: 'PostgreSQL is turned off for this emulator' };
    if ('server' in pg) {
      try {
        await upgradeToSql(pg.server, { path: b.uploadedPath, requestId: b.id, target: b.target }, realSql);
      } catch (err) {
        markedCopy = `the upload could not be restored into PostgreSQL ${pg.server.major}: ${(err as Error).message}`;
      }
    } else {
      markedCopy = pg.missing;
    }
  }
  b.signal?.throwIfAborted();
  const sql = !markedCopy
    ? await pgDumpSql(b, realSql)
    : kind === 'sql'
      ? uploadedSql(b, uploadSize, markedCopy)
      : generatedSql(b, kind, uploadSize, markedCopy);

  const sqlHash = createHash('sha256');
  const sqlOut = createWriteStream(out.upgradedSqlPath);
  const zip = await ZipWriter.create(out.upgradedArchivePath, { mtime: new Date(b.at), signal: b.signal });
  try {
    // One pass: each chunk of dump.sql goes to the zip entry and to the upgraded SQL file.
    async function* tee(): AsyncGenerator<Buffer> {
      for await (const chunk of sql.chunks()) {
        sqlHash.update(chunk);
        if (!sqlOut.write(chunk)) await once(sqlOut, 'drain');
        yield chunk;
      }
    }
    await zip.addStream('dump.sql', sql.size, tee());
    sqlOut.end();
    await finished(sqlOut);
    await zip.addDirectory('filestore');
    const dirs = new Set<string>();
    for (const text of attachments(b)) {
      const sha1 = createHash('sha1').update(text).digest('hex');
      if (!dirs.has(sha1.slice(0, 2))) await zip.addDirectory(`filestore/${sha1.slice(0, 2)}`);
      dirs.add(sha1.slice(0, 2));
      await zip.addBuffer(`filestore/${sha1.slice(0, 2)}/${sha1}`, Buffer.from(text));
    }
    await zip.addBuffer('manifest.json', Buffer.from(JSON.stringify(manifest(b), null, 4)));
    await zip.close();
  } catch (err) {
    sqlOut.destroy();
    await zip.abort();
    throw err;
  } finally {
    await rm(realSql, { force: true });
  }

  await writeFile(out.notesPath, b.notesHtml);
  const modules = await ZipWriter.create(out.modulesArchivePath, { mtime: new Date(b.at) });
  await modules.addDirectory('custom_module');
  await modules.addBuffer('custom_module/__init__.py', Buffer.from('# -*- coding: utf-8 -*-\n'));
  await modules.addBuffer('custom_module/__manifest__.py', Buffer.from(`{\n    'name': 'Custom module',\n    'version': '${b.databaseVersion}.1.0',\n    'depends': ['base'],\n    'license': 'LGPL-3',\n}\n`));
  await modules.close();

  return {
    ...out,
    upgradedSqlSha256: sqlHash.digest('hex'),
    upgradedArchiveSha256: await sha256File(out.upgradedArchivePath, b.signal),
    notesSha256: createHash('sha256').update(b.notesHtml).digest('hex'),
    modulesArchiveSha256: await sha256File(out.modulesArchivePath, b.signal),
    generatedSql: !!markedCopy && kind !== 'sql',
    ...(markedCopy ? { markedCopy } : {}),
  };
}

interface SqlPlan { size: number; chunks(): AsyncIterable<Buffer> }

function header(b: BuildInput, source: string, body: string, markedCopy?: string): Buffer {
  return Buffer.from([
    '--',
    '-- Odoo Upgrade Platform emulator: upgraded database',
    `-- Target version: ${b.target}`,
    `-- Request: ${b.id} (${b.aim})`,
    `-- Source: ${source}`,
    ...(markedCopy ? [`-- MARKED COPY, not a real upgraded dump: ${markedCopy.replace(/\s+/g, ' ')}`] : []),
    `-- ${body}`,
    '--',
    '',
    '',
  ].join('\n'));
}

async function pgDumpSql(b: BuildInput, file: string): Promise<SqlPlan> {
  const size = (await stat(file)).size;
  const head = header(b, 'the upload, restored into PostgreSQL', `What follows is pg_dump's plain SQL of the upgraded database (table odoo_upgrade_emulator records the target).`);
  return {
    size: head.length + size,
    async *chunks() {
      yield head;
      for await (const c of createReadStream(file, { highWaterMark: 1 << 20, signal: b.signal })) yield c as Buffer;
    },
  };
}

function uploadedSql(b: BuildInput, size: number, markedCopy: string): SqlPlan {
  const head = header(b, `plain SQL, ${size} bytes`, 'What follows is the uploaded SQL, unchanged.', markedCopy);
  return {
    size: head.length + size,
    async *chunks() {
      yield head;
      for await (const c of createReadStream(b.uploadedPath, { highWaterMark: 1 << 20, signal: b.signal })) yield c as Buffer;
    },
  };
}

// Fixed-width 1 KiB COPY rows in 1 MiB blocks: only the row numbers change, so gigabytes are cheap to make.
const LINE = 1024;
const ROWS_PER_BLOCK = 1024;
const ID_WIDTH = 12;

function generatedSql(b: BuildInput, kind: DumpKind, uploadSize: number, markedCopy: string): SqlPlan {
  const head = Buffer.concat([
    header(b, `${kind} dump, ${uploadSize} bytes`, 'The rows below are generated, deterministic filler of about the upload\'s size.', markedCopy),
    Buffer.from([
      "SET client_encoding = 'UTF8';",
      'CREATE TABLE emulator_filler (id bigint PRIMARY KEY, payload text NOT NULL);',
      'COPY emulator_filler (id, payload) FROM stdin;',
      '',
    ].join('\n')),
  ]);
  const tail = Buffer.from('\\.\n\n-- End of the upgraded dump\n');
  const rows = Math.max(1, Math.floor((uploadSize - head.length - tail.length) / LINE));
  const payload = createHash('sha256').update(`odoo-upgrade-emulator ${b.target}`).digest('hex').repeat(Math.ceil(LINE / 64)).slice(0, LINE - ID_WIDTH - 2);
  const template = Buffer.alloc(LINE * ROWS_PER_BLOCK);
  for (let i = 0; i < ROWS_PER_BLOCK; i++) template.write(`${'0'.repeat(ID_WIDTH)}\t${payload}\n`, i * LINE, 'latin1');
  return {
    size: head.length + rows * LINE + tail.length,
    async *chunks() {
      yield head;
      for (let first = 0; first < rows; first += ROWS_PER_BLOCK) {
        b.signal?.throwIfAborted();
        const n = Math.min(ROWS_PER_BLOCK, rows - first);
        const block = Buffer.from(template.subarray(0, n * LINE));
        for (let i = 0; i < n; i++) block.write(String(first + i + 1).padStart(ID_WIDTH, '0'), i * LINE, 'latin1');
        yield block;
      }
      yield tail;
    },
  };
}

// Only what the upgrade added: the platform returns new attachments (e.g. regenerated
// assets), never the customer's original filestore.
function attachments(b: BuildInput): string[] {
  return [
    `Attachment 1 of request ${b.id}: added by the upgrade to ${b.target} (an invoice PDF would live here).\n`,
    `Attachment 2 of request ${b.id}: added by the upgrade to ${b.target} (a regenerated asset would live here).\n`,
  ];
}

function manifest(b: BuildInput): Record<string, unknown> {
  const [major, minor] = b.target.replace(/^saas~/, '').split('.').map(Number);
  return {
    odoo_dump: '1',
    db_name: b.filename.replace(/\.[^.]*$/, '') || 'database',
    version: b.target,
    version_info: [major, minor, 0, 'final', 0, ''],
    major_version: b.target,
    pg_version: b.postgresql,
    modules: { base: `${b.target}.1.3`, sale_management: `${b.target}.1.0` },
  };
}
