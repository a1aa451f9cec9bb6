// `npm test`: every __tests__/*.test.ts file, four at once, each in its own process.
// Why not `node --test` alone: it starts files in name order, so the heaviest ones (a dozen
// PostgreSQL servers, end-to-end runs) could start last and finish alone on a 2-core runner.
// Here they start first (longest first is the classic way to keep every core busy to the end),
// and V8's compile cache is shared by the ~50 test processes and the bundles they spawn.
// Arguments: test files to run instead of all of them (e.g. `npm test -- __tests__/zip.test.ts`).
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

const ROOT = path.resolve(import.meta.dirname, '..');
const TESTS = path.join(ROOT, '__tests__');

// CPU per file, most first (one at a time, this 2-core machine, 2026-12-04); files not listed follow.
const HEAVIEST_FIRST = [
  'examples', 'restore-majors', 'e2e-rpc', 'e2e-v1', 'emulator', 'cancel-ssh', 'restore', 'sftp', 'e2e-sftp',
  'script-flow', 'reuse', 'faults-polls', 'long-upgrade', 'rpc', 'sshd', 'pg-templates', 'fuzz-http',
];

async function testFiles(): Promise<string[]> {
  const asked = process.argv.slice(2);
  if (asked.length > 0) return asked.map((f) => path.resolve(f));
  const names = (await readdir(TESTS)).filter((n) => n.endsWith('.test.ts')).sort();
  const rank = (n: string) => {
    const i = HEAVIEST_FIRST.indexOf(n.replace(/\.test\.ts$/, ''));
    return i < 0 ? HEAVIEST_FIRST.length : i;
  };
  return names.sort((a, b) => rank(a) - rank(b)).map((n) => path.join(TESTS, n));
}

process.env.NODE_COMPILE_CACHE ??= path.join(ROOT, 'node_modules', '.cache', 'odoo-upgrade-action', 'v8-compile');

let failed = false;
const stream = run({ files: await testFiles(), concurrency: 4 });
stream.on('test:fail', () => {
  failed = true;
});
await pipeline(stream.compose(spec), process.stdout, { end: false });
if (failed) process.exitCode = 1;
