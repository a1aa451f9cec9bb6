// reuse-days: what a pull-request rehearsal costs when it misses (a platform upgrade) and when
// it hits (the earlier artifact), with the emulator's processing set to minutes. Runs the
// bundled action (dist/index.js) against the emulator (HTTPS) and the GitHub fake, both on
// loopback; wall time is spawn to exit; platform calls are what the emulator recorded; bytes
// fetched are the blob ranges the fake served. Each hit follows a miss at a different
// processing time: a hit's wall time must not follow it.
// `node bench/reuse.ts [--quick]` writes its section into docs/benchmarks.md;
// bench/run.ts calls benchReuse() after writing the rest of the file.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { writeSection } from './section.ts';
import os from 'node:os';
import path from 'node:path';
import { startEmulator } from '../emulator/server.ts';
import { startGitHubFake } from '../emulator/github.ts';
import { runAction } from '../__tests__/support/action.ts';
import { writeSampleSqlDump } from '../__tests__/support/sample-dump.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const BEGIN = '<!-- reuse-bench -->';
const END = '<!-- /reuse-bench -->';
const HITS = 3;

interface Pair {
  processingS: number;
  miss: { wallS: number; platformCalls: number; ghRequests: number };
  hit: { wallS: number; walls: number[]; platformCalls: number; ghRequests: number; blobBytes: number; artifactBytes: number; upgradedBytes: number };
}

const say = (s: string) => console.log(`[bench reuse ${new Date().toISOString().slice(11, 19)}] ${s}`);

/** One miss then one hit, with the platform's processing lasting `processingS`. */
async function pair(processingS: number, dump: string, rows: number): Promise<Pair> {
  const emu = await startEmulator({ tls: true, timing: { pendingMs: 5_000, processingMs: processingS * 1000, testingMs: 5_000 } });
  const gh = await startGitHubFake();
  try {
    const inputs = {
      contract: 'M-bench-reuse', email: 'bench@example.com', target: '18.0', aim: 'test', dump, 'platform-url': emu.url,
      'github-token': gh.token, 'reuse-days': '7',
    };
    const env = { ...gh.env, NODE_EXTRA_CA_CERTS: emu.caFile!, GITHUB_EVENT_NAME: 'pull_request' };
    const timeoutMs = (processingS + 600) * 1000;
    const timed = async (extraEnv: Record<string, string>) => {
      const calls = emu.records.length;
      const ghBefore = gh.requests.length;
      const t0 = performance.now();
      const r = await runAction({ inputs, env: { ...env, ...extraEnv }, timeoutMs });
      const wallS = (performance.now() - t0) / 1000;
      if (r.code !== 0) throw new Error(`the action failed:\n${r.stdout}\n${r.stderr}`);
      const ghNew = gh.requests.slice(ghBefore);
      const out = { wallS, platformCalls: emu.records.length - calls, ghRequests: ghNew.length, reused: r.outputs.reused, artifact: r.outputs['artifact-id'], ghNew };
      await r.cleanup();
      return out;
    };
    say(`${rows}-row dump, processing ${processingS} s: miss (a platform upgrade)`);
    const miss = await timed({});
    if (miss.reused !== 'false') throw new Error('the first run should have missed');
    say(`  miss: ${miss.wallS.toFixed(1)} s, ${miss.platformCalls} platform calls; now the hit`);
    // Three hits, the median shown: the machine is shared, one run's wall time is noisy.
    const hits = [];
    for (let i = 0; i < HITS; i++) hits.push(await timed({ GITHUB_RUN_ID: String(7_000_002 + i) }));
    if (hits.some((h) => h.reused !== 'true')) throw new Error('the later runs should have reused the first');
    const walls = hits.map((h) => h.wallS).sort((a, b) => a - b);
    const hit = { ...hits[0]!, wallS: walls[Math.floor(walls.length / 2)]!, platformCalls: Math.max(...hits.map((h) => h.platformCalls)) };
    const art = gh.artifacts.find((a) => String(a.id) === hit.artifact)!;
    const blobBytes = hit.ghNew
      .filter((r) => r.path.startsWith('/blob/'))
      .reduce((sum, r) => {
        const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '');
        return sum + (m ? Math.min(Number(m[2]), art.size - 1) - Number(m[1]) + 1 : art.size);
      }, 0);
    const upgradedBytes = [...(await art.entries()).entries()].filter(([n]) => n.endsWith('.zip')).reduce((s, [, b]) => s + b.length, 0);
    say(`  hits: ${walls.map((w) => w.toFixed(1)).join(', ')} s, ${hit.platformCalls} platform calls, ${blobBytes} bytes from the artifact store`);
    return {
      processingS,
      miss: { wallS: miss.wallS, platformCalls: miss.platformCalls, ghRequests: miss.ghRequests },
      hit: { wallS: hit.wallS, walls, platformCalls: hit.platformCalls, ghRequests: hit.ghRequests, blobBytes, artifactBytes: art.size, upgradedBytes },
    };
  } finally {
    await gh.close();
    await emu.close();
  }
}

