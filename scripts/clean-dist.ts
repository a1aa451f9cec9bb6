// After ncc: native addons compiled at install time differ between machines, and ssh2 falls
// back to pure JavaScript without them; removing them keeps dist/ reproducible.
import { readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';

const dist = path.resolve(import.meta.dirname, '..', 'dist');

async function clean(dir: string): Promise<boolean> {
  let empty = true;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (await clean(p)) await rmdir(p);
      else empty = false;
    } else if (entry.name.endsWith('.node')) await rm(p);
    else empty = false;
  }
  return empty;
}
await clean(dist);
