// The filestore beside a restored database, built as Odoo's own script builds it: the
// platform returns only the files the upgrade added or changed, so the ORIGINAL filestore
// is laid down first and the UPGRADED files over it. Sources are folders, zips (an Odoo
// dump's `filestore/`) and tars (plain or gzipped). Whatever the source, only regular files
// at safe relative names are written: symlinks, devices, absolute names and `..` are
// skipped with a log line, and no write ever goes through a symlink, so nothing lands
// outside the destination. Free space is checked before copying.
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, statfs } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { listZip, openZipEntry } from '../formats/zip.ts';
import { readHead } from '../formats/io.ts';

export class FilestoreError extends Error {
  override name = 'FilestoreError';
}

export type FilestoreSource =
  | { kind: 'dir'; path: string }
  /** Entries under `prefix` ('filestore/' in an Odoo dump zip, '' for a zip of the filestore itself). */
  | { kind: 'zip'; path: string; prefix: string }
  | { kind: 'tar'; path: string; gzip: boolean };

export interface MergeResult {
  files: number; // written
  skipped: number;
  bytes: number;
}

/** The non-filestore files at the root of an Odoo backup (zip or tar): never copied. */
const BACKUP_FILES = /^(dump\.sql|manifest\.json)$/;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

/** A name's place under `root`, or undefined for names that would leave it. */
export function safeJoin(root: string, rel: string): string | undefined {
  if (!rel || rel.includes('\0') || path.isAbsolute(rel) || /^[A-Za-z]:/.test(rel)) return undefined;
  const segs = rel.split(/[\\/]/).filter((s) => s !== '' && s !== '.');
  if (!segs.length || segs.some((s) => s === '..')) return undefined;
  return path.join(root, ...segs);
}

/** What a file source looks like: a folder, a zip, a tar (maybe gzipped), or undefined. */
export async function sourceOf(p: string): Promise<FilestoreSource | undefined> {
  const st = await lstat(p).catch(() => undefined);
  if (!st) return undefined;
  if (st.isDirectory()) {
    // A folder holding `filestore/` (an unpacked dump) means that folder; a data-dir's
    // `filestore/<database>/` (one folder that is not a hash bucket) means the one inside.
    let dir = p;
    const inner = await lstat(path.join(p, 'filestore')).catch(() => undefined);
    if (inner?.isDirectory()) dir = path.join(p, 'filestore');
    const entries = await readdir(dir, { withFileTypes: true });
    if (entries.length === 1 && entries[0].isDirectory() && !BUCKET.test(entries[0].name)) dir = path.join(dir, entries[0].name);
    return { kind: 'dir', path: dir };
  }
  if (!st.isFile()) return undefined;
  const head = await readHead(p, 512);
  const n = head.length;
  if (n >= 4 && head.readUInt32LE(0) === 0x04034b50) {
    const files = (await listZip(p)).filter((e) => !e.isDirectory).map((e) => e.name);
    const base = files.some((x) => x.startsWith('filestore/')) ? 'filestore/' : '';
    const inside = files.filter((x) => x.startsWith(base) && !BACKUP_FILES.test(x));
    return { kind: 'zip', path: p, prefix: base + (wrapperOf(inside.map((x) => x.slice(base.length))) ?? '') };
  }
  if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return { kind: 'tar', path: p, gzip: true };
  if (n >= 262 && head.toString('latin1', 257, 262) === 'ustar') return { kind: 'tar', path: p, gzip: false };
  return undefined;
}

/** Odoo's filestore folders are the first two hex digits of each file's SHA-1. */
const BUCKET = /^[0-9a-f]{2}$/;

/** `name/` when every file sits in one folder that is not a bucket (a database's folder, a wrapper). */
export function wrapperOf(names: string[]): string | undefined {
  const first = names[0]?.split('/')[0];
  if (!first || BUCKET.test(first) || !names.every((n) => n.startsWith(`${first}/`))) return undefined;
  return `${first}/`;
}

/** Whether a zip holds a filestore (an Odoo dump zip's `filestore/`). */
export async function zipHasFilestore(zip: string): Promise<boolean> {
  return (await listZip(zip)).some((e) => e.name.startsWith('filestore/') && !e.isDirectory);
}

interface Item {
  rel: string;
  size: number;
  open: () => Promise<Readable>;
}

/**
 * Copies one source into `dest`, replacing files of the same name (the later source wins).
 * `label` names the source in log lines.
 */