export async function benchReuse(outFile = path.join(ROOT, 'docs', 'benchmarks.md'), quick = false, command = 'npm run bench'): Promise<void> {
  const started = Date.now();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-reuse-'));
  try {
    const rows = quick ? 20_000 : 200_000;
    const dump = path.join(dir, 'rehearsal.sql');
    await writeSampleSqlDump(dump, rows);
    const dumpBytes = (await readFile(dump)).length;
    const times = quick ? [10, 30] : [60, 300];
    const pairs: Pair[] = [];
    for (const s of times) pairs.push(await pair(s, dump, rows));
    await writeSection(outFile, BEGIN, END, section(pairs, dumpBytes, command, Date.now() - started));
    say(`wrote the reuse-days section of ${path.relative(ROOT, outFile)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function section(pairs: Pair[], dumpBytes: number, command: string, elapsedMs: number): string {
  const mib = (n: number) => `${(n / 1048576).toFixed(2)} MiB`;
  const L = [
    BEGIN,
    '## Pull-request rehearsal: reuse-days miss vs hit',
    '',
    `Generated by \`${command}\` (bench/reuse.ts) on ${new Date().toISOString().slice(0, 10)}; ${Math.round(elapsedMs / 1000)} s.`,
    `The bundled action runs several times per row with \`reuse-days: 7\` against the emulator (HTTPS) and the GitHub fake, on loopback: first a miss (an upgrade`,
    `through the platform, its artifact published), then hits from other run ids. Dump: plain SQL, ${mib(dumpBytes)}. Poll interval: the default (30 s, backing off).`,
    `Wall time: spawn to exit; a hit is run ${HITS} times (the median shown, all in brackets). Platform calls: requests the emulator recorded. Bytes: what the artifact store served to the hit (range requests), against the artifact's size (the record's lookup reads the zip's last 64 KiB too).`,
    '',
    '| platform processing | miss: wall | miss: platform calls | hit: wall | hit: platform calls (max) | hit: GitHub requests | hit: bytes fetched / artifact |',
    '|---|---|---|---|---|---|---|',
    ...pairs.map(
      (p) =>
        `| ${p.processingS >= 60 ? `${p.processingS / 60} min` : `${p.processingS} s`} | ${p.miss.wallS.toFixed(1)} s | ${p.miss.platformCalls} | ${p.hit.wallS.toFixed(2)} s (${p.hit.walls.map((w) => w.toFixed(2)).join(', ')}) | ${p.hit.platformCalls} | ${p.hit.ghRequests} | ${mib(p.hit.blobBytes)} / ${mib(p.hit.artifactBytes)} (upgraded dump ${mib(p.hit.upgradedBytes)}) |`,
    ),
    '',
  ];
  const hits = pairs.map((p) => p.hit.wallS);
  const zero = pairs.every((p) => p.hit.platformCalls === 0);
  L.push(
    `Goal: a hit costs no platform call (${zero ? 'met' : '**missed**'}) and its wall time does not grow with the platform's processing time ` +
      `(hits: ${hits.map((h) => `${h.toFixed(2)} s`).join(', ')} for ${pairs.map((p) => `${p.processingS} s`).join(', ')} of processing). ` +
      'A hit makes no platform call, so the platform cannot slow it: what differs between its rows is the load of the machine (shared, 2 cores); ' +
      'most of a hit is Node starting the bundle, hashing the dump, and fetching and hashing the upgraded dump.',
    END,
  );
  return L.join('\n');
}
