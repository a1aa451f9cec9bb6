// Runs the bundled action (dist/index.js) the way a runner does: inputs as INPUT_* variables
// (hyphens kept), GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files, RUNNER_TEMP, and no shell.
// The bundle is (re)built first when it may not be the build of the current sources.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDist } from '../../scripts/ensure-dist.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST = path.join(ROOT, 'dist', 'index.js');

export interface ActionRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  outputsRaw: string;
  summary: string;
  /** When `interrupt` sent its signal (Date.now()), if it did. */
  interruptedAt?: number;
  runnerTemp: string;
  workspace: string;
  cleanup(): Promise<void>;
}

export interface RunOptions {
  inputs: Record<string, string>;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Send this signal after the log prints a line matching `when`. */
  interrupt?: { when: RegExp; signal: NodeJS.Signals };
  entry?: string;
}

export function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i]);
    if (m) {
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]);
      out[m[1]] = value.join('\n');
    } else if (lines[i].includes('=')) {
      const at = lines[i].indexOf('=');
      out[lines[i].slice(0, at)] = lines[i].slice(at + 1);
    }
  }
  return out;
}

let distChecked: Promise<void> | undefined;

export async function runAction(opts: RunOptions): Promise<ActionRun> {
  const entry = opts.entry ?? DIST;
  if (entry.startsWith(path.join(ROOT, 'dist') + path.sep)) await (distChecked ??= ensureDist(() => undefined));
  const base = await mkdtemp(path.join(tmpdir(), 'action-run-'));
  const runnerTemp = path.join(base, 'temp');
  const workspace = path.join(base, 'workspace');
  await import('node:fs/promises').then((fs) => Promise.all([fs.mkdir(runnerTemp), fs.mkdir(workspace)]));
  const outputFile = path.join(base, 'output');
  const summaryFile = path.join(base, 'summary.md');
  await writeFile(outputFile, '');
  await writeFile(summaryFile, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    RUNNER_TEMP: runnerTemp,
    GITHUB_WORKSPACE: workspace,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_ACTIONS: 'true',
    ODOO_UPGRADE_RETRY_BASE_MS: '50',
    ...opts.env,
  };
  for (const [name, value] of Object.entries(opts.inputs)) env[`INPUT_${name.toUpperCase()}`] = value;
  const child = spawn(process.execPath, [entry], { env, cwd: workspace, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let interrupted = false;
  let interruptedAt: number | undefined;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (opts.interrupt && !interrupted && opts.interrupt.when.test(stdout)) {
      interrupted = true;
      interruptedAt = Date.now();
      child.kill(opts.interrupt.signal);
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  const outputsRaw = await readFile(outputFile, 'utf8');
  return {
    code,
    signal,
    stdout,
    stderr,
    outputs: parseOutputs(outputsRaw),
    outputsRaw,
    summary: await readFile(summaryFile, 'utf8'),
    interruptedAt,
    runnerTemp,
    workspace,
    cleanup: () => rm(base, { recursive: true, force: true }),
  };
}

/** Every place a secret must never appear. `::add-mask::` lines are how the runner learns them. */
export function findLeaks(places: Record<string, string | Buffer>, secretValues: string[]): string[] {
  const leaks: string[] = [];
  for (const [where, content] of Object.entries(places)) {
    const text = (Buffer.isBuffer(content) ? content.toString('latin1') : content)
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n');
    for (const s of secretValues) {
      if (!s || s.length < 4) continue;
      for (const form of [s, encodeURIComponent(s)]) {
        if (text.includes(form)) leaks.push(`${where} contains a secret (${s.slice(0, 3)}…)`);
      }
    }
  }
  return leaks;
}
