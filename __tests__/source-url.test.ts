import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fromUrl, fileNameFor, parseContentRange, parseHeaders, sanitiseFileName } from '../src/source/url.ts';
import { DumpError } from '../src/formats/inspect.ts';
import { SecretRegistry } from '../src/secrets.ts';
import { startHttpsFiles, type HttpsFiles } from './support/https-files.ts';

const TOKEN = 'Bearer tok-7f3a9c2e51d8';
const EXTRA = 'extra-header-secret-4410';
const QUERY = 'query-secret-88231';
let srv: HttpsFiles;
let other: HttpsFiles; // a second origin, for cross-origin redirects
let work: string;

before(async () => {
  srv = await startHttpsFiles({ authorization: TOKEN });
  other = await startHttpsFiles();
  work = await mkdtemp(join(tmpdir(), 'source-url-'));
});

after(async () => {
  await srv?.close();
  await other?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

function setup() {
  const reg = new SecretRegistry(() => {});
  const lines: string[] = [];
  return { reg, lines, log: (l: string) => lines.push(l) };
}

function assertNoSecrets(texts: string[], ...values: string[]) {
  for (const t of texts) for (const v of values) assert.ok(!t.includes(v), `"${v}" leaked into: ${t}`);
}

test('downloads with the Authorization header, registers header values and the query as secrets, logs neither', async () => {
  const body = randomBytes(3 * 1024 * 1024 + 17);
  srv.files.set('db.dump', { body });
  const { reg, lines, log } = setup();
  const before = srv.requests.length;
  const got = await fromUrl({
    url: `${srv.url}/files/db.dump?token=${QUERY}`,
    headers: `Authorization: ${TOKEN}\n\nX-Extra: ${EXTRA}\n`,
    workDir: work,
    log,
    dispatcher: srv.dispatcher,
    secrets: reg,
  });
  try {
    assert.equal(got.kind, 'url');
    assert.equal(basename(got.path), 'db.dump');
    assert.ok((await readFile(got.path)).equals(body));
    const reqs = srv.requests.slice(before);
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].authorization, TOKEN);
    assert.ok(reg.has(TOKEN) && reg.has(EXTRA) && reg.has(QUERY), 'header values and query registered');
    assert.ok(!got.description.includes('?'), got.description);
    assert.ok(lines.some((l) => l.includes(`${srv.url}/files/db.dump`)), 'logs origin + path');
    assertNoSecrets([...lines, got.description], QUERY, 'tok-7f3a9c2e51d8', EXTRA);
  } finally {
    await got.cleanup();
  }
  await assert.rejects(stat(dirname(got.path)), /ENOENT/, 'cleanup removes the temp folder');
});

test('resumes with Range after the connection is cut, and the bytes are equal', async () => {
  const body = randomBytes(2 * 1024 * 1024 + 5);
  srv.files.set('cut.sql.gz', { body, cutAfter: 700_000, etag: '"cut-v1"' });
  const { reg, lines, log } = setup();
  const before = srv.requests.length;
  const got = await fromUrl({
    url: `${srv.url}/files/cut.sql.gz?X-Signature=${QUERY}`,
    headers: `Authorization: ${TOKEN}`,
    workDir: work,
    log,
    dispatcher: srv.dispatcher,
    secrets: reg,
    retry: { baseMs: 10, maxMs: 20 },
  });
  try {
    assert.ok((await readFile(got.path)).equals(body), 'resumed file equals the original');
    const reqs = srv.requests.slice(before);
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0].range, undefined);
    const m = /^bytes=(\d+)-$/.exec(reqs[1].range ?? '');
    assert.ok(m, `second request resumes with Range, got ${reqs[1].range}`);
    assert.ok(Number(m[1]) > 0 && Number(m[1]) <= 700_000, `resumed from ${m[1]}`);
    assert.equal(reqs[1].ifRange, '"cut-v1"');
    assert.equal(reqs[1].status, 206);
    assert.equal(reqs[1].authorization, TOKEN);
    assert.ok(lines.some((l) => /interrupted/i.test(l)), 'the cut is logged');
    assertNoSecrets(lines, QUERY, 'tok-7f3a9c2e51d8');
  } finally {
    await got.cleanup();
  }
});

test('starts again from zero when the server ignores Range', async () => {
  const body = randomBytes(1024 * 1024);
  srv.files.set('norange.sql', { body, cutAfter: 300_000, ignoreRange: true });
  const { reg, lines, log } = setup();
  const before = srv.requests.length;
  const got = await fromUrl({ url: `${srv.url}/files/norange.sql`, headers: `Authorization: ${TOKEN}`, workDir: work, log, dispatcher: srv.dispatcher, secrets: reg, retry: { baseMs: 10, maxMs: 20 } });
  try {
    assert.ok((await readFile(got.path)).equals(body));
    const reqs = srv.requests.slice(before);
    assert.equal(reqs.length, 2);
    assert.equal(reqs[1].status, 200, 'the server answered the Range request with the whole file');
    assert.ok(lines.some((l) => /from the start/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => l.includes(`${srv.url}/files/norange.sql`)), 'a URL without secrets is shown, not masked');
  } finally {
    await got.cleanup();
  }
});

