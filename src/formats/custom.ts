// A pg_dump custom-format file: read to its last data block, so a cut file cannot pass.
import { DumpError, type DumpInfo, type InspectOptions } from './types.ts';
import { formatBytes } from '../transfer/progress.ts';
import { archiveDetail, archiveError, readArchive, FORMAT_CUSTOM, FORMAT_DIRECTORY, FORMAT_TAR, V1_SINGLE_FILE, type ArchiveReport } from './pg-archive.ts';

export async function inspectCustom(path: string, size: number, where: string, opts: InspectOptions): Promise<Omit<DumpInfo, 'path' | 'size'>> {
  let report: ArchiveReport;
  try {
    report = await readArchive(path, true);
  } catch (err) {
    throw archiveError(err, where, 'pg_dump custom-format dump');
  }
  const f = report.header.format;
  if (f === FORMAT_DIRECTORY || f === FORMAT_TAR) {
    throw new DumpError(
      `${where} is the toc.dat of a pg_dump directory-format (or tar-format) dump, not a whole dump. ` +
        (opts.api === 'rpc' ? 'Pass the folder that holds it.' : V1_SINGLE_FILE),
    );
  }
  if (f !== FORMAT_CUSTOM) throw new DumpError(`${where} starts with PGDMP but declares archive format ${f}. Make a custom-format dump: \`pg_dump -Fc\`.`);
  return {
    format: 'custom',
    uploadExt: '.dump',
    hasFilestore: false,
    detail: `${archiveDetail('pg_dump custom format', report)}, ${formatBytes(size)}`,
    serverVersion: report.header.serverVersion,
    pgDumpVersion: report.header.pgDumpVersion,
  };
}
