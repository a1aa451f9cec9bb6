// scripts/fleet-summary.mjs, the fleet recipe's list check and table, run as the workflow runs
// it (a child process): every kind of bad list refused with its reason, hostile record text
// kept out of the table's markup, missing and unreadable records counted as failures.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './support/action.ts';

const SCRIPT = path.join(ROOT, 'scripts', 'fleet-summary.mjs');
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fleet-summary-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function script(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...args], { env: { PATH: process.env.PATH ?? '', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr });
    });
  });
}

async function listFile(name: string, content: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

test('matrix: a good list becomes one line of JSON in the `databases` output, keys in a fixed order', async () => {
  const file = await listFile('good.json', {
    databases: [
      { name: 'acme', target: '18.0', 'dump-database-secret': 'FLEET_DB_ACME' },
      { target: 'saas~18.2', name: 'b.2_x', 'dump-url': 'https://files.example.com/b.dump' },
    ],
  });
  const out = path.join(dir, 'out-good');
  await writeFile(out, '');
  const r = await script(['matrix', file], { GITHUB_OUTPUT: out });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    await readFile(out, 'utf8'),
    'databases=[{"name":"acme","target":"18.0","dump-database-secret":"FLEET_DB_ACME"},{"name":"b.2_x","target":"saas~18.2","dump-url":"https://files.example.com/b.dump"}]\n',
  );
  assert.match(r.stderr, /2 databases: acme, b\.2_x/);
  // A bare list is accepted too; without GITHUB_OUTPUT the line goes to stdout.
  const bare = await script(['matrix', await listFile('bare.json', [{ name: 'x', target: '17.0', 'dump-url': 'https://h/x' }])]);
  assert.equal(bare.stdout, '[{"name":"x","target":"17.0","dump-url":"https://h/x"}]\n');
});

