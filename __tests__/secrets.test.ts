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
