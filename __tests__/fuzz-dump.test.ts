// Property tests of dump inspection over every format it reads (pg_dump custom archives and
// their data blocks, directory dumps' toc.dat, gzip, zip, tar, plain SQL heads and tails):
// valid dumps pass, damaged ones end in a DumpError naming the input, never a raw error, a
// hang (each call runs in a worker with a watchdog) or memory that grows with a forged size.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { tarLister } from '../src/formats/inspect.ts';
import { BoundedCaller, type Outcome } from './support/bounded.ts';
import { params } from './support/fuzz.ts';
import { writeArchive, type ArchiveSpec } from './support/pg-archive-writer.ts';
import { makeZip } from './support/zip-writer.ts';
import { tarArchive, tarHeader } from './support/tar-writer.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
const INSPECT = new URL('../src/formats/inspect.ts', import.meta.url).href;
const MiB = 1024 * 1024;

const caller = new BoundedCaller();
let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fuzz-dump-'));
});
after(async () => {
  await caller.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function inspect(path: string, api: 'v1' | 'rpc' = 'rpc', measure = false): Promise<Outcome> {
  return caller.call(INSPECT, 'inspectDump', [path, { api, input: 'dump' }], { measure });
}

/** Accepted, or refused with a DumpError that names the input and the path, from a reader that foresaw it. */
function assertClear(o: Outcome, path: string): void {
  if (o.ok) return;
  assert.equal(o.error?.name, 'DumpError', `not a DumpError: ${o.error?.name}: ${o.error?.message}`);
  assert.ok(o.error!.message.startsWith(`dump: ${path}`), `the message does not name the input: ${o.error!.message}`);
  assert.ok(!o.error!.message.includes('could not be inspected'), `an error no reader foresaw: ${o.error!.message}`);
}

async function place(name: string, bytes: Buffer | Uint8Array): Promise<string> {
  const p = join(dir, `${n++}-${name}`);
  await writeFile(p, bytes);
  return p;
}

// ---------------------------------------------------------------------------------------
// Valid inputs

const statement = fc.constantFrom(
  'SET statement_timeout = 0;',
  "SELECT pg_catalog.set_config('search_path', '', false);",
  'CREATE TABLE public.res_partner (id integer NOT NULL, name character varying);',
  'COPY public.res_partner (id, name) FROM stdin;\n1\tAzure Interior\n2\tDeco Addict\n\\.',
  'ALTER TABLE ONLY public.res_partner ADD CONSTRAINT res_partner_pkey PRIMARY KEY (id);',
  'CREATE INDEX res_partner_name_idx ON public.res_partner USING btree (name);',
);
const comment = fc.string({ maxLength: 60 }).map((s) => `-- ${s.replace(/[\r\n]/g, ' ')}`);
const sqlBody = fc.array(fc.oneof(statement, comment), { minLength: 1, maxLength: 40 });

function pgDumpSql(lines: string[], pad = 0): Buffer {
  return Buffer.from(
    [
      '--',
      '-- PostgreSQL database dump',
      '--',
      '',
      '-- Dumped from database version 16.4 (Debian 16.4-1)',
      '-- Dumped by pg_dump version 16.4 (Debian 16.4-1)',
      '',
      ...lines,
      '-- '.padEnd(pad, 'x'),
      '--',
      '-- PostgreSQL database dump complete',
      '--',
      '',
    ].join('\n'),
  );
}

const archiveSpec = (format: ArchiveSpec['format']) =>
  fc.record({
    minor: fc.constantFrom(14, 15, 16),
    format: fc.constant(format),
    intSize: fc.constantFrom(4, 8),
    positions: fc.boolean(),
    entries: fc.array(
      fc.record({
        desc: fc.constantFrom('TABLE', 'INDEX', 'CONSTRAINT', 'SEQUENCE', 'COMMENT'),
        tag: fc.stringMatching(/^[a-z_]{1,20}$/),
        defn: fc.string({ maxLength: 200 }),
        data: fc.option(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }).map((u) => Buffer.from(u)), { maxLength: 4 }), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 12 },
    ),
  });

async function placeDirectory(spec: ArchiveSpec, mutate?: (toc: Buffer) => Buffer): Promise<string> {
  const { file, dataFiles } = writeArchive(spec);
  const d = join(dir, `${n++}-dir`);
  await mkdir(d);
  await writeFile(join(d, 'toc.dat'), mutate ? mutate(file) : file);
  for (const [name, data] of dataFiles) await writeFile(join(d, name), data);
  return d;
}

test('valid dumps pass: plain SQL, gzip SQL, zip backups, custom archives 1.14-1.16, directory dumps', async () => {
  await fc.assert(
    fc.asyncProperty(sqlBody, fc.nat(5000), archiveSpec('custom'), archiveSpec('directory'), async (lines, pad, custom, directory) => {
      const sql = pgDumpSql(lines, pad);
      const plain = await place('db.sql', sql);
      const o1 = await inspect(plain);
      assert.ok(o1.ok, o1.error?.message);
      assert.equal((o1.value as { format: string }).format, 'sql');

      const gz = await place('db.sql.gz', gzipSync(sql));
      const o2 = await inspect(gz);
      assert.ok(o2.ok, o2.error?.message);
      assert.equal((o2.value as { format: string }).format, 'sql.gz');

      const zip = await place('db.zip', makeZip([{ name: 'dump.sql', data: sql }, { name: 'filestore/ab/abcdef', data: Buffer.from(lines.join()) }]));
      const o3 = await inspect(zip, 'v1');
      assert.ok(o3.ok, o3.error?.message);
      assert.deepEqual([(o3.value as { format: string }).format, (o3.value as { hasFilestore: boolean }).hasFilestore], ['zip', true]);

      const dump = await place('db.dump', writeArchive(custom).file);
      const o4 = await inspect(dump, 'v1');
      assert.ok(o4.ok, o4.error?.message);
      assert.equal((o4.value as { format: string }).format, 'custom');
      assert.match((o4.value as { detail: string }).detail, new RegExp(`${custom.entries.length} TOC entries`));

      const d = await placeDirectory(directory);
      const o5 = await inspect(d);
      assert.ok(o5.ok, o5.error?.message);
      assert.equal((o5.value as { format: string }).format, 'directory');
    }),
    params(Math.max(1, Math.ceil(RUNS / 4))),
  );
});

// ---------------------------------------------------------------------------------------
// Damage

type Mutation = { kind: 'flip' | 'cut' | 'insert' | 'int'; at: number; bytes: Uint8Array };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('flip', 'cut', 'insert', 'int'),
  at: fc.nat(),
  bytes: fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 9 }),
    // extreme integers in pg_dump's and ZIP's encodings: huge, negative, all ones
    fc.constantFrom(
      Uint8Array.from([0, 0xff, 0xff, 0xff, 0x7f]),
      Uint8Array.from([1, 0xff, 0xff, 0xff, 0x7f]),
      Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      Uint8Array.from([0, 0, 0, 0x80]),
    ),
  ),
});

