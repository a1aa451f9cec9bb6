// The rsync transport: its pure parts (arguments, progress, failure kinds) and real runs of
// the system rsync/ssh against a real sshd on loopback: both directions, a wrong host key,
// a refused key, a closed port (firewall hint), missing tools, redacted stderr.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ed25519KeyPair, startSshd, type Sshd } from '../emulator/sshd.ts';
import { startProxy } from './support/cut-relay.ts';
import { loadOrCreateKeyPair, writeKeyFiles } from '../src/transfer/ssh-keys.ts';
import { SecretRegistry } from '../src/secrets.ts';
import {
  rsyncTransfer, rsyncArgs, sshCommand, parseProgress, classifyFailure, assertRsyncTools, rsyncVersionProblem, RsyncError, type RsyncJob, type SshTarget,
} from '../src/transfer/rsync.ts';

const secrets = new SecretRegistry(() => {});
let sshd: Sshd;
let dir: string;
let target: SshTarget;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rsync-test-'));
  const pair = loadOrCreateKeyPair('', secrets);
  const keys = await writeKeyFiles(pair, dir);
  sshd = await startSshd({ mode: 'rsync', authorizedKeys: pair.publicKey });
  const knownHostsFile = path.join(dir, 'known_hosts');
  await writeFile(knownHostsFile, `${sshd.knownHostsLine}\n`);
  target = { host: '127.0.0.1', port: sshd.port, user: sshd.user, privateKeyFile: keys.privateKeyPath, knownHostsFile };
});

after(async () => {
  await sshd?.close();
  await rm(dir, { recursive: true, force: true });
});

function job(over: Partial<RsyncJob>): RsyncJob & { lines: string[] } {
  const lines: string[] = [];
  return {
    what: 'test transfer', target, direction: 'upload', sources: [], dest: '/data/', options: [],
    log: (l) => lines.push(l), redact: (t) => secrets.redact(t), retryBaseMs: 20, lines, ...over,
  };
}

test('arguments: no shell, pinned host key, remote specs', () => {
  const args = rsyncArgs(job({ sources: ['/tmp/a b.sql'], dest: '/data/origin.sql' }));
  assert.equal(args.at(-1), `${sshd.user}@127.0.0.1:/data/origin.sql`);
  assert.equal(args.at(-2), '/tmp/a b.sql', 'a path with a space is one argument');
  assert.ok(args.includes('--partial'));
  const e = args[args.indexOf('-e') + 1]!;
  assert.match(e, new RegExp(`^ssh -p ${sshd.port} -i \\S+ `));
  for (const o of ['StrictHostKeyChecking=yes', `UserKnownHostsFile=${target.knownHostsFile}`, 'IdentitiesOnly=yes', 'BatchMode=yes', 'ServerAliveInterval=30']) {
    assert.ok(e.includes(`-o ${o}`), o);
  }
  const down = rsyncArgs(job({ direction: 'download', sources: ['/data/x', '/data/y'], dest: '/out/' }));
  assert.deepEqual(down.slice(-3), [`${sshd.user}@127.0.0.1:/data/x`, `${sshd.user}@127.0.0.1:/data/y`, '/out/']);
  assert.equal(sshCommand({ ...target, privateKeyFile: '/tmp/my key' }).includes("-i '/tmp/my key'"), true);
  assert.throws(() => sshCommand({ ...target, knownHostsFile: '/tmp/a b' }), /spaces/);
});

test('progress and failure classification', () => {
  assert.equal(parseProgress('      3276800  10%   3.12MB/s    0:00:09'), 3276800);
  assert.equal(parseProgress('  1,234,567 100%  113.19MB/s    0:00:00 (xfr#1, to-chk=0/1)'), 1234567);
  assert.equal(parseProgress('sending incremental file list'), undefined);
  assert.equal(classifyFailure(255, 'Host key verification failed.\r\nrsync: connection unexpectedly closed'), 'host-key');
  assert.equal(classifyFailure(255, 'odoo@1.2.3.4: Permission denied (publickey).'), 'auth');
  assert.equal(classifyFailure(255, 'ssh: connect to host 1.2.3.4 port 40022: Connection refused'), 'refused');
  assert.equal(classifyFailure(255, 'ssh: connect to host 1.2.3.4 port 40022: Connection timed out'), 'refused');
  assert.equal(classifyFailure(14, 'rsync: Failed to exec ssh: No such file or directory (2)'), 'missing-tool');
  assert.equal(classifyFailure(12, 'rsync: connection unexpectedly closed'), 'network');
  assert.equal(classifyFailure(30, 'timeout in data send/receive'), 'network');
  assert.equal(classifyFailure(3, 'errors selecting input/output files'), 'other');
  assert.equal(rsyncVersionProblem('rsync  version 3.2.7  protocol version 31'), undefined);
  assert.equal(rsyncVersionProblem('rsync  version v3.5.0  protocol version 32'), undefined);
  assert.match(rsyncVersionProblem('openrsync: protocol version 29\nrsync version 2.6.9 compatible') ?? '', /too old/);
  assert.equal(rsyncVersionProblem('something else entirely'), undefined);
});

