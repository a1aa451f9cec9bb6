// What the platform answers is not trusted: raw servers on loopback send cut, garbled and hostile
// answers, to whole runs of the pipeline in-process (log, errors, summary, outputs; one of them
// through the bundle) and to the clients alone. A key or token that
// is in an answer but not yet known to the run never shows; a create whose answer cannot be read
// is never sent again; garbled answers to idempotent calls are retried like a 5xx.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runAction } from './support/action.ts';
import { runPipeline, FakeClock, withProcessEnv } from './support/pipeline.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';
import { SecretRegistry } from '../src/secrets.ts';
import { closeDispatcher } from '../src/net/http.ts';
import { RpcPlatform, nodeBaseUrl, dataServer, parseTransferStart } from '../src/platform/rpc.ts';
import { V1Platform } from '../src/platform/v1.ts';
import type { RequestRef, TransferContext } from '../src/platform/types.ts';

const KEY = 'Aw7pItGVKFuZ_FOR3U8VFQ==';
const TOKEN = 'q3VJx0T8mZr2LwYb9KfN1sDaPcE7hUgi';
const CONTRACT = 'M123456-answers-secret';

type Answer = { status?: number; body: string; type?: string };
interface Hit { path: string; body: string }
interface Raw { url: string; host: string; hits: Hit[]; close(): Promise<void> }

/** A plain HTTP server on loopback that answers each call with what `answer` says, and records the calls. */
async function rawServer(answer: (path: string, body: string, n: number) => Answer): Promise<Raw> {
  const hits: Hit[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const p = (req.url ?? '').split('?')[0]!;
      const body = Buffer.concat(chunks).toString();
      hits.push({ path: p, body });
      const a = answer(p, body, hits.filter((h) => h.path === p).length);
      res.writeHead(a.status ?? 200, { 'content-type': a.type ?? 'application/json', connection: 'close' });
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    hits,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

let dir: string;
let dumpPath: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'answers-'));
  dumpPath = path.join(dir, 'db.sql');
  await writeSampleSqlDump(dumpPath, 2_000);
});

after(async () => {
  await closeDispatcher();
  await rm(dir, { recursive: true, force: true });
});

const v1CreateAnswer = (id = 10534) => JSON.stringify({
  failures: [],
  request: {
    id, key: KEY, email: 'ci@example.com', target: '18.0', aim: 'test', filename: 'db.sql', state: 'draft',
    status_url: `https://upgrade.odoo.com/database/eu1/${id}/${KEY}/status`,
    upgraded_dump_url: `https://upgrade.odoo.com/database/eu1/${id}/${KEY}/upgraded/archive`,
  },
});
const rpcCreateAnswer = JSON.stringify({ jsonrpc: '2.0', id: 'not_used', result: { request_id: 77, token: TOKEN, assigned_host_uri: 'upgrade-eu1.odoo.com' } });

/** A whole run, through the bundle or in-process: what it wrote, outputs without the request-key. */
interface Ran { code: number | null; stdout: string; stderr: string; summary: string; outputsText: string; cleanup(): Promise<void> }

/** Neither the secret nor any piece of it of 6 characters (or its URL-encoded form) anywhere the run writes. */
function assertNothingOf(run: Ran, secret: string) {
  const places = {
    stdout: run.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n'),
    stderr: run.stderr,
    summary: run.summary,
    outputs: run.outputsText,
  };
  for (const [where, text] of Object.entries(places)) {
    for (let i = 0; i + 6 <= secret.length; i++) {
      const piece = secret.slice(i, i + 6);
      assert.ok(!text.includes(piece) && !text.includes(encodeURIComponent(piece)), `${where} shows "${piece}" of the secret:\n${text}`);
    }
  }
  for (const text of [run.stdout, run.stderr]) assert.doesNotMatch(text, /(\n|%0A)\s+at .+:\d+:\d+/, `a crash with a stack trace: ${text}`);
}

const errorLines = (run: Ran) => run.stdout.split('\n').filter((l) => l.startsWith('::error')).join('\n');

