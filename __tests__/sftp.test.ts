// SFTP transfers against a real OpenSSH sshd (emulator/sshd.ts); connection cuts come from
// a small TCP proxy on 127.0.0.1 that destroys its sockets after a number of bytes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import { mkdtemp, rm, writeFile, readFile, truncate, copyFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSshd, type Sshd } from '../emulator/sshd.ts';
import { startProxy } from './support/cut-relay.ts';
import { loadOrCreateKeyPair, type KeyPair } from '../src/transfer/ssh-keys.ts';
import { SecretRegistry } from '../src/secrets.ts';
import { sftpUpload, sftpDownload, HostKeyMismatchError, type SftpTarget, type SftpOptions } from '../src/transfer/sftp.ts';

const skip = process.getuid?.() === 0 ? false : 'needs root (sshd chroots and switches users)';
const MiB = 1024 * 1024;

let pair: KeyPair;
let sshd: Sshd;
let dir: string;
// 20 MiB of random bytes: the cuts below need more bytes than can be in flight (4 channels ×
// a 2 MiB window, plus socket buffers) before and after them, not more.
const BIG = 20 * MiB;
let big: string;
let bigSha: string;

before(async () => {
  if (skip) return;
  pair = loadOrCreateKeyPair(undefined, new SecretRegistry(() => {}));
  sshd = await startSshd({ mode: 'sftp', authorizedKeys: pair.publicKey, sharedFile: 'db.dump' });
  dir = await mkdtemp(path.join(tmpdir(), 'sftp-test-'));
  big = path.join(dir, 'big.dump');
  bigSha = await writeRandom(big, BIG);
});

