// gzip: plain SQL inside is taken; a custom dump, a tar or anything else inside is refused.
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { DumpError, TAKES, type DumpInfo } from './types.ts';
import { formatBytes } from '../transfer/progress.ts';
import { scanDecompressed } from './scan.ts';
import { describeText, sniff } from './sniff.ts';
import { sqlVerdict } from './sql.ts';
import { refuseTar } from './tar.ts';
import { SNIFF_BYTES } from './io.ts';

export async function inspectGzip(path: string, size: number, where: string): Promise<Omit<DumpInfo, 'path' | 'size'>> {
  const scan = await scanDecompressed((sink) => pipeline(createReadStream(path), createGunzip(), sink));
  const { sql } = scan;
  if (scan.error) throw gzipError(scan.error, where, sql.total);
  if (scan.kind === 'tar') return refuseTar(scan.tar, where, 'a gzip-compressed tar archive');
  if (scan.kind === 'empty') throw new DumpError(`${where} is a gzip file that holds nothing. Make the dump again.`);
  const first = sql.head.subarray(0, SNIFF_BYTES);
  if (sniff(first) === 'pgdmp') {
    throw new DumpError(
      `${where} is a gzip-compressed pg_dump custom-format dump. The custom format is compressed already and the platform takes it as is: ` +
        'decompress it (`gunzip -c file.gz > db.dump`) and pass the .dump file.',
    );
  }
  if (scan.kind === 'other') throw new DumpError(`${where} is gzip-compressed, but what it holds ${describeText(first).found}. ${TAKES}`);
  const verdict = sqlVerdict(sql.head, sql.tail, where, 'the decompressed SQL');
  return {
    format: 'sql.gz',
    uploadExt: '.sql.gz',
    hasFilestore: false,
    detail: `gzip-compressed plain SQL${verdict.detail}, ${formatBytes(size)} (${formatBytes(sql.total)} uncompressed)`,
    ...verdict.versions,
  };
}

function gzipError(err: unknown, where: string, decompressed: number): DumpError {
  const e = err as { code?: string; message?: string };
  if (e.code === 'Z_BUF_ERROR' || /unexpected end/i.test(e.message ?? '')) {
    return new DumpError(
      `${where} is a truncated gzip file: its compressed stream stops before its end (after ${formatBytes(decompressed)} of decompressed data). ` +
        'The file was cut during its download or copy: fetch or copy it again (`gzip -t` checks a .gz file).',
    );
  }
  return new DumpError(`${where} is a damaged gzip file (${e.message ?? String(err)}). Make or copy the dump again (\`gzip -t\` checks a .gz file).`);
}
