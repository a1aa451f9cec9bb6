// src/transfer/scavenge.ts: a transfer's prompt scavenges, reached without `--expose-gc` on the
// command line (a runner starts the action as plain `node`), never a `gc` left on the global
// object, never an error thrown into a transfer, and off with the bench-only switch.
// Each case in a fresh Node process: the collector is looked up once per process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const MODULE = pathToFileURL(path.resolve(import.meta.dirname, '..', 'src', 'transfer', 'scavenge.ts')).href;

/** Moves `mib` MiB through a Scavenger in 64 KiB steps; reports the minor GCs seen and what happened. */
async function probe(mib: number, opts: { env?: NodeJS.ProcessEnv; execArgv?: string[]; prelude?: string } = {}) {
  const code = `
    import { PerformanceObserver, constants } from 'node:perf_hooks';
    ${opts.prelude ?? ''}
    const minor = [];
    const obs = new PerformanceObserver((list) => minor.push(...list.getEntries().filter((e) => e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR)));
    obs.observe({ entryTypes: ['gc'] });
    const { Scavenger } = await import(${JSON.stringify(MODULE)});
    const s = new Scavenger();
    let threw = null;
    try {
      for (let i = 0; i < ${mib} * 16; i++) s.moved(64 * 1024);
    } catch (e) {
      threw = String(e);
    }
    await new Promise((r) => setImmediate(r));
    minor.push(...obs.takeRecords().filter((e) => e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR));
    obs.disconnect();
    console.log(JSON.stringify({ minor: minor.length, threw, globalGc: typeof globalThis.gc, calls: globalThis.calls ?? null }));
  `;
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [...(opts.execArgv ?? []), '--input-type=module', '-e', code], { env: { ...process.env, ...opts.env } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as { minor: number; threw: string | null; globalGc: string; calls: number | null };
}

test('a plain node process gets a minor GC per MiB moved, and no gc on its global object', async () => {
  const r = await probe(8, { env: { OUA_BENCH_SCAVENGE: '' } });
  assert.equal(r.threw, null);
  assert.ok(r.minor >= 8, `8 MiB moved, ${r.minor} minor GCs`);
  assert.equal(r.globalGc, 'undefined', 'the gc function stays inside its own context');
});

test('OUA_BENCH_SCAVENGE=off: no scavenges asked for', async () => {
  const r = await probe(8, { env: { OUA_BENCH_SCAVENGE: 'off' } });
  assert.equal(r.threw, null);
  assert.ok(r.minor < 2, `${r.minor} minor GCs while counting bytes that allocate nothing`);
});

test('OUA_BENCH_SCAVENGE=4: one every 4 MiB', async () => {
  const r = await probe(8, { env: { OUA_BENCH_SCAVENGE: '4' } });
  assert.equal(r.threw, null);
  assert.ok(r.minor >= 2 && r.minor < 6, `${r.minor} minor GCs for 8 MiB`);
});

test('a gc that throws never reaches the transfer, and is not asked again', async () => {
  const r = await probe(8, {
    env: { OUA_BENCH_SCAVENGE: '' },
    prelude: `globalThis.calls = 0; globalThis.gc = () => { globalThis.calls++; throw new Error('no collector today'); };`,
  });
  assert.equal(r.threw, null);
  assert.equal(r.calls, 1, 'asked once, then left alone');
});
