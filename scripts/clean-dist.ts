// After ncc: native addons compiled at install time differ between machines, and ssh2 falls
// back to pure JavaScript without them; removing them keeps dist/ reproducible.
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';

const dist = path.resolve(import.meta.dirname, '..', 'dist');
for (const name of await readdir(dist)) {
  if (name.endsWith('.node')) await rm(path.join(dist, name));
}
