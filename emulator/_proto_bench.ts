import { startSshd } from './sshd.ts';
import { loadOrCreateKeyPair, writeKeyFiles, makeKeyDir } from '../src/ssh-keys.ts';
import { sftpUpload, sftpDownload } from '../src/transfer/sftp.ts';
import { SecretRegistry } from '../src/secrets.ts';
import { execFileSync } from 'node:child_process';
import { writeFileSync, statSync, rmSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
const kp = loadOrCreateKeyPair(undefined, new SecretRegistry(() => {}));
const kd = await makeKeyDir(); const files = await writeKeyFiles(kp, kd.dir);
const size = Number(process.argv[2] ?? 200) * 1048576;
const f = kd.dir + '/big'; const b = Buffer.allocUnsafe(size); randomFillSync(b); writeFileSync(f, b);
const s = await startSshd({ mode: 'sftp', authorizedKeys: kp.publicKey, sharedFile: 'db.dump' });
writeFileSync(kd.dir + '/kh', s.knownHostsLine + '\n');
writeFileSync(kd.dir + '/b', `put ${f} db.dump\n`);
let t = Date.now();
execFileSync('sftp', ['-b', kd.dir + '/b', '-P', String(s.port), '-i', files.privateKeyPath, '-o', `UserKnownHostsFile=${kd.dir}/kh`, `${s.user}@127.0.0.1`]);
console.log('openssh', (size / 1048576 / ((Date.now() - t) / 1000)).toFixed(1), 'MiB/s');
for (const [depth, chunk] of (process.argv[3] ? JSON.parse(process.argv[3]) : [[64, 32768]]) as [number, number][]) {
  execFileSync('truncate', ['-s', '0', s.sharedFilePath!]);
  t = Date.now();
  const r = await sftpUpload(f, { host: s.host, port: s.port, username: s.user, privateKey: kp.privateKey, remotePath: 'db.dump' }, { log: console.log, concurrency: depth, chunkSize: chunk });
  console.log('ssh2', depth, chunk, (size / 1048576 / ((Date.now() - t) / 1000)).toFixed(1), 'MiB/s', r.bytes, statSync(s.sharedFilePath!).size, r.sha256?.slice(0, 12));
}
for (const [depth, chunk] of (process.argv[4] ? JSON.parse(process.argv[4]) : [[64, 32768]]) as [number, number][]) {
rmSync(kd.dir + '/down', { force: true });
t = Date.now();
const r = await sftpDownload({ host: s.host, port: s.port, username: s.user, privateKey: kp.privateKey, remotePath: 'db.dump' }, kd.dir + '/down', { log: () => {}, concurrency: depth, chunkSize: chunk });
console.log('download', depth, chunk, (size / 1048576 / ((Date.now() - t) / 1000)).toFixed(1), 'MiB/s', r.sha256?.slice(0, 12));
}
writeFileSync(kd.dir + '/b2', `get db.dump ${kd.dir}/down2\n`);
t = Date.now();
execFileSync('sftp', ['-b', kd.dir + '/b2', '-P', String(s.port), '-i', files.privateKeyPath, '-o', `UserKnownHostsFile=${kd.dir}/kh`, `${s.user}@127.0.0.1`]);
console.log('openssh get', (size / 1048576 / ((Date.now() - t) / 1000)).toFixed(1), 'MiB/s');
await s.close(); await kd.cleanup();