test('upload and download through the real sshd, with progress', async () => {
  const src = path.join(dir, 'up.bin');
  const data = randomBytes(400_000);
  await writeFile(src, data);
  const seen: number[] = [];
  const up = await rsyncTransfer(job({
    sources: [src], dest: '/data/origin.dump', options: ['--append-verify'],
    progress: { update: (n) => seen.push(n), finish() {} },
  }));
  assert.equal(up.attempts, 1);
  assert.equal(sha(await readFile(path.join(sshd.root, 'origin.dump'))), sha(data));
  assert.equal(seen.at(-1), data.length, 'progress reached the whole size');
  assert.equal(up.bytes, data.length);

  await mkdir(path.join(sshd.root, 'filestore', 'ab'), { recursive: true });
  await writeFile(path.join(sshd.root, 'filestore', 'ab', 'abcdef'), 'attachment');
  const out = path.join(dir, 'down');
  await mkdir(out);
  await rsyncTransfer(job({
    direction: 'download', sources: ['/data/origin.dump', '/data/filestore', '/data/absent.html'], dest: `${out}/`,
    options: ['--recursive', '--times', '--ignore-missing-args'],
  }));
  assert.equal(sha(await readFile(path.join(out, 'origin.dump'))), sha(data));
  assert.equal(await readFile(path.join(out, 'filestore', 'ab', 'abcdef'), 'utf8'), 'attachment');
  assert.deepEqual((await readdir(out)).sort(), ['filestore', 'origin.dump']);
});

test('a host key that does not match known_hosts: refused at once, never retried', async () => {
  const other = ed25519KeyPair().public.split(' ').slice(0, 2).join(' ');
  const knownHostsFile = path.join(dir, 'wrong_known_hosts');
  await writeFile(knownHostsFile, `[127.0.0.1]:${sshd.port} ${other}\n`);
  const src = path.join(dir, 'hk.bin');
  await writeFile(src, 'x');
  const j = job({ target: { ...target, knownHostsFile }, sources: [src], dest: '/data/hk.bin' });
  await assert.rejects(rsyncTransfer(j), (err: Error) => {
    assert.ok(err instanceof RsyncError);
    assert.equal(err.kind, 'host-key');
    assert.match(err.message, /Host key verification failed/);
    return true;
  });
  assert.deepEqual(j.lines, [], 'no retry was announced');
  assert.ok(!(await readdir(sshd.root)).includes('hk.bin'));
});

test('a key the server does not know is an auth failure with the resume hint', async () => {
  const stranger = loadOrCreateKeyPair('', secrets);
  const keyDir = await mkdtemp(path.join(tmpdir(), 'rsync-stranger-'));
  try {
    const files = await writeKeyFiles(stranger, keyDir);
    const src = path.join(dir, 'auth.bin');
    await writeFile(src, 'x');
    const j = job({ target: { ...target, privateKeyFile: files.privateKeyPath }, sources: [src], dest: '/data/auth.bin' });
    await assert.rejects(rsyncTransfer(j), (err: Error) => err instanceof RsyncError && err.kind === 'auth' && /same `ssh-private-key`/.test(err.message));
    assert.deepEqual(j.lines, []);
  } finally {
    await rm(keyDir, { recursive: true, force: true });
  }
});

test('a closed data port: a few tries, then the firewall hint', async () => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const src = path.join(dir, 'fw.bin');
  await writeFile(src, 'x');
  const j = job({ target: { ...target, port }, sources: [src], dest: '/data/fw.bin' });
  await assert.rejects(rsyncTransfer(j), (err: Error) => {
    assert.ok(err instanceof RsyncError);
    assert.equal(err.kind, 'refused');
    assert.match(err.message, /32768-60999/);
    return true;
  });
  assert.equal(j.lines.length, 2, 'three tries in all');
});

