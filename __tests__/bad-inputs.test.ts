// Malformed inputs: each set fails naming the input, nothing reaches the platform, and every
// secret input is masked before anything else is printed (issue 13). readConfig alone for
// the messages; the whole pipeline in-process for masks and requests; two through the bundle.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readConfig, InputError } from '../src/inputs.ts';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { runAction, type ActionRun } from './support/action.ts';
import { runPipeline, fakePlatforms, trustCA, type PipelineRun } from './support/pipeline.ts';
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

// ---- masks first: the secret inputs the README lists, every one masked before any other line

const SECRET_INPUT_NAMES = ['contract', 'request-key', 'github-token', 'dump-url', 'dump-url-headers', 'dump-database', 'restore-database', 'ssh-private-key'];
// Secret inputs that keep a valid set valid (cases that change one of them win).
const SECRETS: Record<string, string> = {
  'github-token': 'ghs_0123456789abcdefMASKME',
  'restore-database': "host=127.0.0.1 dbname=restored user=odoo password='re store pw'",
  'ssh-private-key': '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAAAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIMASK\n-----END OPENSSH PRIVATE KEY-----',
};

/** The masks a secret input's raw value must produce: the value (line by line for a key; each value of header lines). */
function masksOf(name: string, value: string): string[] {
  const lines = value.trim().split(/\r?\n/).map((l) => l.trim());
  const parts = name === 'dump-url-headers' ? lines.filter((l) => l.includes(':')).map((l) => l.slice(l.indexOf(':') + 1).trim()) : lines;
  return parts.filter((l) => l.length >= 4);
}

/** Every secret input given is masked, and every mask comes before the first other line. */
function assertMasksFirst(lines: string[], given: Record<string, string | undefined>, what: string): void {
  const firstOther = lines.findIndex((l) => !l.startsWith('::add-mask::'));
  assert.ok(firstOther >= 0, `${what}: the run printed nothing but masks`);
  const errorAt = lines.findIndex((l) => l.startsWith('::error::'));
  assert.ok(errorAt >= firstOther, `${what}: no error line after the masks:\n${lines.join('\n')}`);
  for (const name of SECRET_INPUT_NAMES) {
    const value = given[name];
    if (!value) continue;
    for (const mask of masksOf(name, value)) {
      const at = lines.indexOf(`::add-mask::${mask.replace(/%/g, '%25')}`);
      assert.ok(at >= 0 && at < firstOther, `${what}: input \`${name}\` is not masked before the first other line (${lines[firstOther]}):\n${lines.slice(0, firstOther + 1).join('\n')}`);
    }
  }
}

test(`in-process: each of the ${CASES.length} sets masks every secret input first, then fails naming its input, with no request`, async () => {
  for (const [what, changes, input] of CASES) {
    const all: Record<string, string | undefined> = { ...BASE, ...SECRETS, ...changes };
    const given = Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined));
    const platforms = fakePlatforms({});
    const run: PipelineRun = await runPipeline({ inputs: given, platforms });
    try {
      assert.equal(run.code, 1, `${what}: ${run.stdout}`);
      assertMasksFirst(run.lines, given, what);
      const errors = run.lines.filter((l) => l.startsWith('::error::')).join('\n');
      assert.ok(new RegExp(`\`${input}(\`|:)`).test(errors), `${what}: the error must name \`${input}\`: ${errors}`);
      assert.equal(platforms.made.length, 0, `${what}: a platform client was made`);
      for (const name of SECRET_INPUT_NAMES) {
        for (const mask of given[name] ? masksOf(name, given[name]) : []) {
          assert.ok(!run.summary.includes(mask), `${what}: the summary shows \`${name}\``);
        }
      }
    } finally {
      await run.cleanup();
    }
  }
});