async function runAgainst(raw: Raw, api: 'v1' | 'rpc', { bundle = false }: { bundle?: boolean } = {}): Promise<Ran> {
  const inputs = {
    contract: CONTRACT, email: 'ci@example.com', target: '18.0', dump: dumpPath, 'platform-url': raw.url, api, 'poll-interval': '1', 'artifact-name': '',
  };
  const env = { ODOO_UPGRADE_CALL_TIMEOUT_MS: '5000' };
  if (bundle) {
    const run = await runAction({ inputs, env, timeoutMs: 60_000 });
    return { ...run, outputsText: run.outputsRaw.replace(/^request-key<<(.+)\n[\s\S]*?\n\1$/m, '') };
  }
  const run = await withProcessEnv(env, () => runPipeline({ inputs, clock: new FakeClock(0.05) }));
  return { ...run, stderr: '', outputsText: JSON.stringify({ ...run.outputs, 'request-key': undefined }) };
}

/** Cut points that fall inside the key itself, inside a key-bearing URL, just after the field name, and elsewhere. */
function cutPoints(answer: string, secret: string): number[] {
  const inKey = answer.indexOf(secret);
  const inUrl = answer.indexOf(secret, inKey + secret.length);
  const points = [inKey + 1, inKey + 7, inKey + secret.length - 2, answer.indexOf(':', answer.indexOf('"token"')) + 3, Math.floor(answer.length / 2), answer.length - 1];
  if (inUrl > 0) points.push(inUrl + 5, inUrl + secret.length - 1);
  return [...new Set(points.filter((p) => p > 0 && p < answer.length))].sort((a, b) => a - b);
}

test('v1 (the first through the bundle): a create answer cut at several points inside and around the key: the key shows nowhere, create is not sent again', async () => {
  const answer = v1CreateAnswer();
  const points = cutPoints(answer, KEY);
  for (const cut of points) {
    const raw = await rawServer((p) => (p.endsWith('/create') ? { body: answer.slice(0, cut) } : { status: 500, body: 'unexpected call' }));
    const run = await runAgainst(raw, 'v1', { bundle: cut === points[0] });
    try {
      assert.equal(run.code, 1, run.stdout);
      assert.equal(raw.hits.length, 1, `only one call, the create (cut at ${cut}): ${raw.hits.map((h) => h.path).join(', ')}`);
      const errors = errorLines(run);
      assert.match(errors, /create: the platform answered something that is not a JSON object/, `cut at ${cut}: ${errors}`);
      assert.match(errors, /may have created the request/);
      assert.match(errors, /not sent again/);
      assertNothingOf(run, KEY);
    } finally {
      await run.cleanup();
      await raw.close();
    }
  }
});

test('rpc: a create answer cut at several points inside and around the token: the token shows nowhere, create is not sent again', async () => {
  for (const cut of cutPoints(rpcCreateAnswer, TOKEN)) {
    const raw = await rawServer((p) => (p.endsWith('/create') ? { body: rpcCreateAnswer.slice(0, cut) } : { status: 500, body: 'unexpected call' }));
    const run = await runAgainst(raw, 'rpc');
    try {
      assert.equal(run.code, 1, run.stdout);
      assert.deepEqual(raw.hits.map((h) => h.path), ['/upgrade/request/create'], `cut at ${cut}`);
      const errors = errorLines(run);
      assert.match(errors, /may have created the request/, `cut at ${cut}: ${errors}`);
      assertNothingOf(run, TOKEN);
    } finally {
      await run.cleanup();
      await raw.close();
    }
  }
});

test('v1: an HTML error page that quotes a key-bearing URL, with 200 and with 502: the key shows nowhere; one create', async () => {
  const page = `<!DOCTYPE html><html><body><h1>Upgrade platform</h1><p>Your request is at <a href="https://upgrade.odoo.com/database/eu1/10534/${encodeURIComponent(KEY)}/status">https://upgrade.odoo.com/database/eu1/10534/${KEY}/status</a></p></body></html>`;
  for (const status of [200, 502]) {
    const raw = await rawServer((p) => (p.endsWith('/create') ? { status, body: page, type: 'text/html' } : { status: 500, body: 'unexpected call' }));
    const run = await runAgainst(raw, 'v1');
    try {
      assert.equal(run.code, 1, run.stdout);
      assert.equal(raw.hits.length, 1);
      const errors = errorLines(run);
      assert.match(errors, /Your request is at/, 'the page is quoted, redacted');
      assert.match(errors, /database\/eu1\/10534\/\*\*\*\/status/);
      assertNothingOf(run, KEY);
    } finally {
      await run.cleanup();
      await raw.close();
    }
  }
});

