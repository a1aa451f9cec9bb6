// Malformed inputs: each set fails naming the input, and nothing reaches the platform.
// Most go through readConfig (fast); a representative few through the real bundle.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readConfig, InputError } from '../src/inputs.ts';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { runAction } from './support/action.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';

const BASE: Record<string, string> = {
  contract: 'M123456-abcdef',
  email: 'ci@example.com',
  target: '18.0',
  dump: '/tmp/db.dump',
  'platform-url': 'https://upgrade.odoo.com',
};

// [what, changes (undefined = input absent), the input the message must name]
const CASES: Array<[string, Record<string, string | undefined>, string]> = [
  ['contract missing', { contract: undefined }, 'contract'],
  ['contract empty', { contract: '' }, 'contract'],
  ['contract blanks', { contract: '   ' }, 'contract'],
  ['target missing', { target: undefined }, 'target'],
  ['target empty', { target: '' }, 'target'],
  ['target word', { target: 'eighteen' }, 'target'],
  ['target with v', { target: 'v18.0' }, 'target'],
  ['target saas wrong', { target: 'saas-18.2' }, 'target'],
  ['target three parts', { target: '18.0.1' }, 'target'],
  ['email missing (v1)', { email: undefined }, 'email'],
  ['email no at', { email: 'ci.example.com' }, 'email'],
  ['email spaces', { email: 'c i@example.com' }, 'email'],
  ['aim prod', { aim: 'prod' }, 'aim'],
  ['aim upper', { aim: 'PRODUCTION' }, 'aim'],
  ['api v2', { api: 'v2' }, 'api'],
  ['platform-url http remote', { 'platform-url': 'http://upgrade.odoo.com' }, 'platform-url'],
  ['platform-url credentials', { 'platform-url': 'https://user:pw@upgrade.odoo.com' }, 'platform-url'],
  ['platform-url not a url', { 'platform-url': 'upgrade.odoo.com' }, 'platform-url'],
  ['platform-url ftp', { 'platform-url': 'ftp://upgrade.odoo.com' }, 'platform-url'],
  ['platform-url with query', { 'platform-url': 'https://upgrade.odoo.com/?x=1' }, 'platform-url'],
  ['platform-url with path', { 'platform-url': 'https://upgrade.odoo.com/database/v1' }, 'platform-url'],
  ['poll-interval word', { 'poll-interval': 'soon' }, 'poll-interval'],
  ['poll-interval zero', { 'poll-interval': '0' }, 'poll-interval'],
  ['poll-interval negative', { 'poll-interval': '-5' }, 'poll-interval'],
  ['poll-interval with unit', { 'poll-interval': '30s' }, 'poll-interval'],
  ['timeout-minutes fraction', { 'timeout-minutes': '1.5' }, 'timeout-minutes'],
  ['timeout-minutes huge', { 'timeout-minutes': '99999999' }, 'timeout-minutes'],
  ['sftp-threshold garbage', { 'sftp-threshold': 'big' }, 'sftp-threshold'],
  ['sftp-threshold bad unit', { 'sftp-threshold': '5MB' }, 'sftp-threshold'],
  ['sftp-threshold negative', { 'sftp-threshold': '-1GiB' }, 'sftp-threshold'],
  ['two sources', { 'dump-url': 'https://files.example.com/db.dump' }, 'dump-url'],
  ['three sources', { 'dump-artifact': 'db', 'dump-database': 'postgresql://u@h/db' }, 'dump-artifact'],
  ['no source', { dump: undefined }, 'dump'],
  ['dump-url http', { dump: undefined, 'dump-url': 'http://files.example.com/db.dump' }, 'dump-url'],
  ['dump-url credentials', { dump: undefined, 'dump-url': 'https://u:p@files.example.com/db.dump' }, 'dump-url'],
  ['dump-url relative', { dump: undefined, 'dump-url': 'files/db.dump' }, 'dump-url'],
  ['dump-url-headers alone', { 'dump-url-headers': 'Authorization: x' }, 'dump-url-headers'],
  ['dump-database not a connection', { dump: undefined, 'dump-database': 'my database' }, 'dump-database'],
  ['run id without artifact', { 'dump-artifact-run-id': '12' }, 'dump-artifact-run-id'],
  ['run id not digits', { dump: undefined, 'dump-artifact': 'db', 'dump-artifact-run-id': 'abc' }, 'dump-artifact-run-id'],
  ['repository bad shape', { dump: undefined, 'dump-artifact': 'db', 'dump-artifact-run-id': '1', 'dump-artifact-repository': 'nope' }, 'dump-artifact-repository'],
  ['repository without run id', { dump: undefined, 'dump-artifact': 'db', 'dump-artifact-repository': 'o/r' }, 'dump-artifact-repository'],
  ['resume id without key', { 'request-id': '123' }, 'request-key'],
  ['resume key without id', { 'request-key': 'k' }, 'request-id'],
  ['resume id garbage', { 'request-id': '12/../3', 'request-key': 'k' }, 'request-id'],
  ['retention zero', { 'artifact-retention-days': '0' }, 'artifact-retention-days'],
  ['retention 91', { 'artifact-retention-days': '91' }, 'artifact-retention-days'],
  ['retention word', { 'artifact-retention-days': 'week' }, 'artifact-retention-days'],
  ['wait yes', { wait: 'yes' }, 'wait'],
  ['summary 1', { summary: '1' }, 'summary'],
  ['pr-comment on', { 'pr-comment': 'on' }, 'pr-comment'],
  ['wipe with v1', { wipe: 'true', api: 'v1' }, 'wipe'],
  ['env-vars not NAME=value', { 'env-vars': 'just text' }, 'env-vars'],
  ['env-vars bad name', { 'env-vars': '1ABC=x' }, 'env-vars'],
  ['filename with slash', { filename: '../etc/passwd' }, 'filename'],
  ['filename dotdot', { filename: '..' }, 'filename'],
  ['filename backslash', { filename: 'a\\b.dump' }, 'filename'],
  ['upload-method ftp', { 'upload-method': 'ftp' }, 'upload-method'],
  ['download-via scp', { 'download-via': 'scp' }, 'download-via'],
  ['download zip', { download: 'zip' }, 'download'],
  ['download sql with rpc', { download: 'sql', api: 'rpc' }, 'download'],
  ['ssh key not a key', { 'ssh-private-key': 'hunter2' }, 'ssh-private-key'],
  ['timezone shell', { timezone: 'Europe/Brussels; rm -rf' }, 'timezone'],
  ['artifact-name slash', { 'artifact-name': 'a/b' }, 'artifact-name'],
  ['require-recent-test zero', { 'require-recent-test': '0' }, 'require-recent-test'],
];

