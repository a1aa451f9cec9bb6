// Real dumps into real servers of every supported major: PostgreSQL 13 to 18 from the npm
// registry (embedded-pg-N), the machine's client tools (Debian's 15). A 15-made plain,
// custom and directory dump restores into each; a plain dump as pg_dump 17+ writes it
// (`SET transaction_timeout = 0;`) restores into 15 with that line dropped and said; real
// data errors still fail; a dump from a newer pg_dump than the tools here, and dump-database
// against a newer server, fail with messages naming the versions and what to install.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServers, sqlOn, preferClientTools, MAJORS, ODOO_SCHEMA, type PgServer } from './support/postgres.ts';
import { restoreUpgraded } from '../src/postgres/restore.ts';
import { fromDatabase } from '../src/postgres/dump-source.ts';
import { contractFromDatabase, settleContract } from '../src/postgres/contract.ts';
import { SecretRegistry } from '../src/secrets.ts';
import { DumpError } from '../src/formats/inspect.ts';

const run = promisify(execFile);
const servers = new Map<number, PgServer>();
let dir: string;
let client: string;
const dumps: Record<'plain' | 'custom' | 'directory', string> = { plain: '', custom: '', directory: '' };

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'restore-majors-'));
  client = await preferClientTools(); // the real psql/pg_dump, not Debian's Perl wrapper, for the code under test too
  // Every major at once, each from its initdb'd template.
  for (const [major, s] of await startServers(MAJORS)) servers.set(major, s);
  // The source: an Odoo-like database on the 15 server, dumped once in each format by the machine's pg_dump 15.
  const src = servers.get(15)!;
  await sqlOn(src, 'postgres', 'CREATE DATABASE odoo_src');
  await run(path.join(client, 'psql'), ['-qX', '-v', 'ON_ERROR_STOP=1', '-d', src.uri('odoo_src'), '-c', ODOO_SCHEMA]);
  await Promise.all(
    ([['plain', 'p'], ['custom', 'c'], ['directory', 'd']] as const).map(([format, flag]) => {
      dumps[format] = path.join(dir, `src.${format}`);
      return run(path.join(client, 'pg_dump'), [`-F${flag}`, '--no-owner', '-f', dumps[format], '-d', src.uri('odoo_src')]);
    }),
  );
});

