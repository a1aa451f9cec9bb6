// `node bench/sftp.ts [--size 256M] [--rounds 2] [--channels 1,4,8] [--env K=V,...] [--no-loopback] [--only download]`: SFTP alone,
// the action's bundled worker against OpenSSH's `sftp`, taking turns (A, B, A, B) so that load
// from other processes hits both; on loopback and behind the shaped link (bench/netns.ts: sshd in
// a namespace, 1 Gbit/s each way, 25 ms each way from the relay). Prints one line per run and a
// summary; writes nothing to docs/ (bench/run.ts does that).
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile, truncate, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startSshd, type Sshd } from '../emulator/sshd.ts';
import { loadOrCreateKeyPair, writeKeyFiles } from '../src/transfer/ssh-keys.ts';
import { SecretRegistry } from '../src/secrets.ts';
import { sha256File } from '../src/transfer/http.ts';
import { makeDump, parseSize, label, MiB } from './data.ts';
import { measure, median, type Measured } from './measure.ts';
import { makeLink, netnsAvailable, type Link } from './netns.ts';
import { removeNativeAddons } from '../scripts/native-addons.ts';

export const LATENCY_MS = 25;
const NODE = process.execPath;

export interface SftpSite {
  name: string;
  host: string;
  port: number;
  sshd: Sshd;
}

export interface SftpBench {
  sites: SftpSite[];
  worker: string;
  keyFile: string;
  knownHosts: string;
  user: string;
  close(): Promise<void>;
}