function damage(b: Buffer, ms: Mutation[], from = 0): Buffer {
  let out = Buffer.from(b);
  for (const m of ms) {
    const at = from + (m.at % Math.max(1, out.length - from));
    if (m.kind === 'cut') out = out.subarray(0, Math.max(at, 1));
    else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
    else if (m.kind === 'flip') out[at] ^= m.bytes[0] || 1;
    else Buffer.from(m.bytes).copy(out, at);
  }
  return out;
}

const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });

test('damaged custom archives (header, TOC, data blocks) end in a clear DumpError or pass', async () => {
  await fc.assert(
    fc.asyncProperty(archiveSpec('custom'), mutations, fc.constantFrom(0, 5, 20), async (spec, ms, from) => {
      const p = await place('db.dump', damage(writeArchive(spec).file, ms, from));
      assertClear(await inspect(p, 'v1'), p);
    }),
    params(RUNS),
  );
});

test('damaged directory dumps (toc.dat) end in a clear DumpError or pass', async () => {
  await fc.assert(
    fc.asyncProperty(archiveSpec('directory'), mutations, async (spec, ms) => {
      const d = await placeDirectory(spec, (toc) => damage(toc, ms, 5));
      assertClear(await inspect(d), d);
    }),
    params(RUNS),
  );
});

