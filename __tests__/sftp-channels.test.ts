// How many SFTP channels a transfer opens (from the measured round trip) and how its writes are
// cut into SSH packets, against a real OpenSSH sshd, directly and behind a delaying relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile, readFile, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { startSshd, type Sshd } from '../emulator/sshd.ts';
import { startDelayRelay } from '../bench/proxy.ts';
import { loadOrCreateKeyPair, type KeyPair } from '../src/transfer/ssh-keys.ts';
import { SecretRegistry } from '../src/secrets.ts';
import { sftpUpload, sftpDownload, channelsFor, type SftpTarget } from '../src/transfer/sftp.ts';

const skip = process.getuid?.() === 0 ? false : 'needs root (sshd chroots and switches users)';
const MiB = 1024 * 1024;
const WINDOW = 2 * MiB; // what OpenSSH's sshd and ssh2 grant each channel
const PACKET_DATA = 32 * 1024 - 13; // an SFTP DATA answer that fits one of ssh2's 32 KiB packets

let pair: KeyPair;
let sshd: Sshd;
let dir: string;
let file: string;
let fileSha: string;

before(async () => {
  if (skip) return;
  pair = loadOrCreateKeyPair(undefined, new SecretRegistry(() => {}));
  sshd = await startSshd({ mode: 'sftp', authorizedKeys: pair.publicKey, sharedFile: 'db.dump' });
  dir = await mkdtemp(path.join(tmpdir(), 'sftp-channels-'));
  file = path.join(dir, 'f.dump');
  const buf = randomFillSync(Buffer.allocUnsafe(12 * MiB + 4321));
  await writeFile(file, buf);
  fileSha = createHash('sha256').update(buf).digest('hex');
});

