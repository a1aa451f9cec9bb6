// Property-based tests of every parser of the platform's answers, both protocols, from the raw
// text of the HTTP body to what the pipeline uses: arbitrary text, arbitrary JSON, hostile values
// in the expected fields (null in `failures`, objects where strings belong), answers cut at any
// point. Properties: the only errors are the protocol's own (a BadAnswer, a refusal, an HTTP
// status) and they name the call; valid answers still parse; no key or token from the answer
// reaches a message, whether the key sits in its field, in a key-bearing URL, in a field nobody
// expects, or in a text cut in the middle of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BadAnswerError, HttpStatusError, parseJsonAnswer } from '../src/net/http.ts';
import { PlatformError, EndpointMissingError } from '../src/platform/types.ts';
import { failuresOf, mapV1Status, parseV1Answer, parseV1Create } from '../src/platform/v1.ts';
import { parseAccess } from '../src/platform/v1-sftp.ts';
import { mapRpcStatus, parseProcess, parseRpcAnswer, parseRpcCreate, parseTransferStart, parseWipe } from '../src/platform/rpc.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
const params = (): fc.Parameters<unknown> => ({
  numRuns: RUNS,
  ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}),
});

type Chain = { call: string; run: (text: string, httpStatus: number) => unknown };

const v1 = (call: string, last: (r: Record<string, unknown>) => unknown = (r) => r): Chain => ({
  call,
  run: (text, httpStatus) => {
    const a = parseJsonAnswer(call, httpStatus, text, undefined, true);
    return last(parseV1Answer(call, a.status, a.body));
  },
});
const rpc = (call: string, last: (r: Record<string, unknown>) => unknown = (r) => r): Chain => ({
  call,
  run: (text, httpStatus) => {
    const a = parseJsonAnswer(call, httpStatus, text, undefined, true);
    return last(parseRpcAnswer(call, a.status, a.body, 'upgrade-eu1.odoo.com'));
  },
});

const CHAINS: Chain[] = [
  v1('create', parseV1Create),
  v1('status', mapV1Status),
  v1('process'),
  v1('skip_test'),
  v1('request_sftp_access', parseAccess),
  {
    call: 'upload',
    run: (text, httpStatus) => failuresOf('upload', parseJsonAnswer('upload', httpStatus, text, undefined, true).body),
  },
  rpc('create', parseRpcCreate),
  rpc('status', mapRpcStatus),
  rpc('process', parseProcess),
  rpc('transfer/start', (r) => parseTransferStart(r, 'upload')),
  rpc('transfer/start', (r) => parseTransferStart(r, 'download')),
  rpc('transfer/stop'),
  rpc('wipe', parseWipe),
];

const PROTOCOL_ERRORS = [BadAnswerError, PlatformError, HttpStatusError, EndpointMissingError];

/** Runs a chain; a throw must be one of the protocol's errors, naming the call. Returns the error's message. */
function runChain(chain: Chain, text: string, httpStatus: number): { message?: string; value?: unknown } {
  try {
    return { value: chain.run(text, httpStatus) };
  } catch (err) {
    assert.ok(PROTOCOL_ERRORS.some((E) => err instanceof E), `${chain.call}: a raw ${(err as Error)?.name}: ${(err as Error)?.message}`);
    const message = (err as Error).message;
    assert.ok(message.includes(chain.call), `${chain.call}: the message does not name the call: ${message}`);
    return { message };
  }
}

// ---------------------------------------------------------------- generators

const FIELDS = [
  'failures', 'request', 'result', 'error', 'id', 'key', 'state', 'customer_message', 'status', 'reason', 'token', 'request_id',
  'assigned_host_uri', 'info', 'host_uri', 'ssh_port', 'known_hosts', 'dump_name', 'wiped', 'failed', 'is_pg_version_compatible',
  'hostname', 'sftp_port', 'sftp_user', 'shared_file', 'reason', 'message', 'expected', 'data', 'archived',
];

/** JSON values with the expected names but any value: null, objects where strings belong, lists of junk. */
const hostileObject: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(null, '', ' ', 0, -1, 65536, 1e300, true, false, [], {}, [null], [{}], ['x', null], 'done', 'failed', '\u0000', '../etc'),
    tie('object'),
  ),
  object: fc.dictionary(fc.constantFrom(...FIELDS), tie('value'), { maxKeys: 6 }),
})).object;

const wrapped = hostileObject.chain((inner) =>
  fc.constantFrom(
    inner,
    { failures: [], request: inner },
    { jsonrpc: '2.0', id: 'not_used', result: inner },
    { failures: inner },
    { error: inner },
  ),
);