function getter(changes: Record<string, string | undefined>) {
  const all: Record<string, string | undefined> = { ...BASE, ...changes };
  return (name: string) => all[name];
}

test(`${CASES.length} malformed input sets are refused, each naming its input`, () => {
  assert.ok(CASES.length >= 40);
  for (const [what, changes, input] of CASES) {
    let err: unknown;
    try {
      readConfig(getter(changes), { RUNNER_TEMP: '/tmp/runner' });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof InputError, `${what}: expected an InputError, got ${String(err)}`);
    assert.ok(new RegExp(`\`${input}(\`|:)`).test(err.message), `${what}: message must name \`${input}\`: ${err.message}`);
  }
});

test('the base set itself is valid (so each case fails for its own change)', () => {
  const cfg = readConfig(getter({}), { RUNNER_TEMP: '/tmp/runner' });
  assert.equal(cfg.target, '18.0');
});

// ---- the same through the bundle: no request may reach the platform

let emu: Emulator;
let dir: string;
let goodDump: string;

before(async () => {
  emu = await startEmulator({ tls: true });
  dir = await mkdtemp(path.join(tmpdir(), 'bad-inputs-'));
  goodDump = path.join(dir, 'db.sql');
  await writeSampleSqlDump(goodDump, 2_000);
  await mkdir(path.join(dir, 'a-directory'));
  await writeFile(path.join(dir, 'not-a-dump.sql'), 'hello, this is not SQL at all\n');
  await writeFile(path.join(dir, 'locked.sql'), 'SELECT 1;\n');
  await chmod(path.join(dir, 'locked.sql'), 0o000);
});

after(async () => {
  await emu?.close();
  await rm(dir, { recursive: true, force: true });
});

const BUNDLE_CASES: Array<[string, Record<string, string>, RegExp]> = [
  ['bad aim and target', { aim: 'prod', target: 'eighteen' }, /`aim`[\s\S]*`target`|`target`[\s\S]*`aim`/],
  ['credentialed platform-url', { 'platform-url': 'https://u:p@127.0.0.1:1' }, /`platform-url`/],
  ['two sources', { 'dump-url': 'https://127.0.0.1:1/x.dump' }, /exactly one/],
  ['resume without key', { 'request-id': '10535' }, /`request-key`/],
  ['missing file', { dump: '/nonexistent/db.dump' }, /\/nonexistent\/db\.dump|`dump`/],
  ['a directory as dump with v1', { dump: 'a-directory', api: 'v1' }, /director/i],
  ['a file that is no dump', { dump: 'not-a-dump.sql' }, /`dump`|dump/],
  ['retention out of range', { 'artifact-retention-days': '365' }, /`artifact-retention-days`/],
  // Outside a GitHub job there is no repository to look for a test upgrade in: refused before any network call
  // (the GitHub fake cases, found / not found / 401, are in recent-test.test.ts).
  ['production with require-recent-test and no repository', { aim: 'production', 'require-recent-test': '7' }, /`require-recent-test`.*GITHUB_REPOSITORY is not set/],
];
if (process.getuid?.() !== 0) BUNDLE_CASES.push(['unreadable file', { dump: 'locked.sql' }, /locked\.sql|permission/i]);

for (const [what, changes, expected] of BUNDLE_CASES) {
  test(`bundle: ${what} fails before any request reaches the platform`, async () => {
    const count = emu.records.length;
    const inputs: Record<string, string> = {
      contract: 'M123456-abcdef', email: 'ci@example.com', target: '18.0', 'platform-url': emu.url, 'poll-interval': '1', 'artifact-name': '',
      dump: goodDump, ...changes,
    };
    if (inputs.dump && !path.isAbsolute(inputs.dump)) inputs.dump = path.join(dir, inputs.dump);
    const run = await runAction({ inputs, env: { NODE_EXTRA_CA_CERTS: emu.caFile! }, timeoutMs: 30_000 });
    try {
      assert.equal(run.code, 1, run.stdout + run.stderr);
      const errors = run.stdout.split('\n').filter((l) => l.startsWith('::error')).join('\n');
      assert.match(errors, expected, run.stdout);
      assert.equal(emu.records.length, count, `requests reached the platform: ${emu.records.slice(count).map((r) => r.method)}`);
    } finally {
      await run.cleanup();
    }
  });
}
