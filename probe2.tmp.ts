import { mkdir, rm, stat } from 'node:fs/promises';
import { createReadStream, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';
import { startNginx, freePort } from './bench/nginx.ts';
import { makeDump } from './bench/data.ts';
import { ensureCerts } from './emulator/certs.ts';
const W = '/tmp/b-probe2';
await rm(W, { recursive: true, force: true });
await mkdir(W + '/files', { recursive: true });
const c = await ensureCerts();
const ng = await startNginx({ dir: W + '/ng', host: '127.0.0.1', port: await freePort(), certFile: c.certFile, keyFile: c.keyFile, filesDir: W + '/files' });
const size = 128 * 1024 * 1024;
const file = W + '/files/d.bin';
await makeDump(file, size);
const dispatcher = new Agent({ connect: { ca: readFileSync(c.caFile) } });
async function up(kind: string, hwm: number) {
  const t = performance.now();
  const src = createReadStream(file, { highWaterMark: hwm });
  const hash = createHash('sha256');
  let body: any;
  if (kind === 'iter') body = (async function* () { for await (const ch of src) { hash.update(ch); yield ch; } })();
  else { src.on('data', (ch) => hash.update(ch)); body = src; }
  const res = await request(ng.url + '/upload', { method: 'POST', body, headers: { 'content-length': String(size) }, dispatcher });
  await res.body.text();
  return `${kind} ${hwm >> 10}K: ${(size / 1048576 / ((performance.now() - t) / 1000)).toFixed(0)} MiB/s (${res.statusCode})`;
}
try {
  for (let i = 0; i < 3; i++) for (const [k, h] of [['iter', 64 << 10], ['iter', 128 << 10], ['iter', 256 << 10], ['iter', 1024 << 10]] as const) console.log(await up(k, h));
} finally { await dispatcher.close(); await ng.stop(); }