after(async () => {
  if (skip) return;
  await sshd?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function writeRandom(file: string, size: number): Promise<string> {
  const buf = Buffer.allocUnsafe(size);
  randomFillSync(buf);
  await writeFile(file, buf);
  return createHash('sha256').update(buf).digest('hex');
}

async function sha256Of(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

function target(over: Partial<SftpTarget> = {}): SftpTarget {
  return { host: sshd.host, port: sshd.port, username: sshd.user, privateKey: pair.privateKey, remotePath: 'db.dump', ...over };
}

function options(logs: string[], over: Partial<SftpOptions> = {}): SftpOptions {
  return { log: (l) => logs.push(l), retries: 3, retryBaseMs: 20, ...over };
}

// writeFile keeps the file's owner (the SFTP user); copyFile would make it root's.
async function resetShared(content: Buffer = Buffer.alloc(0)): Promise<void> {
  await writeFile(sshd.sharedFilePath as string, content);
}


test('upload: a 20 MiB dump arrives intact, with the host key logged', { skip }, async () => {
  await resetShared();
  const logs: string[] = [];
  const updates: number[] = [];
  let finished = 0;
  const r = await sftpUpload(big, target(), options(logs, { progress: { update: (n) => updates.push(n), finish: () => finished++ } }));
  assert.equal(r.bytes, BIG);
  assert.equal(r.sha256, bigSha);
  assert.equal(await sha256Of(sshd.sharedFilePath as string), bigSha);
  assert.equal(r.hostKeyFingerprint, sshd.hostKeyFingerprint);
  assert.deepEqual(r.resumedFrom, []);
  assert.ok(logs.some((l) => l.includes(sshd.hostKeyFingerprint) && l.includes('ED25519')), logs.join('\n'));
  assert.equal(updates.at(-1), BIG);
  assert.equal(finished, 1);
});

test('upload: a connection cut mid-way is resumed from the remote size', { skip }, async () => {
  await resetShared();
  const proxy = await startProxy(() => sshd.port, (n) => (n === 0 ? 12 * MiB : undefined), 'up');
  try {
    const logs: string[] = [];
    const r = await sftpUpload(big, target({ port: proxy.port }), options(logs, { expectedHostKey: sshd.hostKeyFingerprint }));
    assert.equal(proxy.connections, 2, logs.join('\n'));
    assert.equal(r.resumedFrom.length, 1, logs.join('\n'));
    assert.ok(r.resumedFrom[0] > 4 * MiB && r.resumedFrom[0] < 12 * MiB, `resumed at ${r.resumedFrom[0]}`);
    assert.equal(r.sha256, bigSha);
    assert.equal(await sha256Of(sshd.sharedFilePath as string), bigSha);
    assert.ok(logs.some((l) => /reconnecting/.test(l)), logs.join('\n'));
  } finally {
    await proxy.close();
  }
});

test('upload over 4 channels: the writes land out of order, a cut resumes from the acknowledged prefix', { skip }, async () => {
  await resetShared();
  const proxy = await startProxy(() => sshd.port, (n) => (n === 0 ? 12 * MiB : undefined), 'up');
  try {
    const logs: string[] = [];
    const r = await sftpUpload(big, target({ port: proxy.port }), options(logs, { channels: 4 }));
    assert.equal(proxy.connections, 2, logs.join('\n'));
    assert.equal(r.resumedFrom.length, 1, logs.join('\n'));
    // Went on from what the server had acknowledged (up to 8 MiB were in flight over 4 channels), not from zero.
    assert.ok(r.resumedFrom[0] > 0 && r.resumedFrom[0] < 12 * MiB, `resumed at ${r.resumedFrom[0]}`);
    assert.equal(r.sha256, bigSha);
    assert.equal(await sha256Of(sshd.sharedFilePath as string), bigSha);
  } finally {
    await proxy.close();
  }
});

test('upload: a stalled connection is dropped after the stall timeout and resumed', { skip }, async () => {
  await resetShared();
  const proxy = await startProxy(() => sshd.port, (n) => (n === 0 ? 6 * MiB : undefined), 'up', 'stall');
  try {
    const logs: string[] = [];
    const t0 = Date.now();
    const r = await sftpUpload(big, target({ port: proxy.port }), options(logs, { stallTimeoutMs: 400 }));
    assert.ok(Date.now() - t0 < 10_000);
    assert.equal(proxy.connections, 2, logs.join('\n'));
    assert.ok(logs.some((l) => /No SFTP answer/.test(l)), logs.join('\n'));
    assert.equal(r.resumedFrom.length, 1);
    assert.equal(await sha256Of(sshd.sharedFilePath as string), bigSha);
  } finally {
    await proxy.close();
  }
});

test('upload: a partial file from an earlier run is completed; a foreign or longer one is replaced', { skip }, async () => {
  const whole = await readFile(big);
  // Same file, cut short by an earlier run.
  await resetShared(whole.subarray(0, 9 * MiB + 123));
  let logs: string[] = [];
  let r = await sftpUpload(big, target(), options(logs));
  assert.equal(r.resumedFrom.length, 1);
  assert.equal(await sha256Of(sshd.sharedFilePath as string), bigSha);
  assert.equal(r.sha256, bigSha, 'the hash covers the bytes not sent this time too');

  // Another dump's bytes: extending them would corrupt the upload.
  const foreign = Buffer.allocUnsafe(9 * MiB);
  randomFillSync(foreign);
  await resetShared(foreign);
  logs = [];
  r = await sftpUpload(big, target(), options(logs));
  assert.deepEqual(r.resumedFrom, []);
  assert.ok(logs.some((l) => /again from the beginning/.test(l)), logs.join('\n'));
  assert.equal(await sha256Of(sshd.sharedFilePath as string), bigSha);

  // Longer than the local file: start over, and the extra tail goes.
  await resetShared(Buffer.concat([whole, Buffer.alloc(MiB, 1)]));
  r = await sftpUpload(big, target(), options([]));
  assert.deepEqual(r.resumedFrom, []);
  assert.equal((await stat(sshd.sharedFilePath as string)).size, BIG);
  assert.equal(await sha256Of(sshd.sharedFilePath as string), bigSha);
});

test('upload: a wrong pinned host key is refused at once, never retried', { skip }, async () => {
  const logs: string[] = [];
  const wrong = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
  const t0 = Date.now();
  await assert.rejects(sftpUpload(big, target(), options(logs, { expectedHostKey: wrong, retryBaseMs: 20_000 })), (err: Error) => {
    assert.ok(err instanceof HostKeyMismatchError, String(err));
    assert.ok(err.message.includes(wrong) && err.message.includes(sshd.hostKeyFingerprint), err.message);
    return true;
  });
  assert.ok(Date.now() - t0 < 5000, 'no backoff happened (a retry would wait 10 s or more)');
  assert.ok(!logs.some((l) => /reconnecting/.test(l)), logs.join('\n'));
});

test('upload: a different host key on reconnect ends the transfer', { skip }, async () => {
  await resetShared();
  const impostor = await startSshd({ mode: 'sftp', authorizedKeys: pair.publicKey, sharedFile: 'db.dump' });
  // First connection reaches the real server and is cut; the reconnect lands on another key.
  const proxy = await startProxy((n) => (n === 0 ? sshd.port : impostor.port), (n) => (n === 0 ? 8 * MiB : undefined), 'up');
  try {
    const logs: string[] = [];
    await assert.rejects(sftpUpload(big, target({ port: proxy.port }), options(logs)), HostKeyMismatchError);
    assert.equal(proxy.connections, 2, 'one reconnect, no retry after the mismatch');
    assert.equal((await stat(impostor.sharedFilePath as string)).size, 0, 'nothing sent to the impostor');
  } finally {
    await proxy.close();
    await impostor.close();
  }
});

test('upload: the user cannot create any file but the shared one; a refused key is not retried', { skip }, async () => {
  const logs: string[] = [];
  await assert.rejects(sftpUpload(big, target({ remotePath: 'other.dump' }), options(logs)), (err: Error & { code?: unknown }) => {
    assert.equal(err.code, 3, `permission denied expected, got ${err.message}`);
    return true;
  });
  assert.ok(!logs.some((l) => /reconnecting/.test(l)), logs.join('\n'));

  const stranger = loadOrCreateKeyPair(undefined, new SecretRegistry(() => {}));
  const t0 = Date.now();
  await assert.rejects(sftpUpload(big, target({ privateKey: stranger.privateKey }), options(logs, { retryBaseMs: 20_000 })), /authentication/i);
  assert.ok(Date.now() - t0 < 5000, 'authentication failures are final');
  assert.ok(!logs.some((l) => /reconnecting/.test(l)), logs.join('\n'));
});

test('download: resumes from the local partial file, also after a cut', { skip }, async () => {
  const remote = path.join(dir, 'remote-src');
  const remoteSha = await writeRandom(remote, 16 * MiB + 777);
  await resetShared(await readFile(remote));
  const local = path.join(dir, 'downloaded');
  await copyFile(remote, local);
  await truncate(local, 7 * MiB + 5);

  let logs: string[] = [];
  let r = await sftpDownload(target(), local, options(logs));
  assert.deepEqual(r.resumedFrom, [7 * MiB + 5]);
  assert.equal(r.bytes, 16 * MiB + 777);
  assert.equal(r.sha256, remoteSha);
  assert.equal(await sha256Of(local), remoteSha);

  // Cut while the server sends; the second connection goes on from what reached the disk.
  await rm(local);
  const proxy = await startProxy(() => sshd.port, (n) => (n === 0 ? 10 * MiB : undefined), 'down');
  try {
    logs = [];
    r = await sftpDownload(target({ port: proxy.port }), local, options(logs));
    assert.equal(proxy.connections, 2);
    assert.equal(r.resumedFrom.length, 1, logs.join('\n'));
    assert.ok(r.resumedFrom[0] > 0);
    assert.equal(r.sha256, remoteSha);
    assert.equal(await sha256Of(local), remoteSha);
  } finally {
    await proxy.close();
  }

  // A partial file that is not a prefix of the remote one is downloaded again.
  const wrong = Buffer.alloc(3 * MiB, 9);
  await writeFile(local, wrong);
  logs = [];
  r = await sftpDownload(target(), local, options(logs));
  assert.deepEqual(r.resumedFrom, []);
  assert.equal(await sha256Of(local), remoteSha);
});

test('download over 4 channels: answers out of order are written in order; a cut resumes from the disk', { skip }, async () => {
  const remote = path.join(dir, 'remote-src-4');
  const remoteSha = await writeRandom(remote, 16 * MiB + 333);
  await resetShared(await readFile(remote));
  const local = path.join(dir, 'downloaded-4');
  await rm(local, { force: true });
  const proxy = await startProxy(() => sshd.port, (n) => (n === 0 ? 10 * MiB : undefined), 'down');
  try {
    const logs: string[] = [];
    const r = await sftpDownload(target({ port: proxy.port }), local, options(logs, { channels: 4 }));
    assert.equal(proxy.connections, 2, logs.join('\n'));
    assert.equal(r.resumedFrom.length, 1, logs.join('\n'));
    assert.ok(logs.some((l) => /reading over 4 channels/.test(l)), logs.join('\n'));
    assert.equal(r.sha256, remoteSha);
    assert.equal(await sha256Of(local), remoteSha);
  } finally {
    await proxy.close();
    await rm(local, { force: true });
  }
});

test('abort: the signal stops an upload quickly and closes the connection', { skip }, async () => {
  await resetShared();
  const controller = new AbortController();
  const proxy = await startProxy(() => sshd.port, () => undefined, 'up');
  try {
    let aborted = 0;
    const upload = sftpUpload(big, target({ port: proxy.port }), {
      log: () => {},
      signal: controller.signal,
      progress: {
        update: (n) => {
          if (n > 4 * MiB && !aborted) {
            aborted = Date.now();
            controller.abort();
          }
        },
        finish: () => {},
      },
    });
    await assert.rejects(upload, { name: 'AbortError' });
    assert.ok(Date.now() - aborted < 2000);
    for (let i = 0; i < 50 && proxy.open > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(proxy.open, 0, 'the SSH connection is closed');
    assert.ok((await stat(sshd.sharedFilePath as string)).size < BIG);
  } finally {
    await proxy.close();
  }
});

// Throughput against OpenSSH is measured by `npm run bench` (bench/worker-sftp.ts), not here: a
// test asserts, and pushing 200 MiB twice to print a number cost more than the rest of this file.
