import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretRegistry } from '../src/secrets.ts';

test('secrets are masked once, redacted in every form', () => {
  const masked: string[] = [];
  const s = new SecretRegistry((v) => masked.push(v));
  s.add('Aw7p+tGVKFuZ/FOR3U8VFQ==');
  s.add('Aw7p+tGVKFuZ/FOR3U8VFQ==');
  assert.ok(masked.includes('Aw7p+tGVKFuZ/FOR3U8VFQ=='));
  assert.equal(new Set(masked).size, masked.length, 'each form masked once');
  const text = 'key=Aw7p%2BtGVKFuZ%2FFOR3U8VFQ%3D%3D and raw Aw7p+tGVKFuZ/FOR3U8VFQ==';
  assert.equal(s.redact(text), 'key=*** and raw ***');
});

test('URLs: whole URL, query values and password are secrets', () => {
  const s = new SecretRegistry(() => {});
  s.addUrl('https://bucket.example.com/db.dump?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIAXYZ%2F2026');
  assert.equal(s.redact('sig deadbeefcafe'), 'sig ***');
  assert.equal(s.redact('cred AKIAXYZ/2026'), 'cred ***');
  s.addUrl('postgresql://odoo:s3cr3t-pw@db:5432/prod');
  assert.equal(s.redact('password s3cr3t-pw'), 'password ***');
});

test('short values are not registered (they would redact ordinary words)', () => {
  const s = new SecretRegistry(() => {});
  s.add('abc');
  assert.equal(s.redact('abc abc'), 'abc abc');
});

test('errors thrown by libraries are redacted, causes too', () => {
  const s = new SecretRegistry(() => {});
  s.add('topsecretvalue');
  const err = new Error('failed at https://x/topsecretvalue/y', { cause: new Error('inner topsecretvalue') });
  s.redactError(err);
  assert.doesNotMatch(err.message + err.stack + (err.cause as Error).message, /topsecretvalue/);
});

test('multi-line secrets are masked line by line', () => {
  const masked: string[] = [];
  const s = new SecretRegistry((v) => masked.push(v));
  s.add('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----');
  assert.ok(masked.includes('b3BlbnNzaC1rZXktdjEAAAAA'));
});

test('errors with read-only fields (DOMException) are redacted through a copy', () => {
  const s = new SecretRegistry(() => {});
  s.add('topsecretvalue');
  const dom = new DOMException('aborted topsecretvalue', 'AbortError');
  const out = s.redactError(dom);
  assert.doesNotMatch(out.message, /topsecretvalue/);
  assert.equal(out.name, 'AbortError');
});

// ---------------------------------------------------------------- redactAnswer: platform text

import { redactAnswer } from '../src/secrets.ts';
import { snippet, HttpStatusError, BadAnswerError, parseJsonAnswer } from '../src/net/http.ts';

const KEY = 'Aw7pItGVKFuZ_FOR3U8VFQ==';
const TOKEN = 'q3VJx0T8mZr2LwYb9KfN1sDaPcE7hUgi';
// The seed's create answer (v1), as the platform sends it.
const V1_CREATE = JSON.stringify({
  failures: [],
  request: {
    id: 10534, key: KEY, email: 'john.doe@example.com', target: '8.0', aim: 'test', filename: 'db_name.dump', state: 'draft',
    status_url: `https://upgrade.odoo.com/database/eu1/10534/${KEY}/status`,
    notes_url: `https://upgrade.odoo.com/database/eu1/10534/${KEY}/upgraded/notes`,
    upgraded_dump_url: `https://upgrade.odoo.com/database/eu1/10534/${KEY}/upgraded/archive`,
  },
});
const RPC_CREATE = JSON.stringify({ jsonrpc: '2.0', id: 'not_used', result: { request_id: 77, token: TOKEN, assigned_host_uri: 'upgrade-eu1.odoo.com' } });

/** No piece of `secret` of `window` characters or more is in `text`. */
function assertNoPiece(text: string, secret: string, window: number, context: string) {
  for (let i = 0; i + window <= secret.length; i++) {
    assert.ok(!text.includes(secret.slice(i, i + window)), `${context}: "${secret.slice(i, i + window)}" in ${text}`);
  }
}

