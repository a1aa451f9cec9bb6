// The tests' PostgreSQL starter (support/postgres.ts): a major is initdb'd once into a cached
// template that every server copies. Two test processes starting the same major at once, on an
// empty cache, both get a working server and leave one template; servers do not share data;
// stop() ends the server by its PID and removes its files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, sqlOn, serverBin } from './support/postgres.ts';

const run = promisify(execFile);
const MAJOR = 16;
let cache: string;
const saved = process.env.ODOO_UPGRADE_PG_TEMPLATES;

before(async () => {
  cache = await mkdtemp(path.join(tmpdir(), 'pg-templates-'));
  await chmod(cache, 0o755); // under root, initdb runs as an unprivileged user that must reach in
  process.env.ODOO_UPGRADE_PG_TEMPLATES = cache;
});

after(async () => {
  if (saved === undefined) delete process.env.ODOO_UPGRADE_PG_TEMPLATES;
  else process.env.ODOO_UPGRADE_PG_TEMPLATES = saved;
  await rm(cache, { recursive: true, force: true });
});

const skip = (await serverBin(MAJOR)) ? false : `no PostgreSQL ${MAJOR} server here`;

test('two processes start the same major at once on an empty cache: both servers work, one template is left', { skip }, async () => {
  const support = new URL('./support/postgres.ts', import.meta.url).href;
  // Another process and this one, at the same moment; each makes a database of its own name.
  const script = `
    const { startServer, sqlOn } = await import(${JSON.stringify(support)});
    const s = await startServer(${MAJOR});
    await sqlOn(s, 'postgres', 'CREATE DATABASE one_db');
    console.log(s.version + ' ' + await sqlOn(s, 'postgres', "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname NOT LIKE 'template%'"));
    await s.stop();`;
  const other = run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ODOO_UPGRADE_PG_TEMPLATES: cache } });
  const mine = (async () => {
    const s = await startServer(MAJOR);
    try {
      await sqlOn(s, 'postgres', 'CREATE DATABASE two_db');
      return `${s.version} ${await sqlOn(s, 'postgres', "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname NOT LIKE 'template%'")}`;
    } finally {
      await s.stop();
    }
  })();
  const outs = [(await other).stdout.trim(), await mine];
  // Each server holds only its own database besides `postgres` (names sorted in the C locale).
  assert.match(outs[0]!, new RegExp(`^${MAJOR}\\.\\d+ one_db,postgres$`), outs[0]);
  assert.match(outs[1]!, new RegExp(`^${MAJOR}\\.\\d+ postgres,two_db$`), outs[1]);
  const left = await readdir(cache);
  assert.equal(left.length, 1, `one template, no half-made folder: ${left.join(' ')}`);
  assert.match(left[0]!, new RegExp(`^${MAJOR}-`));
});

test('a server from the template: its own data, stopped by PID, its files removed', { skip }, async () => {
  const before = await readdir(cache);
  const s = await startServer(MAJOR);
  let stopped = false;
  try {
    assert.deepEqual(await readdir(cache), before, 'the template was reused, not made again');
    assert.equal(await sqlOn(s, 'postgres', "SELECT count(*) FROM pg_database WHERE datname IN ('one_db', 'two_db')"), '0');
    assert.equal(await sqlOn(s, 'postgres', 'SHOW fsync'), 'off');
    const dataDir = await sqlOn(s, 'postgres', 'SHOW data_directory');
    assert.ok(!dataDir.startsWith(cache), `the server runs on a copy (${dataDir})`);
    process.kill(s.pid, 0); // alive
    await s.stop();
    stopped = true;
    assert.throws(() => process.kill(s.pid, 0), { code: 'ESRCH' });
    assert.equal(existsSync(dataDir), false, 'its data directory is gone');
    await assert.rejects(sqlOn(s, 'postgres', 'SELECT 1'), /connection|refused|could not connect/i);
  } finally {
    if (!stopped) await s.stop();
  }
});
