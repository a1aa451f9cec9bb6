// An Odoo database-manager backup: a zip with dump.sql (and filestore/) at its root.
import { pipeline } from 'node:stream/promises';
import { DumpError, TAKES, type DumpInfo } from './types.ts';
import { formatBytes } from '../transfer/progress.ts';
import { openZip, methodName, ZipFormatError, STORED, DEFLATE, type ZipArchive } from './zip.ts';
import { normaliseName, refuseArchiveWithoutDump } from './odoo-backup.ts';
import { scanDecompressed } from './scan.ts';
import { describeText, sniff } from './sniff.ts';
import { sqlVerdict } from './sql.ts';
import { SNIFF_BYTES } from './io.ts';

export async function inspectZip(path: string, where: string): Promise<Omit<DumpInfo, 'path' | 'size'>> {
  let zip: ZipArchive;
  try {
    zip = await openZip(path);
  } catch (err) {
    throw new DumpError(`${where} is not a readable zip: ${zipProblem(err)}. Copy or download it again, or check it with \`unzip -t\`.`);
  }
  try {
    return await inspectBackup(zip, where);
  } finally {
    zip.close();
  }
}

function zipProblem(err: unknown): string {
  return err instanceof ZipFormatError ? err.message : `${(err as Error).message ?? err}`;
}

async function inspectBackup(zip: ZipArchive, where: string): Promise<Omit<DumpInfo, 'path' | 'size'>> {
  const { entries } = zip;
  const names = entries.map((e) => normaliseName(e.name));
  const dumpEntry = entries.find((e, i) => names[i] === 'dump.sql' && !e.isDirectory);
  if (!dumpEntry) throw refuseArchiveWithoutDump(names, where, 'a zip');
  if (dumpEntry.encrypted) throw new DumpError(`${where} is a zip whose dump.sql is encrypted. The platform cannot read it: make the zip without a password.`);
  if (dumpEntry.method !== STORED && dumpEntry.method !== DEFLATE) {
    throw new DumpError(
      `${where} is a zip whose dump.sql is compressed with ${methodName(dumpEntry.method)} (method ${dumpEntry.method}), which the platform may not read. ` +
        'Make the zip again with standard deflate compression (`zip -r db.zip dump.sql filestore`).',
    );
  }
  const unreadable = (err: unknown) =>
    new DumpError(`${where} is a zip whose dump.sql cannot be read whole (${zipProblem(err)}). Make or copy the zip again (\`unzip -t\` checks it).`);
  const entry = await zip.open(dumpEntry).catch((err: unknown) => {
    throw unreadable(err);
  });
  const scan = await scanDecompressed((sink) => pipeline(entry, sink));
  const { sql } = scan;
  if (scan.error) throw unreadable(scan.error);
  if (scan.kind === 'empty') throw new DumpError(`${where} is a zip whose dump.sql is empty. Make the backup again.`);
  const first = sql.head.subarray(0, SNIFF_BYTES);
  if (sniff(first) === 'pgdmp') {
    throw new DumpError(`${where} is a zip whose dump.sql is a pg_dump custom-format archive, not SQL. Extract it and pass it alone as a .dump file.`);
  }
  if (scan.kind !== 'sql') throw new DumpError(`${where} is a zip whose dump.sql ${describeText(first).found}. ${TAKES}`);
  const verdict = sqlVerdict(sql.head, sql.tail, where, 'dump.sql in the zip');
  const filestore = entries.filter((e, i) => names[i].startsWith('filestore/') && !e.isDirectory).length;
  const hasFilestore = names.some((n) => n.startsWith('filestore/'));
  return {
    format: 'zip',
    uploadExt: '.zip',
    hasFilestore,
    detail: `zip with dump.sql${verdict.detail} (${formatBytes(sql.total)})` + (hasFilestore ? ` and filestore/ (${filestore} files)` : ', no filestore'),
    ...verdict.versions,
  };
}
