// Peak RSS of the WHOLE action (the bundle dist/index.js, as a runner starts it) moving a large
// dump both ways: upload, the emulator's "upgrade" (PostgreSQL off: the upgraded archive is a
// marked copy of the SQL, as large as the upload), download of the upgraded archive, over
// HTTPS and over SFTP (a real sshd from the emulator's request_sftp_access). Each run is its own
// process under `/usr/bin/time -v` (bench/measure.ts), so the number is the action's peak,
// everything it loads included.
// `node bench/action-rss.ts [--size 1G] [--rounds N] [--only sftp|https] [--scavenge on,off,4] [--trace] [--no-write]` writes its section into docs/benchmarks.md (or --out);
// bench/run.ts calls benchActionRss() after writing the rest of the file.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, mkdir, open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { startSshd, type Sshd } from '../emulator/sshd.ts';
import { ensureDist } from '../scripts/ensure-dist.ts';
import { measure } from './measure.ts';
import { writeSection } from './section.ts';
import { parseSize, label, MiB } from './data.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIST = path.join(ROOT, 'dist', 'index.js');
const BEGIN = '<!-- action-rss-bench -->';
const END = '<!-- /action-rss-bench -->';
export const RSS_LIMIT_MIB = 150;
const say = (s: string) => console.log(`[bench rss ${new Date().toISOString().slice(11, 19)}] ${s}`);

export interface RssRow {
  transfer: 'HTTPS' | 'SFTP';
  bytes: number;
  rssMiB: number;
  wallS: number;
  cpuS: number;
  /** 'off' or N (MiB): run with OUA_BENCH_SCAVENGE set so (src/transfer/scavenge.ts), to measure what it is worth. */
  scavenge?: string;
}

/** A plain-SQL dump of about `bytes` (one big COPY), written in 8 MiB blocks: fast to make, valid to inspect. */
export async function writeBigSqlDump(file: string, bytes: number): Promise<void> {
  const fh = await open(file, 'w');
  try {
    let pos = 0;
    const put = async (b: Buffer) => {
      await fh.write(b, 0, b.length, pos);
      pos += b.length;
    };
    await put(Buffer.from('--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.8\n-- Dumped by pg_dump version 15.8\n\n' +
      "SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\n" +
      'CREATE TABLE public.ir_module_module (id integer NOT NULL, name character varying NOT NULL, state character varying, latest_version character varying);\n' +
      'CREATE TABLE public.res_partner (id integer NOT NULL, name character varying, email character varying, comment text);\n\n' +
      'COPY public.ir_module_module (id, name, state, latest_version) FROM stdin;\n1\tbase\tinstalled\t16.0.1.3\n\\.\n\n' +
      'COPY public.res_partner (id, name, email, comment) FROM stdin;\n'));
    // Rows with a random-looking comment, so that the archive does not shrink to nothing if zipped.
    let id = 1;
    while (pos < bytes) {
      const lines: string[] = [];
      let len = 0;
      while (len < 8 * MiB && pos + len < bytes) {
        const line = `${id}\tPartner ${id}\tpartner${id}@example.com\t${createHash('sha512').update(String(id)).digest('base64')}\n`;
        id++;
        lines.push(line);
        len += line.length;
      }
      await put(Buffer.from(lines.join('')));
    }
    await put(Buffer.from('\\.\n\n--\n-- PostgreSQL database dump complete\n--\n'));
  } finally {
    await fh.close();
  }
}

