// One SFTP transfer by the action's own code, in its own process.
// Usage: worker-sftp upload|download <local file> <host> <port> <user> <private key file> <remote path> [channels]
import '../src/shim.ts'; // first: ssh2 needs __dirname once bundled as ESM
import { readFile } from 'node:fs/promises';
import { sftpUpload, sftpDownload } from '../src/transfer/sftp.ts';

const [mode, file, host, port, username, keyFile, remotePath, channels] = process.argv.slice(2);
if (mode === 'idle') process.exit(0); // the same imports, no transfer: the baseline RSS
const privateKey = await readFile(keyFile, 'utf8');
const target = { host, port: Number(port), username, privateKey, remotePath };
// BENCH_SFTP_DEPTH: requests in flight (the option `concurrency`), to try other depths.
const opts = { log: () => {}, retries: 0, channels: channels ? Number(channels) : undefined, concurrency: process.env.BENCH_SFTP_DEPTH ? Number(process.env.BENCH_SFTP_DEPTH) : undefined };
// BENCH_MEM=1: the peak of each part of the memory, sampled (what the RSS is made of).
const peaks = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const sampler = process.env.BENCH_MEM ? setInterval(() => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peaks) as Array<keyof typeof peaks>) peaks[k] = Math.max(peaks[k], Math.round(m[k] / 1048576));
}, 20) : undefined;
const t0 = performance.now();
const r = mode === 'download' ? await sftpDownload(target, file, opts) : await sftpUpload(file, target, opts);
clearInterval(sampler);
if (sampler) console.error(JSON.stringify(peaks));
console.log(JSON.stringify({ ms: performance.now() - t0, bytes: r.bytes, sha256: r.sha256 }));