after(async () => {
  if (skip) return;
  await sshd?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const target = (port: number): SftpTarget => ({ host: '127.0.0.1', port, username: sshd.user, privateKey: pair.privateKey, remotePath: 'db.dump' });
const sha256Of = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

test('channelsFor: one channel on a short link; enough 2 MiB windows per round trip for 160 MiB/s on a long one, at most 4', () => {
  assert.equal(channelsFor(0.3, WINDOW), 1);
  assert.equal(channelsFor(1.9, WINDOW), 1);
  assert.equal(channelsFor(25, WINDOW), 2);
  assert.equal(channelsFor(50, WINDOW), 4);
  assert.equal(channelsFor(400, WINDOW), 4);
  fc.assert(
    fc.property(fc.double({ min: 0, max: 2000, noNaN: true }), fc.double({ min: 0, max: 2000, noNaN: true }), (a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      const n = channelsFor(hi, WINDOW);
      assert.ok(Number.isInteger(n) && n >= 1 && n <= 4);
      assert.ok(channelsFor(lo, WINDOW) <= n, 'a longer round trip never gets fewer channels');
      // Below the cap the windows carry at least 160 MiB/s; one channel fewer would not.
      if (hi >= 2 && n < 4) assert.ok((n * WINDOW) / (hi / 1000) >= 160 * MiB - 1);
      if (hi >= 2 && n > 1) assert.ok(((n - 1) * WINDOW) / (hi / 1000) < 160 * MiB);
    }),
  );
  assert.equal(channelsFor(50, 0), 1, 'an unknown window: one channel');
});

test('upload: every WRITE fits one SSH packet of the channel (no 30-byte second packet per write)', { skip }, async () => {
  const SFTP = createRequire(import.meta.url)('ssh2/lib/protocol/SFTP.js').SFTP;
  const original = SFTP.prototype.write;
  const seen: Array<{ len: number; limit: number }> = [];
  SFTP.prototype.write = function (this: { outgoing: { packetSize: number } }, handle: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: unknown) {
    seen.push({ len, limit: this.outgoing.packetSize - (4 + 1 + 4 + 4 + handle.length + 8 + 4) });
    return original.call(this, handle, buf, off, len, pos, cb);
  };
  try {
    await truncate(sshd.sharedFilePath!, 0);
    const r = await sftpUpload(file, target(sshd.port), { log: () => {}, retries: 0 });
    assert.equal(r.sha256, fileSha);
    assert.equal(await sha256Of(sshd.sharedFilePath!), fileSha);
  } finally {
    SFTP.prototype.write = original;
  }
  assert.ok(seen.length > 300, `${seen.length} writes`);
  assert.deepEqual(seen.filter((w) => w.len > w.limit), [], 'a write larger than one packet');
  assert.ok(seen.filter((w) => w.len === w.limit).length >= seen.length - 2, 'writes use the whole packet');
});

test('download: every answer fits one SSH packet, and the receive window covers the requests in flight (ssh2 alone: 2 MiB)', { skip }, async () => {
  const SFTP = createRequire(import.meta.url)('ssh2/lib/protocol/SFTP.js').SFTP;
  const original = SFTP.prototype.read;
  const seen: Array<{ len: number; limit: number; window: number }> = [];
  SFTP.prototype.read = function (this: { incoming: { packetSize: number; window: number } }, handle: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: unknown) {
    seen.push({ len, limit: this.incoming.packetSize - 13, window: this.incoming.window });
    return original.call(this, handle, buf, off, len, pos, cb);
  };
  const back = path.join(dir, 'back-window.dump');
  try {
    await writeFile(sshd.sharedFilePath!, await readFile(file));
    const r = await sftpDownload(target(sshd.port), back, { log: () => {}, retries: 0 });
    assert.equal(r.sha256, fileSha);
    assert.equal(await sha256Of(back), fileSha);
  } finally {
    SFTP.prototype.read = original;
    await rm(back, { force: true });
  }
  const reads = seen.filter((x) => x.len > 1024); // not the 64 KiB prefix check of a resume
  assert.ok(reads.length > 300, `${reads.length} reads`);
  assert.deepEqual(reads.filter((x) => x.len > x.limit), [], 'an answer larger than one packet');
  // 128 requests of one packet each on a short link: 4 MiB may be on its way at once.
  const widest = Math.max(...reads.map((x) => x.window));
  assert.ok(widest >= 128 * (PACKET_DATA + 13) - 64 * 1024, `receive window ${widest} bytes`);
});

test('a short link gets one channel; behind a 10 ms-each-way relay, the channels follow the measured round trip', { skip }, async () => {
  const logs: string[] = [];
  await truncate(sshd.sharedFilePath!, 0);
  await sftpUpload(file, target(sshd.port), { log: (l) => logs.push(l), retries: 0 });
  assert.ok(!logs.some((l) => /over \d+ channels/.test(l)), logs.join('\n'));

  const relay = await startDelayRelay(sshd.port, 10);
  try {
    for (const mode of ['upload', 'download'] as const) {
      const lines: string[] = [];
      const opts = { log: (l: string) => lines.push(l), retries: 0 };
      if (mode === 'upload') {
        await truncate(sshd.sharedFilePath!, 0);
        assert.equal((await sftpUpload(file, target(relay.port), opts)).sha256, fileSha);
        assert.equal(await sha256Of(sshd.sharedFilePath!), fileSha);
      } else {
        const back = path.join(dir, 'back.dump');
        assert.equal((await sftpDownload(target(relay.port), back, opts)).sha256, fileSha);
        assert.equal(await sha256Of(back), fileSha);
        await rm(back);
      }
      const m = /(writing|reading) over (\d+) channels?(?:, (\d+) requests in flight)? \(a round trip took (\d+) ms\)/.exec(lines.join('\n'));
      assert.ok(m, lines.join('\n'));
      const [n, depth, rtt] = [Number(m[2]), Number(m[3]), Number(m[4])];
      assert.ok(rtt >= 19, `the relay adds 20 ms per round trip: ${rtt}`);
      if (mode === 'upload') {
        // The log rounds the round trip: the count is that of a round trip within half a millisecond.
        assert.ok([channelsFor(rtt - 0.5, WINDOW), channelsFor(rtt + 0.5, WINDOW)].includes(n), `${n} channels for ${rtt} ms`);
      } else {
        // Downloads grant their own windows: one channel, enough requests for 160 MiB/s over the round trip.
        assert.equal(n, 1, lines.join('\n'));
        const want = (ms: number) => Math.min(512, Math.max(128, Math.ceil(((ms / 1000) * 160 * MiB) / PACKET_DATA)));
        assert.ok(depth >= want(rtt - 0.5) && depth <= want(rtt + 0.5), `${depth} requests for ${rtt} ms`);
      }
    }
  } finally {
    await relay.close();
  }
});
