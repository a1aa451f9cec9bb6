// v1 with SFTP: request_sftp_access on the emulator hands out a real OpenSSH sshd
// (internal-sftp in a chroot, only the shared file writable); the action sends only the public
// half of an ephemeral key, pins the host key, and resumes after a cut. Two runs go through the
// bundle over HTTPS (an SFTP upload, an SFTP download); the other cases run the pipeline
// in-process (support/pipeline.ts) with the real clients against a plain-HTTP emulator, with a
// real sshd all the same. The emulators make marked copies (no PostgreSQL): what is checked
// here is the transfer, byte for byte, not the upgrade.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { startSshd, type Sshd } from '../emulator/sshd.ts';
import { runAction, findLeaks } from './support/action.ts';
import { runPipeline, FakeClock } from './support/pipeline.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';

let emu: Emulator; // HTTPS, for the bundle
let plain: Emulator; // plain HTTP on loopback, for the in-process runs (this process trusts no extra CA)
let dir: string;
let dumpPath: string;
let dumpSha: string;
const servers: Sshd[] = [];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * A TCP relay: the first connection is cut after `cutAfter` bytes upstream; the first one for
 * which `cutWhen(bytes it relayed downstream)` holds (checked as bytes pass either way) is cut
 * then; the first one to carry more than `cutDownAfter` bytes downstream is cut then (with
 * `cutDownOnce`, it relays nothing more and is cut once that holds: the client has used what
 * it got); later ones go to `next` when set; `bytesPerSec` slows both ways down (a slow link).
 */
function relay(first: () => number, opts: { cutAfter?: number; cutWhen?: (downstreamBytes: number) => boolean; cutDownAfter?: number; cutDownOnce?: () => boolean; next?: () => number; bytesPerSec?: number } = {}) {
  let connections = 0;
  let downCut = false;
  let cutDone = false;
  const server = net.createServer((client) => {
    const n = connections++;
    const port = n > 0 && opts.next ? opts.next() : first();
    const upstream = net.connect(port, '127.0.0.1');
    let sent = 0;
    let ending = false;
    const cutNow = () => {
      if (cutDone || ending || !opts.cutWhen?.(received)) return false;
      cutDone = true;
      // A FIN after what was relayed, the client's further bytes read and dropped: a reset would
      // make the client's kernel drop answers it received but had not read yet.
      ending = true;
      client.end();
      upstream.destroy();
      return true;
    };
    client.on('data', (d) => {
      if (ending) return;
      sent += d.length;
      upstream.write(d);
      if (n === 0 && opts.cutAfter !== undefined && sent > opts.cutAfter) {
        client.destroy();
        upstream.destroy();
      }
      cutNow();
    });
    let received = 0;
    upstream.on('data', (d) => {
      if (ending) return;
      received += d.length;
      client.write(d);
      if (cutNow()) return;
      if (!downCut && opts.cutDownAfter !== undefined && received > opts.cutDownAfter) {
        // A clean FIN after what was relayed: a reset would make the client's kernel drop
        // bytes it received but had not read yet, and nothing would be left to resume from.
        downCut = true;
        ending = true;
        const cut = () => {
          client.end();
          upstream.destroy();
        };
        if (!opts.cutDownOnce) return cut();
        const ready = opts.cutDownOnce;
        void (async () => {
          for (let i = 0; i < 500 && !ready() && !client.destroyed; i++) await new Promise((r) => setTimeout(r, 10));
          cut();
        })();
      }
    });
    if (opts.bytesPerSec) {
      slow(client, opts.bytesPerSec);
      slow(upstream, opts.bytesPerSec);
    }
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      if (!ending) client.destroy();
    });
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

/**
 * Whether `file` holds its first `bytes` bytes: written over several channels, it grows with holes
 * (read as zeros, which SQL text never holds) before it is whole.
 */
function holdsPrefix(file: string, bytes: number): boolean {
  if (statSync(file).size < bytes) return false;
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(bytes);
    return readSync(fd, head, 0, bytes, 0) === bytes && !head.includes(0);
  } finally {
    closeSync(fd);
  }
}

