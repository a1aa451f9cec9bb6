// One digest for a dump, whatever its shape: the same function names the dump a run would
// upload (the reuse lookup), the dump it uploaded and the upgraded one it got back (the
// result record), so two runs of the same bytes always agree.
// A file: the SHA-256 of its bytes, which is also what the HTTPS and SFTP uploads compute as
// they send. A directory (pg_dump -Fd, the rpc protocol's result): the SHA-256 of a listing
// of its regular files, sorted by path, each line `path NUL size NUL sha256-of-file LF`.
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../transfer/http.ts';
import type { DownloadedFile } from '../platform/types.ts';

export async function dumpSha256(p: string): Promise<string> {
  const st = await stat(p);
  if (!st.isDirectory()) return sha256File(p);
  const found = await readdir(p, { recursive: true, withFileTypes: true });
  const files = found
    .filter((d) => d.isFile())
    .map((d) => path.relative(p, path.join(d.parentPath, d.name)).split(path.sep).join('/'))
    // Code-unit order, not locale order: the digest must not depend on the machine.
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const listing = createHash('sha256');
  for (const rel of files) {
    const full = path.join(p, rel);
    listing.update(`${rel}\0${(await stat(full)).size}\0${await sha256File(full)}\n`);
  }
  return listing.digest('hex');
}

/** Gives the upgraded dump a digest when its download did not (a directory): the record needs one. */
export async function completeDigests(downloads: DownloadedFile[]): Promise<void> {
  for (const f of downloads) {
    if ((f.role === 'dump' || f.role === 'sql') && !f.sha256) f.sha256 = await dumpSha256(f.path);
  }
}
