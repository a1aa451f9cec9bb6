// A pg_dump directory-format dump: its toc.dat, and the data files it names.
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { DumpError, type DumpInfo, type InspectOptions } from './types.ts';
import { formatBytes } from '../transfer/progress.ts';
import { archiveDetail, archiveError, readArchive, FORMAT_DIRECTORY, FORMAT_TAR, V1_SINGLE_FILE, type ArchiveReport } from './pg-archive.ts';
import { ODOO_SH_ADVICE, odooShBackupSigns } from './odoo-backup.ts';
import { errCode, readHead } from './io.ts';

export async function inspectDirectory(path: string, where: string, opts: InspectOptions): Promise<DumpInfo> {
  const names = await readdir(path).catch((err) => {
    throw new DumpError(`${where} is a folder that cannot be listed (${errCode(err)}). Check its permissions.`);
  });
  if (!names.includes('toc.dat')) {
    if (names.includes('dump.sql')) {
      throw new DumpError(
        `${where} is a folder holding dump.sql (an extracted Odoo backup?), not a pg_dump directory dump. ` +
          'Pass dump.sql itself, or zip the folder\'s content so that dump.sql is at the root (`zip -r db.zip dump.sql filestore`).',
      );
    }
    const deep = await shallowListing(path);
    if (odooShBackupSigns(deep).length) {
      throw new DumpError(`${where} is a folder that looks like an extracted Odoo.sh backup (${odooShBackupSigns(deep).join('; ')}). ${ODOO_SH_ADVICE}`);
    }
    throw new DumpError(`${where} is a folder without toc.dat, so not a pg_dump directory-format dump. Pass the dump file, or the folder \`pg_dump -Fd\` wrote.`);
  }
  const toc = join(path, 'toc.dat');
  const tocHead = await readHead(toc, 5).catch((err) => {
    throw new DumpError(`${where} has a toc.dat that cannot be read (${errCode(err)}). Make or copy the directory dump again.`);
  });
  if (tocHead.toString('latin1') !== 'PGDMP') {
    throw new DumpError(`${where} has a toc.dat that is not a pg_dump table of contents (no PGDMP header). Make the directory dump again with \`pg_dump -Fd\`.`);
  }
  let report: ArchiveReport;
  try {
    report = await readArchive(toc, false);
  } catch (err) {
    throw archiveError(err, where, 'pg_dump directory dump (its toc.dat)');
  }
  // pg_dump writes the tar code into a directory dump's toc.dat: the two share its layout.
  if (report.header.format !== FORMAT_DIRECTORY && report.header.format !== FORMAT_TAR) {
    throw new DumpError(`${where} has a toc.dat of archive format ${report.header.format}, not a directory dump. Make it again with \`pg_dump -Fd\`.`);
  }
  if (opts.api === 'v1') throw new DumpError(`${where} is a pg_dump directory-format dump. ${V1_SINGLE_FILE}`);
  const present = new Set(names);
  const missing = (report.items ?? [])
    .map((t) => t.filename)
    .filter((f): f is string => !!f && !['', '.gz', '.lz4', '.zst'].some((ext) => present.has(f + ext)));
  if (missing.length) {
    throw new DumpError(
      `${where} is an incomplete pg_dump directory dump: ${missing.length} data file(s) named in toc.dat are missing (e.g. ${missing[0]}). ` +
        'The dump or its copy was interrupted: make or copy it again.',
    );
  }
  let size: number;
  try {
    size = await pathSize(path);
  } catch (err) {
    const bad = relative(path, (err as { path?: string }).path ?? path) || '.';
    throw new DumpError(`${where} holds "${bad}", which cannot be read (${errCode(err)}). A directory dump holds plain files: copy the dump again without links.`);
  }
  return {
    path,
    format: 'directory',
    size,
    uploadExt: '.dump/',
    hasFilestore: false,
    detail: `${archiveDetail('pg_dump directory format', report)}, ${names.length} files, ${formatBytes(size)}`,
    serverVersion: report.header.serverVersion,
    pgDumpVersion: report.header.pgDumpVersion,
  };
}

/** Names two levels deep: enough to see addon folders and .git without walking a whole tree. */
async function shallowListing(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    out.push(e.isDirectory() ? `${e.name}/` : e.name);
    if (e.isDirectory()) {
      const sub = await readdir(join(dir, e.name)).catch(() => [] as string[]);
      for (const s of sub.slice(0, 500)) out.push(`${e.name}/${s}`);
    }
  }
  return out;
}

/**
 * Bytes of a file, or of every file under a folder. Links to files count; links to folders are
 * not followed, so a link loop cannot send the walk round forever (a looping link throws ELOOP).
 */
export async function pathSize(p: string): Promise<number> {
  const st = await stat(p);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const e of await readdir(p, { withFileTypes: true })) {
    const child = join(p, e.name);
    if (!e.isSymbolicLink()) total += await pathSize(child);
    else {
      const target = await stat(child);
      if (!target.isDirectory()) total += target.size;
    }
  }
  return total;
}
