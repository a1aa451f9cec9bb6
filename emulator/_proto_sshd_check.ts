import { startSshd } from './sshd.ts';
import { loadOrCreateKeyPair, writeKeyFiles, makeKeyDir } from '../src/ssh-keys.ts';
import { SecretRegistry } from '../src/secrets.ts';
import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
const kp = loadOrCreateKeyPair(undefined, new SecretRegistry(() => {}));
console.log(kp.publicKey, kp.fingerprint);
const kd = await makeKeyDir(); const files = await writeKeyFiles(kp, kd.dir);
for (const mode of ['sftp', 'rsync'] as const) {
  const t = Date.now();
  const s = await startSshd({ mode, authorizedKeys: kp.publicKey, sharedFile: 'db.dump', log: (l) => console.log('  sshd:', l) });
  console.log(mode, 'started in', Date.now() - t, 'ms', s.port, s.user, s.root, s.hostKeyFingerprint, s.knownHostsLine);
  writeFileSync(kd.dir + '/kh', s.knownHostsLine + '\n');
  writeFileSync('/tmp/sshproto/f', 'hello');
  const ssh = `ssh -p ${s.port} -i ${files.privateKeyPath} -o UserKnownHostsFile=${kd.dir}/kh -o StrictHostKeyChecking=yes -o BatchMode=yes`;
  if (mode === 'sftp') {
    writeFileSync(kd.dir + '/b', 'put /tmp/sshproto/f db.dump\n-put /tmp/sshproto/f other\nls -l\n');
    console.log(execFileSync('sftp', ['-b', kd.dir + '/b', '-P', String(s.port), '-i', files.privateKeyPath, '-o', `UserKnownHostsFile=${kd.dir}/kh`, `${s.user}@127.0.0.1`], { encoding: 'utf8' }));
    console.log('content', readFileSync(s.sharedFilePath!, 'utf8'));
  } else {
    console.log(execFileSync('rsync', ['-a', '-e', ssh, '/tmp/sshproto/f', `${s.user}@127.0.0.1:/data/origin.sql`], { encoding: 'utf8' }));
    console.log('content', readFileSync(s.root + '/origin.sql', 'utf8'));
  }
  await s.close();
  console.log('closed, dir exists?', existsSync(s.root));
}
await kd.cleanup();
