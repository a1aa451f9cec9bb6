// The publisher drives the real @actions/artifact (Twirp + Azure block upload) over loopback
// sockets against the GitHub fake; the fake's blob store is then checked byte for byte.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startGitHubFake, type GitHubFake } from '../emulator/github.ts';
import { publishArtifact } from '../src/publish/artifact.ts';

const BLOCK = 8 * 1024 * 1024; // @actions/artifact's getUploadChunkSize()
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let fake: GitHubFake;
let dir: string;
const savedEnv = new Map<string, string | undefined>();

function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!savedEnv.has(k)) savedEnv.set(k, process.env[k]);
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

before(async () => {
  fake = await startGitHubFake({ repository: 'acme/erp', runId: 4242 });
  dir = await mkdtemp(path.join(os.tmpdir(), 'artifact-test-'));
  setEnv(fake.env);
});

after(async () => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await fake?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('publishes files through the real library: entries, name, retention, url, digest', async () => {
  const out = path.join(dir, 'out');
  await mkdir(path.join(out, 'dump'), { recursive: true });
  const inputs: Record<string, Buffer> = {
    'upgraded_db.dump': randomBytes(BLOCK + 1024 * 1024 + 17), // more than one block
    'upgrade-report.html': Buffer.from('<h1>Upgrade report</h1>\n'),
    'dump/toc.dat': randomBytes(4096), // found by walking a directory
  };
  for (const [name, data] of Object.entries(inputs)) await writeFile(path.join(out, name), data);

  const lines: string[] = [];
  const published = await publishArtifact({
    name: 'odoo-upgraded-db-18.0',
    files: [path.join(out, 'upgraded_db.dump'), path.join(out, 'upgrade-report.html'), path.join(out, 'dump')],
    rootDirectory: out,
    retentionDays: 5,
    log: (l) => lines.push(l),
  });

  const stored = fake.artifacts.find((a) => a.id === published.id);
  assert.ok(stored, 'the fake holds the published artifact');
  assert.equal(stored.name, 'odoo-upgraded-db-18.0');
  assert.equal(stored.finalized, true);
  assert.equal(stored.retentionDays, 5);
  assert.equal(stored.runId, 4242);
  assert.equal(published.url, `${fake.env.GITHUB_SERVER_URL}/acme/erp/actions/runs/4242/artifacts/${published.id}`);

  const zip = await readFile(stored.zipPath);
  assert.equal(published.size, zip.length);
  assert.equal(stored.size, zip.length);
  assert.equal(published.digest, sha(zip));
  assert.equal(stored.digest, `sha256:${sha(zip)}`);

  const entries = await stored.entries();
  assert.deepEqual([...entries.keys()].sort(), Object.keys(inputs).sort());
  for (const [name, data] of Object.entries(inputs)) assert.equal(sha(entries.get(name)!), sha(data), `${name} byte-equal`);

  const blockPuts = fake.requests.filter((r) => r.method === 'PUT' && r.path.includes('comp=block&'));
  assert.ok(blockPuts.length >= 2, `several blocks staged (got ${blockPuts.length})`);
  assert.equal(fake.requests.filter((r) => r.path.includes('comp=blocklist')).length, 1);
  const twirp = fake.requests.filter((r) => r.path.startsWith('/twirp/'));
  assert.deepEqual(twirp.map((r) => r.path.split('/').pop()), ['CreateArtifact', 'FinalizeArtifact']);
  for (const r of twirp) assert.equal(r.authorization, `Bearer ${fake.runtimeToken}`);

  assert.match(lines.join('\n'), /Publishing artifact "odoo-upgraded-db-18.0": 3 files/);
  assert.ok(lines.some((l) => l.includes(published.url)));
});

test('a second artifact with the same name in the run is refused with a hint', async () => {
  const file = path.join(dir, 'dup.txt');
  await writeFile(file, 'x');
  const opts = { name: 'dup-name', files: [file], rootDirectory: dir, log: () => {} };
  await publishArtifact(opts);
  await assert.rejects(publishArtifact(opts), /Publishing artifact "dup-name" failed: .*409.*`artifact-name`/s);
});

test('refuses bad names and a missing artifact service before any request', async () => {
  const file = path.join(dir, 'a.txt');
  await writeFile(file, 'a');
  const before = fake.requests.length;
  for (const name of ['a/b', 'a:b', 'a\\b', 'line\nbreak', 'what?', '']) {
    await assert.rejects(publishArtifact({ name, files: [file], rootDirectory: dir, log: () => {} }), /`artifact-name`/, JSON.stringify(name));
  }
  await assert.rejects(publishArtifact({ name: 'ok', files: [file], rootDirectory: dir, retentionDays: 91, log: () => {} }), /`artifact-retention-days`/);
  await assert.rejects(publishArtifact({ name: 'ok', files: ['/etc/hostname'], rootDirectory: dir, log: () => {} }), /not inside/);

  const token = process.env.ACTIONS_RUNTIME_TOKEN;
  delete process.env.ACTIONS_RUNTIME_TOKEN;
  try {
    await assert.rejects(
      publishArtifact({ name: 'ok', files: [file], rootDirectory: dir, log: () => {} }),
      (err: Error) => err.message.includes('ACTIONS_RUNTIME_TOKEN') && err.message.includes('`artifact-name`') && !err.message.includes('ACTIONS_RESULTS_URL'),
    );
  } finally {
    process.env.ACTIONS_RUNTIME_TOKEN = token;
  }
  assert.equal(fake.requests.length, before, 'no request reached the fake');
});

test('the blob store assembles blocks in block-list order, not arrival order', async () => {
  const twirp = async (method: string, body: object): Promise<Record<string, string>> => {
    const res = await fetch(`${fake.url}/twirp/github.actions.results.api.v1.ArtifactService/${method}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fake.runtimeToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, `${method}: ${await res.clone().text()}`);
    return (await res.json()) as Record<string, string>;
  };
  const ids = { workflow_run_backend_id: fake.backendIds.workflowRunBackendId, workflow_job_run_backend_id: fake.backendIds.workflowJobRunBackendId };
  const { signed_upload_url: upload } = await twirp('CreateArtifact', { ...ids, name: 'ordered', version: 7 });
  assert.ok(upload);

  const blockId = (n: number): string => Buffer.from(`block-${String(n).padStart(6, '0')}`).toString('base64');
  const stage = async (n: number, data: Buffer): Promise<void> => {
    const res = await fetch(`${upload}&comp=block&blockid=${encodeURIComponent(blockId(n))}`, { method: 'PUT', body: data });
    assert.equal(res.status, 201);
  };
  const blocks = [randomBytes(70_001), randomBytes(3), randomBytes(5000)];
  await stage(2, blocks[2]!);
  await stage(0, randomBytes(10)); // replaced below: the last staged content wins
  await stage(1, blocks[1]!);
  await stage(9, randomBytes(100)); // staged, never listed: must not appear
  await stage(0, blocks[0]!);

  const list = `<?xml version="1.0" encoding="utf-8"?><BlockList>${[0, 1, 2].map((n) => `<Latest>${blockId(n)}</Latest>`).join('')}</BlockList>`;
  const commit = await fetch(`${upload}&comp=blocklist`, { method: 'PUT', body: list, headers: { 'x-ms-blob-content-type': 'application/zip' } });
  assert.equal(commit.status, 201);

  const whole = Buffer.concat(blocks);
  const fin = await twirp('FinalizeArtifact', { ...ids, name: 'ordered', size: String(whole.length), hash: `sha256:${sha(whole)}` });
  const stored = fake.artifacts.find((a) => a.id === Number(fin.artifact_id));
  assert.ok(stored?.finalized);
  assert.equal(sha(await readFile(stored.zipPath)), sha(whole));

  const { signed_url: download } = await twirp('GetSignedArtifactURL', { ...ids, name: 'ordered' });
  assert.equal(sha(Buffer.from(await (await fetch(download!)).arrayBuffer())), sha(whole));
});

test('GitHub Enterprise Server: publishing is refused as "service unavailable" before any request, not as a failure', async () => {
  const ghes = await startGitHubFake({ repository: 'acme/erp', runId: 4243, ghes: true });
  const saved = Object.fromEntries(['ACTIONS_RESULTS_URL', 'ACTIONS_RUNTIME_URL', 'GITHUB_SERVER_URL', 'GITHUB_API_URL'].map((k) => [k, process.env[k]]));
  try {
    // The GHES runner's variables: no ACTIONS_RESULTS_URL, a server that is not github.com.
    assert.equal(ghes.env.ACTIONS_RESULTS_URL, undefined);
    assert.equal(ghes.env.GITHUB_API_URL, `${ghes.url}/api/v3`);
    delete process.env.ACTIONS_RESULTS_URL;
    Object.assign(process.env, ghes.env);
    const file = path.join(dir, 'ghes.txt');
    await writeFile(file, 'x');
    const { ArtifactServiceUnavailable } = await import('../src/publish/artifact.ts');
    await assert.rejects(publishArtifact({ name: 'odoo-upgraded-db-18.0', files: [file], rootDirectory: dir, log: () => {} }), (err: Error) => {
      assert.ok(err instanceof ArtifactServiceUnavailable, `${err.name}: ${err.message}`);
      assert.match(err.message, new RegExp(`GitHub Enterprise Server \\(${ghes.url.replace(/\./g, '\\.')}\\)`));
      return true;
    });
    // Bad inputs are still input errors first.
    await assert.rejects(publishArtifact({ name: 'a/b', files: [file], rootDirectory: dir, log: () => {} }), /`artifact-name`/);
    assert.deepEqual(ghes.requests, [], 'nothing was sent');
    // The fake answers as GHES does: no results service, REST only under /api/v3.
    const twirp = await fetch(`${ghes.url}/twirp/github.actions.results.api.v1.ArtifactService/CreateArtifact`, { method: 'POST', body: '{}' });
    assert.equal(twirp.status, 404);
    const auth = { authorization: `Bearer ${ghes.token}` };
    assert.equal((await fetch(`${ghes.url}/repos/acme/erp/actions/artifacts`, { headers: auth })).status, 404);
    assert.equal((await fetch(`${ghes.apiUrl}/repos/acme/erp/actions/artifacts`, { headers: auth })).status, 200);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await ghes.close();
  }
});

test('the host rule is the library\'s: github.com, *.ghe.com and *.localhost have the artifact service, other hosts are GHES', async () => {
  const { githubHost } = await import('../src/github/ghes.ts');
  const { isGhes } = await import('../node_modules/@actions/artifact/lib/internal/shared/config.js' as string);
  const cases: Array<[Record<string, string>, boolean, string]> = [
    [{}, false, 'https://api.github.com'],
    [{ GITHUB_SERVER_URL: 'https://github.com' }, false, 'https://api.github.com'],
    [{ GITHUB_SERVER_URL: 'https://octo.ghe.com' }, false, 'https://api.octo.ghe.com'],
    [{ GITHUB_SERVER_URL: 'http://github.localhost:4000' }, false, 'https://api.github.com'],
    [{ GITHUB_SERVER_URL: 'https://ghes.example.com/' }, true, 'https://ghes.example.com/api/v3'],
    [{ GITHUB_SERVER_URL: 'https://ghes.example.com', GITHUB_API_URL: 'https://ghes.example.com/api/v3/' }, true, 'https://ghes.example.com/api/v3'],
    [{ GITHUB_SERVER_URL: 'https://GITHUB.COM', GITHUB_API_URL: 'http://127.0.0.1:9/x' }, false, 'http://127.0.0.1:9/x'],
  ];
  const saved = process.env.GITHUB_SERVER_URL;
  try {
    for (const [env, ghes, api] of cases) {
      const host = githubHost(env);
      assert.equal(host.enterpriseServer, ghes, JSON.stringify(env));
      assert.equal(host.apiUrl, api, JSON.stringify(env));
      if (env.GITHUB_SERVER_URL) process.env.GITHUB_SERVER_URL = env.GITHUB_SERVER_URL;
      else delete process.env.GITHUB_SERVER_URL;
      assert.equal((isGhes as () => boolean)(), ghes, `the library agrees on ${JSON.stringify(env)}`);
    }
  } finally {
    if (saved === undefined) delete process.env.GITHUB_SERVER_URL;
    else process.env.GITHUB_SERVER_URL = saved;
  }
});

test("the job's environment comes from the caller: published with env given while this process has none of the runtime variables", async () => {
  // A second fake with its own run and tokens: only the injected env can name it.
  const other = await startGitHubFake({ repository: 'acme/other', runId: 777 });
  const vars = ['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_RESULTS_URL', 'GITHUB_SERVER_URL', 'GITHUB_REPOSITORY', 'GITHUB_RUN_ID'];
  const saved = vars.map((k) => [k, process.env[k]] as const);
  for (const k of vars) delete process.env[k];
  try {
    const file = path.join(dir, 'injected.txt');
    await writeFile(file, 'published with the injected env');
    const published = await publishArtifact({ name: 'injected-env', files: [file], rootDirectory: dir, log: () => {}, env: { ...other.env } });
    const stored = other.artifacts.find((a) => a.id === published.id);
    assert.ok(stored, 'the artifact went to the service the injected env names');
    assert.equal(stored.runId, 777);
    assert.equal(fake.artifacts.some((a) => a.name === 'injected-env'), false);
    assert.equal(published.url, `${other.env.GITHUB_SERVER_URL}/acme/other/actions/runs/777/artifacts/${published.id}`);
    assert.equal((await stored.entries()).get('injected.txt')?.toString(), 'published with the injected env');
    for (const k of vars) assert.equal(process.env[k], undefined, `${k} is left as it was`);
    // And the injected env decides what is missing, not this process's.
    await assert.rejects(
      publishArtifact({ name: 'no-service', files: [file], rootDirectory: dir, log: () => {}, env: { GITHUB_SERVER_URL: other.env.GITHUB_SERVER_URL } }),
      /ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL are not set/,
    );
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await other.close();
  }
});