test('damaged gzip, zip, tar and SQL files end in a clear DumpError or pass', async () => {
  const kinds = ['sql', 'gzip', 'zip', 'zip64', 'tar', 'tar.gz'] as const;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...kinds), sqlBody, mutations, async (kind, lines, ms) => {
      const sql = pgDumpSql(lines);
      const bytes = {
        sql: () => sql,
        gzip: () => gzipSync(sql),
        zip: () => makeZip([{ name: 'dump.sql', data: sql }, { name: 'filestore/x', data: Buffer.from('x'), method: 0 }]),
        zip64: () => makeZip([{ name: 'dump.sql', data: sql, zip64: true, descriptor: true }]),
        tar: () => tarArchive([{ name: 'dump.sql', data: sql }, { name: 'filestore/x', data: Buffer.from('x') }]),
        'tar.gz': () => gzipSync(tarArchive([{ name: 'home/odoo/data/dump.sql', data: sql }])),
      }[kind]();
      const p = await place(kind, damage(bytes, ms));
      assertClear(await inspect(p, 'v1'), p);
    }),
    params(RUNS),
  );
});

test('random bytes behind each format magic end in a clear DumpError or pass', async () => {
  const magics = [Buffer.from('PGDMP'), Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.from('PK\x03\x04'), Buffer.from('PK\x05\x06'), tarHeader('dump.sql', 100)];
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...magics), fc.uint8Array({ maxLength: 3000 }), async (magic, rest) => {
      const p = await place('random', Buffer.concat([magic, rest]));
      assertClear(await inspect(p, 'v1'), p);
    }),
    params(RUNS),
  );
});

test('SQL heads and tails: any text before the closing line is read without a crash', async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 6000 }), fc.string({ unit: 'binary', maxLength: 6000 }), async (a, b) => {
      const p = await place('any.sql', Buffer.concat([Buffer.from('-- PostgreSQL database dump\n'), Buffer.from(a), Buffer.from(b)]));
      assertClear(await inspect(p, 'v1'), p);
    }),
    params(RUNS),
  );
});

// ---------------------------------------------------------------------------------------
// Adversarial sizes and the findings of the first fuzzing pass (each hung, crashed or
// buffered on the code before its fix)

function refused(o: Outcome, path: string, pattern: RegExp): void {
  assert.equal(o.ok, false, 'accepted');
  assertClear(o, path);
  assert.match(o.error!.message, pattern);
}

test('a gzip-compressed tar whose long-name header has a negative size is refused (it looped forever)', async () => {
  for (const sizeField of [Buffer.from('-0000001000\0'), Buffer.from([0xff, ...Array(11).fill(0xff)]), Buffer.from('zzzzzzzzzzz\0')]) {
    const tar = Buffer.concat([tarHeader('././@LongLink', 0, { type: 'L', sizeField }), Buffer.alloc(4096, 0x41), Buffer.alloc(1024)]);
    const p = await place('neg.tar.gz', gzipSync(tar));
    refused(await inspect(p), p, /tar/);
    const plain = await place('neg.tar', tar);
    refused(await inspect(plain), plain, /tar/);
  }
});

test('a tar long-name header claiming 4 GiB is passed over, not buffered', async () => {
  const claim = 4 * 1024 * MiB;
  const present = 32 * MiB; // the stream ends long before the claim: what the reader holds by then is what it kept
  const p = join(dir, `${n++}-longname.tar.gz`);
  async function* body() {
    yield tarHeader('././@LongLink', claim, { type: 'L' });
    for (let i = 0; i < present / MiB; i++) yield Buffer.alloc(MiB, 0x61);
  }
  await pipeline(Readable.from(body()), createGzip({ level: 1 }), createWriteStream(p));
  refused(await inspect(p), p, /tar/);

  // The same stream fed to the lister in fresh chunks, measured after a collection while it is still alive.
  const lister = tarLister();
  const base = await bufferMemory();
  lister.push(tarHeader('././@LongLink', claim, { type: 'L' }));
  for (let i = 0; i < present / (64 * 1024); i++) lister.push(Buffer.alloc(64 * 1024, 0x61));
  const held = (await bufferMemory()) - base;
  assert.ok(held < 8 * MiB, `the lister holds ${(held / MiB).toFixed(0)} MiB of a header claiming ${claim / MiB} MiB`);
  assert.deepEqual(lister.result().names, []);
});

/** Buffer memory still referenced: collected twice, with turns of the loop for the concurrent sweeper. */
async function bufferMemory(): Promise<number> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().arrayBuffers;
}

test('a pg_dump TOC claiming 2^31 entries, or far more than the file holds, is refused at once', async () => {
  const spec: ArchiveSpec = { minor: 16, format: 'custom', entries: [{ desc: 'TABLE', tag: 't', defn: 'CREATE TABLE t ();' }] };
  const file = writeArchive(spec).file;
  const tocAt = writeArchive({ ...spec, entries: [] }).file.length - 5; // the count: a sign byte and 4 bytes
  for (const count of [0x7fffffff, 0xffffffff, 40_000_000]) {
    const forged = Buffer.from(file);
    forged.writeUInt32LE(count, tocAt + 1);
    const p = await place('toc.dump', forged);
    refused(await inspect(p, 'v1'), p, /damaged|truncated/);
  }
});

