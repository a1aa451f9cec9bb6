// The sshd harness against OpenSSH's own clients (sftp, ssh-keyscan, rsync).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile, readFile, readdir, stat, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSshd, ensureUser, type Sshd } from '../emulator/sshd.ts';
import { loadOrCreateKeyPair, writeKeyFiles, type KeyPair } from '../src/transfer/ssh-keys.ts';
import { SecretRegistry } from '../src/secrets.ts';

const run = promisify(execFile);
const skip = process.getuid?.() === 0 ? false : 'needs root (sshd chroots and switches users)';

interface Client {
  dir: string;
  key: string;
  knownHosts: string;
}

async function client(pair: KeyPair, sshd: Sshd): Promise<Client> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sshd-test-'));
  const { privateKeyPath } = await writeKeyFiles(pair, dir);
  const knownHosts = path.join(dir, 'known_hosts');
  await writeFile(knownHosts, `${sshd.knownHostsLine}\n`);
  return { dir, key: privateKeyPath, knownHosts };
}

function sshOptions(c: Client): string[] {
  return ['-i', c.key, '-o', `UserKnownHostsFile=${c.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes'];
}

/** Runs an OpenSSH `sftp -b` batch; resolves with the exit code and output. */
async function sftpBatch(c: Client, sshd: Sshd, commands: string[]): Promise<{ code: number; out: string }> {
  const batch = path.join(c.dir, 'batch');
  await writeFile(batch, `${commands.join('\n')}\n`);
  try {
    const r = await run('sftp', ['-b', batch, '-P', String(sshd.port), ...sshOptions(c), `${sshd.user}@${sshd.host}`]);
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

const quiet = () => new SecretRegistry(() => {});

test('sftp mode: OpenSSH can write the shared file and nothing else, with the advertised host key', { skip }, async () => {
  const pair = loadOrCreateKeyPair(undefined, quiet());
  const logs: string[] = [];
  const sshd = await startSshd({ mode: 'sftp', authorizedKeys: `# harness key\n${pair.publicKey}\n`, sharedFile: 'db.dump', log: (l) => logs.push(l) });
  const c = await client(pair, sshd);
  try {
    assert.equal(sshd.host, '127.0.0.1');
    assert.equal(sshd.sharedFilePath, path.join(sshd.root, 'db.dump'));
    // The key the live server presents is the one announced.
    const scan = await run('ssh-keyscan', ['-t', 'ed25519', '-p', String(sshd.port), '127.0.0.1']);
    assert.equal(scan.stdout.trim(), sshd.knownHostsLine);
    const printed = (await run('sh', ['-c', 'echo "$1" | ssh-keygen -l -f -', 'sh', sshd.knownHostsLine])).stdout;
    assert.ok(printed.includes(sshd.hostKeyFingerprint), printed);

    // The chroot rules sshd enforces, and the shared file owned by the user.
    const rootStat = await stat(sshd.root);
    assert.equal(rootStat.uid, 0);
    assert.equal(rootStat.mode & 0o022, 0);
    assert.notEqual((await stat(sshd.sharedFilePath as string)).uid, 0);

    const local = path.join(c.dir, 'payload');
    await writeFile(local, 'first part;');
    let r = await sftpBatch(c, sshd, [`put ${local} db.dump`, 'ls -l']);
    assert.equal(r.code, 0, r.out);
    assert.equal(await readFile(sshd.sharedFilePath as string, 'utf8'), 'first part;');
    await writeFile(local, 'first part;second part');
    r = await sftpBatch(c, sshd, [`put -a ${local} db.dump`]); // resume by appending, as Odoo documents
    assert.equal(r.code, 0, r.out);
    assert.equal(await readFile(sshd.sharedFilePath as string, 'utf8'), 'first part;second part');

    for (const denied of [`put ${local} other.dump`, 'mkdir sub', 'rm db.dump', 'rename db.dump moved', `put ${local} /tmp/escape`]) {
      r = await sftpBatch(c, sshd, [denied]);
      assert.notEqual(r.code, 0, `${denied} must fail: ${r.out}`);
    }
    assert.deepEqual(await readdir(sshd.root), ['db.dump']);
    assert.ok(logs.some((l) => l.includes('Accepted publickey')), 'sshd logs reach the log callback');
  } finally {
    await sshd.close();
    await rm(c.dir, { recursive: true, force: true });
  }
});