test('v1: a JSON answer with the key in fields nobody expects (a failure message object, a debug field): the key shows nowhere', async () => {
  const answer = JSON.stringify({
    failures: [{ reason: 'SERVER:ERROR', message: { text: 'internal error', debug: { handle: KEY, request_key: KEY } }, expected: [KEY] }],
  });
  const raw = await rawServer((p) => (p.endsWith('/create') ? { body: answer } : { status: 500, body: 'unexpected call' }));
  const run = await runAgainst(raw, 'v1');
  try {
    assert.equal(run.code, 1, run.stdout);
    // SERVER:ERROR is a refusal that created nothing: retried within the budget, then the platform's words.
    assert.equal(raw.hits.length, 5, 'create retried on a temporary refusal, 5 tries');
    assert.match(errorLines(run), /The platform refused create:.*SERVER:ERROR.*internal error/s);
    assertNothingOf(run, KEY);
  } finally {
    await run.cleanup();
    await raw.close();
  }
});

// ---------------------------------------------------------------- in-process: retries of garbled answers

const lines: string[] = [];
const warnings: string[] = [];
const ctx: TransferContext = {
  log: (l) => lines.push(l),
  warn: (l) => warnings.push(l),
  progress: () => ({ update() {}, finish() {} }) as never,
};

test('rpc: status gets garbled answers (HTML with 200, cut JSON, empty body, hostile values) then a good one: ends well, each logged once', async () => {
  const garbled = [
    { body: '<html><body>Maintenance</body></html>', type: 'text/html' },
    { body: '{"jsonrpc": "2.0", "result": {"status": "pro' },
    { body: '' },
    { body: JSON.stringify({ jsonrpc: '2.0', result: { status: null } }) },
    { body: JSON.stringify({ jsonrpc: '2.0', result: { status: { state: 'done' } } }) },
  ];
  const node = await rawServer((p, _b, n) => (p.endsWith('/status') && n <= garbled.length ? garbled[n - 1]! : { body: JSON.stringify({ jsonrpc: '2.0', result: { status: 'done', host_uri: '' } }) }));
  const p = new RpcPlatform({ serverUrl: node.url, secrets: new SecretRegistry(() => {}), download: false, sshPrivateKey: '', envVars: [], contract: CONTRACT, retryBaseMs: 1 });
  lines.length = 0;
  try {
    const st = await p.status({ id: '77', key: TOKEN, hostUri: node.host }, ctx);
    assert.equal(st.state, 'done');
    assert.equal(st.phase, 'success');
    assert.equal(node.hits.length, 6);
    assert.equal(lines.length, 5, lines.join('\n'));
    assert.match(lines[0]!, /^status: the platform answered something that is not a JSON object \(Maintenance\); trying again/);
    assert.match(lines[2]!, /empty body/);
    assert.match(lines[3]!, /without a status \(the status is null\)/);
    assert.match(lines[4]!, /without a status \(the status is an object\)/);
  } finally {
    await p.close();
    await node.close();
  }
});