test('a TOC string claiming gigabytes is refused; a large SQL definition is skipped without buffering it', async () => {
  const spec: ArchiveSpec = { minor: 16, format: 'custom', entries: [{ desc: 'FUNCTION', tag: 'f', defn: 'CREATE FUNCTION f() ...' }] };
  const small = writeArchive(spec).file;
  const at = small.indexOf(Buffer.from('CREATE FUNCTION')) - 5; // the definition: sign byte, 4-byte length, text
  const length = Buffer.alloc(5);
  length.writeUInt32LE(32 * MiB, 1);
  const p = await place('bigdefn.dump', Buffer.concat([small.subarray(0, at), length, Buffer.alloc(32 * MiB, 'x'), small.subarray(at + 5 + 23)]));
  const o = await inspect(p, 'v1', true);
  assert.ok(o.ok, o.error?.message);
  assert.ok(o.peak < 12 * MiB, `inspection held ${(o.peak / MiB).toFixed(0)} MiB for a 32 MiB definition`);

  small.writeUInt32LE(0x7fffffff, at + 1); // the definition's length: 2 GiB
  const q = await place('hugestr.dump', small);
  refused(await inspect(q, 'v1'), q, /truncated/);
});

test('a zip claiming 4 GiB entries or 65535 of them is refused, naming the input', async () => {
  const sql = pgDumpSql(['SELECT 1;']);
  const claims4g = await place('4g.zip', makeZip([{ name: 'dump.sql', data: sql, declaredSize: 0xfffffffe }]));
  refused(await inspect(claims4g, 'v1'), claims4g, /cannot be read whole|damaged/);

  const many = makeZip([{ name: 'dump.sql', data: sql }]);
  many.writeUInt16LE(0xffff, many.length - 22 + 8);
  many.writeUInt16LE(0xffff, many.length - 22 + 10);
  const p = await place('many.zip', many);
  refused(await inspect(p, 'v1'), p, /not a readable zip/);
});

test('ZIP64 sizes and offsets past 2^53, and a bad local header offset, are clear DumpErrors', async () => {
  const sql = pgDumpSql(['SELECT 1;']);
  const z = makeZip([{ name: 'dump.sql', data: sql, zip64: true }]);
  const extra = z.indexOf(Buffer.from([1, 0, 24, 0])); // the central ZIP64 extra field
  for (const field of [4, 12, 20]) {
    const forged = Buffer.from(z);
    forged.writeBigUInt64LE(2n ** 60n + 7n, extra + field);
    const p = await place('z64.zip', forged);
    refused(await inspect(p, 'v1'), p, /zip/);
  }
  const badOffset = makeZip([{ name: 'dump.sql', data: sql }, { name: 'filestore/a', data: Buffer.from('a') }]);
  const central = badOffset.indexOf(Buffer.from([0x50, 0x4b, 1, 2]));
  badOffset.writeUInt32LE(3, central + 42); // dump.sql's local header "at" offset 3
  const p = await place('offset.zip', badOffset);
  refused(await inspect(p, 'v1'), p, /zip/);
});

test('a link loop inside a directory dump, or as the dump itself, is a clear DumpError', async () => {
  const spec: ArchiveSpec = { minor: 16, format: 'directory', entries: [{ desc: 'TABLE DATA', tag: 't', defn: '', data: [Buffer.from('1\n')] }] };
  const d = await placeDirectory(spec);
  await symlink('loop', join(d, 'loop'));
  refused(await inspect(d), d, /loop of symbolic links/);

  const e = await placeDirectory(spec);
  await symlink('.', join(e, 'up')); // a link back to the folder: not followed, not a loop
  await symlink('.', join(e, 'again'));
  const o = await inspect(e);
  assert.ok(o.ok, o.error?.message);

  const self = join(dir, `${n++}-self.dump`);
  await symlink(self, self);
  refused(await inspect(self), self, /loop of symbolic links/);

  const f = await placeDirectory(spec, undefined);
  await rm(join(f, 'toc.dat'));
  await symlink('toc.dat', join(f, 'toc.dat'));
  refused(await inspect(f), f, /toc\.dat.*loop of symbolic links/);
});
