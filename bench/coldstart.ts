// Cold start of the bundle: spawn of `node dist/index.js` to the emulator seeing its
// `create`. The emulator answers that create with a failure, so each run ends right there.
import { spawn, execFile } from 'node:child_process';
import { mkdir, writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Emulator } from '../emulator/server.ts';
import { median } from './measure.ts';

export interface ColdStart {
  runs: number[]; // ms, spawn to create seen
  medianMs: number;
  hyperfine?: { meanMs: number; medianMs: number; runs: number }; // spawn to exit
}

function actionEnv(emu: Emulator, dir: string, dump: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    RUNNER_TEMP: path.join(dir, 'temp'),
    GITHUB_WORKSPACE: dir,
    GITHUB_OUTPUT: path.join(dir, 'output'),
    GITHUB_STEP_SUMMARY: path.join(dir, 'summary.md'),
    GITHUB_ACTIONS: 'true',
    NODE_EXTRA_CA_CERTS: emu.caFile,
    INPUT_CONTRACT: 'M-bench-contract',
    INPUT_EMAIL: 'bench@example.com',
    INPUT_TARGET: '18.0',
    INPUT_DUMP: dump,
    'INPUT_PLATFORM-URL': emu.url,
    'INPUT_ARTIFACT-NAME': '',
  };
}

export async function coldStart(emu: Emulator, dist: string, dir: string, runs = 10): Promise<ColdStart> {
  await mkdir(path.join(dir, 'temp'), { recursive: true });
  const dump = path.join(dir, 'tiny.sql');
  await writeFile(dump, 'SELECT 1;\n');
  await writeFile(path.join(dir, 'output'), '');
  await writeFile(path.join(dir, 'summary.md'), '');
  emu.setScenario({ createFailures: [{ reason: 'bench: stop here', code: 'BENCH:STOP' }] });
  const env = actionEnv(emu, dir, dump);
  const times: number[] = [];
  try {
    for (let i = 0; i < runs + 1; i++) {
      const before = emu.records.length;
      const t0 = Date.now();
      const child = spawn(process.execPath, [dist], { env, cwd: dir, stdio: 'ignore' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await new Promise((resolve) => child.on('close', resolve));
      clearTimeout(timer);
      const create = emu.records.slice(before).find((r) => r.method === 'create');
      if (!create) throw new Error('cold start: the action never called create');
      if (i > 0) times.push(create.at - t0); // the first run warms the page cache
    }
    let hyperfine: ColdStart['hyperfine'];
    const json = path.join(dir, 'hyperfine.json');
    try {
      await promisify(execFile)('hyperfine', ['-N', '-i', '--warmup', '2', '--runs', String(runs), '--export-json', json, `${process.execPath} ${dist}`], { env, cwd: dir });
      const r = (await import(json, { with: { type: 'json' } })).default.results[0];
      hyperfine = { meanMs: r.mean * 1000, medianMs: r.median * 1000, runs: r.times.length };
    } catch {
      hyperfine = undefined; // not installed: the repeated runs above stand alone
    }
    return { runs: times, medianMs: median(times), hyperfine };
  } finally {
    emu.setScenario({});
    await rm(dir, { recursive: true, force: true });
  }
}
