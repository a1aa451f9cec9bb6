// The GitHub fake's REST side and the download paths a later step relies on, driven by the
// real @actions/artifact client (REST for other runs, Twirp for this run) over loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startGitHubFake, type GitHubFake } from '../emulator/github.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let fake: GitHubFake;
let dir: string;
const savedEnv = new Map<string, string | undefined>();

before(async () => {
  fake = await startGitHubFake({ repository: 'acme/erp', runId: 77, token: 'ghs_test_token_123' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'github-fake-test-'));
  // @actions/github reads GITHUB_API_URL once, when first imported: set it before any import.
  for (const [k, v] of Object.entries({ ...fake.env, GITHUB_WORKSPACE: dir })) {
    savedEnv.set(k, process.env[k]);
    process.env[k] = v;
  }
});

after(async () => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await fake?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const api = (p: string, init: RequestInit = {}, token: string | null = fake.token): Promise<Response> =>
  fetch(`${fake.url}${p}`, {
    ...init,
    redirect: 'manual',
    headers: { ...(token ? { authorization: `token ${token}` } : {}), 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
  });

test('runtime token is a JWT with the Actions.Results scope the library parses', () => {
  const [, payload] = fake.runtimeToken.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as { scp: string };
  const { workflowRunBackendId, workflowJobRunBackendId } = fake.backendIds;
  assert.ok(claims.scp.split(' ').includes(`Actions.Results:${workflowRunBackendId}:${workflowJobRunBackendId}`));
  for (const [k, v] of Object.entries(fake.env)) if (/_URL$/.test(k) && k !== 'GITHUB_SERVER_URL') assert.match(v, /^http:\/\/127\.0\.0\.1:\d+/, k);
});

test('another run\'s artifact: REST list, 302 to the blob, download through the library', async () => {
  const files = { 'db.dump': randomBytes(200_000), 'notes/readme.txt': Buffer.from('hello') };
  const seeded = await fake.addArtifact({ runId: 555, repository: 'acme/source', name: 'prod-dump', files });
  assert.deepEqual(await seeded.entries(), new Map(Object.entries(files)));

  const list = await api('/repos/acme/source/actions/runs/555/artifacts?name=prod-dump');
  assert.equal(list.status, 200);
  const body = (await list.json()) as { total_count: number; artifacts: Array<{ id: number; size_in_bytes: number; digest: string }> };
  assert.equal(body.total_count, 1);
  assert.equal(body.artifacts[0]?.id, seeded.id);
  assert.equal(body.artifacts[0]?.digest, seeded.digest);
  assert.equal((await (await api('/repos/acme/source/actions/runs/556/artifacts')).json() as { total_count: number }).total_count, 0);

  const redirect = await api(`/repos/acme/source/actions/artifacts/${seeded.id}/zip`);
  assert.equal(redirect.status, 302);
  const location = redirect.headers.get('location')!;
  assert.match(location, /^http:\/\/127\.0\.0\.1:\d+\/blob\/.*sig=/);
  const tampered = location.replace(/sig=[^&]+/, 'sig=AAAA');
  assert.equal((await fetch(tampered)).status, 403);
  assert.equal(sha(Buffer.from(await (await fetch(location)).arrayBuffer())), sha(await readFile(seeded.zipPath)));

  const { DefaultArtifactClient } = await import('@actions/artifact');
  const client = new DefaultArtifactClient();
  const findBy = { token: fake.token, workflowRunId: 555, repositoryOwner: 'acme', repositoryName: 'source' };
  const { artifact } = await client.getArtifact('prod-dump', { findBy });
  assert.equal(artifact.id, seeded.id);
  const target = path.join(dir, 'other-run');
  const res = await client.downloadArtifact(artifact.id, { findBy, path: target, expectedHash: seeded.digest });
  assert.equal(res.digestMismatch, false);
  const zipCalls = fake.requests.filter((r) => r.path === `/repos/acme/source/actions/artifacts/${seeded.id}/zip`);
  assert.equal(zipCalls.length, 2, 'ours and the library\'s');
  assert.match(zipCalls[1]!.authorization ?? '', new RegExp(`^token ${fake.token}$`, 'i'));
  for (const [name, data] of Object.entries(files)) assert.equal(sha(await readFile(path.join(target, name))), sha(data));
});

test('this run\'s artifact through Twirp: list, get, download', async () => {
  const files = { 'x.bin': randomBytes(1000) };
  const seeded = await fake.addArtifact({ runId: 77, repository: 'acme/erp', name: 'same-run', files });
  const { DefaultArtifactClient } = await import('@actions/artifact');
  const client = new DefaultArtifactClient();
  const { artifacts } = await client.listArtifacts();
  assert.ok(artifacts.some((a) => a.id === seeded.id && a.name === 'same-run' && a.size === seeded.size));
  const { artifact } = await client.getArtifact('same-run');
  const target = path.join(dir, 'same-run');
  await client.downloadArtifact(artifact.id, { path: target });
  assert.equal(sha(await readFile(path.join(target, 'x.bin'))), sha(files['x.bin']));
});

test('REST refuses missing or wrong tokens and unknown artifacts', async () => {
  assert.equal((await api('/repos/acme/erp/actions/runs/77/artifacts', {}, null)).status, 401);
  assert.equal((await api('/repos/acme/erp/actions/runs/77/artifacts', {}, 'nope')).status, 401);
  assert.equal((await api('/repos/acme/erp/actions/artifacts/999999/zip')).status, 404);
  assert.equal((await api('/repos/acme/erp/nothing/here')).status, 404);
  const last = fake.requests.at(-1)!;
  assert.equal(last.authorization, `token ${fake.token}`);
  assert.equal(last.path, '/repos/acme/erp/nothing/here');
});

test('issue comments: create, list with pagination, update', async () => {
  const created = [];
  for (const text of ['first', 'second', 'third']) {
    const res = await api('/repos/acme/erp/issues/12/comments', { method: 'POST', body: JSON.stringify({ body: text }) });
    assert.equal(res.status, 201);
    created.push((await res.json()) as { id: number; body: string; user: { login: string } });
  }
  await api('/repos/acme/erp/issues/13/comments', { method: 'POST', body: JSON.stringify({ body: 'elsewhere' }) });
  assert.equal((await api('/repos/acme/erp/issues/12/comments', { method: 'POST', body: '{}' })).status, 422);

  const page1 = await api('/repos/acme/erp/issues/12/comments?per_page=2');
  assert.deepEqual(((await page1.json()) as Array<{ body: string }>).map((c) => c.body), ['first', 'second']);
  assert.match(page1.headers.get('link') ?? '', /page=2>; rel="next"/);
  const page2 = await api('/repos/acme/erp/issues/12/comments?per_page=2&page=2');
  assert.deepEqual(((await page2.json()) as Array<{ body: string }>).map((c) => c.body), ['third']);

  const target = created[1]!;
  const patched = await api(`/repos/acme/erp/issues/comments/${target.id}`, { method: 'PATCH', body: JSON.stringify({ body: 'second, edited' }) });
  assert.equal(patched.status, 200);
  assert.equal(((await patched.json()) as { body: string }).body, 'second, edited');
  assert.equal(fake.comments.find((c) => c.id === target.id)?.body, 'second, edited');
  assert.equal(fake.comments.filter((c) => c.issue === 12).length, 3);
  assert.equal(target.user.login, 'github-actions[bot]');
  assert.equal((await api('/repos/other/repo/issues/12/comments')).status, 404);
});

test('GHES mode: the REST API only under /api/v3 (its links too), no results service, a server that is not github.com', async () => {
  const ghes = await startGitHubFake({ repository: 'acme/erp', runId: 78, token: 'ghs_ghes_token', ghes: true });
  try {
    assert.equal(ghes.apiUrl, `${ghes.url}/api/v3`);
    assert.equal(ghes.env.GITHUB_API_URL, ghes.apiUrl);
    assert.equal(ghes.env.GITHUB_SERVER_URL, ghes.url);
    assert.equal(ghes.env.ACTIONS_RESULTS_URL, undefined);
    for (let i = 0; i < 3; i++) await ghes.addArtifact({ runId: 78, repository: 'acme/erp', name: `a${i}`, files: { 'f.txt': Buffer.from(`${i}`) } });
    const get = (u: string) => fetch(u, { redirect: 'manual', headers: { authorization: 'Bearer ghs_ghes_token' } });
    assert.equal((await get(`${ghes.url}/repos/acme/erp/actions/artifacts`)).status, 404, 'nothing at the root');
    const page = await get(`${ghes.apiUrl}/repos/acme/erp/actions/artifacts?per_page=2`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('link') ?? '', new RegExp(`<${ghes.apiUrl.replace(/[.]/g, '\\.')}/repos/acme/erp/actions/artifacts\\?per_page=2&page=2>; rel="next"`));
    const body = (await page.json()) as { artifacts: Array<{ url: string; archive_download_url: string }> };
    for (const a of body.artifacts) assert.ok(a.archive_download_url.startsWith(`${ghes.apiUrl}/repos/acme/erp/actions/artifacts/`), a.archive_download_url);
    const zip = await get(body.artifacts[0]!.archive_download_url);
    assert.equal(zip.status, 302);
    assert.match(zip.headers.get('location') ?? '', /\/blob\/actions-results\//);
    const twirp = await fetch(`${ghes.url}/twirp/github.actions.results.api.v1.ArtifactService/ListArtifacts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ghes.runtimeToken}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(twirp.status, 404);
  } finally {
    await ghes.close();
  }
});