async function runOnce(emu: Emulator, dump: string, transfer: 'HTTPS' | 'SFTP', work: string, trace: boolean, scavenge?: string): Promise<RssRow> {
  const base = await mkdtemp(path.join(work, 'run-'));
  const temp = path.join(base, 'temp');
  const workspace = path.join(base, 'workspace');
  await Promise.all([mkdir(temp), mkdir(workspace)]);
  const outputFile = path.join(base, 'output');
  await writeFile(outputFile, '');
  await writeFile(path.join(base, 'summary.md'), '');
  const inputs: Record<string, string> = {
    contract: 'M-bench-rss', email: 'bench@example.com', target: '18.0', dump, 'platform-url': emu.url, 'poll-interval': '1',
    'artifact-name': '', 'upload-method': transfer.toLowerCase(), 'download-via': transfer.toLowerCase(), download: 'archive',
  };
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, HOME: process.env.HOME, RUNNER_TEMP: temp, GITHUB_WORKSPACE: workspace, GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: path.join(base, 'summary.md'), GITHUB_ACTIONS: 'true', NODE_EXTRA_CA_CERTS: emu.caFile!,
    ...(scavenge && scavenge !== 'on' ? { OUA_BENCH_SCAVENGE: scavenge } : {}),
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  try {
    const m = await measure(process.execPath, [DIST], { env, tmpDir: work, timeoutMs: 30 * 60_000, trace: trace ? (l, rss) => console.log(`  ${rss.toFixed(0).padStart(4)} MiB | ${l.slice(0, 150)}`) : undefined });
    if (m.code !== 0) throw new Error(`the action failed over ${transfer} (${m.code}):\n${m.stdout.slice(-1500)}\n${m.stderr.slice(-500)}`);
    const outputs = await readFile(outputFile, 'utf8');
    if (!/upgraded-dump/.test(outputs)) throw new Error(`no upgraded dump over ${transfer}:\n${outputs}`);
    if (transfer === 'SFTP' && !/SFTP/.test(m.stdout)) throw new Error('the SFTP run did not use SFTP');
    const { size } = await import('node:fs/promises').then((fs) => fs.stat(dump));
    return { transfer, bytes: size, rssMiB: m.maxRssKiB / 1024, wallS: m.wallMs / 1000, cpuS: m.cpuMs / 1000, ...(scavenge ? { scavenge } : {}) };
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

export async function benchActionRss(out: string, opts: { sizes: number[]; rounds?: number; write?: boolean; trace?: boolean; only?: 'HTTPS' | 'SFTP'; scavenge?: string[] }): Promise<RssRow[]> {
  await ensureDist(say);
  const work = await mkdtemp(path.join(os.tmpdir(), 'oua-bench-rss-'));
  const emu = await startEmulator({ tls: true, postgres: false, dataDir: path.join(work, 'emulator'), timing: { pendingMs: 100, processingMs: 200, testingMs: 100 } });
  const servers: Sshd[] = [];
  emu.sftpProvider = async (req, authorizedKeys) => {
    const sshd = await startSshd({ mode: 'sftp', authorizedKeys, sharedFile: req.filename });
    servers.push(sshd);
    req.uploadedPath = sshd.sharedFilePath;
    return { hostname: '127.0.0.1', port: sshd.port, user: sshd.user, sharedFile: req.filename, root: sshd.root };
  };
  const rows: RssRow[] = [];
  const started = Date.now();
  try {
    for (const size of opts.sizes) {
      const dump = path.join(work, `dump-${size}.sql`);
      await writeBigSqlDump(dump, size);
      // Taking turns, so that load from other processes hits both transfers.
      for (let r = 0; r < (opts.rounds ?? 1); r++) {
        for (const transfer of (['HTTPS', 'SFTP'] as const).filter((t) => !opts.only || t === opts.only)) for (const scavenge of r % 2 ? [...(opts.scavenge ?? [undefined])].reverse() : (opts.scavenge ?? [undefined])) {
          const row = await runOnce(emu, dump, transfer, work, !!opts.trace, scavenge);
          rows.push(row);
          say(`${transfer}${scavenge ? ` (scavenge ${scavenge})` : ''} ${label(row.bytes)}: peak RSS ${row.rssMiB.toFixed(0)} MiB, ${row.wallS.toFixed(1)} s, CPU ${row.cpuS.toFixed(1)} s, load ${os.loadavg()[0].toFixed(1)}`);
          for (const s of servers.splice(0)) await s.close().catch(() => undefined);
        }
      }
      await rm(dump, { force: true });
    }
  } finally {
    for (const s of servers) await s.close().catch(() => undefined);
    await emu.close();
    await rm(work, { recursive: true, force: true });
  }
  if (opts.write !== false) {
    await writeSection(out, BEGIN, END, section(rows, Date.now() - started));
    say(`wrote the action-rss section of ${path.relative(ROOT, out)}`);
  }
  return rows;
}

export async function writeActionRssSection(out: string, rows: RssRow[], elapsedMs: number): Promise<void> {
  await writeSection(out, BEGIN, END, section(rows, elapsedMs));
}

function section(rows: RssRow[], elapsedMs: number): string {
  const L: string[] = [];
  L.push('## Peak RSS of the whole action (dist/index.js), upload + download');
  L.push('');
  L.push(`Generated by \`node bench/action-rss.ts\` (also run by \`npm run bench\`, with its sizes) in ${Math.round(elapsedMs / 1000)} s, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} at the end.`);
  L.push('The bundle runs as a runner starts it, under `/usr/bin/time -v`, against the emulator on loopback (PostgreSQL off: the upgraded archive is a');
  L.push('marked copy of the uploaded SQL, as large as it): inspect, upload, wait, download the upgraded archive and hash it; HTTPS both ways, or');
  L.push('SFTP both ways (`upload-method: sftp`, `download-via: sftp`, a real sshd per request). Target: under 150 MiB for any size.');
  L.push('');
  L.push('| Transfer | Dump | Peak RSS (MiB) | Wall (s) | CPU (s) | < 150 MiB |');
  L.push('|---|---:|---:|---:|---:|---|');
  for (const r of rows) L.push(`| ${r.transfer} | ${label(r.bytes)} | ${r.rssMiB.toFixed(0)} | ${r.wallS.toFixed(1)} | ${r.cpuS.toFixed(1)} | ${r.rssMiB < RSS_LIMIT_MIB ? 'yes' : '**no**'} |`);
  return L.join('\n');
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const sizes = (argv.includes('--size') ? argv[argv.indexOf('--size') + 1] : '1G').split(',').map(parseSize);
  const rounds = argv.includes('--rounds') ? Number(argv[argv.indexOf('--rounds') + 1]) : 1;
  const out = argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : path.join(ROOT, 'docs', 'benchmarks.md');
  const only = argv.includes('--only') ? (argv[argv.indexOf('--only') + 1].toUpperCase() as 'HTTPS' | 'SFTP') : undefined;
  // --scavenge on,off,4: each transfer with and without the scavenges (or one every 4 MiB), in turns (implies --no-write).
  const scavenge = argv.includes('--scavenge') ? argv[argv.indexOf('--scavenge') + 1].split(',') : undefined;
  await benchActionRss(out, { sizes, rounds, write: !argv.includes('--no-write') && !scavenge, trace: argv.includes('--trace'), only, scavenge });
}
