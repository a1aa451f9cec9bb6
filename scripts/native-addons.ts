// ncc copies native addons next to a bundle. Those compiled at install time differ between
// machines (and target the Node that ran npm ci), and ssh2 falls back to Node's own crypto
// without them: removing them keeps a bundle reproducible and the same as what ships.
import { readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';

/** Removes every `.node` file under `dir`, and folders left empty; true when `dir` is empty. */
export async function removeNativeAddons(dir: string): Promise<boolean> {
  let empty = true;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (await removeNativeAddons(p)) await rmdir(p);
      else empty = false;
    } else if (entry.name.endsWith('.node')) await rm(p);
    else empty = false;
  }
  return empty;
}