test('missing rsync or ssh: a clear error before anything runs', async () => {
  const empty = await mkdtemp(path.join(tmpdir(), 'rsync-nopath-'));
  try {
    await assert.rejects(assertRsyncTools(empty), (err: Error) => err instanceof RsyncError && err.kind === 'missing-tool' && /rsync and ssh/.test(err.message) && /apt-get install rsync openssh-client/.test(err.message));
    await assert.rejects(rsyncTransfer(job({ sources: ['/x'], pathEnv: empty })), /not installed/);
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});

test("stderr is redacted before it reaches the error", async () => {
  const secret = `s3cr3t-${randomBytes(6).toString('hex')}`;
  secrets.add(secret);
  const src = path.join(dir, 'red.bin');
  await writeFile(src, 'x');
  // A destination folder that does not exist: rsync names it in its complaint.
  const j = job({ sources: [src], dest: `/data/${secret}/deeper/red.bin`, attempts: 1 });
  await assert.rejects(rsyncTransfer(j), (err: Error) => {
    assert.ok(err instanceof RsyncError);
    assert.ok(!err.message.includes(secret), err.message);
    assert.match(err.message, /\*\*\*/);
    return true;
  });
});

test('an abort stops rsync and its ssh at once', async () => {
  const src = path.join(dir, 'slow.bin');
  await writeFile(src, randomBytes(2_000_000));
  const marker = `slow-${randomBytes(4).toString('hex')}.bin`;
  // Client-side processes naming the marker: our rsync and the ssh it started (not what sshd runs).
  const clients = () => {
    const found: string[] = [];
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      let argv: string[];
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      } catch {
        continue; // gone meanwhile
      }
      const name = path.basename(argv[0] ?? '');
      if (!argv.some((a) => a.includes(marker)) || argv[1] === '--server' || name === 'sh') continue;
      found.push(name);
    }
    return found.sort();
  };
  // Looks every 50 ms until `done` holds (or ~3 s pass): an event, not a fixed wait.
  const until = async (done: (names: string[]) => boolean) => {
    let names = clients();
    for (let i = 0; i < 60 && !done(names); i++) {
      await new Promise((r) => setTimeout(r, 50));
      names = clients();
    }
    return names;
  };
  const controller = new AbortController();
  const run = rsyncTransfer(job({ sources: [src], dest: `/data/${marker}`, options: ['--bwlimit=200'], signal: controller.signal }));
  const running = await until((n) => n.includes('rsync') && n.includes('ssh'));
  assert.deepEqual(running, ['rsync', 'ssh'], 'rsync and ssh are running');
  const abortedAt = Date.now();
  controller.abort(new Error('stopped by the test'));
  await assert.rejects(run, /stopped by the test/);
  assert.ok(Date.now() - abortedAt < 2500, 'stopped at once');
  assert.deepEqual(await until((n) => n.length === 0), [], 'no client rsync or ssh left running');
});

// A link cut mid-transfer: rsync exits with a network error, the transfer is run again, and
// --partial (plus --append-verify upwards) lets it go on from what arrived.
test('a connection cut mid-upload and mid-download: tried again, the bytes arrive intact', async () => {
  const relay = await startProxy(() => sshd.port, (n) => (n === 0 ? 3 * 1024 * 1024 : undefined), 'up');
  const down = await startProxy(() => sshd.port, (n) => (n === 0 ? 3 * 1024 * 1024 : undefined), 'down');
  try {
    // The relays' ports present sshd's host key: pin it for them too.
    const knownHostsFile = path.join(dir, 'known_hosts_relays');
    const key = sshd.knownHostsLine.split(' ').slice(1).join(' ');
    await writeFile(knownHostsFile, `[127.0.0.1]:${relay.port} ${key}\n[127.0.0.1]:${down.port} ${key}\n`);
    const src = path.join(dir, 'cut-up.bin');
    const data = randomBytes(8 * 1024 * 1024);
    await writeFile(src, data);
    const up = job({
      target: { ...target, port: relay.port, knownHostsFile },
      sources: [src], dest: '/data/cut.dump', options: ['--times', '--append-verify'],
    });
    const r = await rsyncTransfer(up);
    assert.ok(r.attempts >= 2, `attempts ${r.attempts}: ${up.lines.join('\n')}`);
    assert.equal(relay.connections, r.attempts);
    assert.ok(up.lines.some((l) => /interrupted|trying again|attempt/i.test(l)), up.lines.join('\n'));
    assert.equal(sha(await readFile(path.join(sshd.root, 'cut.dump'))), sha(data));

    const out = path.join(dir, 'cut-down');
    await mkdir(out);
    const get = job({
      target: { ...target, port: down.port, knownHostsFile },
      direction: 'download', sources: ['/data/cut.dump'], dest: `${out}/`, options: ['--times'],
    });
    const d = await rsyncTransfer(get);
    assert.ok(d.attempts >= 2, `attempts ${d.attempts}: ${get.lines.join('\n')}`);
    assert.equal(sha(await readFile(path.join(out, 'cut.dump'))), sha(data));
  } finally {
    await relay.close();
    await down.close();
  }
});
