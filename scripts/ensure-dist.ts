// Before the tests: the bundle the smoke tests spawn (dist/) must be what the sources build.
// It is rebuilt unless the last build from this checkout had the same inputs (src/, the lock
// file, the build scripts) and dist/ is still byte for byte what that build wrote. The
// fingerprint lives in node_modules/.cache, never in the repository: a stale or hand-edited
// bundle is never tested silently, and an unchanged one is not rebuilt for every test run.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const STAMP = path.join(ROOT, 'node_modules', '.cache', 'odoo-upgrade-action', 'dist-stamp.json');

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

/** Builds dist/ unless it is known to be the build of the current sources. */
export async function ensureDist(log: (line: string) => void = console.log): Promise<void> {
  const source = await sourceFingerprint();
  const stamp = JSON.parse(await readFile(STAMP, 'utf8').catch(() => '{}')) as { source?: string; dist?: string };
  if (stamp.source === source && stamp.dist === (await fingerprint(await files(path.join(ROOT, 'dist'))))) {
    log('dist/ is the build of these sources: not rebuilt.');
  } else {
    log('dist/ may not be the build of these sources: building it before the tests.');
    const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) {
      throw new Error(`npm run build failed (${r.error?.message ?? `exit ${r.status}`}): the bundle's tests cannot run.`);
    }
    // A source edited during the build: no stamp, so the next run builds again.
    if ((await sourceFingerprint()) === source) {
      await mkdir(path.dirname(STAMP), { recursive: true });
      await writeFile(STAMP, JSON.stringify({ source, dist: await fingerprint(await files(path.join(ROOT, 'dist'))) }));
    }
    log('dist/ built.');
  }
}

if (import.meta.main) await ensureDist();
