// Before the tests: the bundle the smoke tests spawn (dist/) must be what the sources build.
// `npm run build` ends by writing scripts/dist-stamp.json: fingerprints of what the bundle was
// built from (src/, the lock file, the build scripts and command) and of dist/ as written.
// The stamp is committed with dist/, so a fresh clone whose sources and bundle both match it
// is not rebuilt (a build costs about a minute of CPU); any edit to either side, a stale or
// hand-edited bundle included, no longer matches and the bundle is rebuilt before it is
// tested. CI (scripts/check-dist.sh) rebuilds regardless and fails when dist/ or the stamp
// differ from what is committed, so a stamp that claims too much never lands.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
export const STAMP = path.join(ROOT, 'scripts', 'dist-stamp.json');

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort();
}

async function fingerprint(paths: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const p of paths) {
    h.update(`${path.relative(ROOT, p)}\0`);
    h.update(await readFile(p).catch(() => Buffer.from('(missing)')));
  }
  return h.digest('hex');
}

/** What the bundle is built from: src/, the lock file, the build scripts and the build command. */
async function sourceFingerprint(): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const inputs = [...(await files(path.join(ROOT, 'src'))), ...['package-lock.json', 'scripts/clean-dist.ts', 'scripts/native-addons.ts'].map((f) => path.join(ROOT, f))];
  return createHash('sha256').update(await fingerprint(inputs)).update(pkg.scripts.build ?? '').digest('hex');
}

const distFingerprint = async () => fingerprint(await files(path.join(ROOT, 'dist')));

/** The last step of `npm run build`: records what this dist/ was built from. */
export async function writeStamp(): Promise<void> {
  await writeFile(STAMP, `${JSON.stringify({ source: await sourceFingerprint(), dist: await distFingerprint() }, null, 2)}\n`);
}

/** Builds dist/ unless the stamp says it is the build of the current sources, and dist/ is still what that build wrote. */
export async function ensureDist(log: (line: string) => void = console.log, force = false): Promise<void> {
  const stamp = JSON.parse(await readFile(STAMP, 'utf8').catch(() => '{}')) as { source?: string; dist?: string };
  if (!force && stamp.source === (await sourceFingerprint()) && stamp.dist === (await distFingerprint())) {
    log('dist/ is the build of these sources: not rebuilt.');
    return;
  }
  log(force ? 'Building dist/.' : 'dist/ may not be the build of these sources: building it before the tests.');
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) {
    throw new Error(`npm run build failed (${r.error?.message ?? `exit ${r.status}`}): the bundle's tests cannot run.`);
  }
  log('dist/ built.');
}

if (import.meta.main) {
  if (process.argv.includes('--stamp')) await writeStamp();
  else await ensureDist(console.log, process.argv.includes('--rebuild'));
}
