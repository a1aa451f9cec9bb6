// `node bench/scavenge-ab.ts [--size 256M] [--rounds 3] [--only https-up,sftp-down] [--shaped]`:
// the transfers with and without src/transfer/scavenge.ts's prompt scavenges (the bench-only
// switch OUA_BENCH_SCAVENGE=off), each transfer in its own bundled worker process under
// `/usr/bin/time -v`: peak RSS, CPU (user + system), minor page faults and time, the two
// variants in turns (A B, then B A, ...) so that load from other processes hits both alike.
// HTTPS against nginx, SFTP against OpenSSH's sshd, on loopback (or, with --shaped, behind the
// bench's 1 Gbit/s, 25 ms-each-way link); --mem adds the workers' sampled memory peaks. Prints one line per run and the medians; writes nothing.
import { mkdir, rm, truncate } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sha256File } from '../src/transfer/http.ts';
import { makeDump, parseSize, label } from './data.ts';
import { measure, median, type Measured } from './measure.ts';
import { startNginx, freePort, benchCert, type Nginx } from './nginx.ts';
import { makeLink, netnsAvailable, type Link } from './netns.ts';
import { startSftpBench, bundleWorker, LATENCY_MS } from './sftp.ts';

const NODE = process.execPath;
const KINDS = ['https-up', 'https-down', 'sftp-up', 'sftp-down'] as const;
type Kind = (typeof KINDS)[number];
const VARIANTS = { on: {}, off: { OUA_BENCH_SCAVENGE: 'off' } } as const;
type Variant = keyof typeof VARIANTS;

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const size = parseSize(arg('--size', '256M'));
const rounds = Number(arg('--rounds', '3'));
const kinds = arg('--only', KINDS.join(',')).split(',') as Kind[];
for (const k of kinds) if (!KINDS.includes(k)) throw new Error(`--only: ${k} is not one of ${KINDS.join(', ')}`);
const shaped = argv.includes('--shaped');
const mem = argv.includes('--mem'); // the workers also sample process.memoryUsage() (BENCH_MEM) and print its peaks
const say = (s: string) => console.log(`[scavenge ${new Date().toISOString().slice(11, 19)}] ${s}`);

const work = path.join(os.tmpdir(), `oua-bench-scavenge-${process.pid}`);
await mkdir(work, { recursive: true });
const closers: Array<() => Promise<void> | void> = [];
try {
  let link: Link | undefined;
  if (shaped) {
    const why = netnsAvailable();
    if (why) throw new Error(`--shaped: no namespace (${why})`);
    link = makeLink('1gbit');
    closers.push(() => link!.close());
  }
  const filesDir = path.join(work, 'files');
  await mkdir(filesDir);
  const tls = await benchCert(path.join(work, 'tls'), link ? [link.nsAddr] : []);
  let base: string;
  let nginx: Nginx;
  if (link) {
    nginx = await startNginx({ dir: path.join(work, 'nginx'), host: '127.0.0.1', port: 8443, certFile: tls.certFile, keyFile: tls.keyFile, filesDir, netns: link.ns });
    closers.push(await link.relay(443, 8443, LATENCY_MS));
    base = `https://${link.nsAddr}`;
  } else {
    nginx = await startNginx({ dir: path.join(work, 'nginx'), host: '127.0.0.1', port: await freePort(), certFile: tls.certFile, keyFile: tls.keyFile, filesDir });
    base = nginx.url;
  }
  closers.push(() => nginx.stop());
  const sftp = await startSftpBench(work, { loopback: !link, shaped: !!link, link, log: say });
  closers.push(() => sftp.close());
  const site = sftp.sites[0];
  const httpWorker = await bundleWorker(work, 'worker-http');

  const file = path.join(filesDir, 'dump.bin');
  const back = path.join(work, 'back.bin');
  await makeDump(file, size);
  const sha = await sha256File(file);
  say(`${label(size)}, ${link ? 'shaped link' : 'loopback'}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

  const run = async (kind: Kind, variant: Variant): Promise<{ m: Measured; ms: number }> => {
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: tls.caFile, ...VARIANTS[variant], ...(mem ? { BENCH_MEM: '1' } : {}) };
    let args: string[];
    if (kind === 'https-up') args = [httpWorker, 'upload', `${base}/upload`, file];
    else if (kind === 'https-down') args = [httpWorker, 'download', `${base}/files/dump.bin`, back];
    else args = [sftp.worker, kind === 'sftp-up' ? 'upload' : 'download', kind === 'sftp-up' ? file : back, site.host, String(site.port), sftp.user, sftp.keyFile, 'db.dump'];
    if (kind === 'sftp-up') await truncate(site.sshd.sharedFilePath!, 0); // else the worker resumes
    await rm(back, { force: true });
    const m = await measure(NODE, args, { env, tmpDir: work });
    if (m.code !== 0) throw new Error(`${kind} (${variant}) failed: ${m.stderr.slice(-500)}`);
    const out = JSON.parse(m.stdout.trim().split('\n').at(-1)!) as { ms: number; bytes: number; sha256: string };
    if (out.bytes !== size || out.sha256 !== sha) throw new Error(`${kind} (${variant}): wrong bytes or SHA-256`);
    return { m, ms: out.ms };
  };

  for (const kind of kinds) {
    if (kind === 'sftp-down') await run('sftp-up', 'on'); // the remote file holds the dump
    const got = new Map<Variant, Array<{ m: Measured; ms: number }>>([['on', []], ['off', []]]);
    for (let r = 0; r < rounds; r++) {
      for (const variant of (r % 2 ? ['off', 'on'] : ['on', 'off']) as Variant[]) {
        const x = await run(kind, variant);
        got.get(variant)!.push(x);
        say(`${kind} ${variant}: ${(x.ms / 1000).toFixed(2)} s, peak RSS ${(x.m.maxRssKiB / 1024).toFixed(0)} MiB, CPU ${(x.m.cpuMs / 1000).toFixed(2)} s, ${x.m.minorFaults} minor faults, load ${os.loadavg()[0].toFixed(1)}${mem ? ` ${x.m.stderr.trim().split('\n').at(-1)}` : ''}`);
      }
    }
    for (const [variant, xs] of got) {
      const rss = xs.map((x) => x.m.maxRssKiB / 1024);
      const cpu = xs.map((x) => x.m.cpuMs / 1000);
      say(`  ${kind} ${variant}: median ${(median(xs.map((x) => x.ms)) / 1000).toFixed(2)} s, RSS ${median(rss).toFixed(0)} MiB (${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)}), CPU ${median(cpu).toFixed(2)} s (${Math.min(...cpu).toFixed(2)}–${Math.max(...cpu).toFixed(2)}), faults ${median(xs.map((x) => x.m.minorFaults))}`);
    }
  }
  await rm(back, { force: true });
} finally {
  for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
}