test('sftp mode: only the current authorized keys get in, and never by password', { skip }, async () => {
  const first = loadOrCreateKeyPair(undefined, quiet());
  const second = loadOrCreateKeyPair(undefined, quiet());
  const sshd = await startSshd({ mode: 'sftp', authorizedKeys: first.publicKey });
  const c1 = await client(first, sshd);
  const c2 = await client(second, sshd);
  try {
    assert.equal((await sftpBatch(c1, sshd, ['ls'])).code, 0);
    assert.notEqual((await sftpBatch(c2, sshd, ['ls'])).code, 0);
    await sshd.setAuthorizedKeys(second.publicKey);
    assert.equal((await sftpBatch(c2, sshd, ['ls'])).code, 0);
    assert.notEqual((await sftpBatch(c1, sshd, ['ls'])).code, 0);
    const pw = await run('ssh', ['-p', String(sshd.port), '-o', `UserKnownHostsFile=${c1.knownHosts}`, '-o', 'BatchMode=yes',
      '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive', `${sshd.user}@127.0.0.1`, 'true'])
      .then(() => 'in', (e: { stderr: string }) => e.stderr);
    assert.match(pw, /Permission denied \(publickey\)/);
  } finally {
    await sshd.close();
    await rm(c1.dir, { recursive: true, force: true });
    await rm(c2.dir, { recursive: true, force: true });
  }
});

test('rsync mode: rsync over ssh reads and writes /data/... as on the platform', { skip }, async () => {
  const pair = loadOrCreateKeyPair(undefined, quiet());
  const sshd = await startSshd({ mode: 'rsync', authorizedKeys: pair.publicKey });
  const c = await client(pair, sshd);
  const rsh = ['ssh', '-p', String(sshd.port), ...sshOptions(c)].join(' ');
  const remote = (p: string) => `${sshd.user}@127.0.0.1:${p}`;
  try {
    assert.equal(sshd.user, 'odoo', 'the platform user name');
    const dump = path.join(c.dir, 'origin.dump');
    await mkdir(dump);
    await writeFile(path.join(dump, 'toc.dat'), 'toc');
    await writeFile(path.join(dump, '3001.dat.gz'), Buffer.alloc(300_000, 7));
    await run('rsync', ['-a', '-e', rsh, `${dump}/`, remote('/data/origin.dump/')]);
    assert.equal(await readFile(path.join(sshd.root, 'origin.dump', 'toc.dat'), 'utf8'), 'toc');
    assert.equal((await stat(path.join(sshd.root, 'origin.dump', '3001.dat.gz'))).size, 300_000);

    await writeFile(path.join(sshd.root, 'upgrade.log'), 'upgraded fine\n');
    const back = path.join(c.dir, 'back');
    await run('rsync', ['-a', '-e', rsh, remote('/data/upgrade.log'), back]);
    assert.equal(await readFile(back, 'utf8'), 'upgraded fine\n');

    // Outside /data the chroot is root's: nothing can be written there.
    const denied = await run('rsync', ['-a', '-e', rsh, back, remote('/bin/evil')]).then(() => 'written', (e: Error) => e.message);
    assert.notEqual(denied, 'written');
  } finally {
    await sshd.close();
    await rm(c.dir, { recursive: true, force: true });
  }
});

test('close() stops sshd by PID, ends open sessions and removes its directories', { skip }, async () => {
  const pair = loadOrCreateKeyPair(undefined, quiet());
  const sshd = await startSshd({ mode: 'sftp', authorizedKeys: pair.publicKey });
  const base = path.dirname(sshd.root);
  // An idle TCP connection to sshd: close() must not wait for it.
  const idle = connect(sshd.port, '127.0.0.1');
  await new Promise((resolve) => idle.once('data', resolve)); // the SSH banner
  const t0 = Date.now();
  await sshd.close();
  assert.ok(Date.now() - t0 < 4000);
  assert.equal(existsSync(base), false);
  await new Promise((resolve) => (idle.destroyed ? resolve(null) : idle.once('close', resolve)));
  const refused = await new Promise<boolean>((resolve) => {
    const s = connect(sshd.port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
  assert.equal(refused, true, 'nothing listens on the port any more');
});

test('the system user is created once when several processes start sshds at the same moment', { skip }, async () => {
  // A fresh user only this test knows, so no other test file (running at the same time) meets it.
  const name = `oua-race-${process.pid}-${Date.now() % 100000}`;
  const sshdModule = new URL('../emulator/sshd.ts', import.meta.url).href;
  const script = `const m = await import(${JSON.stringify(sshdModule)}); console.log(await m.ensureUser(${JSON.stringify(name)}, '/'));`;
  try {
    // Two other processes and this one, at the same moment.
    const runs = await Promise.allSettled([
      ...Array.from({ length: 2 }, () => run(process.execPath, ['--input-type=module', '-e', script]).then((r) => r.stdout.trim())),
      ensureUser(name, '/').then(String),
    ]);
    const uids = runs.map((r) => (r.status === 'fulfilled' ? r.value : `failed: ${(r.reason as Error).message}`));
    assert.equal(new Set(uids).size, 1, uids.join('\n'));
    assert.match(uids[0]!, /^\d+$/);
    const entries = (await readFile('/etc/passwd', 'utf8')).split('\n').filter((l) => l.startsWith(`${name}:`));
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.split(':')[2], uids[0]);
    const shadow = (await readFile('/etc/shadow', 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`));
    assert.equal(shadow?.split(':')[1], '*', 'no password, not locked: sshd without PAM lets the key in');
  } finally {
    await run('userdel', [name]).catch(() => undefined);
  }
});
