import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readConfig, InputError, parseSize, artifactNameFor, urlProblem, type InputGetter } from '../src/inputs.ts';

const base = { contract: 'M123456-abcdef', email: 'john@example.com', target: '18.0', dump: 'db.dump' };
const getter = (inputs: Record<string, string>): InputGetter => (name) => inputs[name];
const read = (inputs: Record<string, string>, env: NodeJS.ProcessEnv = { RUNNER_TEMP: '/tmp/rt' }) => readConfig(getter(inputs), env);

function problemsOf(inputs: Record<string, string>): string[] {
  try {
    read(inputs);
  } catch (e) {
    assert.ok(e instanceof InputError, `expected InputError, got ${e}`);
    return e.problems;
  }
  assert.fail('expected the inputs to be refused');
}

test('a minimal v1 config gets the interface defaults', () => {
  const c = read(base);
  assert.equal(c.aim, 'test');
  assert.equal(c.api, 'auto');
  assert.equal(c.platformUrl, 'https://upgrade.odoo.com');
  assert.equal(c.uploadMethod, 'auto');
  assert.equal(c.sftpThreshold, 512 * 1024 * 1024);
  assert.equal(c.wait, true);
  assert.equal(c.pollIntervalSeconds, 30);
  assert.equal(c.timeoutMinutes, 330);
  assert.equal(c.download, 'archive');
  assert.equal(c.outputDir, '/tmp/rt/odoo-upgrade');
  assert.equal(c.artifactName, 'odoo-upgraded-{stem}-{target}');
  assert.equal(c.summary, true);
  assert.equal(c.prComment, false);
  assert.deepEqual(c.source, { kind: 'path', path: 'db.dump' });
});

test('an empty artifact-name disables the artifact; unset keeps the default', () => {
  assert.equal(read({ ...base, 'artifact-name': '' }).artifactName, '');
  assert.equal(read(base).artifactName, 'odoo-upgraded-{stem}-{target}');
});

test('bad inputs are all named at once', () => {
  const problems = problemsOf({ ...base, aim: 'prod', target: '18', wait: 'yes', 'poll-interval': '0' });
  assert.equal(problems.length, 4);
  assert.match(problems.join('\n'), /`aim`.*`test`, `production`/);
  assert.match(problems.join('\n'), /`target`/);
  assert.match(problems.join('\n'), /`wait` must be `true` or `false`/);
  assert.match(problems.join('\n'), /`poll-interval` must be a whole number from 1 to 3600/);
});

test('YAML 1.2 core boolean spellings are accepted', () => {
  for (const [v, want] of [['true', true], ['True', true], ['TRUE', true], ['false', false], ['False', false], ['FALSE', false]] as const) {
    assert.equal(read({ ...base, wait: v }).wait, want);
  }
  for (const v of ['yes', 'on', '1', 'tru']) assert.match(problemsOf({ ...base, wait: v })[0], /`wait`/);
});

test('exactly one dump source, unless resuming', () => {
  assert.match(problemsOf({ ...base, 'dump-url': 'https://x.example/a.dump' })[0], /exactly one of .*`dump` and `dump-url`/);
  assert.match(problemsOf({ contract: 'M1', email: 'a@b.co', target: '18.0' })[0], /No dump given/);
  const c = read({ 'request-id': '42', 'request-key': 'Aw7pItGVKFuZ_FOR3U8VFQ==' });
  assert.deepEqual(c.resume, { id: '42', key: 'Aw7pItGVKFuZ_FOR3U8VFQ==' });
  assert.equal(c.source, undefined);
});

test('resume needs both id and key', () => {
  assert.match(problemsOf({ 'request-id': '42' })[0], /`request-id` was given without `request-key`/);
  assert.match(problemsOf({ 'request-key': 'abcdabcd' })[0], /`request-key` was given without `request-id`/);
});

test('contract, target and email are required for a new request', () => {
  const p = problemsOf({ dump: 'x.dump' }).join('\n');
  assert.match(p, /`contract` is required/);
  assert.match(p, /`target` is required/);
  assert.match(p, /`email` is required/);
  // rpc does not need an email
  assert.doesNotThrow(() => read({ contract: 'M1x', target: '18.0', dump: 'x.dump', api: 'rpc' }));
});

test('platform-url: https, or http on loopback only, no credentials', () => {
  assert.equal(read({ ...base, 'platform-url': 'http://127.0.0.1:8069/' }).platformUrl, 'http://127.0.0.1:8069');
  assert.match(problemsOf({ ...base, 'platform-url': 'http://upgrade.odoo.com' })[0], /`platform-url` must use https/);
  assert.match(problemsOf({ ...base, 'platform-url': 'https://u:p@upgrade.odoo.com' })[0], /credentials/);
  assert.match(problemsOf({ ...base, 'platform-url': 'not a url' })[0], /`platform-url` must be an absolute URL/);
  assert.match(problemsOf({ ...base, 'platform-url': 'https://upgrade.odoo.com/database' })[0], /base URL/);
});

test('sizes and thresholds', () => {
  assert.equal(parseSize('512MiB'), 512 * 1024 ** 2);
  assert.equal(parseSize('1 GiB'), 1024 ** 3);
  assert.equal(parseSize('100'), 100);
  assert.equal(parseSize('1.5KiB'), 1536);
  assert.equal(parseSize('12MB'), undefined);
  assert.match(problemsOf({ ...base, 'sftp-threshold': 'big' })[0], /`sftp-threshold`/);
});

test('retention 1 to 90, filename without separators, env-vars NAME=value', () => {
  assert.equal(read({ ...base, 'artifact-retention-days': '7' }).artifactRetentionDays, 7);
  assert.match(problemsOf({ ...base, 'artifact-retention-days': '91' })[0], /`artifact-retention-days` must be a whole number from 1 to 90/);
  assert.match(problemsOf({ ...base, filename: '../x.dump' })[0], /`filename`/);
  assert.deepEqual(read({ ...base, 'env-vars': 'A=1\n# c\n\nB_2=x=y' }).envVars, ['A=1', 'B_2=x=y']);
  assert.match(problemsOf({ ...base, 'env-vars': 'not a var' })[0], /`env-vars`/);
});

test('ssh-private-key must look like a private key', () => {
  assert.match(problemsOf({ ...base, 'ssh-private-key': 'ssh-ed25519 AAAA' })[0], /`ssh-private-key`/);
});

test('artifact names are filled in and made safe', () => {
  assert.equal(artifactNameFor('odoo-upgraded-{stem}-{target}', 'prod.sql.gz', 'saas~18.2'), 'odoo-upgraded-prod-saas-18.2');
  assert.equal(artifactNameFor('x-{stem}', 'db.dump', '18.0'), 'x-db');
});

test('urlProblem accepts https and loopback http only', () => {
  assert.equal(urlProblem('https://s3.example.com/a?sig=1', false), undefined);
  assert.equal(urlProblem('http://localhost:9/a', false), undefined);
  assert.match(urlProblem('ftp://x/y', false) ?? '', /https/);
});