test('masks cover the secret parts of URLs, header lines and connection strings, before a refusal', async () => {
  const given: Record<string, string> = {
    ...BASE,
    dump: '',
    aim: 'prod', // refused
    'dump-url': 'https://reader:p%40ss-w0rd@files.example.com/db.dump?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=f00dfeedbeef',
    'dump-url-headers': 'Authorization: Bearer tok-0123456789\nX-Api-Key: apikey-98765',
    'dump-database': "host=db.example.com user=odoo password='s3cr et!'",
    'request-key': 'Aw7pItGVKFuZ_FOR3U8VFQ==',
  };
  const run = await runPipeline({ inputs: given, platforms: fakePlatforms({}) });
  try {
    assert.equal(run.code, 1);
    const firstOther = run.lines.findIndex((l) => !l.startsWith('::add-mask::'));
    const masks = new Set(run.lines.slice(0, firstOther).map((l) => l.slice('::add-mask::'.length)));
    for (const part of [
      given['dump-url'],
      'reader:p%2540ss-w0rd', // the userinfo as written (the runner's escaping of %)
      'p@ss-w0rd',
      'X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=f00dfeedbeef',
      'AKIAEXAMPLE',
      'f00dfeedbeef',
      'Bearer tok-0123456789',
      'tok-0123456789',
      'apikey-98765',
      's3cr et!',
      'Aw7pItGVKFuZ_FOR3U8VFQ==',
      encodeURIComponent('Aw7pItGVKFuZ_FOR3U8VFQ=='),
      'M123456-abcdef',
    ]) {
      assert.ok(masks.has(part.replace(/%(?!25)/g, '%25')) || masks.has(part), `not masked first: ${part}\nmasks: ${[...masks].join(' | ')}`);
    }
    assert.match(run.lines.find((l) => l.startsWith('::error::')) ?? '', /`aim`/);
  } finally {
    await run.cleanup();
  }
});

// ---- failures found while running (files, guards): in-process against the emulator over real
// sockets, and two through the bundle; no request may reach the platform

let emu: Emulator; // HTTPS, for the bundle and the in-process runs (its CA trusted in this process)
let dir: string;
let goodDump: string;

before(async () => {
  // No PostgreSQL: no request may even be made.
  emu = await startEmulator({ tls: true, postgres: false });
  await trustCA(emu.caFile!);
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

const RUN_CASES: Array<[string, Record<string, string>, RegExp]> = [
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
if (process.getuid?.() !== 0) RUN_CASES.push(['unreadable file', { dump: 'locked.sql' }, /locked\.sql|permission/i]);

function runInputs(server: Emulator, changes: Record<string, string>): Record<string, string> {
  const inputs: Record<string, string> = {
    contract: 'M123456-abcdef', email: 'ci@example.com', target: '18.0', 'platform-url': server.url, 'poll-interval': '1', 'artifact-name': '',
    dump: goodDump, ...SECRETS, ...changes,
  };
  if (inputs.dump && !path.isAbsolute(inputs.dump)) inputs.dump = path.join(dir, inputs.dump);
  return inputs;
}

function assertRefused(run: PipelineRun | ActionRun, server: Emulator, count: number, given: Record<string, string>, expected: RegExp, what: string) {
  assert.equal(run.code, 1, run.stdout);
  const lines = run.stdout.split('\n');
  assertMasksFirst(lines, given, what);
  const errors = lines.filter((l) => l.startsWith('::error')).join('\n');
  assert.match(errors, expected, run.stdout);
  assert.equal(server.records.length, count, `requests reached the platform: ${server.records.slice(count).map((r) => r.method)}`);
}

for (const [what, changes, expected] of RUN_CASES) {
  test(`in-process: ${what} fails before any request reaches the platform, secrets masked first`, async () => {
    const count = emu.records.length;
    const given = runInputs(emu, changes);
    // The real protocol clients, the real dump sources and inspection: only the runner is simulated.
    const run = await runPipeline({ inputs: given, env: { GITHUB_REPOSITORY: '' } });
    try {
      assertRefused(run, emu, count, given, expected, what);
    } finally {
      await run.cleanup();
    }
  });
}

for (const [what, changes, expected] of RUN_CASES.filter(([w]) => w === 'bad aim and target' || w === 'missing file')) {
  test(`bundle smoke: ${what} fails before any request reaches the platform, secrets masked first`, async () => {
    const count = emu.records.length;
    const given = runInputs(emu, changes);
    const run = await runAction({ inputs: given, env: { NODE_EXTRA_CA_CERTS: emu.caFile! }, timeoutMs: 30_000 });
    try {
      assertRefused(run, emu, count, given, expected, what);
    } finally {
      await run.cleanup();
    }
  });
}
