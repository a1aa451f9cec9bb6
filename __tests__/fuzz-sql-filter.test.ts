// The unknown-setting filter on plain SQL: whole-line SETs of settings the server lacks are
// dropped only at statement starts, never inside quotes, dollar-quoted bodies, comments or
// COPY data, and the result does not depend on how the stream is cut into chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import fc from 'fast-check';
import { UnknownSettingFilter, settingOf, psqlKnowsRestrict } from '../src/postgres/sql-filter.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const KNOWN = new Set(['statement_timeout', 'lock_timeout', 'client_encoding', 'search_path', 'work_mem']);

async function filter(chunks: (string | Buffer)[], dropRestrict = false): Promise<{ out: string; dropped: string[] }> {
  const dropped: string[] = [];
  const f = new UnknownSettingFilter({ known: KNOWN, onDrop: (line) => dropped.push(line), dropRestrict });
  const out = (await buffer(Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'latin1') : c))).pipe(f))).toString('latin1');
  return { out, dropped };
}

const PREAMBLE = 'SET statement_timeout = 0;\nSET transaction_timeout = 0;\nSET lock_timeout = 0;\nSELECT pg_catalog.set_config(\'search_path\', \'\', false);\n';

// Each piece keeps its SET lines (they sit where a statement cannot start), except `drop`.
const KEEP_PIECES = [
  "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\nSET transaction_timeout = 0;\nEND $$;\n",
  "CREATE FUNCTION g() RETURNS void LANGUAGE plpgsql AS $body$\nSET transaction_timeout = 0;\n$body$;\n",
  "COMMENT ON TABLE t IS 'line one;\nSET transaction_timeout = 0;\n';\n",
  "/* a block comment;\nSET transaction_timeout = 0;\n*/\n",
  "COPY public.t (a, b) FROM stdin;\nSET transaction_timeout = 0;\n\\\\.not-the-end\n1\tSET x = 1;\n\\.\n",
  "SELECT E'it\\'s;\nSET transaction_timeout = 0;\n';\n",
  'CREATE TABLE "odd;\nSET transaction_timeout = 0;\n" (id int);\n',
  'SET work_mem = \'4MB\';\n',
  '\\connect odoo\n',
  'INSERT INTO t VALUES (1, $1);\n',
];
const DROP_PIECES = ['SET transaction_timeout = 0;\n', "SET SESSION idle_session_timeout TO '0';\n", "SELECT pg_catalog.set_config('nonexistent_knob', '1', false);\n"];

test('settingOf reads whole-line SET and set_config statements only', () => {
  assert.equal(settingOf('SET transaction_timeout = 0;'), 'transaction_timeout');
  assert.equal(settingOf("SET SESSION Search_Path TO 'x';"), 'search_path');
  assert.equal(settingOf("SELECT pg_catalog.set_config('search_path', '', false);"), 'search_path');
  assert.equal(settingOf('SET transaction_timeout = 0; SELECT 1;'), undefined);
  assert.equal(settingOf('SET myext.knob = 1;'), undefined, 'dotted placeholders are accepted by any server');
  assert.equal(settingOf('SETTINGS = 1;'), undefined);
});

test('the pg_dump 17 preamble loses only its unknown line', async () => {
  const { out, dropped } = await filter([PREAMBLE + 'CREATE TABLE t (id int);\n']);
  assert.deepEqual(dropped, ['SET transaction_timeout = 0;']);
  assert.equal(out, PREAMBLE.replace('SET transaction_timeout = 0;\n', '') + 'CREATE TABLE t (id int);\n');
});

test('property: unknown SETs at statement starts are dropped, everything else passes byte for byte, whatever the chunking', async () => {
  const piece = fc.oneof(
    fc.constantFrom(...KEEP_PIECES).map((s) => ({ s, drop: false })),
    fc.constantFrom(...DROP_PIECES).map((s) => ({ s, drop: true })),
    // COPY rows with arbitrary bytes (no newline, not the `\.` end marker).
    fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }).map((a) => Buffer.from(a.filter((b) => b !== 0x0a)).toString('latin1')), { maxLength: 5 })
      .filter((rows) => rows.every((r) => !/^\\\.\r?$/.test(r)))
      .map((rows) => ({ s: `COPY t FROM stdin;\n${rows.map((r) => `${r}\n`).join('')}\\.\n`, drop: false })),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(piece, { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }), async (pieces, cuts) => {
      const input = pieces.map((p) => p.s).join('');
      const expected = pieces.filter((p) => !p.drop).map((p) => p.s).join('');
      const bytes = Buffer.from(input, 'latin1');
      const chunks: Buffer[] = [];
      for (let at = 0, i = 0; at < bytes.length; i++) {
        const n = cuts[i % cuts.length];
        chunks.push(bytes.subarray(at, at + n));
        at += n;
      }
      const { out, dropped } = await filter(chunks);
      assert.equal(out, expected);
      assert.equal(dropped.length, pieces.filter((p) => p.drop).length);
    }),
    { numRuns: RUNS, seed },
  );
});

test('\\restrict lines of pg_dump 17.6+ are dropped only for a psql that predates them', async () => {
  const sql = '\\restrict abc123XYZ\nSET statement_timeout = 0;\nCREATE TABLE t (id int);\n\\unrestrict abc123XYZ\n';
  assert.equal((await filter([sql])).out, sql);
  const old = await filter([sql], true);
  assert.equal(old.out, 'SET statement_timeout = 0;\nCREATE TABLE t (id int);\n');
  assert.deepEqual(old.dropped, ['\\restrict abc123XYZ', '\\unrestrict abc123XYZ']);
  for (const v of ['15.14', '15.18', '16.10', '17.6', '18.0', '13.22', '14.19']) assert.ok(psqlKnowsRestrict(v), v);
  for (const v of ['15.13', '16.9', '17.5', '13.21', '12.22', '9.6']) assert.ok(!psqlKnowsRestrict(v), v);
});
