// One HTTPS transfer by the action's own code, in its own process (for a comparable peak
// RSS). Usage: worker-http.ts upload|download|idle <url> <file>; prints one JSON line.
import '../src/shim.ts'; // first: ssh2 needs __dirname once bundled as ESM
import { uploadFile, downloadFile } from '../src/transfer/http.ts';
import { closeDispatcher } from '../src/net/http.ts';

const [mode, url, file] = process.argv.slice(2);
if (mode === 'idle') process.exit(0); // the same imports, no transfer: the baseline RSS
// BENCH_MEM=1: the peak of each part of the memory, sampled (what the RSS is made of).
const peaks = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const sampler = process.env.BENCH_MEM ? setInterval(() => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peaks) as Array<keyof typeof peaks>) peaks[k] = Math.max(peaks[k], Math.round(m[k] / 1048576));
}, 20) : undefined;
const t0 = performance.now();
const r =
  mode === 'upload'
    ? await uploadFile(url, file, { what: 'upload', attempts: 1 })
    : await downloadFile(url, file, { what: 'download', attempts: 1, checkUrl: () => {} });
const ms = performance.now() - t0;
clearInterval(sampler);
if (sampler) console.error(JSON.stringify(peaks));
await closeDispatcher();
console.log(JSON.stringify({ ms, bytes: r.bytes, sha256: r.sha256 }));