after(async () => {
  await Promise.all([...servers.values()].map((s) => s.stop()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

function collect() {
  const lines: string[] = [];
  return { lines, log: (l: string) => lines.push(l) };
}

const quiet = () => new SecretRegistry(() => {});

// The majors are independent (one server each): restore into all of them at once.
describe('15-made dumps into every major', { concurrency: true }, () => {
  for (const major of MAJORS) {
    test(`15-made plain, custom and directory dumps restore into PostgreSQL ${major}`, async () => {
      const server = servers.get(major)!;
      // The three formats at once: each into its own database, the server shared.
      await Promise.all(
        (['plain', 'custom', 'directory'] as const).map(async (format) => {
          const db = `r_${format}`;
          const out = collect();
          const r = await restoreUpgraded({ connection: server.uri(db), dump: dumps[format], log: out.log, secrets: quiet(), jobs: 2 });
          assert.equal(r.tables, 4, `${format} into ${major}`);
          // Partners, the first user's login and the large objects, in one psql run.
          const got = await sqlOn(server, db, 'SELECT (SELECT count(*) FROM res_partner), (SELECT login FROM res_users ORDER BY id LIMIT 1), (SELECT count(*) FROM pg_largeobject_metadata)');
          assert.equal(got, '300|admin|1', `${format} into ${major}`);
          const said = out.lines.join('\n');
          assert.match(said, new RegExp(`on PostgreSQL ${major}\\.\\d+`), said);
          assert.match(said, /made by pg_dump 15\.\d+/);
          if (format !== 'plain') assert.match(said, /pg_restore with 2 parallel jobs/);
          assert.ok(!said.includes(server.password), 'no password in the log');
        }),
      );
    });
  }
});

async function as17Writes(): Promise<string> {
  // pg_dump 17+ adds this line to the preamble; servers before 17 reject it.
  const text = await readFile(dumps.plain, 'utf8');
  assert.match(text, /^SET statement_timeout = 0;$/m);
  const file = path.join(dir, 'as-17.sql');
  await writeFile(file, text.replace(/^SET statement_timeout = 0;$/m, 'SET statement_timeout = 0;\nSET transaction_timeout = 0;'));
  return file;
}

test('a plain dump as pg_dump 17+ writes it (SET transaction_timeout) restores into a 15 server: the line is dropped and said', async () => {
  const file = await as17Writes();
  const server = servers.get(15)!;
  // Without the filter, psql with ON_ERROR_STOP stops at that line: the failure this fixes.
  await assert.rejects(
    run(path.join(client, 'psql'), ['-qX', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-d', server.uri('postgres'), '-f', file]),
    /unrecognized configuration parameter "transaction_timeout"/,
  );
  const out = collect();
  const r = await restoreUpgraded({ connection: server.uri('from_17'), dump: file, log: out.log, secrets: quiet() });
  assert.equal(r.tables, 4);
  assert.equal(await sqlOn(server, 'from_17', 'SELECT count(*) FROM res_partner'), '300');
  const dropped = out.lines.filter((l) => /^Dropped/.test(l));
  assert.equal(dropped.length, 1, out.lines.join('\n'));
  assert.match(dropped[0], /Dropped `SET transaction_timeout = 0;` from the dump: PostgreSQL 15\.\d+ has no setting "transaction_timeout"/);

  // Into 17, which knows the setting, nothing is dropped.
  const out17 = collect();
  await restoreUpgraded({ connection: servers.get(17)!.uri('from_17'), dump: file, log: out17.log, secrets: quiet() });
  assert.ok(!out17.lines.some((l) => /^Dropped/.test(l)), out17.lines.join('\n'));
});

test('a real error in the data still fails the restore, and the half-made database is dropped', async () => {
  const file = path.join(dir, 'broken.sql');
  const text = await readFile(await as17Writes(), 'utf8');
  await writeFile(file, text.replace(/^(COPY public\.res_partner .*FROM stdin;\n)/m, '$1not-a-number\tx\ty\tz\n'));
  const server = servers.get(14)!;
  const out = collect();
  await assert.rejects(
    restoreUpgraded({ connection: server.uri('broken'), dump: file, log: out.log, secrets: quiet() }),
    (err: Error) => /psql failed/.test(err.message) && /invalid input syntax for type integer/.test(err.message),
  );
  assert.equal(await sqlOn(server, 'postgres', "SELECT count(*) FROM pg_database WHERE datname = 'broken'"), '0');
  assert.ok(out.lines.some((l) => /dropped the database "broken" this run created/.test(l)), out.lines.join('\n'));
});

test('a custom dump from a newer pg_dump than the tools here: says which version is needed, before touching the server', async () => {
  const buf = await readFile(dumps.custom);
  const { stdout } = await run(path.join(client, 'pg_dump'), ['--version']);
  const mine = /\(PostgreSQL\) (\d+)\.(\d+)/.exec(stdout)!;
  const at = buf.indexOf(Buffer.from(`${mine[1]}.${mine[2]} (`)); // the pg_dump version string (Debian adds a suffix)
  const from = at >= 0 ? at : buf.lastIndexOf(Buffer.from(`${mine[1]}.${mine[2]}`));
  assert.ok(from > 0);
  buf.write('99', from, 'latin1'); // same length: pg_dump "99.x"
  const file = path.join(dir, 'from-99.dump');
  await writeFile(file, buf);
  const server = servers.get(16)!;
  await assert.rejects(restoreUpgraded({ connection: server.uri('never_made'), dump: file, log: () => {}, secrets: quiet() }), (err: Error) => {
    assert.match(err.message, /made by pg_dump 99/);
    assert.match(err.message, new RegExp(`pg_restore ${mine[1]}\\.${mine[2]}`));
    assert.match(err.message, /client tools 99 or newer are needed/);
    assert.match(err.message, /postgresql-client-99/);
    return true;
  });
  assert.equal(await sqlOn(server, 'postgres', "SELECT count(*) FROM pg_database WHERE datname = 'never_made'"), '0');
});

for (const major of [17, 18]) {
  test(`dump-database against a PostgreSQL ${major} server with older client tools: names both versions and what to install`, async () => {
    const server = servers.get(major)!;
    const reg = quiet();
    const out = collect();
    const work = await mkdtemp(path.join(dir, 'dd-'));
    const err = await fromDatabase({ connection: server.uri('postgres'), format: 'custom', workDir: work, log: out.log, secrets: reg }).then(
      () => assert.fail('pg_dump should refuse a newer server'),
      (e: Error) => e,
    );
    assert.ok(err instanceof DumpError, String(err));
    assert.match(err.message, new RegExp(`pg_dump 15\\.\\d+ is older than the server \\(PostgreSQL ${major}\\.\\d+\\)`));
    assert.match(err.message, new RegExp(`postgresql-client-${major}`));
    assert.ok(!err.message.includes(server.password));
  });
}

test('the contract from the database: read, masked at once, used when the input is empty; a different input wins with a warning', async () => {
  const server = servers.get(16)!;
  await sqlOn(server, 'postgres', 'CREATE DATABASE odoo_contract');
  await sqlOn(server, 'odoo_contract', "CREATE TABLE ir_config_parameter (id serial, key varchar UNIQUE, value text); INSERT INTO ir_config_parameter (key, value) VALUES ('database.enterprise_code', 'M2026-secret-code'), ('web.base.url', 'http://x')");
  const printed: string[] = [];
  const reg = new SecretRegistry(() => {});
  const code = await contractFromDatabase({ connection: server.uri('odoo_contract'), log: (l) => printed.push(l), secrets: reg });
  assert.equal(code, 'M2026-secret-code');
  assert.equal(reg.redact('contract M2026-secret-code'), 'contract ***');

  const cfg = { contract: '', source: { kind: 'database', connection: server.uri('odoo_contract') } };
  const warnings: string[] = [];
  await settleContract(cfg, { log: (l) => printed.push(l), warn: (l) => warnings.push(l), secrets: reg });
  assert.equal(cfg.contract, 'M2026-secret-code');
  assert.ok(printed.some((l) => /Using the contract stored in the database/.test(l)));

  const given = { contract: 'M-other-input', source: cfg.source };
  await settleContract(given, { log: (l) => printed.push(l), warn: (l) => warnings.push(l), secrets: reg });
  assert.equal(given.contract, 'M-other-input');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /differs from the contract stored in the database.*using the input/);
  for (const l of [...printed, ...warnings]) assert.ok(!l.includes('M2026-secret-code') && !l.includes('M-other-input'), l);

  // Same code: no warning. No code at all and no input: a clear error.
  await settleContract({ contract: 'M2026-secret-code', source: cfg.source }, { log: () => {}, warn: (l) => warnings.push(l), secrets: reg });
  assert.equal(warnings.length, 1);
  await assert.rejects(
    settleContract({ contract: '', source: { kind: 'database', connection: server.uri('postgres') } }, { log: () => {}, warn: () => {}, secrets: reg }),
    /contract: the input is empty and the database holds no `database.enterprise_code`/,
  );
});

test('end to end, in-process: dump-database without `contract` uses the database\'s code, masked everywhere', async () => {
  // The pipeline in this process with the real protocol clients against the emulator over
  // real sockets; the bundle's own dump-database run is in examples.test.ts.
  const { startEmulator } = await import('../emulator/server.ts');
  const { runPipeline, FakeClock } = await import('./support/pipeline.ts');
  const { findLeaks } = await import('./support/action.ts');
  const server = servers.get(15)!;
  const code = 'M2026-from-the-db-7f3a9c';
  await sqlOn(server, 'odoo_src', `CREATE TABLE IF NOT EXISTS ir_config_parameter (id serial, key varchar UNIQUE, value text); INSERT INTO ir_config_parameter (key, value) VALUES ('database.enterprise_code', '${code}') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`);
  const emu = await startEmulator({ timing: { pendingMs: 100, processingMs: 200, testingMs: 100 } });
  try {
    const res = await runPipeline({
      inputs: { email: 'ci@example.com', target: '18.0', 'dump-database': server.uri('odoo_src'), 'platform-url': emu.url, 'poll-interval': '1', 'artifact-name': '', download: 'none' },
      env: { PATH: `${client}:${process.env.PATH}` },
      clock: new FakeClock(0.1),
    });
    try {
      assert.equal(res.code, 0, res.stdout);
      const reqs = [...emu.requests.values()];
      assert.equal(reqs.length, 1);
      assert.equal(reqs[0].contract, code, 'the platform got the code from the database');
      assert.match(res.stdout, /Using the contract stored in the database/);
      assert.match(res.stdout, new RegExp(`::add-mask::${code}`), 'masked as soon as it was read');
      assert.ok(res.stdout.indexOf(`::add-mask::${code}`) < res.stdout.indexOf('Using the contract stored in the database'), 'masked before it is mentioned');
      assert.deepEqual(findLeaks({ stdout: res.stdout.replace(/^::add-mask::.*$/gm, ''), summary: res.summary, outputs: JSON.stringify(res.outputs) }, [code, server.password]), []);
    } finally {
      await res.cleanup();
    }
  } finally {
    await emu.close();
  }
});