export async function copyFilestore(source: FilestoreSource, dest: string, label: string, log: (l: string) => void): Promise<MergeResult> {
  await mkdir(dest, { recursive: true });
  const result: MergeResult = { files: 0, skipped: 0, bytes: 0 };
  const skip = (name: string, why: string) => {
    result.skipped++;
    if (result.skipped <= 20) log(`Skipped "${name}" in the ${label} filestore: ${why}.`);
    else if (result.skipped === 21) log(`(further skipped entries of the ${label} filestore are not listed)`);
  };
  const write = async (item: Item) => {
    const target = safeJoin(dest, item.rel);
    if (!target) return skip(item.rel, 'its name leaves the filestore (absolute, or with ..)');
    if (!(await safeParents(dest, target))) return skip(item.rel, 'a folder on its way is a symlink or a file');
    await mkdir(path.dirname(target), { recursive: true });
    // Written beside, then renamed: a half-written file never carries the final name, and
    // a symlink already at that name is replaced, not followed.
    const tmp = `${target}.${randomBytes(4).toString('hex')}.part`;
    try {
      await pipeline(await item.open(), createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    result.files++;
    result.bytes += item.size;
  };

  if (source.kind === 'dir') {
    const items: Item[] = [];
    await walk(source.path, '', items, skip);
    await ensureSpace(dest, items.reduce((a, i) => a + i.size, 0), label);
    for (const item of items) await write(item);
  } else if (source.kind === 'zip') {
    const entries = (await listZip(source.path)).filter((e) => e.name.startsWith(source.prefix) && !e.isDirectory);
    await ensureSpace(dest, entries.reduce((a, e) => a + e.size, 0), label);
    for (const e of entries) {
      const rel = e.name.slice(source.prefix.length);
      if (!source.prefix && BACKUP_FILES.test(rel)) continue; // a backup's own files, not attachments
      const type = e.unixMode !== undefined ? e.unixMode & S_IFMT : S_IFREG;
      if (type === S_IFDIR) continue;
      if (type !== S_IFREG && type !== 0) {
        skip(rel, type === 0o120000 ? 'a symlink' : 'not a regular file');
        continue;
      }
      await write({ rel, size: e.size, open: () => openZipEntry(source.path, e) });
    }
  } else {
    await copyTar(source, dest, label, write, skip);
  }
  return result;
}

async function walk(root: string, rel: string, out: Item[], skip: (name: string, why: string) => void): Promise<void> {
  for (const d of await readdir(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    const full = path.join(root, r);
    if (d.isDirectory()) await walk(root, r, out, skip);
    else if (d.isFile()) {
      const st = await lstat(full);
      out.push({ rel: r, size: st.size, open: async () => createReadStream(full) });
    } else skip(r, d.isSymbolicLink() ? 'a symlink' : 'not a regular file');
  }
}

async function copyTar(
  source: { path: string; gzip: boolean },
  dest: string,
  label: string,
  write: (item: Item) => Promise<void>,
  skip: (name: string, why: string) => void,
): Promise<void> {
  const { size } = await lstat(source.path);
  // The archive's own size is a floor for what it unpacks to; each entry is checked again below.
  await ensureSpace(dest, size, label);
  const tar = await import('tar-stream');
  const extract = tar.extract();
  const input = createReadStream(source.path);
  const feeding = pipeline(source.gzip ? input.pipe(createGunzip()) : input, extract);
  let wrapper: string | undefined;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const plain = h.name.replace(/^\.\//, '');
      if (BACKUP_FILES.test(plain)) {
        entry.resume(); // an Odoo backup's dump and manifest, not attachments
        continue;
      }
      let name = plain.replace(/^filestore\//, '');
      // A streamed archive cannot be listed first: its first file decides whether a wrapper
      // folder (the database's name) is there, and that folder is stripped from every name.
      if (h.type === 'file' || h.type === 'contiguous-file') wrapper ??= wrapperOf([name]) ?? '';
      if (wrapper && name.startsWith(wrapper)) name = name.slice(wrapper.length);
      if (h.type === 'file' || h.type === 'contiguous-file') {
        if (name) {
          await ensureSpace(dest, h.size ?? 0, label);
          await write({ rel: name, size: h.size ?? 0, open: async () => Readable.from(entry as AsyncIterable<Buffer>) });
        }
      } else if (h.type !== 'directory') skip(h.name, h.type === 'symlink' ? 'a symlink' : h.type === 'link' ? 'a hard link' : `a ${h.type} entry, not a regular file`);
      entry.resume(); // drains what a skipped or written entry left
    }
    await feeding;
  } catch (err) {
    input.destroy();
    await feeding.catch(() => undefined);
    throw err instanceof FilestoreError ? err : new FilestoreError(`cannot read the ${label} filestore archive ${path.basename(source.path)}: ${(err as Error).message}`);
  }
}

/** Every folder from `root` down to `target`'s parent is a real folder (or does not exist yet). */
async function safeParents(root: string, target: string): Promise<boolean> {
  const rel = path.relative(root, path.dirname(target));
  let at = root;
  for (const seg of rel ? rel.split(path.sep) : []) {
    at = path.join(at, seg);
    const st = await lstat(at).catch(() => undefined);
    if (!st) return true;
    if (!st.isDirectory()) return false;
  }
  return true;
}

/** Refuses to start a copy that cannot fit (with a small margin for folders and the filesystem). */
export async function ensureSpace(dest: string, bytes: number, label: string): Promise<void> {
  const s = await statfs(dest);
  const free = Number(s.bavail) * Number(s.bsize);
  const need = bytes + Math.min(64 * 1024 ** 2, bytes / 100);
  if (need > free) {
    throw new FilestoreError(
      `not enough free disk space for the ${label} filestore in ${dest}: it needs about ${mib(need)}, ${mib(free)} are free. ` +
        'Free space on the runner (e.g. remove unused tool caches) or point `filestore-dir` at a larger disk.',
    );
  }
}

function mib(n: number): string {
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}