test('v1: status and skip_test retry garbled answers; hostile values (null in failures, an object for state) are bad answers, not TypeErrors', async () => {
  const bad = [
    { body: JSON.stringify({ failures: [null] }) },
    { body: JSON.stringify({ failures: [], request: { state: { name: 'done' } } }) },
    { body: JSON.stringify({ failures: {}, request: null }) },
    { body: '{"failures": [], "request": {"state": "do' },
  ];
  const good = (p: string) => ({ body: JSON.stringify({ failures: [], request: p.endsWith('/status') ? { id: 5, state: 'done', customer_message: null } : {} }) });
  const raw = await rawServer((p, _b, n) => (n <= bad.length ? bad[n - 1]! : good(p)));
  const v1 = new V1Platform({
    baseUrl: raw.url, secrets: new SecretRegistry(() => {}), download: 'none', uploadMethod: 'https', sftpThreshold: 1e12, downloadVia: 'https', sshPrivateKey: '', retryBaseMs: 1,
  });
  const ref: RequestRef = { id: '5', key: KEY };
  lines.length = 0;
  try {
    assert.equal((await v1.status(ref, ctx)).state, 'done');
    await v1.skipTest(ref, ctx);
    // skip_test reads no state: its second answer (an object for state) is good enough for it.
    assert.deepEqual(raw.hits.map((h) => h.path), [...Array(5).fill('/database/v1/status'), ...Array(2).fill('/database/v1/skip_test')]);
    assert.match(lines[4]!, /^skip_test: the platform's failure #1 is null, not an object; trying again/);
    assert.match(lines[0]!, /^status: the platform's failure #1 is null, not an object; trying again/);
    assert.match(lines[1]!, /^status: the platform answered without a request state \(the state is an object\)/);
    assert.match(lines[2]!, /^status: the platform's `failures` is an object, not a list/);
    assert.ok(lines.every((l) => !l.includes(KEY) && !/TypeError/.test(l)), lines.join('\n'));
  } finally {
    await raw.close();
  }
});

test('v1: a status that never gets a readable answer ends with the resume hint, not a raw error', async () => {
  const raw = await rawServer(() => ({ body: '<html>Bad gateway</html>', type: 'text/html' }));
  const v1 = new V1Platform({
    baseUrl: raw.url, secrets: new SecretRegistry(() => {}), download: 'none', uploadMethod: 'https', sftpThreshold: 1e12, downloadVia: 'https', sshPrivateKey: '', retryBaseMs: 1,
  });
  try {
    await assert.rejects(v1.status({ id: '5', key: KEY }, ctx), (err: Error) => {
      assert.match(err.message, /no answer from the platform about request 5 after 6 attempts \(the platform answered something that is not a JSON object \(Bad gateway\)\)/);
      assert.match(err.message, /request-id: "5"/);
      return true;
    });
    assert.equal(raw.hits.length, 6);
  } finally {
    await raw.close();
  }
});

// ---------------------------------------------------------------- wipe: contract-wide

test('wipe goes to the main server with contract and token; ids other than this request are a warning; every id is reported', async () => {
  const wipeAnswers = [
    { wiped: [77, 78, 91], failed: [92] },
    { wiped: [77], failed: [] },
  ];
  let w = 0;
  const entry = await rawServer((p) => (p.endsWith('/wipe') ? { body: JSON.stringify({ jsonrpc: '2.0', result: wipeAnswers[w++] }) } : { status: 500, body: 'no' }));
  const node = await rawServer(() => ({ status: 500, body: 'not here' }));
  const p = new RpcPlatform({ serverUrl: entry.url, secrets: new SecretRegistry(() => {}), download: false, sshPrivateKey: '', envVars: [], contract: CONTRACT, retryBaseMs: 1 });
  warnings.length = 0;
  try {
    const ref: RequestRef = { id: '77', key: TOKEN, hostUri: node.host };
    const said = await p.wipe(ref, ctx);
    assert.equal(node.hits.length, 0, 'nothing went to the node');
    assert.deepEqual(entry.hits.map((h) => h.path), ['/upgrade/request/wipe']);
    assert.deepEqual(JSON.parse(entry.hits[0]!.body).params, { contract: CONTRACT, token: TOKEN });
    assert.equal(said, 'The platform wiped the data of requests 77, 78, 91 and could not wipe request 92.');
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.match(warnings[0]!, /contract-wide/);
    assert.match(warnings[0]!, /requests 78, 91 of the same contract/);
    assert.match(warnings[0]!, /support can no longer look at them/);
    assert.match(warnings[1]!, /could not wipe request 92/);
    warnings.length = 0;
    assert.equal(await p.wipe(ref, ctx), 'The platform wiped the data of request 77.');
    assert.deepEqual(warnings, [], 'only this run\'s request: no warning');
  } finally {
    await p.close();
    await entry.close();
    await node.close();
  }
});

test('wipe without a ctx.warn: the warning is a ::warning line for the runner, redacted', async () => {
  const entry = await rawServer(() => ({ body: JSON.stringify({ jsonrpc: '2.0', result: { wiped: [5, 6], failed: [] } }) }));
  const p = new RpcPlatform({ serverUrl: entry.url, secrets: new SecretRegistry(() => {}), download: false, sshPrivateKey: '', envVars: [], contract: CONTRACT, retryBaseMs: 1 });
  const written: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    written.push(String(chunk));
    return original(chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    await p.wipe({ id: '5', key: TOKEN }, { log: () => {}, progress: ctx.progress });
  } finally {
    process.stdout.write = original;
    await p.close();
    await entry.close();
  }
  assert.ok(written.some((l) => /^::warning::wipe is contract-wide: .*request 6 of the same contract/.test(l)), written.join(''));
});

test('wipe answers with hostile shapes are bad answers naming wipe (retried, then a clear error)', async () => {
  const entry = await rawServer(() => ({ body: JSON.stringify({ jsonrpc: '2.0', result: { wiped: [null], failed: 'all' } }) }));
  const p = new RpcPlatform({ serverUrl: entry.url, secrets: new SecretRegistry(() => {}), download: false, sshPrivateKey: '', envVars: [], contract: CONTRACT, retryBaseMs: 1 });
  try {
    await assert.rejects(p.wipe({ id: '5', key: TOKEN }, ctx), { name: 'BadAnswerError', message: /^wipe: the platform's `wiped` holds null where a request id belongs/ });
    assert.equal(entry.hits.length, 6);
  } finally {
    await p.close();
    await entry.close();
  }
});

// ---------------------------------------------------------------- host_uri: bare host (the real platform) and host:port

test('host_uri: a bare host (the real platform) is https on 443 and the ssh host; host:port keeps its port for https only', () => {
  const server = 'https://upgrade.odoo.com';
  for (const bare of ['upgrade-eu1.odoo.com', ' upgrade-eu1.odoo.com ', 'upgrade-eu1.odoo.com/', 'UPGRADE-EU1.odoo.com']) {
    const node = nodeBaseUrl(bare, server);
    assert.equal(node.href, 'https://upgrade-eu1.odoo.com/', bare);
    assert.equal(node.port, '', 'the default port: 443');
    const { port } = parseTransferStart({ ssh_port: 40022, known_hosts: ['[upgrade-eu1.odoo.com]:40022 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJx9'] }, 'upload');
    assert.deepEqual(dataServer(node, port), { host: 'upgrade-eu1.odoo.com', port: 40022 }, 'ssh/rsync: the same host, the port from transfer/start');
  }
  const withPort = nodeBaseUrl('upgrade-eu1.odoo.com:8443', server);
  assert.equal(withPort.href, 'https://upgrade-eu1.odoo.com:8443/');
  assert.deepEqual(dataServer(withPort, 41000), { host: 'upgrade-eu1.odoo.com', port: 41000 }, 'the https port is not the ssh port');
  // The emulator's form: host:port on loopback, http only when the platform itself is loopback http.
  assert.equal(nodeBaseUrl('127.0.0.1:4443', 'http://127.0.0.1:8069').href, 'http://127.0.0.1:4443/');
  assert.equal(nodeBaseUrl('127.0.0.1', 'https://127.0.0.1:8069').href, 'https://127.0.0.1/');
  assert.deepEqual(dataServer(nodeBaseUrl('[::1]:4443', 'http://[::1]:8069'), 40000), { host: '::1', port: 40000 });
  // Numeric ssh ports as strings are read; anything else is a bad answer naming the call.
  assert.equal(parseTransferStart({ ssh_port: ' 40022 ', known_hosts: 'h ssh-ed25519 AAAA' }, 'upload').port, 40022);
  for (const bad of [0, 65536, 'x', null, {}, [40022], 40022.5]) {
    assert.throws(() => parseTransferStart({ ssh_port: bad, known_hosts: 'h ssh-ed25519 AAAA' }, 'upload'), { name: 'BadAnswerError', message: /^transfer\/start: / });
  }
});

test('host_uri: calls follow the node named as host:port, and move when status names another', async () => {
  const second = await rawServer(() => ({ body: JSON.stringify({ jsonrpc: '2.0', result: { status: 'done' } }) }));
  const first = await rawServer(() => ({ body: JSON.stringify({ jsonrpc: '2.0', result: { status: 'progress', host_uri: second.host } }) }));
  const p = new RpcPlatform({ serverUrl: first.url, secrets: new SecretRegistry(() => {}), download: false, sshPrivateKey: '', envVars: [], contract: CONTRACT, retryBaseMs: 1 });
  try {
    const ref: RequestRef = { id: '9', key: TOKEN, hostUri: first.host };
    assert.equal((await p.status(ref, ctx)).state, 'progress');
    assert.equal(ref.hostUri, second.host);
    assert.equal((await p.status(ref, ctx)).state, 'done');
    assert.deepEqual([first.hits.length, second.hits.length], [1, 1]);
  } finally {
    await p.close();
    await first.close();
    await second.close();
  }
});