const texts: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
  wrapped.map((v) => JSON.stringify(v)),
  wrapped.chain((v) => {
    const s = JSON.stringify(v);
    return fc.nat({ max: s.length }).map((cut) => s.slice(0, cut));
  }),
  fc.constantFrom('', '<html><body>Maintenance</body></html>', 'null', '[]', '"done"', '{', '{"request": {"state": ', '\u00ff\u00fe'),
);
const statuses = fc.constantFrom(200, 200, 200, 201, 204, 400, 403, 404, 405, 429, 500, 502, 503);

// ---------------------------------------------------------------- properties

test('fuzz: every parser of both protocols, arbitrary and hostile answers: no crash, errors name the call', () => {
  fc.assert(
    fc.property(fc.constantFrom(...CHAINS), texts, statuses, (chain, text, httpStatus) => {
      runChain(chain, text, httpStatus);
    }),
    params(),
  );
});

// Keys are random bytes (the platform's are): unbiased, or fast-check would favour "AAAA...".
const base64Key = fc.noBias(fc.uint8Array({ minLength: 16, maxLength: 32 })).map((b) => Buffer.from(b).toString('base64'));
const base64UrlKey = fc.noBias(fc.uint8Array({ minLength: 18, maxLength: 32 })).map((b) => Buffer.from(b).toString('base64url'));
const secret = fc.oneof(base64Key, base64UrlKey).filter((k) => /[0-9]/.test(k) && /[A-Za-z]/.test(k));
const KEY_FIELDS = ['key', 'token', 'access_key', 'password', 'secret', 'api_token', 'request_key', 'Key', 'TOKEN'];

/** An answer carrying the secret where the protocols put it, or where nobody expects it. */
const leakyAnswer = fc.record({
  key: secret,
  id: fc.nat({ max: 10_000_000 }),
  shape: fc.constantFrom('v1-create', 'rpc-create', 'v1-status', 'field', 'failure', 'rpc-error', 'html', 'traceback', 'unexpected'),
  field: fc.constantFrom(...KEY_FIELDS),
  extra: fc.dictionary(fc.constantFrom('email', 'target', 'note', 'filename'), fc.string({ maxLength: 20 }), { maxKeys: 3 }),
}).map(({ key, id, shape, field, extra }) => {
  const url = (what: string) => `https://upgrade.odoo.com/database/eu1/${id}/${shape === 'html' ? encodeURIComponent(key) : key}/${what}`;
  let text: string;
  switch (shape) {
    case 'v1-create':
      text = JSON.stringify({ failures: [], request: { id, key, ...extra, state: 'draft', status_url: url('status'), upgraded_dump_url: url('upgraded/archive') } });
      break;
    case 'rpc-create':
      text = JSON.stringify({ jsonrpc: '2.0', id: 'not_used', result: { request_id: id, token: key, assigned_host_uri: 'upgrade-eu1.odoo.com', ...extra } });
      break;
    case 'v1-status':
      text = JSON.stringify({ failures: [], request: { id, ...extra, state: 'done', notes_url: url('upgraded/notes'), customer_message: `see ${url('status')}` } });
      break;
    case 'field':
      text = JSON.stringify({ failures: [], request: { ...extra, [field]: key } });
      break;
    case 'failure':
      text = JSON.stringify({ failures: [{ reason: 'SERVER:ERROR', message: `bad ${field}=${key} for request ${id}` }] });
      break;
    case 'rpc-error':
      text = JSON.stringify({ jsonrpc: '2.0', error: { code: 200, message: 'Odoo Server Error', data: { message: `KeyError: {'${field}': '${key}'}` } } });
      break;
    case 'html':
      text = `<html><body><h1>502 Bad Gateway</h1><a href="${url('upgraded/archive')}">retry</a></body></html>`;
      break;
    case 'traceback':
      text = JSON.stringify({ result: { error: `Traceback: ${JSON.stringify({ [field]: key })}` } });
      break;
    default:
      text = JSON.stringify({ failures: [], request: { id, ...extra, unexpected_field: key } });
  }
  return { key, shape, text };
});

function assertNoSecret(message: string | undefined, key: string, shape: string, window: number) {
  if (!message) return;
  assert.ok(!message.includes(key), `${shape}: the whole key in "${message}"`);
  for (let i = 0; i + window <= key.length; i++) {
    const piece = key.slice(i, i + window);
    assert.ok(!message.includes(piece) && !message.includes(encodeURIComponent(piece)), `${shape}: "${piece}" of the key in "${message}"`);
  }
}