function slow(from: net.Socket, rate: number) {
  const started = Date.now();
  let moved = 0;
  from.on('data', (d) => {
    moved += d.length;
    const ahead = (moved / rate) * 1000 - (Date.now() - started);
    if (ahead > 5) {
      from.pause();
      setTimeout(() => from.resume(), ahead).unref();
    }
  });
}

before(async () => {
  const timing = { pendingMs: 100, processingMs: 300, testingMs: 200 };
  emu = await startEmulator({ tls: true, timing, postgres: false });
  plain = await startEmulator({ timing, postgres: false });
  dir = await mkdtemp(path.join(tmpdir(), 'e2e-sftp-'));
  dumpPath = path.join(dir, 'big.sql');
  await writeSampleSqlDump(dumpPath, 70_000); // about 3 MiB: above sftp-threshold 1MiB and the cut points below
  dumpSha = sha(await readFile(dumpPath));
});

after(async () => {
  for (const s of servers) await s.close().catch(() => {});
  await emu?.close();
  await plain?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The emulator's request_sftp_access starts a real sshd for the request; `via` may put a relay in front. */
function provide(server: Emulator, via?: (sshd: Sshd) => Promise<number>) {
  const keysSeen: string[] = [];
  server.sftpProvider = async (req, authorizedKeys) => {
    keysSeen.push(authorizedKeys);
    const sshd = await startSshd({ mode: 'sftp', authorizedKeys, sharedFile: req.filename });
    servers.push(sshd);
    req.uploadedPath = sshd.sharedFilePath;
    const port = via ? await via(sshd) : sshd.port;
    return { hostname: '127.0.0.1', port, user: sshd.user, sharedFile: req.filename, root: sshd.root };
  };
  return keysSeen;
}

const inputs = (extra: Record<string, string>, server: Emulator = emu) => ({
  contract: 'M424242-sftp-secret', email: 'ci@example.com', target: '18.0', dump: dumpPath, 'platform-url': server.url,
  'poll-interval': '1', 'artifact-name': '', ...extra,
});
const env = () => ({ NODE_EXTRA_CA_CERTS: emu.caFile! });
/** In-process against `plain`; the fake clock lets a tenth of each wait really pass, so the emulator's states move on. */
const runIn = (extra: Record<string, string>) => runPipeline({ inputs: inputs(extra, plain), clock: new FakeClock(0.1) });

test('bundle smoke: upload-method: sftp uploads over SFTP with an ephemeral key; bytes intact; host key logged', async () => {
  const keys = provide(emu);
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
  provide(plain);
  const above = await runIn({ 'sftp-threshold': '1MiB' });
  const below = await runIn({ 'sftp-threshold': '1GiB' });
  try {
    assert.equal(above.code, 0, above.stdout);
    assert.equal(below.code, 0, below.stdout);
    assert.match(above.summary, /\| Upload \| sftp/);
    assert.match(below.summary, /\| Upload \| https/);
    assert.equal(plain.requests.get(above.outputs['request-id'])!.uploads, 0);
    assert.equal(plain.requests.get(below.outputs['request-id'])!.uploads, 1);
  } finally {
    await above.cleanup();
    await below.cleanup();
  }
});

test('a cut mid-upload is resumed by appending; the final bytes are intact', async () => {
  let proxy: Awaited<ReturnType<typeof relay>> | undefined;
  provide(plain, async (sshd) => {
    // Cut once the server holds the file's first MiB whole and its answers for it went back (the
    // next few hundred bytes downstream, sshd answers in order): a cut by byte count alone may come
    // before sshd wrote or answered anything (the whole file fits in what the client keeps in
    // flight), leaving the client no acknowledged prefix to resume from.
    let wholeAt: number | undefined;
    const cutWhen = (down: number) => {
      wholeAt ??= holdsPrefix(sshd.sharedFilePath!, 1024 * 1024) ? down : undefined;
      return wholeAt !== undefined && down >= wholeAt + 600;
    };
    proxy = await relay(() => sshd.port, { cutWhen });
    return proxy.port;
  });
  const run = await runIn({ 'upload-method': 'sftp' });
  try {
    assert.equal(run.code, 0, run.stdout);
    assert.ok(proxy!.connections() >= 2, 'reconnected');
    assert.match(run.stdout, /SFTP upload interrupted/);
    assert.match(run.stdout, /resumed 1 time\(s\), at \d+ bytes/);
    assert.equal(plain.requests.get(run.outputs['request-id'])!.uploadedSha256, dumpSha);
  } finally {
    await run.cleanup();
    await proxy?.close();
  }
});

test('a host key that changes between reconnects is refused, not retried', async () => {
  let proxy: Awaited<ReturnType<typeof relay>> | undefined;
  provide(plain, async (sshd) => {
    const impostor = await startSshd({ mode: 'sftp', authorizedKeys: '', sharedFile: 'x' });
    servers.push(impostor);
    proxy = await relay(() => sshd.port, { cutAfter: 1024 * 1024, next: () => impostor.port });
    return proxy.port;
  });
  const run = await runIn({ 'upload-method': 'sftp' });
  try {
    assert.equal(run.code, 1);
    assert.match(run.stdout, /::error::.*host key.*changed/i);
    assert.equal(proxy!.connections(), 2, 'no retry after the mismatch');
    const req = plain.requests.get(run.outputs['request-id'])!;
    assert.equal(req.state, 'draft', 'never processed');
  } finally {
    await run.cleanup();
    await proxy?.close();
  }
});

// ---------------------------------------------------------------- download over SFTP

const archiveGets = (server: Emulator, id: string) => server.records.filter((r) => r.requestId === id && r.method === 'download' && r.via === 'GET').length;

test('bundle smoke: download-via: sftp fetches upgraded_<filename> over SFTP; bytes equal the emulator\'s upgraded dump; no HTTPS download', async () => {
  provide(emu);
  const run = await runAction({ inputs: inputs({ 'upload-method': 'sftp', 'download-via': 'sftp' }), env: env(), timeoutMs: 120_000 });
  try {
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const id = run.outputs['request-id'];
    const req = emu.requests.get(id)!;
    assert.ok(req.sftpPublishedAt, 'the emulator placed the upgraded dump on the SFTP server');
    assert.equal(path.basename(run.outputs['upgraded-dump']), 'upgraded_big.zip');
    assert.equal(sha(await readFile(run.outputs['upgraded-dump'])), req.upgradedArchiveSha256);
    assert.equal(archiveGets(emu, id), 0, 'nothing came over HTTPS');
    assert.match(run.stdout, /SFTP download/);
  } finally {
    await run.cleanup();
  }
});

test('download-via: sftp, the connection cut mid-download: reconnects and appends; bytes intact', async () => {
  let proxy: Awaited<ReturnType<typeof relay>> | undefined;
  const outDir = await mkdtemp(path.join(tmpdir(), 'e2e-sftp-out-'));
  const part = path.join(outDir, 'upgraded_big.zip.part');
  provide(plain, async (sshd) => {
    // After a third of the file nothing more passes, and the cut comes once the action wrote some
    // of it (in order: a clean prefix to resume from); a cut at once may come before anything in
    // order reached the disk, leaving nothing to resume from.
    proxy = await relay(() => sshd.port, { cutDownAfter: 1024 * 1024, cutDownOnce: () => existsSync(part) && statSync(part).size > 0 });
    return proxy.port;
  });
  const run = await runIn({ 'upload-method': 'sftp', 'download-via': 'sftp', 'output-dir': outDir });
  try {
    assert.equal(run.code, 0, run.stdout);
    const req = plain.requests.get(run.outputs['request-id'])!;
    assert.match(run.stdout, /SFTP download interrupted/);
    assert.match(run.stdout, /Resuming the download at/);
    assert.match(run.stdout, /SFTP download resumed 1 time\(s\), at \d+ bytes/);
    assert.equal(sha(await readFile(run.outputs['upgraded-dump'])), req.upgradedArchiveSha256);
    assert.ok(proxy!.connections() >= 3, 'upload, cut download, resumed download');
  } finally {
    await run.cleanup();
    await proxy?.close();
    await rm(outDir, { recursive: true, force: true });
  }
});

test('download-via: sftp appends to a partial file already there instead of downloading it again', async () => {
  provide(plain);
  const outDir = await mkdtemp(path.join(tmpdir(), 'e2e-sftp-out-'));
  let half = 0;
  plain.onSftpPublished = async (_req, remote) => {
    const whole = await readFile(remote);
    half = Math.floor(whole.length / 2);
    await writeFile(path.join(outDir, 'upgraded_big.zip.part'), whole.subarray(0, half));
  };
  const run = await runIn({ 'upload-method': 'sftp', 'download-via': 'sftp', 'output-dir': outDir });
  try {
    assert.equal(run.code, 0, run.stdout);
    assert.ok(half > 0);
    assert.match(run.stdout, new RegExp(`A partial download of ${half} bytes is there`));
    assert.match(run.stdout, /Resuming the download at/);
    const req = plain.requests.get(run.outputs['request-id'])!;
    assert.equal(sha(await readFile(path.join(outDir, 'upgraded_big.zip'))), req.upgradedArchiveSha256);
    assert.deepEqual((await readdir(outDir)).filter((f) => f.endsWith('.part')), []);
  } finally {
    plain.onSftpPublished = undefined;
    await run.cleanup();
    await rm(outDir, { recursive: true, force: true });
  }
});

test('every HTTPS download of the dump cut: falls back to SFTP once, says so, bytes intact', async () => {
  provide(plain);
  plain.setScenario({ cutEveryDumpDownloadAfterBytes: 30_000 });
  const run = await runIn({ 'upload-method': 'sftp' });
  plain.setScenario({});
  try {
    assert.equal(run.code, 0, run.stdout);
    const id = run.outputs['request-id'];
    const req = plain.requests.get(id)!;
    assert.equal(archiveGets(plain, id), 6, 'six HTTPS attempts, each cut');
    assert.match(run.stdout, /The HTTPS download of the upgraded database failed after its retries \(.+\); downloading it over SFTP instead \(with the SFTP access of this run\)/);
    assert.match(run.stdout, /downloaded over SFTP after the HTTPS download failed/);
    assert.equal(sha(await readFile(run.outputs['upgraded-dump'])), req.upgradedArchiveSha256);
  } finally {
    await run.cleanup();
  }
});

test('every HTTPS download cut and no SFTP access (uploaded over HTTPS): the platform refuses access after draft; clear error', async () => {
  provide(plain);
  plain.setScenario({ cutEveryDumpDownloadAfterBytes: 30_000 });
  const run = await runIn({ 'upload-method': 'https' });
  plain.setScenario({});
  try {
    assert.equal(run.code, 1, run.stdout);
    const id = run.outputs['request-id'];
    assert.match(run.stdout, /downloading it over SFTP instead \(asking the platform for SFTP access\)/);
    assert.match(run.stdout, new RegExp(`::error::The download of the upgraded database of request ${id} failed over HTTPS .* and over SFTP \\(SFTP download needs SFTP access`));
    assert.deepEqual((await readdir(path.join(run.runnerTemp, 'odoo-upgrade')).catch(() => [])).filter((f) => f.endsWith('.part')), []);
  } finally {
    await run.cleanup();
  }
});
