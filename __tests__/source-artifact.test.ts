// The `dump-artifact` source drives the real @actions/artifact (Twirp for this run, REST +
// 302 for other runs, raw and zipped blobs) over loopback sockets against the GitHub fake.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startGitHubFake, type GitHubFake } from '../emulator/github.ts';
import { readZip, writeStoredZip } from '../emulator/zip-reader.ts';

type Mod = typeof import('../src/source/artifact.ts');

const OWN_REPO = 'acme/erp';
const OWN_RUN = 9001;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let fake: GitHubFake;
let work: string;
let mod: Mod;
const savedEnv = new Map<string, string | undefined>();
const logs: string[] = [];

before(async () => {
  fake = await startGitHubFake({ repository: OWN_REPO, runId: OWN_RUN });
  work = await mkdtemp(path.join(os.tmpdir(), 'source-artifact-test-'));
  // @actions/github reads GITHUB_API_URL when first imported: the env comes first.
  for (const [k, v] of Object.entries({ ...fake.env, GITHUB_WORKSPACE: work })) {
    savedEnv.set(k, process.env[k]);
    process.env[k] = v;
  }
  mod = await import('../src/source/artifact.ts');
});

after(async () => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await fake?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const opts = (o: { name: string; runId?: number; repository?: string; token?: string }) => ({
  token: fake.token,
  workDir: work,
  log: (l: string) => logs.push(l),
  ...o,
});

async function gone(p: string): Promise<boolean> {
  return access(p).then(
    () => false,
    () => true,
  );
}

async function rejectsWith(p: Promise<unknown>, check: (msg: string) => void): Promise<void> {
  await assert.rejects(p, (err: Error) => {
    check(err.message);
    return true;
  });
}

test("this run's zipped artifact with one dump file: downloaded, described, cleaned up", async () => {
  const data = randomBytes(300_000);
  await fake.addArtifact({ runId: OWN_RUN, repository: OWN_REPO, name: 'db-dump', files: { 'prod.dump': data } });
  const before = fake.requests.length;
  const dump = await mod.fromArtifact(opts({ name: 'db-dump' }));
  try {
    assert.equal(dump.kind, 'artifact');
    assert.equal(path.basename(dump.path), 'prod.dump');
    assert.ok(dump.path.startsWith(work + path.sep), 'downloaded under workDir');
    assert.equal(sha(await readFile(dump.path)), sha(data));
    assert.equal(dump.description, `artifact "db-dump" of run ${OWN_RUN} (${OWN_REPO})`);
    const used = fake.requests.slice(before);
    assert.ok(used.some((r) => r.path.endsWith('/ListArtifacts')), 'found through the artifact service');
    assert.ok(!used.some((r) => r.path.startsWith('/repos/')), 'no REST call for this run');
  } finally {
    await dump.cleanup();
  }
  assert.ok(await gone(path.dirname(dump.path)), 'cleanup removed the download folder');
  assert.deepEqual((await readdir(work)).filter((n) => n.startsWith('dump-artifact-')), []);
});

test("another repository's run through findBy: REST with github-token, digest checked", async () => {
  // A re-run left two artifacts of one name: the newest wins.
  await fake.addArtifact({ runId: 31337, repository: 'acme/prod-backups', name: 'nightly', files: { 'old.sql.gz': randomBytes(100) } });
  const data = randomBytes(150_000);
  const seeded = await fake.addArtifact({ runId: 31337, repository: 'acme/prod-backups', name: 'nightly', files: { 'backups/nightly.sql.gz': data } });
  const before = fake.requests.length;
  const dump = await mod.fromArtifact(opts({ name: 'nightly', runId: 31337, repository: 'acme/prod-backups' }));
  try {
    assert.equal(sha(await readFile(dump.path)), sha(data));
    assert.equal(path.basename(dump.path), 'nightly.sql.gz');
    assert.equal(dump.description, 'artifact "nightly" of run 31337 (acme/prod-backups)');
    const rest = fake.requests.slice(before).filter((r) => r.path.startsWith('/repos/acme/prod-backups/'));
    assert.ok(rest.some((r) => r.path.startsWith('/repos/acme/prod-backups/actions/runs/31337/artifacts')));
    assert.ok(rest.some((r) => r.path === `/repos/acme/prod-backups/actions/artifacts/${seeded.id}/zip`));
    for (const r of rest) assert.match(r.authorization ?? '', new RegExp(`^token ${fake.token}$`, 'i'));
  } finally {
    await dump.cleanup();
  }

  await rejectsWith(mod.fromArtifact(opts({ name: 'nightly', runId: 31337, repository: 'acme/prod-backups', token: '' })), (m) => {
    assert.match(m, /`github-token` is empty/);
  });
});

test('a token without actions: read gets a message naming the permission', async () => {
  fake.addToken('ghs_no_actions_perm', { actions: 'none', issues: 'write' });
  await rejectsWith(mod.fromArtifact(opts({ name: 'nightly', runId: 31337, repository: 'acme/prod-backups', token: 'ghs_no_actions_perm' })), (m) => {
    assert.match(m, /403/);
    assert.match(m, /permissions: actions: read/);
    assert.doesNotMatch(m, /ghs_no_actions_perm/);
  });
});

test('raw single-file artifacts: a .dump with Content-Disposition, one without, an Odoo backup .zip kept whole', async () => {
  const custom = Buffer.concat([Buffer.from('PGDMP'), randomBytes(50_000)]);
  await fake.addArtifact({ runId: 4040, repository: OWN_REPO, name: 'erp.dump', files: { 'erp.dump': custom }, raw: true });
  const a = await mod.fromArtifact(opts({ name: 'erp.dump', runId: 4040 }));
  try {
    assert.equal(path.basename(a.path), 'erp.dump');
    assert.equal(sha(await readFile(a.path)), sha(custom));
  } finally {
    await a.cleanup();
  }

  const sql = Buffer.from('-- PostgreSQL database dump\nCREATE TABLE t (id int);\n');
  await fake.addArtifact({ runId: 4040, repository: OWN_REPO, name: 'plain.sql', files: { 'plain.sql': sql }, raw: true, contentDisposition: false });
  const b = await mod.fromArtifact(opts({ name: 'plain.sql', runId: 4040 }));
  try {
    assert.equal(path.basename(b.path), 'plain.sql', 'the library\'s "artifact" renamed after the artifact');
    assert.deepEqual(await readFile(b.path), sql);
  } finally {
    await b.cleanup();
  }

  // An `archive: false` Odoo backup: zip type, so the library alone would unzip it.
  const backup = await writeStoredZip({ 'dump.sql': sql, 'filestore/ab/abcdef': randomBytes(2000), 'manifest.json': Buffer.from('{}') });
  await fake.addArtifact({ runId: 4040, repository: OWN_REPO, name: 'odoo-backup.zip', files: { 'odoo-backup.zip': backup }, raw: true });
  const c = await mod.fromArtifact(opts({ name: 'odoo-backup.zip', runId: 4040 }));
  try {
    assert.equal(path.basename(c.path), 'odoo-backup.zip');
    assert.equal(sha(await readFile(c.path)), sha(backup), 'the backup zip itself, not its contents');
    assert.deepEqual([...(await readZip(await readFile(c.path))).keys()].sort(), ['dump.sql', 'filestore/ab/abcdef', 'manifest.json']);
  } finally {
    await c.cleanup();
  }
});

test('a zipped artifact named *.zip that wraps the backup: unwrapped to the inner zip', async () => {
  const inner = await writeStoredZip({ 'dump.sql': Buffer.from('SELECT 1;\n') });
  await fake.addArtifact({ runId: OWN_RUN, repository: OWN_REPO, name: 'wrapped.zip', files: { 'my-backup.zip': inner } });
  const dump = await mod.fromArtifact(opts({ name: 'wrapped.zip' }));
  try {
    assert.equal(path.basename(dump.path), 'my-backup.zip');
    assert.equal(sha(await readFile(dump.path)), sha(inner));
  } finally {
    await dump.cleanup();
  }
});

test('a raw upload made by the library itself (skipArchive) comes back as the file', async () => {
  const src = await mkdtemp(path.join(work, 'upload-'));
  const file = path.join(src, 'staging.sql.gz');
  const data = randomBytes(70_000);
  await writeFile(file, data);
  const { DefaultArtifactClient } = await import('@actions/artifact');
  const up = await new DefaultArtifactClient().uploadArtifact('ignored', [file], src, { skipArchive: true });
  assert.equal(fake.artifacts.find((x) => x.id === up.id)?.raw, true);
  const dump = await mod.fromArtifact(opts({ name: 'staging.sql.gz' }));
  try {
    assert.equal(path.basename(dump.path), 'staging.sql.gz');
    assert.equal(sha(await readFile(dump.path)), sha(data));
  } finally {
    await dump.cleanup();
  }
});

test('a directory dump artifact: at the root, or as the one folder inside', async () => {
  const files = { 'toc.dat': randomBytes(3000), '3101.dat.gz': randomBytes(5000), '3102.dat.gz': randomBytes(10) };
  await fake.addArtifact({ runId: OWN_RUN, repository: OWN_REPO, name: 'dirdump', files });
  const a = await mod.fromArtifact(opts({ name: 'dirdump' }));
  try {
    assert.ok((await stat(a.path)).isDirectory());
    assert.equal(path.basename(a.path), 'dirdump', 'named after the artifact');
    assert.deepEqual((await readdir(a.path)).sort(), Object.keys(files).sort());
    assert.equal(sha(await readFile(path.join(a.path, 'toc.dat'))), sha(files['toc.dat']));
  } finally {
    await a.cleanup();
  }

  await fake.addArtifact({
    runId: OWN_RUN,
    repository: OWN_REPO,
    name: 'nested-dirdump',
    files: { 'out/db.dir/toc.dat': randomBytes(100), 'out/db.dir/4000.dat.gz': randomBytes(100) },
  });
  const b = await mod.fromArtifact(opts({ name: 'nested-dirdump' }));
  try {
    assert.equal(path.basename(b.path), 'db.dir');
    assert.deepEqual((await readdir(b.path)).sort(), ['4000.dat.gz', 'toc.dat']);
  } finally {
    await b.cleanup();
  }
});

test('not found: lists the names the run does have', async () => {
  await rejectsWith(mod.fromArtifact(opts({ name: 'DB-DUMP' })), (m) => {
    assert.match(m, /no artifact named "DB-DUMP" in run 9001 \(acme\/erp\)/);
    assert.match(m, /"db-dump"/);
    assert.match(m, /"dirdump"/);
    assert.match(m, /did you mean "db-dump"/);
  });
  await rejectsWith(mod.fromArtifact(opts({ name: 'x', runId: 123456, repository: 'acme/empty' })), (m) => {
    assert.match(m, /no artifact named "x" in run 123456 \(acme\/empty\)/);
    assert.match(m, /has no artifacts/);
  });
  assert.deepEqual((await readdir(work)).filter((n) => n.startsWith('dump-artifact-')), [], 'nothing left behind');
});

test('several candidate files are refused, by name only, and nothing is left behind', async () => {
  await fake.addArtifact({
    runId: OWN_RUN,
    repository: OWN_REPO,
    name: 'messy',
    files: { 'a.dump': randomBytes(10), 'notes/readme.txt': Buffer.from('hi'), 'dump/toc.dat': randomBytes(10), 'dump/1.dat.gz': randomBytes(10) },
  });
  await rejectsWith(mod.fromArtifact(opts({ name: 'messy' })), (m) => {
    assert.match(m, /holds 3 candidate dumps: "dump\/", "a\.dump", "notes\/readme\.txt"/);
    assert.match(m, /must hold one dump/);
    assert.match(m, /Upload the dump alone/);
    assert.ok(!m.includes(work), 'no local paths in the message');
  });
  assert.deepEqual((await readdir(work)).filter((n) => n.startsWith('dump-artifact-')), []);
});

test('pickDump: the choice on file listings alone', () => {
  assert.equal(mod.pickDump(['x.dump'], 'a', 'w'), 'x.dump');
  assert.equal(mod.pickDump(['toc.dat', '1.dat.gz', 'inner/toc.dat'], 'a', 'w'), '');
  assert.equal(mod.pickDump(['d/toc.dat', 'd/1.dat', 'd/sub/toc.dat'], 'a', 'w'), 'd');
  assert.throws(() => mod.pickDump([], 'a', 'w'), /is empty/);
  const many = Array.from({ length: 14 }, (_, i) => `f${String(i).padStart(2, '0')}.sql`);
  assert.throws(() => mod.pickDump(many, 'a', 'w'), /"f09\.sql" and 4 more/);
});

test("the job's environment comes from the caller: this run's artifact read with env given, this process's runtime variables unset", async () => {
  const other = await startGitHubFake({ repository: 'acme/other', runId: 778 });
  const vars = ['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_RESULTS_URL', 'GITHUB_REPOSITORY', 'GITHUB_RUN_ID'];
  const saved = vars.map((k) => [k, process.env[k]] as const);
  for (const k of vars) delete process.env[k];
  try {
    const data = randomBytes(20_000);
    await other.addArtifact({ runId: 778, repository: 'acme/other', name: 'injected', files: { 'inj.dump': data } });
    const dump = await mod.fromArtifact(opts({ name: 'injected' }), { ...other.env });
    try {
      assert.equal(sha(await readFile(dump.path)), sha(data));
      assert.equal(dump.description, 'artifact "injected" of run 778 (acme/other)');
      assert.ok(other.requests.some((r) => r.path.endsWith('/ListArtifacts')), 'listed by the service the injected env names');
    } finally {
      await dump.cleanup();
    }
    for (const k of vars) assert.equal(process.env[k], undefined, `${k} is left as it was`);
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await other.close();
  }
});
