// v1 with SFTP, through the bundle: request_sftp_access on the emulator hands out a real
// OpenSSH sshd (internal-sftp in a chroot, only the shared file writable); the action sends
// only the public half of an ephemeral key, pins the host key, and resumes after a cut.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { startSshd, type Sshd } from '../emulator/sshd.ts';
import { runAction, findLeaks } from './support/action.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';

let emu: Emulator;
let dir: string;
let dumpPath: string;
let dumpSha: string;
const servers: Sshd[] = [];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A TCP relay: the first connection is cut after `cutAfter` bytes upstream; later ones go to `next` when set. */
function relay(first: () => number, opts: { cutAfter?: number; next?: () => number } = {}) {
  let connections = 0;
  const server = net.createServer((client) => {
    const n = connections++;
    const port = n > 0 && opts.next ? opts.next() : first();
    const upstream = net.connect(port, '127.0.0.1');
    let sent = 0;
    client.on('data', (d) => {
      sent += d.length;
      upstream.write(d);
      if (n === 0 && opts.cutAfter !== undefined && sent > opts.cutAfter) {
        client.destroy();
        upstream.destroy();
      }
    });
    upstream.on('data', (d) => client.write(d));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return new Promise<{ port: number; connections: () => number; close: () => Promise<void> }>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        connections: () => connections,
        close: () => new Promise((r) => server.close(() => r())),
      }),
    ),
  );
}

before(async () => {
  emu = await startEmulator({ tls: true, timing: { pendingMs: 100, processingMs: 300, testingMs: 200 } });
  dir = await mkdtemp(path.join(tmpdir(), 'e2e-sftp-'));
  dumpPath = path.join(dir, 'big.sql');
  await writeSampleSqlDump(dumpPath, 200_000); // about 9 MiB
  dumpSha = sha(await readFile(dumpPath));
});

after(async () => {
  for (const s of servers) await s.close().catch(() => {});
  await emu?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The emulator's request_sftp_access starts a real sshd for the request; `via` may put a relay in front. */
function provide(via?: (sshd: Sshd) => Promise<number>) {
  const keysSeen: string[] = [];
  emu.sftpProvider = async (req, authorizedKeys) => {
    keysSeen.push(authorizedKeys);
    const sshd = await startSshd({ mode: 'sftp', authorizedKeys, sharedFile: req.filename });
    servers.push(sshd);
    req.uploadedPath = sshd.sharedFilePath;
    const port = via ? await via(sshd) : sshd.port;
    return { hostname: '127.0.0.1', port, user: sshd.user, sharedFile: req.filename };
  };
  return keysSeen;
}

const inputs = (extra: Record<string, string>) => ({
  contract: 'M424242-sftp-secret', email: 'ci@example.com', target: '18.0', dump: dumpPath, 'platform-url': emu.url,
  'poll-interval': '1', 'artifact-name': '', ...extra,
});
const env = () => ({ NODE_EXTRA_CA_CERTS: emu.caFile! });

test('upload-method: sftp uploads over SFTP with an ephemeral key; bytes intact; host key logged', async () => {
  const keys = provide();
  const run = await runAction({ inputs: inputs({ 'upload-method': 'sftp' }), env: env(), timeoutMs: 120_000 });
  try {
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const req = emu.requests.get(run.outputs['request-id'])!;
    assert.equal(req.uploadedSha256, dumpSha);
    assert.equal(req.uploads, 0, 'nothing went through the HTTPS upload');
    assert.match(keys[0], /^ssh-ed25519 AAAA/m, 'a public key was sent');
    assert.doesNotMatch(keys[0], /PRIVATE KEY/);
    assert.match(run.stdout, /SHA256:[A-Za-z0-9+/]{43}/, 'host key fingerprint logged');
    assert.match(run.summary, /\| Upload \| sftp/);
    assert.deepEqual(findLeaks({ stdout: run.stdout, summary: run.summary }, ['M424242-sftp-secret', req.key]), []);
    const shown = (run.stdout + run.stderr).split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n') + run.summary;
    assert.doesNotMatch(shown, /BEGIN OPENSSH PRIVATE KEY|b3BlbnNzaC1rZXktdjE/);
  } finally {
    await run.cleanup();
  }
});

test('upload-method: auto picks SFTP at or above sftp-threshold, HTTPS below', async () => {
  provide();
  const above = await runAction({ inputs: inputs({ 'sftp-threshold': '1MiB' }), env: env(), timeoutMs: 120_000 });
  const below = await runAction({ inputs: inputs({ 'sftp-threshold': '1GiB' }), env: env(), timeoutMs: 120_000 });
  try {
    assert.equal(above.code, 0, above.stdout);
    assert.equal(below.code, 0, below.stdout);
    assert.match(above.summary, /\| Upload \| sftp/);
    assert.match(below.summary, /\| Upload \| https/);
    assert.equal(emu.requests.get(above.outputs['request-id'])!.uploads, 0);
    assert.equal(emu.requests.get(below.outputs['request-id'])!.uploads, 1);
  } finally {
    await above.cleanup();
    await below.cleanup();
  }
});

test('a cut mid-upload is resumed by appending; the final bytes are intact', async () => {
  let proxy: Awaited<ReturnType<typeof relay>> | undefined;
  provide(async (sshd) => {
    proxy = await relay(() => sshd.port, { cutAfter: 6 * 1024 * 1024 });
    return proxy.port;
  });
  const run = await runAction({ inputs: inputs({ 'upload-method': 'sftp' }), env: env(), timeoutMs: 120_000 });
  try {
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.ok(proxy!.connections() >= 2, 'reconnected');
    assert.match(run.stdout, /SFTP upload interrupted/);
    assert.match(run.stdout, /resumed 1 time\(s\), at \d+ bytes/);
    assert.equal(emu.requests.get(run.outputs['request-id'])!.uploadedSha256, dumpSha);
  } finally {
    await run.cleanup();
    await proxy?.close();
  }
});

test('a host key that changes between reconnects is refused, not retried', async () => {
  let proxy: Awaited<ReturnType<typeof relay>> | undefined;
  provide(async (sshd) => {
    const impostor = await startSshd({ mode: 'sftp', authorizedKeys: '', sharedFile: 'x' });
    servers.push(impostor);
    proxy = await relay(() => sshd.port, { cutAfter: 1024 * 1024, next: () => impostor.port });
    return proxy.port;
  });
  const run = await runAction({ inputs: inputs({ 'upload-method': 'sftp' }), env: env(), timeoutMs: 120_000 });
  try {
    assert.equal(run.code, 1);
    assert.match(run.stdout, /::error::.*host key.*changed/i);
    assert.equal(proxy!.connections(), 2, 'no retry after the mismatch');
    const req = emu.requests.get(run.outputs['request-id'])!;
    assert.equal(req.state, 'draft', 'never processed');
  } finally {
    await run.cleanup();
    await proxy?.close();
  }
});