test('fuzz: a key or token in any answer, cut at any point, never reaches a message', () => {
  fc.assert(
    fc.property(leakyAnswer, fc.constantFrom(...CHAINS), statuses, fc.double({ min: 0, max: 1, noNaN: true }), ({ key, shape, text }, chain, httpStatus, at) => {
      const cut = text.slice(0, Math.round(at * text.length));
      for (const t of [text, cut]) {
        const { message, value } = runChain(chain, t, httpStatus);
        // Where the field says "secret", even a few characters of the value are too many; a key in a
        // field nobody expects is caught by its look, which needs a long enough piece to judge.
        const window = shape === 'unexpected' ? 16 : 6;
        assertNoSecret(message, key, shape, window);
        const status = value as { message?: string } | undefined;
        if (chain.call === 'status' && typeof status?.message === 'string') assertNoSecret(status.message, key, shape, window);
      }
    }),
    params(),
  );
});

const V1_STATES = ['draft', 'pending', 'processing', 'testing', 'done', 'delivered', 'failed', 'cancelled', 'invalid'];

test('fuzz: valid answers still parse, whatever else they carry', () => {
  const benign = fc.dictionary(fc.stringMatching(/^[a-z_]{1,12}$/), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 4 });
  fc.assert(
    fc.property(
      benign, fc.nat(), secret, fc.oneof(fc.constantFrom(...V1_STATES), fc.stringMatching(/^[a-z_]{1,15}$/)), fc.integer({ min: 1, max: 65535 }),
      fc.array(fc.nat(), { maxLength: 5 }),
      (extra, id, key, state, port, ids) => {
        const c = parseV1Create(parseV1Answer('create', 200, parseJsonAnswer('create', 200, JSON.stringify({ failures: [], request: { ...extra, id, key } })).body));
        assert.deepEqual(c, { id: String(id), key });
        const st = mapV1Status(parseV1Answer('status', 200, parseJsonAnswer('status', 200, JSON.stringify({ failures: null, request: { ...extra, id, state } })).body));
        assert.equal(st.state, state);
        const body = (result: unknown) => parseJsonAnswer('x', 200, JSON.stringify({ jsonrpc: '2.0', id: 'not_used', result })).body;
        const r = parseRpcCreate(parseRpcAnswer('create', 200, body({ ...extra, request_id: id, token: key, assigned_host_uri: 'upgrade-eu1.odoo.com' }), 'h'));
        assert.deepEqual([r.id, r.token, r.hostUri], [String(id), key, 'upgrade-eu1.odoo.com']);
        assert.equal(mapRpcStatus(parseRpcAnswer('status', 200, body({ ...extra, status: state }), 'h')).state, state);
        const ts = parseTransferStart(
          parseRpcAnswer('transfer/start', 200, body({ ...extra, ssh_port: port, known_hosts: [`[h]:${port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${key}`], dump_name: 'upgraded.dump' }), 'h'),
          'download',
        );
        assert.deepEqual([ts.port, ts.dumpName], [port, 'upgraded.dump']);
        assert.ok(ts.knownHosts.includes(`AAAAC3NzaC1lZDI1NTE5AAAAI${key}`), 'known_hosts lines are passed on whole');
        assert.deepEqual(parseWipe(parseRpcAnswer('wipe', 200, body({ wiped: ids, failed: [] }), 'h')), { wiped: ids.map(String), failed: [] });
      },
    ),
    params(),
  );
});

test('answers of adversarial size (4 MiB of what makes a redaction or a parser work hardest) end in a clear error or a parse, in bounded work', () => {
  const N = 4 * 1024 * 1024;
  const fill = (unit: string) => unit.repeat(Math.ceil(N / unit.length)).slice(0, N);
  const bodies = [
    fill('"key": "'), fill('key='), fill('/database/a/b/'), `{"token": "${fill('\\')}`, fill('a.'), fill('x-key: '),
    Buffer.alloc((N * 3) / 4, 7).toString('base64'), fill('<p>'), `{"failures": [{"message": "${fill('Aw7p+tGV ')}"}]}`,
    JSON.stringify({ jsonrpc: '2.0', result: { status: 'progress', reason: fill('token=abc ') } }),
    JSON.stringify({ failures: [], request: { state: 'done', customer_message: fill('see /database/eu1/1/Aw7pItGVKFuZ_FOR3U8VFQ==/status ') } }),
  ];
  // The framing is shared; one chain of each protocol (those that quote the most) is enough per body.
  const chains = CHAINS.filter((c) => c.call === 'status' || (c.call === 'create' && c === CHAINS[0]));
  for (const body of bodies) {
    for (const chain of chains) {
      const { message, value } = runChain(chain, body, 200);
      if (message !== undefined) assert.ok(message.length < 10_000, `${chain.call}: a message of ${message.length} characters`);
      const text = (value as { message?: string } | undefined)?.message;
      if (typeof text === 'string') assert.ok(text.length <= 2001, `${chain.call}: a status message of ${text.length} characters`);
    }
  }
});
