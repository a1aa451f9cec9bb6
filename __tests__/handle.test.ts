import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sealHandle, openHandle, HandleError, handleArtifactName, collectMatcher, type Handle } from '../src/github/handle.ts';

const handle: Handle = {
  api: 'rpc',
  id: '4242',
  key: 'tok-Secret-0123456789abcdef',
  host: 'upgrade-eu1.example.com',
  platformUrl: 'https://upgrade.odoo.com',
  target: '18.0',
  aim: 'test',
  dump: { name: 'prod.dump', sha256: 'ab'.repeat(32) },
  startedAt: '2026-12-04T10:00:00.000Z',
};

test('a sealed handle opens with its passphrase and shows no part of the key in clear', async () => {
  const sealed = await sealHandle(handle, 'correct horse battery staple');
  assert.ok(!sealed.includes(handle.key));
  assert.ok(!sealed.includes('Secret'));
  assert.ok(!sealed.includes(Buffer.from(handle.key).toString('base64').slice(0, 12)));
  assert.deepEqual(await openHandle(sealed, 'correct horse battery staple'), handle);
  // (each opening costs one scrypt derivation, ~0.1 s: the positions below are samples)
  // Random salt and nonce: two seals of the same handle differ.
  assert.notEqual(await sealHandle(handle, 'correct horse battery staple'), sealed);
});

test('a wrong passphrase is an error naming handle-passphrase', async () => {
  const sealed = await sealHandle(handle, 'one');
  await assert.rejects(openHandle(sealed, 'two'), (e: unknown) => e instanceof HandleError && e.input === 'handle-passphrase' && /handle-passphrase/.test(e.message));
  await assert.rejects(openHandle(sealed, ''), (e: unknown) => e instanceof HandleError && e.input === 'handle-passphrase');
});

test('every change to a sealed handle is refused with a clear error, never a crash or a wrong handle', async () => {
  const sealed = await sealHandle(handle, 'pass');
  const env = JSON.parse(sealed) as Record<string, unknown> & { kdf: Record<string, unknown> };
  const flip = (b64: string, i: number) => {
    const buf = Buffer.from(b64, 'base64');
    buf[i % buf.length] ^= 1 << i % 8;
    return buf.toString('base64');
  };
  const variants: Array<[string, unknown]> = [];
  for (const i of [0, 7, 15]) variants.push([`tag byte ${i}`, { ...env, tag: flip(env.tag as string, i) }]);
  for (const i of [0, 11]) variants.push([`iv byte ${i}`, { ...env, iv: flip(env.iv as string, i) }]);
  for (const i of [0, 15]) variants.push([`salt byte ${i}`, { ...env, kdf: { ...env.kdf, salt: flip(env.kdf.salt as string, i) } }]);
  const dataLen = Buffer.from(env.data as string, 'base64').length;
  for (const i of [0, dataLen >> 1, dataLen - 1]) variants.push([`data byte ${i}`, { ...env, data: flip(env.data as string, i) }]);
  variants.push(['r changed', { ...env, kdf: { ...env.kdf, r: 7 } }]);
  variants.push(['N huge', { ...env, kdf: { ...env.kdf, N: 2 ** 30 } }]);
  variants.push(['N not a power of 2', { ...env, kdf: { ...env.kdf, N: 30000 } }]);
  variants.push(['version', { ...env, version: 2 }]);
  variants.push(['cipher', { ...env, cipher: 'aes-128-gcm' }]);
  variants.push(['no data', { ...env, data: undefined }]);
  variants.push(['not base64', { ...env, tag: '!!!' }]);
  for (const [what, v] of variants) {
    await assert.rejects(openHandle(JSON.stringify(v), 'pass'), (e: unknown) => e instanceof HandleError && /handle/.test(e.message), what);
  }
});

test('a handle cut at any point is refused as damaged (collect) or unopenable (handle-passphrase)', async () => {
  const sealed = await sealHandle(handle, 'pass');
  for (let cut = 0; cut < sealed.length - 2; cut += 3) {
    await assert.rejects(openHandle(sealed.slice(0, cut), 'pass'), (e: unknown) => e instanceof HandleError, `cut at ${cut}`);
  }
  await assert.rejects(openHandle('x'.repeat(70_000), 'pass'), (e: unknown) => e instanceof HandleError && e.input === 'collect');
});

test('handle artifact names are one per request and safe as artifact names', () => {
  assert.equal(handleArtifactName('prod', '18.0', '4242'), 'odoo-upgrade-pending-prod-18.0-4242');
  assert.equal(handleArtifactName('a b/c:d', 'saas~18.2', '7'), 'odoo-upgrade-pending-a-b-c-d-saas~18.2-7');
  assert.doesNotMatch(handleArtifactName('"<>|*?\\/', '18.0', '1'), /["<>|*?\\/:]/);
});

test('collect patterns: * matches any run of characters, other characters literally, in linear time', () => {
  const m = collectMatcher('odoo-upgrade-pending-prod-18.0-*');
  assert.ok(m('odoo-upgrade-pending-prod-18.0-4242'));
  assert.ok(!m('odoo-upgrade-pending-prod-17.0-4242'));
  assert.ok(!m('odoo-upgrade-pending-prod-18x0-4242'));
  assert.ok(collectMatcher('exact')('exact'));
  assert.ok(!collectMatcher('exact')('exactly'));
  assert.ok(collectMatcher('a*b*c')('aXbYc'));
  assert.ok(!collectMatcher('a*b*c')('acb'));
  assert.ok(!collectMatcher('ab*ba')('aba'));
  assert.ok(collectMatcher('*')('anything'));
  // Compared with the equivalent regular expression on many shapes.
  const pats = ['*', 'a*', '*a', 'a*a', '*a*', 'ab*', 'a*b*a', '**', 'a**b'];
  const words = ['', 'a', 'b', 'aa', 'ab', 'ba', 'aba', 'abba', 'aab', 'bab', 'abab'];
  for (const p of pats) {
    const re = new RegExp(`^${p.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    for (const w of words) assert.equal(collectMatcher(p)(w), re.test(w), `${p} on "${w}"`);
  }
  const long = `${'a'.repeat(100_000)}`;
  assert.equal(collectMatcher('*a*a*a*a*b')(long), false);
});
