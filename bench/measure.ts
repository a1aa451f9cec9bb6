// Runs one contender as its own process under `/usr/bin/time -v`, so every peak RSS is
// measured the same way (the process and the children it waited for).
import { execFileSync, spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface Measured {
  wallMs: number; // spawn to exit, process start-up included
  maxRssKiB: number;
  cpuMs: number; // user + system of the process and the children it waited for
  minorFaults: number; // page faults served without I/O: mostly fresh memory touched for the first time
  code: number | null;
  stdout: string;
  stderr: string;
}

export async function measure(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; tmpDir: string; timeoutMs?: number; /** Each output line, with the contender's current RSS (MiB): where a peak comes from. */ trace?: (line: string, rssMiB: number) => void },
): Promise<Measured> {
  // Dirty pages left by the previous contender would be written back during this one's run.
  execFileSync('sync');
  const timeFile = path.join(opts.tmpDir, `time-${process.pid}-${Date.now()}.txt`);
  const t0 = performance.now();
  const child = spawn('/usr/bin/time', ['-v', '-o', timeFile, cmd, ...args], { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (opts.trace) for (const line of d.toString().split('\n').filter(Boolean)) opts.trace(line, rssOfChild(child.pid!));
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30 * 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  const wallMs = performance.now() - t0;
  const report = await readFile(timeFile, 'utf8').catch(() => '');
  await rm(timeFile, { force: true });
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(report);
  const exit = /Exit status: (\d+)/.exec(report);
  const cpu = (what: string) => Number(new RegExp(`${what} time \\(seconds\\): ([\\d.]+)`).exec(report)?.[1] ?? NaN) * 1000;
  return { wallMs, maxRssKiB: rss ? Number(rss[1]) : NaN, cpuMs: cpu('User') + cpu('System'), minorFaults: Number(/Minor \(reclaiming a frame\) page faults: (\d+)/.exec(report)?.[1] ?? NaN), code: exit ? Number(exit[1]) : code, stdout, stderr };
}

/** VmRSS (MiB) of the process /usr/bin/time started (its only child). */
function rssOfChild(timePid: number): number {
  try {
    const kid = readFileSync(`/proc/${timePid}/task/${timePid}/children`, 'utf8').trim().split(/\s+/)[0];
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${kid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