test('follows an https redirect to another origin without the user headers; the signature stays secret', async () => {
  const body = randomBytes(200_000);
  const sig = `sig-${randomBytes(8).toString('hex')}`;
  other.files.set('signed.dump', { body, signature: sig, contentDisposition: `attachment; filename="../../etc/evil name.dump"` });
  srv.redirects.set('/go/signed', `${other.url}/files/signed.dump?sig=${sig}`);
  const { reg, lines, log } = setup();
  const seenBefore = other.requests.length;
  const got = await fromUrl({ url: `${srv.url}/go/signed`, headers: `Authorization: ${TOKEN}`, workDir: work, log, dispatcher: srv.dispatcher, secrets: reg });
  try {
    assert.ok((await readFile(got.path)).equals(body));
    assert.equal(basename(got.path), 'evil name.dump', 'name from Content-Disposition, without its path');
    assert.ok(got.path.startsWith(work));
    const reqs = other.requests.slice(seenBefore);
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].authorization, undefined, 'credentials are not sent to another origin');
    assert.ok(reg.has(sig), 'the redirect target query is registered');
    assertNoSecrets(lines, sig, 'tok-7f3a9c2e51d8');
  } finally {
    await got.cleanup();
  }
});

test('refuses a redirect to plain http off loopback, before connecting', async () => {
  srv.files.set('x.sql', { body: Buffer.from('SELECT 1;\n') });
  // A name that is not loopback (.invalid never resolves): refused before any lookup or connection.
  srv.redirects.set('/go/http', `http://dumps.invalid:${srv.port}/files/x.sql?k=${QUERY}`);
  const { reg, lines, log } = setup();
  const err = await fromUrl({ url: `${srv.url}/go/http`, headers: `Authorization: ${TOKEN}`, workDir: work, log, dispatcher: srv.dispatcher, secrets: reg }).then(
    () => assert.fail('should refuse'),
    (e: Error) => e,
  );
  assert.ok(err instanceof DumpError);
  assert.match(err.message, /^dump-url: .*redirected to http:\/\/dumps\.invalid:\d+\/files\/x\.sql.*https/);
  assertNoSecrets([err.message, ...lines], QUERY);
});

test('refuses non-https URLs and reports 401 without retrying', async () => {
  const { reg, log } = setup();
  for (const url of ['http://dumps.invalid:1/db.sql', 'ftp://127.0.0.1/db.sql']) {
    await assert.rejects(fromUrl({ url, headers: '', workDir: work, log, secrets: reg }), (e: Error) => e instanceof DumpError && /^dump-url: .*https:\/\//.test(e.message));
  }
  await assert.rejects(fromUrl({ url: 'not a url ?secret=zzzz1234', headers: '', workDir: work, log, secrets: reg }), (e: Error) => e instanceof DumpError && !e.message.includes('zzzz1234'));

  srv.files.set('private.dump', { body: randomBytes(100) });
  const before = srv.requests.length;
  await assert.rejects(
    fromUrl({ url: `${srv.url}/files/private.dump`, headers: 'Authorization: Bearer wrong-token-1234', workDir: work, log, dispatcher: srv.dispatcher, secrets: reg }),
    (e: Error) => e instanceof DumpError && /401/.test(e.message) && /dump-url-headers/.test(e.message) && !e.message.includes('wrong-token-1234'),
  );
  assert.equal(srv.requests.length - before, 1, 'a 401 is not retried');
});

test('header lines: a bad line is named by number, never echoed; values are registered first', () => {
  const reg = new SecretRegistry(() => {});
  assert.deepEqual(parseHeaders('Authorization: Bearer abc123xyz\n\nX-Api-Key:  k-999888  \n', reg), {
    Authorization: 'Bearer abc123xyz',
    'X-Api-Key': 'k-999888',
  });
  assert.ok(reg.has('Bearer abc123xyz') && reg.has('k-999888'));
  assert.throws(
    () => parseHeaders('Authorization: Bearer goodvalue1\nthis line leaks-secret-here\n', reg),
    (e: Error) => e instanceof DumpError && /^dump-url-headers: line 2/.test(e.message) && !e.message.includes('leaks-secret-here'),
  );
  assert.throws(() => parseHeaders('Range: bytes=0-', reg), /dump-url-headers: line 1 sets Range/);
});

test('file names and Content-Range parsing', () => {
  const u = new URL('https://h.example/a/b/My%20Dump.sql.gz?sig=1');
  assert.equal(fileNameFor(undefined, u), 'My Dump.sql.gz');
  assert.equal(fileNameFor(`attachment; filename*=UTF-8''caf%C3%A9.dump; filename="x.dump"`, u), 'café.dump');
  assert.equal(fileNameFor('attachment; filename="..\\\\..\\\\evil.sql"', u), 'evil.sql');
  assert.equal(fileNameFor(undefined, new URL('https://h.example/')), 'dump');
  assert.equal(sanitiseFileName('../.hidden'), 'hidden');
  assert.equal(sanitiseFileName('a/b/c:d.sql'), 'c_d.sql');
  assert.deepEqual(parseContentRange('bytes 10-99/100'), { start: 10, end: 99, total: 100 });
  assert.deepEqual(parseContentRange('bytes 10-99/*'), { start: 10, end: 99, total: undefined });
  assert.equal(parseContentRange('bytes */100'), undefined);
});
