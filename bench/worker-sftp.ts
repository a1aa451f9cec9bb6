// One SFTP transfer by the action's own code, in its own process.
// Usage: worker-sftp upload|download <local file> <host> <port> <user> <private key file> <remote path> [channels]
import '../src/shim.ts'; // first: ssh2 needs __dirname once bundled as ESM
import { readFile } from 'node:fs/promises';
import { sftpUpload, sftpDownload } from '../src/transfer/sftp.ts';

const [mode, file, host, port, username, keyFile, remotePath, channels] = process.argv.slice(2);
if (mode === 'idle') process.exit(0); // the same imports, no transfer: the baseline RSS
const privateKey = await readFile(keyFile, 'utf8');
const target = { host, port: Number(port), username, privateKey, remotePath };
const opts = { log: () => {}, retries: 0, channels: channels ? Number(channels) : undefined };
const t0 = performance.now();
const r = mode === 'download' ? await sftpDownload(target, file, opts) : await sftpUpload(file, target, opts);
console.log(JSON.stringify({ ms: performance.now() - t0, bytes: r.bytes, sha256: r.sha256 }));
