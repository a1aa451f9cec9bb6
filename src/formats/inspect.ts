// Decides what a dump is from its bytes (never its name) and refuses what the Upgrade
// Platform would reject hours later: empty, truncated or damaged files, Odoo.sh backups,
// archives it does not take. Every check streams with bounded memory, so a 50 GiB dump
// costs one sequential read and no more RAM than a small file.
// One file per format in this folder; this entry only dispatches on the first bytes.
import { stat } from 'node:fs/promises';
import { createReadStream, type Stats } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { DumpError, TAKES, type DumpInfo, type InspectOptions } from './types.ts';
import { formatBytes } from '../transfer/progress.ts';
import { errCode, readHead, readTail, HEAD_BYTES, SNIFF_BYTES, TAIL_BYTES } from './io.ts';
import { compressionName, decompressCommand, describeText, sniff } from './sniff.ts';
import { sqlVerdict } from './sql.ts';
import { scanDecompressed } from './scan.ts';
import { refuseTar, tarLister } from './tar.ts';
import { inspectGzip } from './gzip.ts';
import { inspectZip } from './backup-zip.ts';
import { inspectCustom } from './custom.ts';
import { inspectDirectory } from './directory.ts';

export { DumpError, type DumpFormat, type DumpInfo, type InspectOptions } from './types.ts';
export { ODOO_SH_ADVICE, odooShBackupSigns } from './odoo-backup.ts';
export { pathSize } from './directory.ts';
export { tarLister };

export async function inspectDump(path: string, opts: InspectOptions): Promise<DumpInfo> {
  const where = `${opts.input}: ${path}`;
  try {
    return await inspect(path, where, opts);
  } catch (err) {
    if (err instanceof DumpError) throw err;
    // Each reader names what it found; this only catches what none of them foresaw.
    throw new DumpError(`${where} could not be inspected (${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? err}). Check the file, or report it with how the dump was made.`);
  }
}

async function inspect(path: string, where: string, opts: InspectOptions): Promise<DumpInfo> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (err) {
    throw new DumpError(`${where} cannot be read (${errCode(err)}). Check the path and that the step that makes the dump ran before this one.`);
  }
  if (st.isDirectory()) return inspectDirectory(path, where, opts);
  if (!st.isFile()) throw new DumpError(`${where} is neither a file nor a folder. Pass the dump file itself.`);
  if (st.size === 0) throw new DumpError(`${where} is empty (0 bytes): the dump was not written, or its copy failed. Make the dump again.`);

  let head: Buffer;
  try {
    head = await readHead(path, HEAD_BYTES);
  } catch (err) {
    throw new DumpError(`${where} cannot be read (${errCode(err)}). Check the file's permissions.`);
  }
  const base = { path, size: st.size };
  switch (sniff(head)) {
    case 'pgdmp':
      return { ...base, ...(await inspectCustom(path, st.size, where, opts)) };
    case 'gzip':
      return { ...base, ...(await inspectGzip(path, st.size, where)) };
    case 'zip':
      return { ...base, ...(await inspectZip(path, where)) };
    case 'tar':
      return refuseTar((await scanDecompressed((sink) => pipeline(createReadStream(path), sink))).tar, where, 'a tar archive');
    case 'other-compression':
      throw new DumpError(
        `${where} is compressed with ${compressionName(head)}, which the platform does not take. ` +
          `Recompress it as gzip (e.g. \`${decompressCommand(head)} | gzip > dump.sql.gz\`) or pass the uncompressed .sql.`,
      );
    default: {
      const text = describeText(head.subarray(0, SNIFF_BYTES));
      if (!text.sql) throw new DumpError(`${where} ${text.found}. ${TAKES}`);
      const tail = await readTail(path, st.size, TAIL_BYTES);
      const sql = sqlVerdict(head, tail, where, 'the file');
      return { ...base, format: 'sql', uploadExt: '.sql', hasFilestore: false, detail: `plain SQL${sql.detail}, ${formatBytes(st.size)}`, ...sql.versions };
    }
  }
}