test('matrix: every problem of a bad list is named at once, and nothing is written', async () => {
  const cases: Array<[unknown, RegExp]> = [
    ['{not json', /is not JSON/],
    [{ databases: [] }, /lists no database/],
    [{ dbs: [] }, /must hold \{"databases"/],
    [{ databases: Array.from({ length: 257 }, (_, i) => ({ name: `d${i}`, target: '18.0', 'dump-url': 'https://h/d' })) }, /at most 256/],
    [{ databases: [{ name: 'a b', target: '18.0', 'dump-url': 'https://h/d' }] }, /"name" must be/],
    [{ databases: [{ name: 'a', target: '18.0', 'dump-url': 'https://h/d' }, { name: 'A', target: '18.0', 'dump-url': 'https://h/d' }] }, /used twice/],
    [{ databases: [{ name: 'a', target: 'latest', 'dump-url': 'https://h/d' }] }, /"target" must be an Odoo version/],
    [{ databases: [{ name: 'a', target: '18.0' }] }, /exactly one dump source .* \(got none\)/],
    [{ databases: [{ name: 'a', target: '18.0', 'dump-url': 'https://h/d', 'dump-database-secret': 'S' }] }, /got dump-database-secret and dump-url/],
    [{ databases: [{ name: 'a', target: '18.0', 'dump-database-secret': 'postgresql://u:pw@h/db' }] }, /the NAME of a repository secret/],
    [{ databases: [{ name: 'a', target: '18.0', 'dump-database-secret': 'GITHUB_TOKEN' }] }, /the NAME of a repository secret/],
    [{ databases: [{ name: 'a', target: '18.0', 'dump-url': 'http://h/d' }] }, /must be an https:\/\/ URL/],
    [{ databases: [{ name: 'a', target: '18.0', 'dump-url': 'https://h/d?sig=abc' }] }, /carries a credential/],
    [{ databases: [{ name: 'a', target: '18.0', 'dump-url': 'https://h/d', dump: 'x' }] }, /unknown key "dump"/],
  ];
  for (const [i, [content, want]] of cases.entries()) {
    const out = path.join(dir, `out-bad-${i}`);
    await writeFile(out, '');
    const r = await script(['matrix', await listFile(`bad-${i}.json`, content)], { GITHUB_OUTPUT: out });
    assert.equal(r.code, 2, `${want}: ${r.stderr}`);
    assert.match(r.stderr, want);
    assert.equal(await readFile(out, 'utf8'), '', 'no matrix from a bad list');
  }
  // Several problems: all of them, one a line.
  const many = await script(['matrix', await listFile('many.json', { databases: [{ name: '-x', target: '1', 'dump-url': 'ftp://x' }] })]);
  assert.equal(many.stderr.trim().split('\n').length, 3, many.stderr);
});

test('summary: one row per database of the list; hostile text stays text; a missing or unreadable record fails the job', async () => {
  const list = await listFile('fleet.json', {
    databases: [
      { name: 'acme', target: '18.0', 'dump-database-secret': 'A' },
      { name: 'globex', target: '18.0', 'dump-database-secret': 'G' },
      { name: 'initech', target: '17.0', 'dump-url': 'https://h/i' },
      { name: 'umbrella', target: '17.0', 'dump-url': 'https://h/u' },
    ],
  });
  const records = path.join(dir, 'records');
  const put = async (name: string, content: unknown) => {
    await mkdir(path.join(records, `fleet-result-${name}`), { recursive: true });
    await writeFile(path.join(records, `fleet-result-${name}`, 'odoo-upgrade-result.json'), typeof content === 'string' ? content : JSON.stringify(content));
  };
  const base = { schema: 1, tool: 'odoo-upgrade-action', aim: 'test', repository: 'acme/erp', runId: 77, dump: {} };
  await put('acme', { ...base, requestId: '101', target: '18.0', state: 'done', phase: 'success', startedAt: '2026-12-01T03:00:00Z', finishedAt: '2026-12-01T04:12:30Z', upgradedBytes: 2254857830 });
  await put('globex', { ...base, requestId: '102', target: '18.0', state: 'fa|led\n## injected', phase: 'failure', message: 'boom <script>alert(1)</script> | x', finishedAt: '2026-12-01T03:05:00Z' });
  await put('initech', '{"truncated');
  // umbrella: no record at all (its job was cancelled before storing one)
  const summaryFile = path.join(dir, 'summary.md');
  await writeFile(summaryFile, '');
  const r = await script(['summary', list, records], { GITHUB_STEP_SUMMARY: summaryFile, GITHUB_SERVER_URL: 'https://ghes.example.com/' });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /3 of 4 upgrades failed: globex, initech, umbrella/);
  const md = await readFile(summaryFile, 'utf8');
  assert.equal(md, r.stdout, 'the same table in the job summary and the log');
  assert.match(md, /^### Odoo upgrade fleet: 1 of 4 upgraded$/m);
  const rows = md.split('\n').filter((l) => l.startsWith('| ✅') || l.startsWith('| ❌'));
  assert.deepEqual(rows, [
    '| ✅ | acme | done | 101 | 1 h 12 min | 2.1 GiB | [run 77](https://ghes.example.com/acme/erp/actions/runs/77) |',
    '| ❌ | globex | fa\\|led ## injected | 102 | — | — | [run 77](https://ghes.example.com/acme/erp/actions/runs/77) |',
    '| ❌ | initech | no result | — | — | — | — |',
    '| ❌ | umbrella | no result | — | — | — | — |',
  ]);
  assert.ok(!/^## injected/m.test(md), 'no heading smuggled in');
  assert.ok(md.includes('boom \\<script\\>alert(1)\\</script\\> \\| x'), md);
  assert.match(md, /- \*\*initech\*\*: odoo-upgrade-result\.json of "initech" is unreadable/);
  assert.match(md, /- \*\*umbrella\*\*: no odoo-upgrade-result\.json in artifact "fleet-result-umbrella"/);

  // All well: exit 0.
  const one = await listFile('one.json', { databases: [{ name: 'acme', target: '18.0', 'dump-database-secret': 'A' }] });
  const ok = await script(['summary', one, records]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /1 of 1 upgraded/);
  assert.match(ok.stdout, /\[run 77\]\(https:\/\/github\.com\/acme\/erp\/actions\/runs\/77\)/);
  assert.equal((await script(['nonsense'])).code, 2);
});