/** sshd on loopback, and (as root with iproute2) sshd in a namespace behind the shaped link. */
/** `link`: an existing shaped link to put sshd behind (bench/run.ts shares its namespace with nginx); else one of its own. */
export async function startSftpBench(work: string, opts: { loopback?: boolean; shaped?: boolean; noWorker?: boolean; link?: Link; log?: (s: string) => void } = {}): Promise<SftpBench> {
  const keys = loadOrCreateKeyPair(undefined, new SecretRegistry(() => {}));
  const closers: Array<() => Promise<void> | void> = [];
  const sites: SftpSite[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    if (opts.loopback !== false) {
      const sshd = await startSshd({ mode: 'sftp', authorizedKeys: keys.publicKey, sharedFile: 'db.dump' });
      closers.push(() => sshd.close());
      sites.push({ name: 'loopback', host: '127.0.0.1', port: sshd.port, sshd });
    }
    const why = netnsAvailable();
    if (opts.shaped !== false && why) opts.log?.(`no shaped link for SFTP (${why})`);
    if (opts.shaped !== false && !why) {
      const link: Link = opts.link ?? makeLink('1gbit');
      if (!opts.link) closers.push(() => link.close());
      const inner = 2222;
      const sshd = await startSshd({ mode: 'sftp', authorizedKeys: keys.publicKey, sharedFile: 'db.dump', netns: link.ns, port: inner });
      closers.push(() => sshd.close());
      closers.push(await link.relay(22, inner, LATENCY_MS));
      sites.push({ name: `1 Gbit/s, +${LATENCY_MS} ms each way`, host: link.nsAddr, port: 22, sshd });
    }
    const keyDir = path.join(work, 'ssh');
    await mkdir(keyDir, { recursive: true, mode: 0o700 });
    const keyFiles = await writeKeyFiles(keys, keyDir);
    const knownHosts = path.join(keyDir, 'known_hosts');
    const hostLine = (s: SftpSite) => `${s.port === 22 ? s.host : `[${s.host}]:${s.port}`} ${s.sshd.knownHostsLine.split(' ').slice(1).join(' ')}`;
    await writeFile(knownHosts, sites.map(hostLine).join('\n') + '\n');
    const worker = opts.noWorker ? '' : await bundleWorker(work, 'worker-sftp');
    return { sites, worker, keyFile: keyFiles.privateKeyPath, knownHosts, user: sites[0]?.sshd.user ?? 'odoo-upgrade-sftp', close };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function bundleWorker(work: string, name: string): Promise<string> {
  const root = path.resolve(import.meta.dirname, '..');
  const out = path.join(work, 'workers', name);
  execFileSync(path.join(root, 'node_modules', '.bin', 'ncc'), ['build', path.join(root, 'bench', `${name}.ts`), '-o', out, '-q'], { stdio: 'inherit' });
  await removeNativeAddons(out);
  return path.join(out, 'index.js');
}

export interface SftpRun {
  m: Measured;
  ms: number;
}

/** The action's worker: upload (file → site's shared file) or download (shared file → `file`). */
export async function actionRun(b: SftpBench, site: SftpSite, mode: 'upload' | 'download', file: string, size: number, sha: string, work: string, channels?: number, env?: NodeJS.ProcessEnv): Promise<SftpRun> {
  if (mode === 'upload') await truncate(site.sshd.sharedFilePath!, 0); // else the action resumes
  else await rm(file, { force: true });
  const m = await measure(NODE, [b.worker, mode, file, site.host, String(site.port), b.user, b.keyFile, 'db.dump', channels ? String(channels) : ''], { tmpDir: work, env: env && { ...process.env, ...env } });
  if (m.code !== 0) throw new Error(`worker-sftp ${mode} failed: ${m.stderr.slice(-500)}`);
  const out = JSON.parse(m.stdout.trim().split('\n').at(-1)!);
  if (out.bytes !== size || out.sha256 !== sha) throw new Error(`worker-sftp ${mode}: wrong bytes or SHA-256`);
  if (mode === 'upload') await checkRemote(site, size, sha);
  return { m, ms: out.ms };
}

/** OpenSSH's `sftp -b`, timed from spawn to exit. */
export async function opensshRun(b: SftpBench, site: SftpSite, mode: 'upload' | 'download', file: string, size: number, sha: string, work: string): Promise<SftpRun> {
  if (mode === 'upload') await truncate(site.sshd.sharedFilePath!, 0);
  else await rm(file, { force: true });
  const batch = path.join(work, 'sftp-batch');
  await writeFile(batch, mode === 'upload' ? `put ${file} db.dump\n` : `get db.dump ${file}\n`);
  const m = await measure('sftp', ['-q', '-b', batch, '-P', String(site.port), '-i', b.keyFile, '-o', `UserKnownHostsFile=${b.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `${b.user}@${site.host}`], { tmpDir: work });
  if (m.code !== 0) throw new Error(`sftp ${mode} failed: ${m.stderr.slice(-500)}`);
  if (mode === 'upload') await checkRemote(site, size, sha);
  else if ((await stat(file)).size !== size || (await sha256File(file)) !== sha) throw new Error('sftp get: wrong bytes');
  return { m, ms: m.wallMs };
}

async function checkRemote(site: SftpSite, size: number, sha: string): Promise<void> {
  const p = site.sshd.sharedFilePath!;
  if ((await stat(p)).size !== size || (await sha256File(p)) !== sha) throw new Error(`${site.name}: the remote file differs`);
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const arg = (name: string, dflt: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
  const size = parseSize(arg('--size', '256M'));
  const rounds = Number(arg('--rounds', '2'));
  const channelSets = arg('--channels', '').split(',').filter(Boolean).map(Number);
  // --env A=1,B=2: one more action contender run with those variables (e.g. BENCH_SFTP_DEPTH=256).
  const variant = arg('--env', '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]);
  const work = path.join(os.tmpdir(), `oua-bench-sftp-${process.pid}`);
  await mkdir(work, { recursive: true });
  const say = (s: string) => console.log(`[sftp ${new Date().toISOString().slice(11, 19)}] ${s}`);
  const b = await startSftpBench(work, { loopback: !argv.includes('--no-loopback'), shaped: !argv.includes('--no-shaped'), log: say });
  try {
    const file = path.join(work, 'dump.bin');
    const back = path.join(work, 'back.bin');
    await makeDump(file, size);
    const sha = await sha256File(file);
    say(`${label(size)}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    for (const site of b.sites) {
      for (const mode of (['upload', 'download'] as const).filter((m) => !argv.includes('--only') || arg('--only', '') === m)) {
        if (mode === 'download') await actionRun(b, site, 'upload', file, size, sha, work); // the remote file holds the dump
        const contenders: Array<[string, () => Promise<SftpRun>]> = [
          ['action', () => actionRun(b, site, mode, mode === 'upload' ? file : back, size, sha, work)],
          ...channelSets.map((n) => [`action ${n}ch`, () => actionRun(b, site, mode, mode === 'upload' ? file : back, size, sha, work, n)] as [string, () => Promise<SftpRun>]),
          ...(variant.length ? [[`action ${variant.map((kv) => kv.join('=')).join(' ')}`, () => actionRun(b, site, mode, mode === 'upload' ? file : back, size, sha, work, undefined, Object.fromEntries(variant))] as [string, () => Promise<SftpRun>]] : []),
          ['openssh', () => opensshRun(b, site, mode, mode === 'upload' ? file : back, size, sha, work)],
        ];
        const times = new Map<string, number[]>();
        for (let r = 0; r < rounds; r++) {
          for (const [name, run] of contenders) {
            const { m, ms } = await run();
            (times.get(name) ?? times.set(name, []).get(name)!).push(ms);
            say(`${site.name} ${mode} ${name}: ${(ms / 1000).toFixed(2)} s, ${(size / MiB / (ms / 1000)).toFixed(0)} MiB/s, ${(m.maxRssKiB / 1024).toFixed(0)} MiB RSS, cpu ${(m.cpuMs / 1000).toFixed(2)} s, load ${os.loadavg()[0].toFixed(1)}`);
          }
        }
        const ref = median(times.get('openssh')!);
        for (const [name] of contenders) say(`  ${site.name} ${mode} ${name}: median ${(median(times.get(name)!) / 1000).toFixed(2)} s = ${(ref / median(times.get(name)!)).toFixed(2)}× OpenSSH`);
      }
    }
  } finally {
    await b.close();
    await rm(work, { recursive: true, force: true });
  }
}