test('redactAnswer: a create answer cut at every point never shows a piece of the key (v1 key, rpc token)', () => {
  for (const [answer, secret] of [[V1_CREATE, KEY], [RPC_CREATE, TOKEN]] as const) {
    for (let cut = 0; cut <= answer.length; cut++) {
      const text = answer.slice(0, cut);
      // The message a client builds from it, through the one framing function every JSON call uses.
      let message = '';
      try {
        parseJsonAnswer('create', 200, text);
        message = redactAnswer(text); // whole answers: the same redaction applies to any snippet of them
      } catch (err) {
        message = (err as Error).message;
      }
      assertNoPiece(message, secret, 4, `cut at ${cut}`);
      assertNoPiece(redactAnswer(text), secret, 4, `redactAnswer at ${cut}`);
    }
  }
});

test('redactAnswer: HTML error page with a key-bearing URL, encoded or not, and the key in unexpected places', () => {
  const enc = encodeURIComponent('Aw7p+tGVKFuZ/FOR3U8VFQ==');
  const page = `<html><head><title>502</title></head><body><p>Try <a href="https://upgrade.odoo.com/database/eu1/10534/${enc}/upgraded/archive">the archive</a> later.</p></body></html>`;
  const err = new HttpStatusError('status', 502, undefined, snippet(page));
  assert.doesNotMatch(err.message, /Aw7p|FOR3U8|VFQ/);
  assert.match(err.message, /status: HTTP 502 \(502 Try the archive later\.\)/);
  // A standard-base64 key with its own "/" inside the URL path, unencoded.
  assert.equal(
    redactAnswer('see https://upgrade.odoo.com/database/eu1/10534/Aw7p+tGVKFuZ/FOR3U8VFQ==/upgraded/sql now'),
    'see https://upgrade.odoo.com/database/eu1/10534/***/upgraded/sql now',
  );
  // Fields nobody expects: a random-looking value goes, ordinary text stays.
  const odd = JSON.stringify({ request: { id: 4, debug: { handle: KEY }, note: 'ask support', blob: `x ${TOKEN} y` } });
  const out = redactAnswer(odd);
  assert.ok(!out.includes(KEY) && !out.includes(TOKEN), out);
  assert.match(out, /"note":"ask support"/);
  assert.ok(!new BadAnswerError(`create: odd answer (${odd})`).message.includes(KEY));
});

test('redactAnswer: key-shaped names in JSON, Python reprs, escaped JSON, forms, headers; broken quotes', () => {
  const cases: Array<[string, string]> = [
    [`{"key": "${KEY}", "id": 3}`, `{"key": "***", "id": 3}`],
    [`{"Access_Key":"abc def", "x": 1}`, `{"Access_Key":"***", "x": 1}`],
    [`{'token': 'tok en', 'state': 'done'}`, `{'token': '***', 'state': 'done'}`],
    [`"debug": "{\\"password\\": \\"hunter2\\"}"`, `"debug": "{\\"password\\": \\"***\\"}"`],
    [`key=${encodeURIComponent(KEY)}&request=10534`, `key=***&request=10534`],
    [`Authorization: Bearer abc.def.ghi`, `Authorization: Bearer ***`],
    [`{"secret": "cut in the mid`, `{"secret": "***`],
    [`&quot;request_key&quot;: &quot;s3cr3tvalue&quot;`, `&quot;request_key&quot;: &quot;***&quot;`],
    [`apiKey => hello`, `apiKey => ***`],
  ];
  for (const [input, expected] of cases) assert.equal(redactAnswer(input), expected, input);
});

test('redactAnswer leaves what is not secret: known_hosts lines, names, dates, words, numbers', () => {
  const kept = [
    '[upgrade-eu1.odoo.com]:40022 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJx9Lr7QmK5t0pWmQf8ZbYc1X2sGhP4nT6uVwE3dF0aB',
    'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=',
    'werkzeug.exceptions.InternalServerError: psycopg2.OperationalError at 2026-12-04T13:50:56Z',
    'TARGET:INVALID: the target version 19.0 is not available (expected one of: 16.0, 17.0, 18.0)',
    'Use the token of the last request; the `request-key` input (masked) resumes it.',
    'request 10534 created_at 2015-09-09 07:13:49 filesize 912.99 Kb /usr/lib/python3/dist-packages/odoo/http.py',
  ];
  for (const text of kept) assert.equal(redactAnswer(text), text);
});

test('snippet redacts before it cuts, so a cut never leaves a readable piece', () => {
  const text = `${'x'.repeat(150)} {"token": "${TOKEN}"}`;
  for (let max = 140; max < 200; max++) assert.ok(!snippet(text, max).includes(TOKEN.slice(0, 4)), snippet(text, max));
});
